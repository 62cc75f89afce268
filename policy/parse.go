package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxPolicyBytes is the largest policy document Parse accepts. Real policies
// are a few hundred bytes; the limit keeps a hostile or mistaken upload
// (the API passes request bodies straight to Parse) from costing the leader
// memory and time.
const MaxPolicyBytes = 1 << 20

// maxReportedErrors bounds the error list so that a megabyte of garbage
// keys yields a readable answer rather than a megabyte of messages.
const maxReportedErrors = 50

// maxWalkedMetrics is how long a metrics list may be and still be decoded
// item by item. Lists a little over MaxMetrics get per-item errors as well as
// the count; longer ones only the count.
const maxWalkedMetrics = 8 * MaxMetrics

// Parse decodes a policy written as YAML or JSON (JSON is YAML, so one
// decoder serves both), applies Defaults to every field the document does not
// write, and validates the result.
//
// It reports every problem at once, in document order, as a
// *ValidationError (which matches ErrInvalid): unknown fields, duplicate
// keys, values of the wrong type, bad durations and every Validate rule,
// each under the dotted path of its field ("scale_in.max_step.percent",
// "metrics[1].target"). A field set to null counts as absent. Integers must
// be written in decimal (YAML would read 010 as octal 8). Anchors and aliases
// are rejected: a policy has no use for them, and they are how YAML
// "billion laughs" documents grow.
//
// On error the returned Policy is the zero value, so nothing half-parsed can
// be stored by mistake.
func Parse(data []byte) (Policy, error) {
	if len(data) > MaxPolicyBytes {
		return Policy{}, docError(fmt.Sprintf("policy is %d bytes, larger than the %d-byte limit", len(data), MaxPolicyBytes))
	}
	if p, err := parseJSONFast(data); err == nil {
		p.Schedules = compileSchedules(p.Schedules)
		return p, nil
	}
	root, msg := decodeDocument(data)
	if msg != "" {
		return Policy{}, docError(msg)
	}

	w := walker{
		pos: make(map[string]docPos),
		set: make(map[string]bool),
		bad: make(map[string]bool),
	}
	var p Policy
	w.policy(root, &p)

	present := func(path string) bool { return w.set[path] }
	p.ApplyDefaults(present)

	c := ruleChecker{present: present, broken: w.broken}
	c.policy(p)

	errs := w.sorted(c.errs)
	if len(errs) > 0 {
		return Policy{}, &ValidationError{Fields: errs}
	}
	p.Schedules = compileSchedules(p.Schedules)
	return p, nil
}

func docError(msg string) error {
	return &ValidationError{Fields: []FieldError{{Message: msg}}}
}

// decodeDocument parses data into its single document's top node, or
// returns a message saying why the document is not a policy.
func decodeDocument(data []byte) (root *yaml.Node, msg string) {
	// The YAML library has panicked on malformed input in past releases;
	// a policy upload must never take the daemon down, so any panic in it
	// becomes an ordinary parse error.
	defer func() {
		if r := recover(); r != nil {
			root, msg = nil, fmt.Sprintf("malformed YAML: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		return nil, "policy is empty"
	case err != nil:
		return nil, err.Error()
	}
	// A second document would be silently ignored by a plain Unmarshal;
	// an operator who concatenated two policies should hear about it.
	// Empty trailing documents ("---" at the end) are harmless.
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err.Error()
		}
		if !isEmptyDocument(&next) {
			return nil, "policy must be a single YAML document"
		}
	}
	if len(doc.Content) != 1 {
		return nil, "policy is empty"
	}
	root = doc.Content[0]
	switch {
	case isYAMLNull(root):
		return nil, "policy is empty"
	case root.Kind == yaml.AliasNode || root.Anchor != "":
		return nil, "anchors and aliases are not supported"
	case root.Kind != yaml.MappingNode:
		return nil, "policy must be a mapping of fields (a YAML mapping or a JSON object)"
	}
	return root, ""
}

func isEmptyDocument(doc *yaml.Node) bool {
	return len(doc.Content) == 0 || (len(doc.Content) == 1 && isYAMLNull(doc.Content[0]))
}

func isYAMLNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// docPos is a place in the document, used to report errors in the order
// an operator reads the file.
type docPos struct{ line, col int }

// walker decodes a yaml.Node tree into a Policy by hand. Doing it by hand
// rather than with yaml's struct decoding is what lets Parse report every
// problem with its path, detect duplicate keys and tell an absent field
// (which gets a default) from one written as zero.
type walker struct {
	errs []placedError
	// pos records where each written field (and list item) starts.
	pos map[string]docPos
	// set records fields written with a non-null value.
	set map[string]bool
	// bad records fields whose value could not be decoded.
	bad map[string]bool
}

// placedError is a FieldError with the place it sorts at.
type placedError struct {
	FieldError
	at docPos
}

// fail records a problem with a field's value and marks the field so that
// Validate's rules do not report the same field a second time.
func (w *walker) fail(path, msg string) {
	w.report(w.placeOf(path), path, msg)
	w.bad[path] = true
}

// report records a problem at an explicit place: a duplicate key shares its
// path with the first occurrence but belongs where it is written.
func (w *walker) report(at docPos, path, msg string) {
	w.errs = append(w.errs, placedError{FieldError{Path: path, Message: msg}, at})
}

// broken reports whether path or any of its ancestors failed to decode: if
// "metrics[1]" is not a mapping, "metrics[1].name: required" is noise.
func (w *walker) broken(path string) bool {
	for {
		if w.bad[path] {
			return true
		}
		parent, ok := parentPath(path)
		if !ok {
			return false
		}
		path = parent
	}
}

// parentPath strips the last ".field" or "[i]" from a path.
func parentPath(path string) (string, bool) {
	i := strings.LastIndexAny(path, ".[")
	if i <= 0 {
		return "", false
	}
	return path[:i], true
}

// sorted merges decoding errors with rule violations in document order.
// Decoding errors come first for the same place; violations of fields the
// document does not contain sort at their closest written ancestor, or at
// the end, in Validate's order. The sort is stable, so the result is
// deterministic.
func (w *walker) sorted(rules []FieldError) []FieldError {
	all := append(make([]placedError, 0, len(w.errs)+len(rules)), w.errs...)
	for _, e := range rules {
		all = append(all, placedError{e, w.placeOf(e.Path)})
	}
	slices.SortStableFunc(all, func(a, b placedError) int {
		if a.at.line != b.at.line {
			return a.at.line - b.at.line
		}
		return a.at.col - b.at.col
	})
	out := make([]FieldError, 0, min(len(all), maxReportedErrors+1))
	for i, e := range all {
		if i == maxReportedErrors {
			out = append(out, FieldError{Message: fmt.Sprintf("%d more problems not shown", len(all)-i)})
			break
		}
		out = append(out, e.FieldError)
	}
	return out
}

func (w *walker) placeOf(path string) docPos {
	for {
		if at, ok := w.pos[path]; ok {
			return at
		}
		parent, ok := parentPath(path)
		if !ok {
			return docPos{line: math.MaxInt32}
		}
		path = parent
	}
}

// fieldHandler decodes one field's value node.
type fieldHandler func(path string, n *yaml.Node)

// fields walks a mapping node, dispatching each key to its fieldHandler in
// document order and reporting unknown and duplicate keys.
func (w *walker) fields(path string, n *yaml.Node, handlers map[string]fieldHandler) {
	if n.Kind != yaml.MappingNode {
		w.fail(path, "must be a mapping")
		return
	}
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		at := docPos{k.Line, k.Column}
		if k.Kind != yaml.ScalarNode || k.Anchor != "" {
			w.report(at, path, fmt.Sprintf("keys must be plain field names (line %d)", k.Line))
			continue
		}
		child := joinPath(path, k.Value)
		if line, dup := seen[k.Value]; dup {
			w.report(at, child, fmt.Sprintf("duplicate key, first set on line %d", line))
			continue
		}
		seen[k.Value] = k.Line
		h, known := handlers[k.Value]
		if !known {
			w.report(at, child, "unknown field")
			continue
		}
		w.pos[child] = at
		if !w.usable(child, v) {
			continue
		}
		w.set[child] = true
		h(child, v)
	}
}

// usable reports whether a value node should be decoded: null counts as
// absent, and anchors or aliases are refused rather than followed, so no
// alias can ever be expanded.
func (w *walker) usable(path string, n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		w.fail(path, "anchors and aliases are not supported")
		return false
	}
	return !isYAMLNull(n)
}

// joinPath appends a field name to a path, quoting names that would make the
// path ambiguous or unreadable (dots, spaces, newlines, very long keys).
func joinPath(path, name string) string {
	if !plainName(name) {
		const maxShown = 40
		if len(name) > maxShown {
			name = strings.ToValidUTF8(name[:maxShown], "") + "…"
		}
		name = strconv.Quote(name)
	}
	if path == "" {
		return name
	}
	return path + "." + name
}

func plainName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_' || b == '-') {
			return false
		}
	}
	return true
}

func (w *walker) policy(n *yaml.Node, p *Policy) {
	w.fields("", n, map[string]fieldHandler{
		"id":                  w.text(&p.ID),
		"target":              w.target(&p.Target),
		"min":                 w.integer(&p.Min),
		"max":                 w.integer(&p.Max),
		"warmup":              w.duration(&p.Warmup),
		"evaluation_interval": w.duration(&p.EvaluationInterval),
		"tolerance":           w.number(&p.Tolerance),
		"metrics":             w.metrics(&p.Metrics),
		"scale_out": func(path string, n *yaml.Node) {
			w.fields(path, n, map[string]fieldHandler{
				"cooldown": w.duration(&p.ScaleOut.Cooldown),
				"max_step": w.maxStep(&p.ScaleOut.MaxStep),
			})
		},
		"scale_in": func(path string, n *yaml.Node) {
			w.fields(path, n, map[string]fieldHandler{
				"cooldown":      w.duration(&p.ScaleIn.Cooldown),
				"stabilization": w.duration(&p.ScaleIn.Stabilization),
				"max_step":      w.maxStep(&p.ScaleIn.MaxStep),
			})
		},
		"predictive": func(path string, n *yaml.Node) {
			w.fields(path, n, map[string]fieldHandler{
				"mode":         w.text((*string)(&p.Predictive.Mode)),
				"lead":         w.duration(&p.Predictive.Lead),
				"season":       w.season(&p.Predictive.Season),
				"history":      w.duration(&p.Predictive.History),
				"history_step": w.duration(&p.Predictive.HistoryStep),
				"max_extra":    w.extraBound(&p.Predictive.MaxExtra),
			})
		},
		"stale_after":   w.duration(&p.StaleAfter),
		"fallback_size": w.integer(&p.FallbackSize),
		"schedules":     w.schedules(&p.Schedules),
		"cost": func(path string, n *yaml.Node) {
			w.fields(path, n, map[string]fieldHandler{
				"per_instance_hour": w.number(&p.Cost.PerInstanceHour),
				"currency":          w.text(&p.Cost.Currency),
			})
		},
		"budget": func(path string, n *yaml.Node) {
			w.fields(path, n, map[string]fieldHandler{
				"max_hourly_cost": w.number(&p.Budget.MaxHourlyCost),
			})
		},
	})
}

func (w *walker) target(t *Target) fieldHandler {
	return func(path string, n *yaml.Node) {
		w.fields(path, n, map[string]fieldHandler{
			"provider":       w.text(&t.Provider),
			"group":          w.text(&t.Group),
			"region":         w.text(&t.Region),
			"zone":           w.text(&t.Zone),
			"project":        w.text(&t.Project),
			"subscription":   w.text(&t.Subscription),
			"resource_group": w.text(&t.ResourceGroup),
			"scale_set":      w.text(&t.ScaleSet),
		})
	}
}

func (w *walker) maxStep(s *MaxStep) fieldHandler {
	return func(path string, n *yaml.Node) {
		w.fields(path, n, map[string]fieldHandler{
			"instances": w.integer(&s.Instances),
			"percent":   w.number(&s.Percent),
			"period":    w.duration(&s.Period),
		})
	}
}

func (w *walker) metrics(ms *[]Metric) fieldHandler {
	// A list far beyond any real policy is refused without decoding (and
	// reporting on) every one of possibly 100,000 items (maxWalkedMetrics).
	return walkList(w, ms, "metrics", MaxMetrics, maxWalkedMetrics, func(at string, item *yaml.Node, m *Metric) {
		w.fields(at, item, map[string]fieldHandler{
			"name":   w.text(&m.Name),
			"type":   w.text((*string)(&m.Type)),
			"target": w.number(&m.Target),
			"source": w.source(&m.Source),
		})
	})
}

// walkList decodes a list of a policy file (metrics, schedules) into dst,
// one T per item, whose fields item decodes; each item's position is
// kept for messages, and a null item stays T's zero value, an empty entry
// whose lacks Validate names. A list of more than most items is refused
// whole, said once ("at most <allowed> <what> are allowed"). It is the one
// loop behind every list the walker decodes, so that all say the same
// things the same way.
func walkList[T any](w *walker, dst *[]T, what string, allowed, most int, item func(at string, n *yaml.Node, t *T)) fieldHandler {
	return func(path string, n *yaml.Node) {
		if n.Kind != yaml.SequenceNode {
			w.fail(path, "must be a list")
			return
		}
		if len(n.Content) > most {
			w.fail(path, fmt.Sprintf("at most %d %s are allowed", allowed, what))
			return
		}
		list := make([]T, len(n.Content))
		for i, c := range n.Content {
			at := path + "[" + strconv.Itoa(i) + "]"
			w.pos[at] = docPos{c.Line, c.Column}
			if w.usable(at, c) {
				item(at, c, &list[i])
			}
		}
		*dst = list
	}
}

// text accepts any plain scalar and keeps its text as written, so that a
// group named 12345 or a zone named "on" need no quoting. Tags that carry
// no text (binary, custom tags) are refused.
func (w *walker) source(src *Source) fieldHandler {
	return func(path string, n *yaml.Node) {
		w.fields(path, n, map[string]fieldHandler{
			"kind":              w.text((*string)(&src.Kind)),
			"query":             w.text(&src.Query),
			"queue_url":         w.text(&src.QueueURL),
			"region":            w.text(&src.Region),
			"include_in_flight": w.boolean(&src.IncludeInFlight),
			"match":             w.labelMap(&src.Match),
			"match_re":          w.labelMap(&src.MatchRE),
		})
	}
}

// labelMap reads a mapping of label names to string values.
func (w *walker) labelMap(dst *map[string]string) fieldHandler {
	return func(path string, n *yaml.Node) {
		if n.Kind != yaml.MappingNode {
			w.fail(path, "must be a mapping of label names to values")
			return
		}
		out := make(map[string]string, len(n.Content)/2)
		handlers := make(map[string]fieldHandler, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Kind == yaml.ScalarNode {
				name := k.Value
				var v string
				handlers[name] = func(p string, n *yaml.Node) {
					w.text(&v)(p, n)
					out[name] = v
				}
			}
		}
		w.fields(path, n, handlers)
		*dst = out
	}
}

func (w *walker) boolean(dst *bool) fieldHandler {
	return func(path string, n *yaml.Node) {
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			w.fail(path, "must be true or false")
			return
		}
		*dst = n.Value == "true"
	}
}

func (w *walker) text(dst *string) fieldHandler {
	return func(path string, n *yaml.Node) {
		if n.Kind != yaml.ScalarNode {
			w.fail(path, "must be a string")
			return
		}
		switch n.ShortTag() {
		case "!!str", "!!int", "!!float", "!!bool", "!!timestamp":
			*dst = n.Value
		default:
			w.fail(path, "must be a string")
		}
	}
}

func (w *walker) integer(dst *int) fieldHandler {
	return func(path string, n *yaml.Node) {
		if n.Kind != yaml.ScalarNode {
			w.fail(path, "must be an integer")
			return
		}
		tag := n.ShortTag()
		switch {
		case (tag == "!!int" || tag == "!!float") && isDecimal(n.Value):
			v, err := strconv.ParseInt(n.Value, 10, strconv.IntSize)
			if err != nil {
				w.fail(path, "is out of range")
				return
			}
			*dst = int(v)
		case tag == "!!int":
			// 0x10, 0o10, 010 and 1_000 are integers to YAML but not to
			// JSON or to most readers; 010 even means 8.
			w.fail(path, "must be a decimal integer")
		default:
			w.fail(path, "must be an integer")
		}
	}
}

// isDecimal reports whether s is an optionally signed decimal integer
// without leading zeros.
func isDecimal(s string) bool {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	if s == "" || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// number accepts integers and floats, including YAML's .nan and .inf so
// that Validate can name them; JSON has no way to write those.
func (w *walker) number(dst *float64) fieldHandler {
	return func(path string, n *yaml.Node) {
		if n.Kind != yaml.ScalarNode {
			w.fail(path, "must be a number")
			return
		}
		switch tag := n.ShortTag(); {
		case tag == "!!int" && isDecimal(n.Value):
			v, err := strconv.ParseFloat(n.Value, 64)
			if err != nil {
				w.fail(path, "must be a number")
				return
			}
			*dst = v
		case tag == "!!int":
			w.fail(path, "must be a decimal number")
		case tag == "!!float":
			var v float64
			if err := n.Decode(&v); err != nil {
				w.fail(path, "must be a number")
				return
			}
			*dst = v
		default:
			w.fail(path, "must be a number")
		}
	}
}

func (w *walker) duration(dst *Duration) fieldHandler {
	return func(path string, n *yaml.Node) {
		d, ok := w.durationText(path, n, ErrBadDuration.Error())
		if ok {
			*dst = Duration(d)
		}
	}
}

// durationText returns a scalar's text parsed as a duration, recording msg
// as the problem otherwise.
func (w *walker) durationText(path string, n *yaml.Node, msg string) (Duration, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!binary" {
		w.fail(path, msg)
		return 0, false
	}
	s := n.Value
	// ParseDuration reads a lone "-" as zero; a sign with nothing after it
	// is a typo, not a duration.
	if s == "-" || s == "+" {
		w.fail(path, msg)
		return 0, false
	}
	d, err := ParseDuration(s)
	if err != nil {
		w.fail(path, msg)
		return 0, false
	}
	return Duration(d), true
}

// extraBound parses "none", 0 or a percentage such as "5%"
// (ParseExtraBound).
func (w *walker) extraBound(dst *ExtraBound) fieldHandler {
	return func(path string, n *yaml.Node) {
		if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!binary" {
			w.fail(path, ErrBadExtraBound.Error())
			return
		}
		v, err := ParseExtraBound(n.Value)
		if err != nil {
			w.fail(path, err.Error())
			return
		}
		*dst = v
	}
}

func (w *walker) season(dst *Season) fieldHandler {
	return func(path string, n *yaml.Node) {
		if n.Kind == yaml.ScalarNode {
			switch n.Value {
			case "auto":
				*dst = Season{Auto: true}
				return
			case "none":
				*dst = Season{}
				return
			}
		}
		d, ok := w.durationText(path, n, seasonMessage)
		if !ok {
			return
		}
		if d == 0 {
			// Season{} means none, so a zero period would silently read
			// as "none"; say what is allowed instead.
			w.fail(path, seasonMessage)
			return
		}
		*dst = Season{Period: d.D()}
	}
}

// Marshal renders a policy as YAML with fields in the documented order
// (the order of Policy's declaration) and durations as text ("3m", "7d"),
// so that Parse(Marshal(p)) returns p for any valid p. Every field is
// written, defaults included, so the output shows exactly what will run.
// Marshal does not validate; empty target fields are left out.
func Marshal(p Policy) ([]byte, error) {
	t := p.Target
	target := yamlMap(
		"provider", yamlStr(t.Provider),
		"group", yamlOptStr(t.Group),
		"region", yamlOptStr(t.Region),
		"zone", yamlOptStr(t.Zone),
		"project", yamlOptStr(t.Project),
		"subscription", yamlOptStr(t.Subscription),
		"resource_group", yamlOptStr(t.ResourceGroup),
		"scale_set", yamlOptStr(t.ScaleSet),
	)
	metrics := &yaml.Node{Kind: yaml.SequenceNode}
	for _, m := range p.Metrics {
		var source *yaml.Node
		if !m.Source.IsZero() {
			var inFlight *yaml.Node
			if m.Source.IncludeInFlight {
				inFlight = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"}
			}
			source = yamlMap("kind", yamlOptStr(string(m.Source.Kind)), "query", yamlOptStr(m.Source.Query),
				"queue_url", yamlOptStr(m.Source.QueueURL), "region", yamlOptStr(m.Source.Region), "include_in_flight", inFlight,
				"match", yamlLabelMap(m.Source.Match), "match_re", yamlLabelMap(m.Source.MatchRE))
		}
		item := yamlMap("name", yamlStr(m.Name), "type", yamlStr(string(m.Type)), "target", yamlNum(m.Target), "source", source)
		// One line per metric reads like a table, as in the examples.
		item.Style = yaml.FlowStyle
		metrics.Content = append(metrics.Content, item)
	}
	root := yamlMap(
		"id", yamlStr(p.ID),
		"target", target,
		"min", yamlInt(p.Min),
		"max", yamlInt(p.Max),
		"warmup", yamlDur(p.Warmup),
		"evaluation_interval", yamlDur(p.EvaluationInterval),
		"tolerance", yamlNum(p.Tolerance),
		"metrics", metrics,
		"scale_out", yamlMap(
			"cooldown", yamlDur(p.ScaleOut.Cooldown),
			"max_step", yamlStep(p.ScaleOut.MaxStep),
		),
		"scale_in", yamlMap(
			"cooldown", yamlDur(p.ScaleIn.Cooldown),
			"stabilization", yamlDur(p.ScaleIn.Stabilization),
			"max_step", yamlStep(p.ScaleIn.MaxStep),
		),
		"predictive", yamlMap(
			"mode", yamlStr(string(p.Predictive.Mode)),
			"lead", yamlDur(p.Predictive.Lead),
			"season", yamlStr(p.Predictive.Season.String()),
			"history", yamlDur(p.Predictive.History),
			"history_step", yamlOptDur(p.Predictive.HistoryStep),
			"max_extra", yamlStr(p.Predictive.MaxExtra.String()),
		),
		"stale_after", yamlDur(p.StaleAfter),
		"fallback_size", yamlInt(p.FallbackSize),
		"schedules", yamlSchedules(p.Schedules),
		"cost", yamlCost(p.Cost),
		"budget", yamlBudget(p.Budget),
	)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("policy: marshal %q: %w", p.ID, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("policy: marshal %q: %w", p.ID, err)
	}
	return buf.Bytes(), nil
}

// yamlMap builds a mapping node from alternating keys and values, skipping
// nil values (optional fields left out).
func yamlMap(kv ...any) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(kv); i += 2 {
		v, _ := kv[i+1].(*yaml.Node)
		if v == nil {
			continue
		}
		m.Content = append(m.Content, yamlStr(kv[i].(string)), v)
	}
	return m
}

// yamlStr tags the scalar !!str so the encoder quotes text that would
// otherwise read back as another type ("123", "true", "null").
func yamlStr(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

func yamlOptStr(s string) *yaml.Node {
	if s == "" {
		return nil
	}
	return yamlStr(s)
}

func yamlInt(v int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(v)}
}

// yamlNum writes floats in their shortest exact form; whole numbers come out
// as "60" (read back as an int, which Parse accepts for numbers).
func yamlNum(v float64) *yaml.Node {
	var s string
	switch {
	case math.IsNaN(v):
		s = ".nan"
	case math.IsInf(v, 1):
		s = ".inf"
	case math.IsInf(v, -1):
		s = "-.inf"
	default:
		s = strconv.FormatFloat(v, 'g', -1, 64)
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Value: s}
}

func yamlDur(d Duration) *yaml.Node { return yamlStr(d.String()) }

// yamlOptDur renders a duration whose zero means "the default" and is
// left out.
func yamlOptDur(d Duration) *yaml.Node {
	if d == 0 {
		return nil
	}
	return yamlDur(d)
}

func yamlStep(s MaxStep) *yaml.Node {
	return yamlMap("instances", yamlInt(s.Instances), "percent", yamlNum(s.Percent), "period", yamlDur(s.Period))
}

// yamlLabelMap renders a label map with sorted keys, or nil when empty.
func yamlLabelMap(m map[string]string) *yaml.Node {
	if len(m) == 0 {
		return nil
	}
	names := slices.Sorted(maps.Keys(m))
	var kv []any
	for _, k := range names {
		kv = append(kv, k, yamlStr(m[k]))
	}
	return yamlMap(kv...)
}
