package gcpemu

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// maxPage is Compute Engine's largest (and default) maxResults.
const maxPage = 500

// listJSON is a Compute Engine list answer.
type listJSON struct {
	Kind          string `json:"kind"`
	ID            string `json:"id"`
	Items         []any  `json:"items"`
	NextPageToken string `json:"nextPageToken,omitempty"`
	SelfLink      string `json:"selfLink"`
}

// handleList answers instanceGroupManagers.list (and
// regionInstanceGroupManagers.list): the location's groups by name,
// filtered and paged.
func (e *Emulator) handleList(w http.ResponseWriter, r *http.Request) {
	e.serve(w, r, OpList, func(k resKey, _ *Fault) (int, any) {
		return e.list(r, k, "instanceGroupManagers", func(g *group) bool { return true },
			func(base string, gk resKey, g *group) any { return e.groupJSON(base, gk, g) })
	})
}

// handleListAutoscalers answers autoscalers.list (and
// regionAutoscalers.list). Autoscalers are named after their group.
func (e *Emulator) handleListAutoscalers(w http.ResponseWriter, r *http.Request) {
	e.serve(w, r, OpListAutoscalers, func(k resKey, _ *Fault) (int, any) {
		return e.list(r, k, "autoscalers", func(g *group) bool { return g.autoscaler != nil },
			func(base string, gk resKey, g *group) any { return e.autoscalerJSON(base, gk, g) })
	})
}

// list pages through the location's groups that have and match the
// request's filter, sorted by name, as collection's items.
func (e *Emulator) list(r *http.Request, k resKey, collection string, has func(*group) bool, item func(string, resKey, *group) any) (int, any) {
	q := r.URL.Query()
	conds, err := parseFilterOf(q.Get("filter"), func(f string) bool { return f == "name" }, "name")
	if err != nil {
		return http.StatusBadRequest, errorBody{"invalid", "Invalid value for field 'filter': " + err.Error()}
	}
	size := maxPage
	if raw := q.Get("maxResults"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 || n > maxPage {
			return http.StatusBadRequest, errorBody{"invalid", fmt.Sprintf("Invalid value for field 'maxResults': '%s'. Must be between 0 and %d.", raw, maxPage)}
		}
		if n > 0 {
			size = n
		}
	}
	size = min(size, e.opts.PageSize)
	offset := 0
	if tok := q.Get("pageToken"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 {
			return http.StatusBadRequest, errorBody{"invalid", fmt.Sprintf("Invalid value for field 'pageToken': '%s'.", tok)}
		}
		offset = n
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var keys []resKey
	for gk, g := range e.groups {
		if gk.project == k.project && gk.scope == k.scope && gk.location == k.location && has(g) &&
			conds.MatchBy(func(string) string { return gk.name }) {
			keys = append(keys, gk)
		}
	}
	slices.SortFunc(keys, func(a, b resKey) int { return strings.Compare(a.name, b.name) })
	if offset > len(keys) {
		return http.StatusBadRequest, errorBody{"invalid", fmt.Sprintf("Invalid value for field 'pageToken': '%d'.", offset)}
	}
	base := baseURL(r)
	kind := "compute#" + strings.TrimSuffix(collection, "s")
	if k.scope == "regions" {
		kind = "compute#region" + strings.ToUpper(collection[:1]) + strings.TrimSuffix(collection[1:], "s")
	}
	scopePath := "projects/" + k.project + "/" + k.scope + "/" + k.location + "/" + collection
	out := listJSON{Kind: kind + "List", ID: scopePath, Items: []any{}, SelfLink: base + scopePath}
	end := min(offset+size, len(keys))
	for _, gk := range keys[offset:end] {
		out.Items = append(out.Items, item(base, gk, e.groups[gk]))
	}
	if end < len(keys) {
		out.NextPageToken = strconv.Itoa(end)
	}
	return http.StatusOK, out
}
