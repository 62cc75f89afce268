package gcp

import (
	"fmt"
	"strings"

	"github.com/capstan-io/capstan/cloud"
)

// The REST client pastes project, zone, region and group into the URL path
// unescaped (fmt %v), so a stray "/" or "?" would address another resource.
// These checks accept what Compute Engine accepts and nothing that could
// change the shape of a path. They are written out rather than regular
// expressions: the batch describe checks every group and every
// autoscaler link of a refresh, and matching the expressions was a fifth
// of its CPU with the lists decoded by the driver (BenchmarkDescribePage).
// TestNameChecksMatchExpressions and FuzzNameChecks hold them to the
// expressions they replace.

// isName reports whether s is an RFC 1035 label, what Compute Engine
// allows for group, zone, region and autoscaler names:
// ^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$.
func isName(s string) bool {
	if len(s) == 0 || len(s) > 63 || !isLower(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isLower(c) && !isDigit(c) && (c != '-' || i == len(s)-1) {
			return false
		}
	}
	return true
}

// isProject reports whether s is a project ID, optionally domain-scoped
// ("example.com:my-project", an older form still in use):
// ^([a-z0-9][-a-z0-9.]*[a-z0-9]:)?[a-z][-a-z0-9]{4,28}[a-z0-9]$.
func isProject(s string) bool {
	if i := strings.IndexByte(s, ':'); i >= 0 {
		domain := s[:i]
		if len(domain) < 2 || !isLowerOrDigit(domain[0]) || !isLowerOrDigit(domain[len(domain)-1]) {
			return false
		}
		for j := 1; j < len(domain)-1; j++ {
			if c := domain[j]; !isLowerOrDigit(c) && c != '-' && c != '.' {
				return false
			}
		}
		s = s[i+1:]
	}
	if len(s) < 6 || len(s) > 30 || !isLower(s[0]) || !isLowerOrDigit(s[len(s)-1]) {
		return false
	}
	for j := 1; j < len(s)-1; j++ {
		if c := s[j]; !isLowerOrDigit(c) && c != '-' {
			return false
		}
	}
	return true
}

func isLower(c byte) bool        { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool        { return c >= '0' && c <= '9' }
func isLowerOrDigit(c byte) bool { return isLower(c) || isDigit(c) }

// target is a validated GroupRef: a zonal or a regional managed instance group.
type target struct {
	project  string
	location string // the zone or the region
	regional bool
	name     string
}

func (t target) String() string {
	scope := "zones"
	if t.regional {
		scope = "regions"
	}
	return "projects/" + t.project + "/" + scope + "/" + t.location + "/instanceGroupManagers/" + t.name
}

// parseRef checks g before anything goes on the wire; every failure is
// cloud.ErrInvalid, permanent, and names the field to fix.
func parseRef(g cloud.GroupRef) (target, error) {
	if g.Provider != "" && g.Provider != "gcp" {
		return target{}, fmt.Errorf("gcp: target provider is %q, not gcp: %w", g.Provider, cloud.ErrInvalid)
	}
	if g.Project == "" {
		return target{}, fmt.Errorf("gcp: target needs a project: %w", cloud.ErrInvalid)
	}
	if !isProject(g.Project) {
		return target{}, fmt.Errorf("gcp: project %q is not a project ID (like my-project-123): %w", g.Project, cloud.ErrInvalid)
	}
	if g.Group == "" {
		return target{}, fmt.Errorf("gcp: target needs a group (the managed instance group's name): %w", cloud.ErrInvalid)
	}
	if !isName(g.Group) {
		return target{}, fmt.Errorf("gcp: group %q is not a managed instance group name (lowercase letters, digits and hyphens, at most 63): %w", g.Group, cloud.ErrInvalid)
	}
	t := target{project: g.Project, name: g.Group}
	switch {
	case g.Zone == "" && g.Region == "":
		return target{}, fmt.Errorf("gcp: target needs a zone (zonal group) or a region (regional group): %w", cloud.ErrInvalid)
	case g.Zone != "" && g.Region != "":
		return target{}, fmt.Errorf("gcp: target has both zone %q and region %q; a managed instance group is zonal or regional, so set one: %w", g.Zone, g.Region, cloud.ErrInvalid)
	case g.Zone != "":
		t.location = g.Zone
	default:
		t.location, t.regional = g.Region, true
	}
	if !isName(t.location) {
		field := "zone"
		if t.regional {
			field = "region"
		}
		return target{}, fmt.Errorf("gcp: %s %q is not a %s name (like us-central1-a or us-central1): %w", field, t.location, field, cloud.ErrInvalid)
	}
	return t, nil
}

// autoscalerRef is where a group's autoscaler lives, parsed from the
// group's status.autoscaler link.
type autoscalerRef struct {
	project  string
	location string
	regional bool
	name     string
}

// parseAutoscalerLink reads ".../projects/P/zones/Z/autoscalers/NAME" (or
// regions/R). Only the path is used: the host differs between the public
// API (www.googleapis.com), private endpoints and the emulator.
func parseAutoscalerLink(link string) (autoscalerRef, error) {
	i := strings.LastIndex(link, "/projects/")
	if i < 0 {
		return autoscalerRef{}, fmt.Errorf("gcp: autoscaler link %q has no project", link)
	}
	parts := strings.Split(link[i+len("/projects/"):], "/")
	if len(parts) != 5 || parts[3] != "autoscalers" || (parts[1] != "zones" && parts[1] != "regions") {
		return autoscalerRef{}, fmt.Errorf("gcp: autoscaler link %q is not .../projects/P/zones|regions/L/autoscalers/NAME", link)
	}
	a := autoscalerRef{project: parts[0], regional: parts[1] == "regions", location: parts[2], name: parts[4]}
	if !isProject(a.project) || !isName(a.location) || !isName(a.name) {
		return autoscalerRef{}, fmt.Errorf("gcp: autoscaler link %q has an unexpected project, location or name", link)
	}
	return a, nil
}
