package controlplane

import (
	"flag"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// testParallel is how many parallel tests run at once unless -parallel is
// given. The parallel tests of this package (the in-process clusters'
// scenarios, slow resizes, partitions) mostly wait: on Raft's timeouts,
// on the fake clouds' delays and on cloud deadlines, not on the CPU. At
// GOMAXPROCS (2 on the CI machine) they ran two at a time and their
// waits added up to most of the package's time.
const testParallel = 4

func TestMain(m *testing.M) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given && runtime.GOMAXPROCS(0) < testParallel {
		if err := flag.Set("test.parallel", strconv.Itoa(testParallel)); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}
