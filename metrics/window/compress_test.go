package window

import (
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/capstan-io/capstan/metrics/trace"
)

// fineTraces are the bundled traces recorded every minute or more often:
// what a 1-minute history would hold.
var fineTraces = []string{"app_cpu_usage_1min.csv", "crane_input1_1min.csv", "crane_input8_1min.csv", "crane_input14_1min.csv", "crane_input15_15s.csv"}

// traceWeek is the first 7 days of a bundled trace in a 1-minute Mean
// window of 10,080 buckets, as the cluster would keep it under
// predictive.history_step: 1m (several samples a bucket for the 15 s trace).
func traceWeek(tb testing.TB, name string) *Window {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", "traces", name))
	if err != nil {
		tb.Fatal(err)
	}
	tr, err := trace.ParseBytes(data, trace.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	w := New(time.Minute, 10_080, Mean)
	end := tr.Times[0] + int64(7*24*time.Hour)
	for i, t := range tr.Times {
		if t >= end {
			break
		}
		w.Add(time.Unix(0, t), tr.Values[0][i])
	}
	return w
}

// xorChunks encodes each chunk of w, as a sealed chunk would be kept, in
// two Prometheus TSDB XOR chunks (tsdb/chunkenc, Gorilla's encoding): one
// of the buckets' values (the sum for Mean) and one of their counts, each
// stamped with its bucket's start in milliseconds. It returns them.
func xorChunks(tb testing.TB, w *Window) []*chunkenc.XORChunk {
	tb.Helper()
	var out []*chunkenc.XORChunk
	for i := w.first(); i <= w.head; {
		pos, off := w.locate(i)
		end := min(w.head, i+int64(chunkLen-1-off))
		c := w.chunks[pos]
		if c == nil {
			i = end + 1
			continue
		}
		vals, counts := chunkenc.NewXORChunk(), chunkenc.NewXORChunk()
		va, err := vals.Appender()
		if err != nil {
			tb.Fatal(err)
		}
		ca, err := counts.Appender()
		if err != nil {
			tb.Fatal(err)
		}
		for ; i <= end; i, off = i+1, off+1 {
			if n := w.count(c, pos, off); n > 0 {
				ms := i * w.step / int64(time.Millisecond)
				va.Append(0, ms, w.value(c, pos, off))
				ca.Append(0, ms, float64(n))
			}
		}
		out = append(out, vals, counts)
	}
	return out
}

// BenchmarkSealedChunkCompression measures what compressing a window's
// sealed chunks with Prometheus' XOR encoding would save on real 1-minute
// data, against what a bucket costs today in memory (the chunk's 10 bytes)
// and in a snapshot (AppendBinary), and what reading a compressed week
// back costs (the loop: decoding every chunk, as each forecast or history
// read would).
//
//	go test -run '^$' -bench SealedChunkCompression ./metrics/window/
func BenchmarkSealedChunkCompression(b *testing.B) {
	for _, name := range fineTraces {
		b.Run(name, func(b *testing.B) {
			w := traceWeek(b, name)
			_, values := w.Values(time.Unix(0, (w.head+1)*w.step))
			filled := 0
			for _, v := range values {
				if v == v {
					filled++
				}
			}
			chunks := xorChunks(b, w)
			xorBytes := 0
			for _, c := range chunks {
				xorBytes += len(c.Bytes())
			}
			bin, _ := w.AppendBinary(nil)
			var it chunkenc.Iterator
			for b.Loop() {
				for _, c := range chunks {
					it = c.Iterator(it)
					for it.Next() != chunkenc.ValNone {
						it.At()
					}
				}
			}
			b.ReportMetric(float64(unsafe.Sizeof(chunk{}))/chunkLen, "memory-B/bucket")
			b.ReportMetric(float64(len(bin))/float64(filled), "snapshot-B/bucket")
			b.ReportMetric(float64(xorBytes)/float64(filled), "xor-B/bucket")
			b.ReportMetric(float64(filled), "buckets")
		})
	}
}
