package api

import (
	"bytes"
	_ "embed" // the OpenAPI document ships inside the binary
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"go.yaml.in/yaml/v3"
)

// openAPIYAML is the OpenAPI 3 document of this API, as maintained by hand
// in openapi.yaml. It is written in YAML for the people who edit and review
// it, and served as JSON for the tools that read it.
//
//go:embed openapi.yaml
var openAPIYAML []byte

// OpenAPIPath is where every node serves the OpenAPI document as JSON.
const OpenAPIPath = "/v1/openapi.json"

// openAPIDoc is openAPIJSON, converted once per process and shared by
// every handler, which serves the bytes and never changes them. A handler
// converted its own until issue 10: a YAML parse of the whole document,
// 27 % of the CPU of TestOpenAPIRealTraffic, which builds a handler per
// case (13 s under -race). The embedded file cannot change while the
// process runs, so the once-computed value is a constant, not state.
var openAPIDoc = sync.OnceValues(openAPIJSON)

// openAPIJSON converts the embedded document to JSON, keeping the order of
// its keys so that the served document reads like the file.
func openAPIJSON() ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(openAPIYAML, &doc); err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	var buf bytes.Buffer
	if err := yamlToJSON(&buf, &doc); err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, buf.Bytes(), "", "  "); err != nil {
		return nil, fmt.Errorf("openapi.yaml: converted to invalid JSON: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// errYAMLNotJSON is returned for YAML that has no JSON form.
var errYAMLNotJSON = errors.New("no JSON form")

// yamlToJSON writes n as JSON. Mapping keys are written as strings (a
// status code such as 200 is a key "200" in JSON); scalars keep their
// YAML type. Anchors, aliases and tags beyond the core schema are refused:
// the document has no use for them, and JSON could not say them.
func yamlToJSON(buf *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return fmt.Errorf("line %d: want one document: %w", n.Line, errYAMLNotJSON)
		}
		return yamlToJSON(buf, n.Content[0])
	case yaml.MappingNode:
		buf.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				buf.WriteByte(',')
			}
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: a mapping key must be a scalar: %w", k.Line, errYAMLNotJSON)
			}
			key, err := json.Marshal(k.Value)
			if err != nil {
				return fmt.Errorf("line %d: %w", k.Line, err)
			}
			buf.Write(key)
			buf.WriteByte(':')
			if err := yamlToJSON(buf, n.Content[i+1]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
		return nil
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, item := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := yamlToJSON(buf, item); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	case yaml.ScalarNode:
		var v any
		switch n.ShortTag() {
		case "!!str", "!!int", "!!float", "!!bool", "!!null":
			if err := n.Decode(&v); err != nil {
				return fmt.Errorf("line %d: %w", n.Line, err)
			}
		default:
			return fmt.Errorf("line %d: tag %s: %w", n.Line, n.ShortTag(), errYAMLNotJSON)
		}
		data, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		buf.Write(data)
		return nil
	}
	return fmt.Errorf("line %d: anchors and aliases are not supported: %w", n.Line, errYAMLNotJSON)
}

// openAPI serves the document converted once by NewHandler. A document
// that failed to convert is a build defect (the tests convert it too), so
// it is reported as an internal error rather than keeping the node from
// starting.
func (h *handler) openAPI(w http.ResponseWriter, r *http.Request) error {
	if h.specErr != nil {
		return fmt.Errorf("serving the OpenAPI document: %w", h.specErr)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(h.spec)
	return nil
}
