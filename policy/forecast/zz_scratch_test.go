package forecast

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	mtrace "github.com/capstan-io/capstan/metrics/trace"
)

func TestScratchSeasons(t *testing.T) {
	if os.Getenv("SCRATCH") == "" {
		t.Skip()
	}
	files, _ := filepath.Glob("/work/shared/traces/*.csv")
	for _, f := range files {
		raw, _ := os.ReadFile(f)
		tr, _ := mtrace.ParseBytes(raw, mtrace.Options{})
		step := time.Duration(tr.Times[1] - tr.Times[0])
		vals := tr.Values[0]
		hist := int(7 * 24 * time.Hour / step)
		per := int(time.Hour / step)
		if per == 0 {
			per = 1
		}
		var last time.Duration = -1
		flips := 0
		counts := map[time.Duration]int{}
		for i := per; i < len(vals); i += per {
			lo := max(0, i-hist)
			p, _ := DetectSeason(vals[lo:i], step, DefaultCandidates())
			counts[p]++
			if last >= 0 && p != last {
				flips++
			}
			last = p
		}
		fmt.Printf("%-32s flips %4d %v\n", filepath.Base(f), flips, counts)
	}
}
