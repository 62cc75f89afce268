//go:build race

package controlplane

// raceEnabled reports whether the race detector is on (norace_test.go).
const raceEnabled = true
