package controlplane

import (
	"flag"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// testParallel is how many parallel tests run at once unless -parallel is
// given. The tests of this package that take time (the in-process
// clusters' scenarios, slow resizes, partitions, pulled sources, the
// single nodes) mostly wait: on Raft's timeouts, on the fake clouds'
// delays and on cloud deadlines, not on the CPU (the whole package used
// 1.4-2.0 s of CPU in 12-37 s of wall time). At GOMAXPROCS (2 on the CI
// machine) they ran two at a time and their waits added up to most of the
// package's time: 75 s one at a time, 37 s four at a time, 21 s at 8,
// 12.5 s at 16 (BENCHMARKS.md, "Test time").
const testParallel = 16

// testParallelRace is testParallel under the race detector, which costs
// the package about three times the CPU: with 8 or 16 at once, leaders of
// the in-process clusters (300 ms Raft timeouts) lost their leadership
// mid-test in one run of two or three at load 5-9; at 4, none did.
const testParallelRace = 4

func TestMain(m *testing.M) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	parallel := testParallel
	if raceEnabled {
		parallel = testParallelRace
	}
	if !given && runtime.GOMAXPROCS(0) < parallel {
		if err := flag.Set("test.parallel", strconv.Itoa(parallel)); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}
