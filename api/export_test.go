package api

// This file exposes internals to the external tests of package api_test.
// The OpenAPI tests live there rather than in package api because they
// drive the handler over apitest's Backend, and apitest imports api: an
// internal test importing it would be an import cycle.

// RoutePatterns returns "METHOD /path" for every route NewHandler serves,
// in table order, so the OpenAPI test can compare the document with what
// is really served.
func RoutePatterns() []string {
	var h handler
	rts := h.routes()
	out := make([]string, len(rts))
	for i, rt := range rts {
		out[i] = rt.method + " " + rt.path
	}
	return out
}

// OpenAPIJSON is openAPIJSON, for the test that the served document is the
// file's.
var OpenAPIJSON = openAPIJSON

// OpenAPIDocYAML is the embedded document as written.
var OpenAPIDocYAML = openAPIYAML

// RouteRoles maps "METHOD /path" of every route to the role a token needs
// for it ("none" for the open probes), so the OpenAPI test can check each
// operation's x-capstan-role.
func RouteRoles() map[string]string {
	var h handler
	out := map[string]string{}
	for _, rt := range h.routes() {
		role := string(rt.role)
		if rt.role == roleOpen {
			role = "none"
		}
		out[rt.method+" "+rt.path] = role
	}
	return out
}
