package policy

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// TestJSONKeysMatchStructTags keeps the fast path's key list in step with
// the Policy struct: a field added to one and not the other fails here.
func TestJSONKeysMatchStructTags(t *testing.T) {
	tags := func(v any) []string {
		var out []string
		rt := reflect.TypeOf(v)
		for i := 0; i < rt.NumField(); i++ {
			name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
			out = append(out, name)
		}
		sort.Strings(out)
		return out
	}
	for schema, v := range map[string]any{
		"": Policy{}, "target": Target{}, "metrics[]": Metric{}, "scale_out": ScaleOut{},
		"scale_out.max_step": MaxStep{}, "scale_in": ScaleIn{}, "scale_in.max_step": MaxStep{}, "predictive": Predictive{},
		"metrics[].source": Source{}, "cost": Cost{},
	} {
		// Label matchers hold arbitrary keys: a policy with them takes the
		// full parser.
		got := append([]string(nil), jsonKeys[schema]...)
		if schema == "metrics[].source" {
			got = append(got, "match", "match_re")
		}
		sort.Strings(got)
		if want := tags(v); !reflect.DeepEqual(got, want) {
			t.Errorf("jsonKeys[%q] = %v, struct tags %v", schema, got, want)
		}
	}
}

var jsonSeeds = []string{
	`{"id":"m","target":{"provider":"fake","group":"g"},"min":0,"max":1,"metrics":[{"name":"r","type":"request_rate","target":5,"source":{"match":{"job":"web"},"match_re":{"instance":"web-.*"}}}]}`,
	`{"id":"web","target":{"provider":"aws","group":"web-asg","region":"us-east-1"},"min":2,"max":40,"warmup":"180s","evaluation_interval":"10s","tolerance":0.1,
	  "metrics":[{"name":"cpu","type":"cpu","target":60},{"name":"rps","type":"request_rate","target":200},{"name":"jobs","type":"queue_depth","target":50}],
	  "scale_out":{"cooldown":"60s","max_step":{"instances":4,"percent":100,"period":"60s"}},
	  "scale_in":{"cooldown":"300s","stabilization":"300s","max_step":{"instances":2,"percent":10,"period":"60s"}},
	  "predictive":{"mode":"forecast-and-scale","lead":"180s","season":"auto","history":"7d"},"stale_after":"60s","fallback_size":0}`,
	`{"id":"a","target":{"provider":"fake","group":"g"},"min":0,"max":1,"metrics":[{"name":"m","type":"queue_depth","target":5}]}`,
	`{"id":"a","target":{"provider":"fake","group":"g"},"min":0,"max":1,"tolerance":0,"predictive":{"season":"none"},"metrics":[{"name":"m","type":"queue_depth","target":5}]}`,
	`{"id":"a","ID":"b","target":{"provider":"fake","group":"g"},"min":0,"max":1,"metrics":[{"name":"m","type":"cpu","target":5}]}`,
	`{"id":"a","id":"a","target":{"provider":"fake","group":"g"},"min":0,"max":1,"metrics":[{"name":"m","type":"cpu","target":5}]}`,
	`{"id":"a","target":{"provider":"fake","group":"g"},"min":2.0,"max":1e1,"metrics":[{"name":"m","type":"cpu","target":5}]}`,
	`{"id":"a","target":{"provider":"fake","group":"g"},"min":0,"max":1,"predictive":{"season":"0s"},"metrics":[{"name":"m","type":"cpu","target":5}]}`,
	`{"id":"a","target":null,"min":0,"max":1,"metrics":[{"name":"m","type":"cpu","target":5}]} {}`,
	`{"id":"a","target":{"provider":"fake","group":"g"},"min":"1","max":1,"metrics":[{"name":"m","type":"cpu","target":5}]}`,
	`{"id":"a","target":{"provider":"fake","group":"g"},"min":0,"max":1,"predictive":{"mode":"forecast-and-scale","max_extra":"2.5%"},"metrics":[{"name":"m","type":"cpu","target":5}]}`,
	`{"id":"a","target":{"provider":"fake","group":"g"},"min":0,"max":1,"predictive":{"max_extra":"none"},"metrics":[{"name":"m","type":"cpu","target":5}]}`,
	`{"id":"a","target":{"provider":"fake","group":"g"},"min":0,"max":1,"predictive":{"max_extra":0},"metrics":[{"name":"m","type":"cpu","target":5}]}`,
}

// TestParseJSONFastPath checks the fast path against the full parser on
// hand-picked documents: whenever it accepts, the full parser accepts the
// same policy; it declines the traps (case-folded or duplicate keys,
// exponents, "0s" seasons, trailing data).
func TestParseJSONFastPath(t *testing.T) {
	accepted := 0
	for i, doc := range jsonSeeds {
		fast, ferr := parseJSONFast([]byte(doc))
		if ferr != nil {
			continue
		}
		accepted++
		slow, serr := parseSlowForTest([]byte(doc))
		if serr != nil || !reflect.DeepEqual(fast, slow) {
			t.Fatalf("seed %d: fast path accepted what the full parser gives %v / %+v", i, serr, slow)
		}
	}
	// The valid ones, but for max_extra written as the number 0, which
	// the full parser reads (as none) and the fast path leaves to it.
	if accepted != 5 {
		t.Fatalf("fast path accepted %d seeds, want the 5 valid ones", accepted)
	}
}

// parseSlowForTest runs Parse with the fast path out of the way, by
// wrapping the JSON in YAML flow syntax that the fast path declines.
func parseSlowForTest(data []byte) (Policy, error) {
	return Parse(append([]byte("# slow\n"), data...))
}

func FuzzParseJSONFastPath(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, err := parseJSONFast(data)
		if err != nil {
			return
		}
		slow, serr := parseSlowForTest(data)
		if serr != nil {
			t.Fatalf("fast path accepted input the full parser rejects: %v", serr)
		}
		if !reflect.DeepEqual(fast, slow) {
			fj, _ := json.Marshal(fast)
			sj, _ := json.Marshal(slow)
			t.Fatalf("fast and full parsers disagree:\n%s\n%s", fj, sj)
		}
	})
}
