//go:build !unix

package drivertest

// cpuSeconds reports no CPU time where getrusage is missing.
func cpuSeconds() float64 { return -1 }
