package store

import (
	"fmt"
)

// Encode frames a command as a log entry: its type byte, CurrentVersion,
// and the binary payload.
func Encode(c Command) ([]byte, error) { return encodeBinary(c, CurrentVersion) }

// encodeBinary frames c in a binary version: CurrentVersion, or an older
// one, which leaves out what it has no place for (EncodeVersion).
func encodeBinary(c Command, v uint8) ([]byte, error) {
	e := &enc{b: make([]byte, 0, 64), v: v}
	e.byte(uint8(c.Type()))
	e.byte(v)
	if err := e.command(c); err != nil {
		return nil, fmt.Errorf("encoding %s: %w", c.Type(), err)
	}
	return e.b, nil
}

// Decode reads a log entry of any version this code knows. It refuses an
// unknown type or version, or a payload that does not decode exactly, with
// ErrUnknownCommand; it never returns part of a command.
func Decode(data []byte) (Command, error) {
	if len(data) < 2 {
		return nil, fmt.Errorf("%w: entry of %d bytes", ErrUnknownCommand, len(data))
	}
	t, v, payload := CommandType(data[0]), data[1], data[2:]
	if !t.Known() {
		return nil, fmt.Errorf("%w: type %d (version %d); this node knows types up to %d", ErrUnknownCommand, data[0], v, len(commandNames)-1)
	}
	var (
		c   Command
		err error
	)
	switch v {
	case VersionJSON:
		c, err = decodeLegacyCommand(t, payload)
	case VersionBinary, VersionFenced, VersionDecisions, VersionGroupAge, VersionBudget, VersionBatched, VersionHistoryStep, VersionCompact, VersionWeekly, VersionWeeklyPart, VersionTimeOfDay, VersionScaledSeason, VersionCostBound:
		if t == CmdEvaluations && v < VersionBatched {
			return nil, fmt.Errorf("%w: %s version %d (this command exists since version %d)", ErrUnknownCommand, t, v, VersionBatched)
		}
		d := &dec{b: payload, v: v}
		c = d.command(t)
		err = d.done()
	default:
		return nil, fmt.Errorf("%w: %s version %d (this node reads versions %d to %d)", ErrUnknownCommand, t, v, VersionJSON, CurrentVersion)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s version %d: %w", ErrUnknownCommand, t, v, err)
	}
	return c, nil
}

func (e *enc) command(c Command) error {
	switch c := c.(type) {
	case PutPolicy:
		if err := e.policyValue(c.Policy); err != nil {
			return err
		}
		e.string(c.IfMatch)
		e.time(c.At)
		e.auditCommand(c.Audit)
	case DeletePolicy:
		e.string(c.ID)
		e.string(c.IfMatch)
		e.auditCommand(c.Audit)
	case PutIntent:
		e.intent(c.Intent)
	case IntentResult:
		e.string(c.Policy)
		e.uvarint(c.IntentID)
		e.string(c.Outcome)
		e.string(c.Error)
		e.time(c.At)
	case Evaluated:
		e.evaluated(c)
	case Evaluations:
		e.uvarint(uint64(len(c.Items)))
		for _, x := range c.Items {
			e.evaluated(x)
		}
	case Samples:
		e.samples(c.Samples)
		e.wide(c.Wide)
	case RegisterNode:
		e.string(c.ID)
		e.string(c.HTTPAddr)
	case Buckets:
		e.samples(c.Latest)
		e.uvarint(uint64(len(c.Partials)))
		for _, p := range c.Partials {
			e.string(p.Policy)
			e.string(p.Metric)
			e.varint(p.Step)
			e.partial(p.Partial)
		}
		e.uvarint(uint64(len(c.Series)))
		for _, s := range c.Series {
			e.string(s.Policy)
			e.string(s.Metric)
			e.uvarint(s.ID)
			e.varint(s.T)
			e.float(s.V)
		}
		e.wide(c.Wide)
	case CreateToken:
		e.token(c.Token)
	case DeleteToken:
		e.string(c.Name)
	case AuditCommand:
		e.audit(c.Entry)
		e.int(c.Max)
		e.flood(c.Flood)
	default:
		return fmt.Errorf("%w: %T", ErrUnknownCommand, c) // unreachable: Command is sealed
	}
	return nil
}

func (d *dec) command(t CommandType) Command {
	switch t {
	case CmdPutPolicy:
		return PutPolicy{Policy: d.policyValue(), IfMatch: d.string(), At: d.time(), Audit: d.auditCommand()}
	case CmdDeletePolicy:
		return DeletePolicy{ID: d.string(), IfMatch: d.string(), Audit: d.auditCommand()}
	case CmdIntent:
		return PutIntent{Intent: d.intent()}
	case CmdResult:
		return IntentResult{Policy: d.string(), IntentID: d.uvarint(), Outcome: d.string(), Error: d.string(), At: d.time()}
	case CmdEvaluated:
		return d.evaluated()
	case CmdEvaluations:
		var c Evaluations
		for range d.n(8) {
			c.Items = append(c.Items, d.evaluated())
		}
		return c
	case CmdSamples:
		return Samples{Samples: d.samples(), Wide: d.wide()}
	case CmdRegisterNode:
		return RegisterNode{ID: d.string(), HTTPAddr: d.string()}
	case CmdBuckets:
		c := Buckets{Latest: d.samples()}
		for range d.n(8) {
			c.Partials = append(c.Partials, MetricPartial{Policy: d.string(), Metric: d.string(), Step: d.varint(), Partial: d.partial()})
		}
		for range d.n(8) {
			c.Series = append(c.Series, SeriesUpdate{Policy: d.string(), Metric: d.string(), ID: d.uvarint(), T: d.varint(), V: d.float()})
		}
		c.Wide = d.wide()
		return c
	case CmdCreateToken:
		return CreateToken{Token: d.token()}
	case CmdDeleteToken:
		return DeleteToken{Name: d.string()}
	case CmdAudit:
		return AuditCommand{Entry: d.audit(), Max: d.int(), Flood: d.flood()}
	}
	d.fail(fmt.Sprintf("no decoder for %s", t))
	return nil
}

// evaluated encodes an evaluation; since VersionBatched a presence byte
// and the Pacing state follow, and Pacing is left out when State is set
// (Apply ignores it then).
func (e *enc) evaluated(c Evaluated) {
	e.string(c.Policy)
	e.uvarint(c.PolicyVersion)
	e.bool(c.State != nil)
	if c.State != nil {
		e.bytes(c.State)
	}
	e.bool(c.Record != nil)
	if c.Record != nil {
		e.decision(*c.Record)
	}
	e.int(c.Desired)
	e.int(c.Ready)
	e.time(c.At)
	if e.v >= VersionBatched {
		pacing := c.State == nil && c.Pacing != nil
		e.bool(pacing)
		if pacing {
			e.bytes(c.Pacing)
		}
	}
}

func (d *dec) evaluated() Evaluated {
	c := Evaluated{Policy: d.string(), PolicyVersion: d.uvarint()}
	if d.bool() {
		c.State = d.bytes()
	}
	if d.bool() {
		r := d.decision()
		c.Record = &r
	}
	c.Desired, c.Ready, c.At = d.int(), d.int(), d.time()
	if d.v >= VersionBatched && d.bool() {
		c.Pacing = d.bytes()
		if c.State != nil {
			d.fail("an evaluation with both a state and a pacing state")
		}
	}
	return c
}

// wide encodes a sample entry's window precision: a byte since
// VersionCompact, nothing before (the entry is then wide when read).
func (e *enc) wide(wide bool) {
	if e.v >= VersionCompact {
		e.bool(wide)
	}
}

// wide decodes a sample entry's window precision: true (float64) for the
// versions before VersionCompact, which kept every window wide.
func (d *dec) wide() bool {
	if d.v < VersionCompact {
		return true
	}
	return d.bool()
}
