package aws

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
)

// describeMemo keeps the driver's decoding of recent
// DescribeAutoScalingGroups answers by their content, for the batch
// describe's pages (memoizing, below): at idle the leader's refresh
// describes every group every 15 s and AWS answers every page exactly as
// before, so each page would be decoded again to the same groups. In the
// load run's idle profile (BENCHMARKS.md, "Cloud load run", AWS run 8)
// that decoding was an eighth of the idle leader's CPU; hashing an answer
// costs a fraction of decoding it (BenchmarkDescribePage).
//
// An answer is known by the SHA-256 of its bytes with the text of its
// last RequestId element left out (each answer has a new request id,
// which the decoder does not read) when that text is plain (letters,
// digits and '-'), so that leaving it out cannot change what the decoder
// does with the rest. Two answers with the same key therefore decode to the same
// groups: the decoding is a function of the bytes. The decoded groups are
// shared between the calls that get them, which only read them (state).
//
// At most memoPages answers are kept (the least recently used goes
// first): 10,000 groups are 100 pages of 100, and each kept page holds
// only what the decoder fills (names, sizes, status, instance states),
// about 0.9 kB a group of 3 instances: 9 MB of heap at 10,000 groups.
type describeMemo struct {
	mu    sync.Mutex
	pages map[[sha256.Size]byte]*memoPage
	clock uint64
}

// memoPages bounds the answers a memo keeps.
const memoPages = 512

// memoPage is one decoded answer and when it was last used.
type memoPage struct {
	groups []types.AutoScalingGroup
	next   *string
	used   uint64
}

// memoizing marks a context whose DescribeAutoScalingGroups answers may be
// served from the memo: the batch describe's, whose groups are only read.
type memoizing struct{}

// withMemo returns ctx marked for the memo.
func withMemo(ctx context.Context) context.Context { return context.WithValue(ctx, memoizing{}, true) }

// memoized reports whether ctx is marked for the memo.
func memoized(ctx context.Context) bool { ok, _ := ctx.Value(memoizing{}).(bool); return ok }

// answerKey is an answer's key in the memo, and false when its last
// RequestId's text is not plain (the answer is then not memoized). Only
// the last RequestId is left out: AWS puts it at the answer's end
// (ResponseMetadata), where it is found without scanning the rest; any
// other is hashed as it is.
func answerKey(doc []byte) ([sha256.Size]byte, bool) {
	const open, end = "<RequestId>", "</RequestId>"
	h := sha256.New()
	if i := bytes.LastIndex(doc, []byte(open)); i < 0 {
		h.Write(doc)
	} else {
		i += len(open)
		j := bytes.Index(doc[i:], []byte(end))
		if j < 0 || !plainID(doc[i:i+j]) {
			return [sha256.Size]byte{}, false
		}
		// The text's place goes in instead of it, so that no two cuts of
		// different answers hash alike.
		var cut [8]byte
		binary.BigEndian.PutUint64(cut[:], uint64(i))
		h.Write(doc[:i])
		h.Write(cut[:])
		h.Write(doc[i+j:])
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k, true
}

// plainID reports whether b is letters, digits and '-' only, as AWS's
// request ids are.
func plainID(b []byte) bool {
	for _, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// get returns the answer kept under k.
func (m *describeMemo) get(k [sha256.Size]byte) ([]types.AutoScalingGroup, *string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pages[k]
	if !ok {
		return nil, nil, false
	}
	m.clock++
	p.used = m.clock
	return p.groups, p.next, true
}

// put keeps an answer under k, dropping the least recently used when full.
func (m *describeMemo) put(k [sha256.Size]byte, groups []types.AutoScalingGroup, next *string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pages == nil {
		m.pages = map[[sha256.Size]byte]*memoPage{}
	}
	if len(m.pages) >= memoPages {
		var oldest [sha256.Size]byte
		first := true
		for key, p := range m.pages {
			if first || p.used < m.pages[oldest].used {
				oldest, first = key, false
			}
		}
		delete(m.pages, oldest)
	}
	m.clock++
	m.pages[k] = &memoPage{groups: groups, next: next, used: m.clock}
}
