package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
)

// jsonKeys lists the keys each JSON object of a policy may hold, by the
// object's path ("metrics[]" stands for every metrics element). It mirrors
// the struct tags of Policy; TestJSONKeysMatchStructTags keeps them in step.
var jsonKeys = map[string][]string{
	"":                   {"id", "target", "min", "max", "warmup", "evaluation_interval", "tolerance", "metrics", "scale_out", "scale_in", "predictive", "stale_after", "fallback_size", "schedules", "cost", "budget"},
	"cost":               {"per_instance_hour", "currency"},
	"budget":             {"max_hourly_cost"},
	"target":             {"provider", "group", "region", "zone", "project", "subscription", "resource_group", "scale_set"},
	"metrics[]":          {"name", "type", "target", "source"},
	"metrics[].source":   {"kind", "query", "queue_url", "region", "include_in_flight"},
	"scale_out":          {"cooldown", "max_step"},
	"scale_out.max_step": {"instances", "percent", "period"},
	"scale_in":           {"cooldown", "stabilization", "max_step"},
	"scale_in.max_step":  {"instances", "percent", "period"},
	"predictive":         {"mode", "lead", "season", "history", "history_step", "max_extra"},
}

// errSlowPath means the fast path cannot vouch for the input; the full
// parser decides (and, for bad input, explains).
var errSlowPath = errors.New("policy: take the full parser")

// parseJSONFast parses the common case, a valid policy written as JSON (as
// the REST API receives it), with encoding/json, several times faster than
// walking a YAML node tree. It accepts only what Parse would accept with the
// same result: exact key names, no duplicates, no nulls it would have to
// interpret, plain decimal numbers. Anything else, including every invalid
// policy, returns errSlowPath so the full parser reports the errors.
func parseJSONFast(data []byte) (Policy, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Policy{}, errSlowPath
	}
	set := make(map[string]bool, 32)
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	if err := scanObject(dec, "", "", set); err != nil {
		return Policy{}, errSlowPath
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Policy{}, errSlowPath // trailing data
	}
	var p Policy
	if err := json.Unmarshal(trimmed, &p); err != nil {
		return Policy{}, errSlowPath
	}
	present := func(path string) bool { return set[path] }
	p.ApplyDefaults(present)
	c := ruleChecker{present: present, broken: func(string) bool { return false }}
	c.policy(p)
	if len(c.errs) > 0 {
		return Policy{}, errSlowPath
	}
	return p, nil
}

// scanObject checks one object's keys against jsonKeys and records the path
// of every present, non-null field. schema is the object's jsonKeys path;
// path its concrete one ("metrics[1]").
func scanObject(dec *json.Decoder, schema, path string, set map[string]bool) error {
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errSlowPath
	}
	allowed := jsonKeys[schema]
	seen := make(map[string]bool, len(allowed))
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return errSlowPath
		}
		key, ok := t.(string)
		if !ok || seen[key] || !slices.Contains(allowed, key) {
			return errSlowPath
		}
		seen[key] = true
		field := joinPath(path, key)
		sub := joinPath(schema, key)
		if err := scanValue(dec, sub, field, set); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return errSlowPath
	}
	return nil
}

// scanValue checks one value and recurses into objects and the metrics list.
func scanValue(dec *json.Decoder, schema, path string, set map[string]bool) error {
	if _, isObject := jsonKeys[schema]; isObject {
		set[path] = true
		return scanObject(dec, schema, path, set)
	}
	if schema == "metrics" {
		if t, err := dec.Token(); err != nil || t != json.Delim('[') {
			return errSlowPath
		}
		set[path] = true
		for i := 0; dec.More(); i++ {
			if err := scanObject(dec, "metrics[]", path+"["+strconv.Itoa(i)+"]", set); err != nil {
				return err
			}
		}
		_, err := dec.Token()
		return err
	}
	t, err := dec.Token()
	if err != nil {
		return errSlowPath
	}
	switch v := t.(type) {
	case json.Number:
		// Only plain decimals: the full parser has its own rules for
		// exponents, and integers must be decimal there too.
		if strings.ContainsAny(string(v), "eE+") {
			return errSlowPath
		}
	case string:
		// "season: 0s" is an error there, not "none".
		if schema == "predictive.season" && v != "auto" && v != "none" {
			if d, err := ParseDuration(v); err != nil || d == 0 {
				return errSlowPath
			}
		}
	default:
		return errSlowPath // null, booleans, nested arrays: let the full parser judge
	}
	set[path] = true
	return nil
}
