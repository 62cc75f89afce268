package gcpemu

import (
	"cmp"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/google/uuid"
)

// OpListOperations is GET .../operations (zoneOperations.list or
// regionOperations.list), what the driver's Activities reads. A fault
// with a Group never matches it (the list names no group); use one
// without.
const OpListOperations Op = "list-operations"

// The list's page size bounds, as Compute Engine documents maxResults.
const (
	defaultMaxResults = 500
	maxMaxResults     = 500
)

// operationList is Compute Engine's OperationList.
type operationList struct {
	Kind          string          `json:"kind"`
	ID            string          `json:"id"`
	Items         []operationJSON `json:"items,omitempty"`
	NextPageToken string          `json:"nextPageToken,omitempty"`
	SelfLink      string          `json:"selfLink"`
}

// handleListOperations answers zoneOperations.list and
// regionOperations.list: the scope's operations that match the filter,
// ordered by orderBy ("creationTimestamp desc", or by name by default),
// in pages of maxResults with an opaque pageToken. A filter, orderBy,
// maxResults or pageToken the emulator cannot read is refused with 400
// invalid naming the parameter, as Compute Engine refuses it.
func (e *Emulator) handleListOperations(w http.ResponseWriter, r *http.Request) {
	e.serve(w, r, OpListOperations, func(k resKey, _ *Fault) (int, any) {
		q := r.URL.Query()
		conds, err := parseFilter(q.Get("filter"))
		if err != nil {
			return http.StatusBadRequest, errorBody{"invalid", "Invalid value for field 'filter': " + err.Error()}
		}
		order := q.Get("orderBy")
		if order != "" && order != "name" && order != "creationTimestamp desc" {
			return http.StatusBadRequest, errorBody{"invalid", fmt.Sprintf("Invalid value for field 'orderBy': '%s'. Only 'name' and 'creationTimestamp desc' are supported.", order)}
		}
		size := defaultMaxResults
		if v := q.Get("maxResults"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > maxMaxResults {
				return http.StatusBadRequest, errorBody{"invalid", fmt.Sprintf("Invalid value for field 'maxResults': '%s'. Must be between 0 and %d.", v, maxMaxResults)}
			}
			if n > 0 {
				size = n
			}
		}
		offset := 0
		if v := q.Get("pageToken"); v != "" {
			n, err := strconv.Atoi(strings.TrimPrefix(v, "p"))
			if err != nil || n < 0 || !strings.HasPrefix(v, "p") {
				return http.StatusBadRequest, errorBody{"invalid", fmt.Sprintf("Invalid value for field 'pageToken': '%s'.", v)}
			}
			offset = n
		}
		base := baseURL(r)
		e.mu.Lock()
		var ops []*operation
		for _, op := range e.ops {
			if op.key.project == k.project && op.key.scope == k.scope && op.key.location == k.location {
				ops = append(ops, op)
			}
		}
		var items []operationJSON
		slices.SortFunc(ops, func(a, b *operation) int {
			if order == "creationTimestamp desc" {
				return cmp.Or(b.created.Compare(a.created), cmp.Compare(b.id, a.id))
			}
			return strings.Compare(a.key.name, b.key.name)
		})
		for _, op := range ops {
			if j := e.operationJSON(base, op); conds.Match(j) {
				items = append(items, j)
			}
		}
		e.mu.Unlock()
		list := operationList{Kind: "compute#operationList", ID: k.path("operations"),
			SelfLink: base + "projects/" + k.project + "/" + k.scope + "/" + k.location + "/operations"}
		if offset < len(items) {
			end := min(offset+size, len(items))
			list.Items = items[offset:end]
			if end < len(items) {
				list.NextPageToken = "p" + strconv.Itoa(end)
			}
		}
		return http.StatusOK, list
	})
}

// requestIDError checks a resize's requestId as Compute Engine does: a
// UUID, not the zero one. It returns "" when id is fine (or empty).
func requestIDError(id string) string {
	if id == "" {
		return ""
	}
	u, err := uuid.Parse(id)
	if err != nil || u == uuid.Nil {
		return fmt.Sprintf("Invalid value for field 'requestId': '%s'. The request ID must be a valid UUID with the exception that zero UUID is not supported.", id)
	}
	return ""
}

// repeatedRequest finds the operation an earlier resize with the same
// requestId made, if any: Compute Engine ignores a request it has already
// received and answers with that operation. Callers hold e.mu.
func (e *Emulator) repeatedRequest(k resKey, id string) *operation {
	if id == "" {
		return nil
	}
	for _, op := range e.ops {
		if op.requestID == id && op.target == k {
			return op
		}
	}
	return nil
}

// cond is one comparison of a list filter: Field = Value or, with Not,
// Field != Value; with Re, Field eq Value (or ne: Not), Value a regular
// expression (RE2) that must match the whole field.
type cond struct {
	Field, Value string
	Not          bool
	Re           *regexp.Regexp
}

// filter is a parsed list filter: every condition must hold.
type filter []cond

// filterField is the value of the operation field a filter names, and
// whether a filter may name it.
func filterField(o operationJSON, name string) (string, bool) {
	switch name {
	case "name":
		return o.Name, true
	case "targetLink":
		return o.TargetLink, true
	case "operationType":
		return o.OperationType, true
	case "status":
		return o.Status, true
	case "clientOperationId":
		return o.ClientOperationID, true
	case "user":
		return o.User, true
	}
	return "", false
}

// parseFilter reads an operation list's filter (see parseFilterOf), on
// the fields filterField knows.
func parseFilter(s string) (filter, error) {
	return parseFilterOf(s, func(name string) bool { _, ok := filterField(operationJSON{}, name); return ok },
		"name, targetLink, operationType, status, clientOperationId, user")
}

// parseFilterOf reads the subset of Compute Engine's list filter syntax
// the emulator serves: comparisons `field = "value"` or `field != "value"`
// (the value in double or single quotes, with \" and \\ escapes, or a
// bare word) and `field eq "regexp"` or `field ne "regexp"` (RE2, matching
// the whole value), each optionally in parentheses, joined by AND or by
// spaces, on the fields allowed accepts (fields names them in errors). An
// empty filter matches everything. Errors name the position and what was
// expected.
func parseFilterOf(s string, allowed func(string) bool, fields string) (filter, error) {
	var f filter
	p := &filterParser{s: s, allowed: allowed, fields: fields}
	for {
		p.space()
		if p.done() {
			return f, nil
		}
		if len(f) > 0 && p.word("AND") {
			p.space()
		}
		c, err := p.comparison()
		if err != nil {
			return nil, err
		}
		f = append(f, c)
	}
}

// Match reports whether the operation satisfies every condition.
func (f filter) Match(o operationJSON) bool {
	return f.MatchBy(func(field string) string { v, _ := filterField(o, field); return v })
}

// MatchBy reports whether the fields get returns satisfy every condition.
func (f filter) MatchBy(get func(field string) string) bool {
	for _, c := range f {
		v := get(c.Field)
		eq := v == c.Value
		if c.Re != nil {
			eq = c.Re.MatchString(v)
		}
		if eq == c.Not {
			return false
		}
	}
	return true
}

type filterParser struct {
	s       string
	pos     int
	allowed func(string) bool
	fields  string
}

func (p *filterParser) done() bool { return p.pos >= len(p.s) }

func (p *filterParser) space() {
	for !p.done() && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t') {
		p.pos++
	}
}

// word consumes w when it stands alone at the position.
func (p *filterParser) word(w string) bool {
	rest := p.s[p.pos:]
	if !strings.HasPrefix(rest, w) || (len(rest) > len(w) && rest[len(w)] != ' ' && rest[len(w)] != '(') {
		return false
	}
	p.pos += len(w)
	return true
}

func (p *filterParser) errorf(format string, a ...any) error {
	return fmt.Errorf("at character %d: "+format, append([]any{p.pos + 1}, a...)...)
}

func (p *filterParser) comparison() (cond, error) {
	paren := !p.done() && p.s[p.pos] == '('
	if paren {
		p.pos++
		p.space()
	}
	start := p.pos
	for !p.done() && (unicode.IsLetter(rune(p.s[p.pos])) || (p.pos > start && p.s[p.pos] >= '0' && p.s[p.pos] <= '9')) {
		p.pos++
	}
	var c cond
	c.Field = p.s[start:p.pos]
	if c.Field == "" {
		return cond{}, p.errorf("want a field name")
	}
	if !p.allowed(c.Field) {
		return cond{}, fmt.Errorf("field %q cannot be filtered on (only %s)", c.Field, p.fields)
	}
	p.space()
	re := false
	switch {
	case strings.HasPrefix(p.s[p.pos:], "!="):
		c.Not = true
		p.pos += 2
	case strings.HasPrefix(p.s[p.pos:], "="):
		p.pos++
	case p.word("eq"):
		re = true
	case p.word("ne"):
		re, c.Not = true, true
	default:
		return cond{}, p.errorf("want =, !=, eq or ne after %s", c.Field)
	}
	p.space()
	at := p.pos
	v, err := p.value()
	if err != nil {
		return cond{}, err
	}
	c.Value = v
	if re {
		if c.Re, err = regexp.Compile(`^(?:` + v + `)$`); err != nil {
			p.pos = at
			return cond{}, p.errorf("%s is not a regular expression: %v", v, err)
		}
	}
	if paren {
		p.space()
		if p.done() || p.s[p.pos] != ')' {
			return cond{}, p.errorf("want )")
		}
		p.pos++
	}
	return c, nil
}

func (p *filterParser) value() (string, error) {
	if p.done() {
		return "", p.errorf("want a value")
	}
	quote := p.s[p.pos]
	if quote != '"' && quote != '\'' {
		start := p.pos
		for !p.done() && p.s[p.pos] != ' ' && p.s[p.pos] != ')' && p.s[p.pos] != '(' && p.s[p.pos] != '"' && p.s[p.pos] != '\'' {
			p.pos++
		}
		if p.pos == start {
			return "", p.errorf("want a value")
		}
		return p.s[start:p.pos], nil
	}
	p.pos++
	var b strings.Builder
	for !p.done() {
		switch ch := p.s[p.pos]; ch {
		case quote:
			p.pos++
			return b.String(), nil
		case '\\':
			if p.pos+1 >= len(p.s) {
				return "", p.errorf("unfinished escape")
			}
			b.WriteByte(p.s[p.pos+1])
			p.pos += 2
		default:
			b.WriteByte(ch)
			p.pos++
		}
	}
	return "", p.errorf("unterminated quoted value")
}
