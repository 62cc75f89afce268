package store

import "fmt"

// Outcome is what applying a command did. It is part of the replicated
// state (audit entries record it), so its values are persisted: never
// renumber. The API maps it to its answer at its own edge.
type Outcome uint8

// The outcomes.
const (
	// OK: the command took effect.
	OK Outcome = 0
	// NotFound: the policy or token named does not exist.
	NotFound Outcome = 1
	// PreconditionFailed: an If-Match did not hold, or an evaluation was
	// of a policy version since replaced.
	PreconditionFailed Outcome = 2
	// Conflict: the name is taken. The last outcome: a decoder refuses
	// larger values.
	Conflict Outcome = 3
)

// String names the outcome.
func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case NotFound:
		return "not-found"
	case PreconditionFailed:
		return "precondition-failed"
	case Conflict:
		return "conflict"
	}
	return fmt.Sprintf("outcome(%d)", uint8(o))
}

// Result is what Apply returns to the proposer.
type Result struct {
	// Outcome says whether the command took effect.
	Outcome Outcome
	// Detail explains a refusal in a sentence fixed by this package (it
	// depends only on the command and the state).
	Detail string
	// Record is a written policy's record (CmdPutPolicy).
	Record PolicyRecord
	// Touched are the policies that got a newer sample, for the leader
	// loop to evaluate.
	Touched []string
	// Refused are the positions, in a CmdEvaluations entry, of the
	// evaluations refused (their policy changed while it was evaluated).
	Refused []int
}
