package azemu

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// listJSON is an ARM list page.
type listJSON struct {
	Value    []scaleSetJSON `json:"value"`
	NextLink string         `json:"nextLink,omitempty"`
}

// serveList answers VirtualMachineScaleSets.List: a resource group's
// scale sets, sorted by name, Options.PageSize per page with a nextLink
// carrying a $skiptoken while more remain. An unknown subscription or
// resource group is ARM's 404.
func (e *Emulator) serveList(w http.ResponseWriter, r *http.Request, rt route) {
	offset := 0
	if tok := r.URL.Query().Get("$skiptoken"); tok != "" {
		n, err := strconv.Atoi(tok)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "InvalidSkipToken", fmt.Sprintf("The skip token '%s' is not valid.", tok))
			return
		}
		offset = n
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.advance()
	switch {
	case !e.subs[strings.ToLower(rt.sub)]:
		writeError(w, http.StatusNotFound, "SubscriptionNotFound", fmt.Sprintf("The subscription '%s' could not be found.", rt.sub))
		return
	case !e.rgs[strings.ToLower(rt.sub+"/"+rt.rg)]:
		writeError(w, http.StatusNotFound, "ResourceGroupNotFound", fmt.Sprintf("Resource group '%s' could not be found.", rt.rg))
		return
	}
	var sets []*scaleSet
	prefix := strings.ToLower(rt.sub + "/" + rt.rg + "/")
	for k, s := range e.sets {
		if strings.HasPrefix(k, prefix) {
			sets = append(sets, s)
		}
	}
	slices.SortFunc(sets, func(a, b *scaleSet) int { return strings.Compare(strings.ToLower(a.name), strings.ToLower(b.name)) })
	if offset > len(sets) {
		writeError(w, http.StatusBadRequest, "InvalidSkipToken", fmt.Sprintf("The skip token '%d' is not valid.", offset))
		return
	}
	end := min(offset+e.opts.PageSize, len(sets))
	page := listJSON{Value: []scaleSetJSON{}}
	for _, s := range sets[offset:end] {
		page.Value = append(page.Value, e.scaleSetJSON(s))
	}
	if end < len(sets) {
		q := url.Values{"api-version": {r.URL.Query().Get("api-version")}, "$skiptoken": {strconv.Itoa(end)}}
		page.NextLink = baseURL(r) + r.URL.Path + "?" + q.Encode()
	}
	writeJSON(w, http.StatusOK, page)
}
