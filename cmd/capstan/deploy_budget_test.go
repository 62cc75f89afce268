package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestDeployDashboardShowsTheCallBudget: the dashboard has a panel for
// each thing an operator sizing the cloud call budget looks at (issue 15,
// README "Cloud call budget"), and alerts.yml alerts on throttles and on
// refreshes that do not fit their period.
func TestDeployDashboardShowsTheCallBudget(t *testing.T) {
	panels := dashboardPanels(loadDashboard(t))
	cases := []struct {
		what string
		// expr matches one target expression of the panel.
		expr string
	}{
		{"cloud calls by result", `sum by \(provider, result\) \(rate\(capstan_cloud_calls_total\{`},
		{"the budget's rate", `capstan_cloud_budget_rate\{`},
		{"the budget's configured rate", `capstan_cloud_budget_configured_rate\{`},
		{"calls waiting for a token", `capstan_cloud_budget_waiting\{`},
		{"group state age read by evaluations", `histogram_quantile\(0\.99, sum by \(le\) \(rate\(capstan_group_state_age_seconds_bucket\{`},
		{"the oldest cached group state", `capstan_group_state_oldest_seconds\{`},
		{"refresh overrun", `capstan_group_refresh_overrun_seconds\{`},
		{"refresh duration", `capstan_group_refresh_duration_seconds_bucket\{`},
	}
	for _, tc := range cases {
		t.Run(tc.what, func(t *testing.T) {
			re := regexp.MustCompile(tc.expr)
			for _, p := range panels {
				for _, tg := range p.Targets {
					if re.MatchString(tg.Expr) {
						return
					}
				}
			}
			t.Errorf("no panel queries %s (an expression matching %s)", tc.what, tc.expr)
		})
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(readDeploy(t, "prometheus/alerts.yml"), &rules); err != nil {
		t.Fatalf("prometheus/alerts.yml: %v", err)
	}
	alerts := map[string]string{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = r.Expr
		}
	}
	for alert, metric := range map[string]string{
		"CapstanCloudThrottled":      "capstan_cloud_calls_total",
		"CapstanGroupRefreshOverrun": "capstan_group_refresh_overrun_seconds",
	} {
		if !strings.Contains(alerts[alert], metric) {
			t.Errorf("alert %s: expression %q, want one on %s", alert, alerts[alert], metric)
		}
	}
}

// TestDeployDashboardLayout: no two panels of the dashboard overlap on
// Grafana's grid (24 columns), so a panel added between rows moved the
// rows below it. A collapsed row's own panels are placed when it opens
// and are not checked.
func TestDeployDashboardLayout(t *testing.T) {
	d := loadDashboard(t)
	type cell struct{ x, y int }
	taken := map[cell]string{}
	for _, p := range d.Panels {
		g := p.GridPos
		name := fmt.Sprintf("%q (id %d)", p.Title, p.ID)
		for x := g["x"]; x < g["x"]+g["w"]; x++ {
			for y := g["y"]; y < g["y"]+g["h"]; y++ {
				if other, ok := taken[cell{x, y}]; ok {
					t.Fatalf("panel %s overlaps %s at column %d, row %d", name, other, x, y)
				}
				taken[cell{x, y}] = name
			}
		}
	}
}

// TestDeployREADMEListsEveryAlert: examples/deploy/README.md's table of
// alerts has a row for every alert of alerts.yml, and no row for one it
// does not define.
func TestDeployREADMEListsEveryAlert(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(readDeploy(t, "prometheus/alerts.yml"), &rules); err != nil {
		t.Fatalf("prometheus/alerts.yml: %v", err)
	}
	defined := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				defined[r.Alert] = true
			}
		}
	}
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\| (Capstan[A-Za-z]+) \|`).FindAllStringSubmatch(string(readDeploy(t, "README.md")), -1) {
		listed[m[1]] = true
	}
	for a := range defined {
		if !listed[a] {
			t.Errorf("alert %s has no row in README.md's table of alerts", a)
		}
	}
	for a := range listed {
		if !defined[a] {
			t.Errorf("README.md lists alert %s, which alerts.yml does not define", a)
		}
	}
}
