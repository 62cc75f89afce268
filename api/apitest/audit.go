package apitest

import (
	"context"
	"slices"

	"github.com/capstan-io/capstan/api"
)

// auditLog is the fake's audit log. Entries take ids of their own, not
// the write index, so that recording them leaves policy versions and
// Writes (the "nothing changed" count) as they were.
type auditLog struct {
	entries []api.AuditEntry // oldest first
	nextID  uint64
}

// Audit implements api.Backend: it appends the entry, stamped with an id
// and, when it has none, the time.
func (b *Backend) Audit(_ context.Context, e api.AuditEntry) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.audit.nextID++
	e.ID = b.audit.nextID
	if e.Time.IsZero() {
		e.Time = b.now().UTC()
	}
	b.audit.entries = append(b.audit.entries, e)
	return nil
}

// AuditLog implements api.Backend: up to limit entries, newest first.
func (b *Backend) AuditLog(_ context.Context, limit int) ([]api.AuditEntry, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := slices.Clone(b.audit.entries[max(0, len(b.audit.entries)-limit):])
	slices.Reverse(out)
	return out, nil
}
