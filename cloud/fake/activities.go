package fake

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/capstan-io/capstan/cloud"
)

// Activities is the fake cloud's activity record, read from its call log:
// each resize of the group that took effect and changed its size, at the
// time it took effect, newest first, from since on. It is not a provider
// call (no fault, not logged), and it sees only what the bounded call log
// still holds.
func (c *Cloud) Activities(group string, since time.Time) []cloud.Activity {
	out := []cloud.Activity{}
	for _, call := range c.Calls() {
		if call.Op != OpSetDesired || call.Group != group || call.Err != "" || call.From == call.To || call.Done.Before(since) {
			continue
		}
		out = append(out, cloud.Activity{ID: fmt.Sprintf("fake-%d", call.Arrival), Start: call.Done, End: call.Done,
			From: call.From, To: call.To, Status: cloud.ActivitySuccessful, Description: fmt.Sprintf("resize from %d to %d", call.From, call.To)})
	}
	slices.Reverse(out)
	return out
}

// activities answers GET /v1/groups/{name}/activities?since=RFC3339: the
// group's activity record (Cloud.Activities). A since that is not an RFC
// 3339 time is refused naming the parameter; no since means all.
func (h *handler) activities(w http.ResponseWriter, r *http.Request) {
	var since time.Time
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			writeError(w, invalidf("query parameter since: %q is not an RFC 3339 time like 2026-12-06T21:00:00Z", v))
			return
		}
		since = t
	}
	writeJSON(w, http.StatusOK, h.c.Activities(r.PathValue("name"), since))
}

// Activities reads the fake cloud's activity record of the group since
// since (GET /v1/groups/{name}/activities), newest first, so the control
// plane settles in-doubt resizes with evidence on a shared fake cloud as
// it does in process.
func (c *Client) Activities(ctx context.Context, g cloud.GroupRef, since time.Time) ([]cloud.Activity, error) {
	if g.Group == "" {
		return nil, errNoGroup()
	}
	path := groupPath(g.Group) + "/activities"
	if !since.IsZero() {
		path += "?since=" + url.QueryEscape(since.UTC().Format(time.RFC3339Nano))
	}
	var out []cloud.Activity
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}
