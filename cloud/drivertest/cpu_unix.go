//go:build unix

package drivertest

import "syscall"

// cpuSeconds is the CPU time (user and system) the process has used, as
// the kernel counts it.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
