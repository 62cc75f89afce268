package store

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportBoundaries keeps the layering DESIGN.md draws: store knows
// nothing of the API, HTTP or the control plane, and policy (pure
// evaluation) imports nothing of Capstan outside policy/ and nothing outside
// the standard library but its YAML parser and the cron parser of scheduled
// windows (robfig/cron/v3, itself standard library only). The API imports
// nothing under cloud/: what both use (internal/leanjson) lives outside
// it. It asks the go tool for the full dependency sets, so an indirect
// import fails it too.
func TestImportBoundaries(t *testing.T) {
	const module = "github.com/capstan-io/capstan/"
	tests := []struct {
		pkgs    string
		allowed func(dep string) bool
	}{
		{"../store/...", func(dep string) bool {
			return !strings.HasPrefix(dep, module+"api") && !strings.HasPrefix(dep, module+"controlplane") &&
				dep != "net/http" && !strings.HasPrefix(dep, "net/http/")
		}},
		{"../policy/...", func(dep string) bool {
			return strings.HasPrefix(dep, module+"policy") || dep == "go.yaml.in/yaml/v3" || dep == "github.com/robfig/cron/v3"
		}},
		{"../api/...", func(dep string) bool {
			return !strings.HasPrefix(dep, module+"cloud/")
		}},
	}
	for _, tc := range tests {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}{{if .Standard}}std:{{.ImportPath}}{{end}}", tc.pkgs).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", tc.pkgs, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			std, isStd := strings.CutPrefix(dep, "std:")
			if isStd && tc.pkgs == "../policy/..." {
				continue
			}
			if !tc.allowed(std) {
				t.Errorf("%s depends on %s", tc.pkgs, std)
			}
		}
	}
}
