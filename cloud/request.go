package cloud

import (
	"context"
	"strconv"

	"github.com/google/uuid"
)

// requestNamespace is the UUID namespace of Capstan's request ids (a
// random UUID fixed once), so RequestID's ids cannot collide with ids
// other software derives the same way.
const requestNamespace = "5b0c7e64-2f7d-4c1e-9a53-0d3f6c8e41a7"

// RequestID is the provider request id of one intent's resize: the same
// for every attempt of that intent (so a provider that deduplicates by
// request id, as Compute Engine does with requestId, carries out a retried
// request once) and different for every other intent. It is a name-based
// (version 5) UUID of the policy and the intent's id (its Raft index),
// because Compute Engine accepts only a UUID there. The control plane
// derives it again when it settles the intent and looks for it in the
// provider's operation record (Activity.Request).
func RequestID(policy string, intent uint64) string {
	return uuid.NewSHA1(uuid.MustParse(requestNamespace), []byte(policy+"\x00"+strconv.FormatUint(intent, 10))).String()
}

type requestKey struct{}

// WithRequest returns a context carrying the request id a driver sends
// with the resize made under it, where the provider takes one.
func WithRequest(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestKey{}, id)
}

// RequestFrom returns the request id carried by ctx, if any.
func RequestFrom(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(requestKey{}).(string)
	return id, ok && id != ""
}
