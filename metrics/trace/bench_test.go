package trace

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// synthetic builds an n-row two-column trace in the shape the simulator
// replays most: epoch seconds at a fixed step and a decimal value.
func synthetic(n int) []byte {
	b := make([]byte, 0, n*24)
	b = append(b, "ts,value\n"...)
	t := int64(1_600_000_000)
	for i := range n {
		b = strconv.AppendInt(b, t+int64(i)*60, 10)
		b = append(b, ',')
		b = strconv.AppendFloat(b, float64(i%100000)/1000, 'f', -1, 64)
		b = append(b, '\n')
	}
	return b
}

// syntheticNaive is synthetic with naive date-time cells.
func syntheticNaive(n int) []byte {
	b := make([]byte, 0, n*32)
	b = append(b, "timestamp,value\n"...)
	t := time.Date(2014, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		b = t.Add(time.Duration(i)*time.Minute).AppendFormat(b, layoutNaive)
		b = append(b, ',')
		b = strconv.AppendFloat(b, float64(i%100000)/1000, 'f', -1, 64)
		b = append(b, '\n')
	}
	return b
}

func benchParse(b *testing.B, data []byte, opt Options) {
	tr, err := ParseBytes(data, opt)
	if err != nil {
		b.Fatal(err)
	}
	rows := len(tr.Times)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := ParseBytes(data, opt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

func BenchmarkParse(b *testing.B) {
	b.Run("app_cpu_usage_1min", func(b *testing.B) {
		data, err := os.ReadFile(traceFile(b, "app_cpu_usage_1min.csv"))
		if err != nil {
			b.Fatal(err)
		}
		benchParse(b, data, Options{})
	})
	b.Run("asg_cpu_utilization_5min", func(b *testing.B) {
		data, err := os.ReadFile(traceFile(b, "asg_cpu_utilization_5min.csv"))
		if err != nil {
			b.Fatal(err)
		}
		benchParse(b, data, Options{})
	})
	b.Run("synthetic_1M_epoch", func(b *testing.B) {
		benchParse(b, synthetic(1_000_000), Options{})
	})
	b.Run("synthetic_1M_naive", func(b *testing.B) {
		benchParse(b, syntheticNaive(1_000_000), Options{})
	})
	// A zone without DST (so every minute exists exactly once) exercises
	// the zone resolver without making the synthetic times invalid.
	b.Run("synthetic_1M_naive_Kolkata", func(b *testing.B) {
		benchParse(b, syntheticNaive(1_000_000), Options{Location: mustLoad(b, "Asia/Kolkata")})
	})
}

// TestNoPerRowAllocations guards the property the speed depends on: the
// number of allocations does not grow with the number of rows, whether the
// rows take the in-place fast path, the split path (padded cells) or the
// quoted path.
func TestNoPerRowAllocations(t *testing.T) {
	padded := []byte("ts , value\n")
	quoted := []byte("ts,value\n")
	for i := range 10000 {
		padded = append(padded, strconv.Itoa(i)+" , 1.5 \n"...)
		quoted = append(quoted, "\""+strconv.Itoa(i)+"\",\"12.129000000000001\"\n"...)
	}
	for name, data := range map[string][]byte{
		"epoch":  synthetic(10000),
		"naive":  syntheticNaive(10000),
		"padded": padded,
		"quoted": quoted,
	} {
		allocs := testing.AllocsPerRun(5, func() {
			if _, err := ParseBytes(data, Options{}); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > 20 {
			t.Errorf("%s: %v allocations for 10000 rows", name, allocs)
		}
	}
}
