package store

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"slices"

	"github.com/capstan-io/capstan/metrics/window"
)

// The binary snapshot: snapshotMagic, a version byte, then length-prefixed
// records (one for everything outside policies and the policy count, then
// one per policy in id order), then the CRC-32C of everything before it. A
// version-1 snapshot is the legacy JSON document and starts with '{'.
const (
	snapshotMagic = "\x89CSN"
	// SnapshotVersion is the binary snapshot version WriteSnapshot writes.
	// Each binary snapshot version holds what the entry version of the
	// same number holds: 3 added the intents' fence (Intent.SendBy and
	// Settled) to 2, and 4 every field of policy.Record to the decision
	// history (VersionDecisions), 5 the group age of each decision
	// (VersionGroupAge), 6 the budget bound (VersionBudget), 8 the
	// policies' history step and group sizes (VersionHistoryStep). Entry
	// version 7 (VersionBatched) changed no snapshot: there is no
	// snapshot version 7, and a server writing entry version 7 writes
	// version-6 snapshots. 9 says of each window whether it is wide or
	// compact (VersionCompact); versions 2 to 8 hold every window wide.
	// 10's policy states may hold weekly adjustments (VersionWeekly), 9's
	// do not; the bytes are otherwise 9's. 11's decision records carry the
	// weekly adjustment's part of each forecast (VersionWeeklyPart), 10's
	// do not. 12's policy states may be policy state version 5, with
	// scores by the time of day (VersionTimeOfDay), 11's are not; the
	// bytes are otherwise 11's but for the decision records' skill at the
	// time of day. 13's policy states may be policy state version 6, with
	// seasons that scale with the level (VersionScaledSeason), 12's are
	// not, and its decision records carry each such season's factor; the
	// bytes are otherwise 12's. 14's policy states may be policy state
	// version 7, with the forecast's cost bound's account
	// (VersionCostBound), 13's are not; the bytes are otherwise 13's.
	// Versions 2 to 13 are still read.
	SnapshotVersion uint8 = VersionCostBound
	// snapshotUnfenced is the binary version whose intents have no fence.
	snapshotUnfenced uint8 = 2
	// maxRecord bounds one snapshot record (one policy with its windows is
	// under a megabyte).
	maxRecord = 1 << 28
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SnapshotVersionFor is the snapshot version a server writing entry
// version v writes (binary versions only): v itself, but 6 for entry
// version 7, which changed no snapshot.
func SnapshotVersionFor(v uint8) uint8 {
	if v == VersionBatched {
		return VersionBudget
	}
	return min(v, SnapshotVersion)
}

// WriteSnapshot streams the state's binary snapshot to w, one policy at a
// time, so that memory beyond the state is one policy's record. The
// encoding is canonical (maps in key order): equal states give equal bytes.
func (s *State) WriteSnapshot(w io.Writer) error { return s.WriteSnapshotVersion(w, SnapshotVersion) }

// WriteSnapshotVersion writes the binary snapshot of entry version v (2
// to SnapshotVersion), for a cluster still running servers that read no
// newer one: it leaves out what v has no place for, as EncodeVersion does
// for entries (the intents' fence before 3, the decision fields of 4 with
// their bounds mapped by priorRecord, the history step and sizes before
// 8, the forecasts' weekly part before 11). Entry version 7's snapshot is version 6.
func (s *State) WriteSnapshotVersion(w io.Writer, v uint8) error {
	if v < snapshotUnfenced || v > SnapshotVersion {
		return fmt.Errorf("%w: this node writes binary snapshot versions %d to %d, not %d", ErrUnknownSnapshot, snapshotUnfenced, SnapshotVersion, v)
	}
	v = SnapshotVersionFor(v)
	bw := bufio.NewWriterSize(w, 1<<16)
	crc := crc32.New(castagnoli)
	out := io.MultiWriter(bw, crc)
	if _, err := out.Write(append([]byte(snapshotMagic), v)); err != nil {
		return fmt.Errorf("writing snapshot: %w", err)
	}
	e := &enc{b: make([]byte, 0, 1<<12), v: v}
	var frame [binary.MaxVarintLen64]byte
	flush := func() error {
		n := binary.PutUvarint(frame[:], uint64(len(e.b)))
		if _, err := out.Write(frame[:n]); err != nil {
			return fmt.Errorf("writing snapshot: %w", err)
		}
		if _, err := out.Write(e.b); err != nil {
			return fmt.Errorf("writing snapshot: %w", err)
		}
		e.b = e.b[:0]
		return nil
	}
	s.encodeHeader(e)
	if err := flush(); err != nil {
		return err
	}
	for _, id := range slices.Sorted(maps.Keys(s.Policies)) {
		if err := e.policyEntry(id, s.Policies[id]); err != nil {
			return fmt.Errorf("writing snapshot: %w", err)
		}
		if err := flush(); err != nil {
			return err
		}
	}
	if _, err := bw.Write(binary.LittleEndian.AppendUint32(nil, crc.Sum32())); err != nil {
		return fmt.Errorf("writing snapshot: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing snapshot: %w", err)
	}
	return nil
}

func (s *State) encodeHeader(e *enc) {
	e.uvarint(uint64(len(s.Nodes)))
	for _, k := range slices.Sorted(maps.Keys(s.Nodes)) {
		e.string(k)
		e.string(s.Nodes[k])
	}
	e.uvarint(s.Intents)
	e.uvarint(uint64(len(s.Tokens)))
	for _, k := range slices.Sorted(maps.Keys(s.Tokens)) {
		e.token(s.Tokens[k])
	}
	for _, log := range [...][]AuditEntry{s.Audit, s.AuditKept} {
		e.uvarint(uint64(len(log)))
		for _, a := range log {
			e.audit(a)
		}
	}
	e.uvarint(uint64(len(s.Policies)))
}

func (d *dec) header(s *State) (policies int) {
	for range d.n(2) {
		k := d.string()
		s.Nodes[k] = d.string()
	}
	s.Intents = d.uvarint()
	for range d.n(8) {
		t := d.token()
		s.Tokens[t.Name] = t
	}
	for _, log := range [...]*[]AuditEntry{&s.Audit, &s.AuditKept} {
		if n := d.n(16); n > 0 {
			*log = make([]AuditEntry, 0, n)
			for range n {
				*log = append(*log, d.audit())
			}
		}
	}
	return int(d.uvarint())
}

func (e *enc) policyEntry(id string, p *Policy) error {
	e.string(id)
	if err := e.record(p.Record); err != nil {
		return err
	}
	e.bool(p.EvalState != nil)
	if p.EvalState != nil {
		e.bytes(p.EvalState)
	}
	e.decisions(p.Decisions)
	e.uvarint(uint64(len(p.Pending)))
	for _, in := range p.Pending {
		e.intent(in)
	}
	e.uvarint(uint64(len(p.Samples)))
	for _, m := range slices.Sorted(maps.Keys(p.Samples)) {
		e.sample(p.Samples[m], false)
	}
	e.bool(p.Windows != nil)
	e.uvarint(uint64(len(p.Windows)))
	for _, m := range slices.Sorted(maps.Keys(p.Windows)) {
		e.string(m)
		e.window(p.Windows[m])
	}
	e.bool(p.Series != nil)
	e.uvarint(uint64(len(p.Series)))
	for _, m := range slices.Sorted(maps.Keys(p.Series)) {
		pts := p.Series[m]
		e.string(m)
		e.uvarint(uint64(len(pts)))
		for _, sid := range slices.Sorted(maps.Keys(pts)) {
			e.uvarint(sid)
			e.varint(pts[sid].T)
			e.float(pts[sid].V)
		}
	}
	e.int(p.Desired)
	e.int(p.Ready)
	e.time(p.LastEvaluation)
	if e.v >= VersionHistoryStep {
		e.uvarint(uint64(len(p.Sizes)))
		for _, x := range p.Sizes {
			e.time(x.At)
			e.int(x.Ready)
		}
	}
	return nil
}

func (d *dec) policyEntry() (string, *Policy) {
	id := d.string()
	p := &Policy{Record: d.record()}
	if d.bool() {
		p.EvalState = d.bytes()
	}
	p.Decisions = d.decisions()
	if n := d.n(8); n > 0 {
		p.Pending = make([]Intent, 0, n)
		for range n {
			p.Pending = append(p.Pending, d.intent())
		}
	}
	n := d.n(4)
	p.Samples = make(map[string]Sample, n)
	for range n {
		x := d.sample(id, false)
		p.Samples[x.Metric] = x
	}
	hasWindows := d.bool()
	n = d.n(4)
	if hasWindows {
		p.Windows = make(map[string]*window.Window, n)
	}
	for range n {
		m := d.string()
		w := d.window()
		if p.Windows != nil {
			p.Windows[m] = w
		}
	}
	hasSeries := d.bool()
	n = d.n(2)
	if hasSeries {
		p.Series = make(map[string]map[uint64]SeriesPoint, n)
	}
	for range n {
		m := d.string()
		k := d.n(10)
		pts := make(map[uint64]SeriesPoint, k)
		for range k {
			pts[d.uvarint()] = SeriesPoint{T: d.varint(), V: d.float()}
		}
		if p.Series != nil {
			p.Series[m] = pts
		}
	}
	p.Desired, p.Ready, p.LastEvaluation = d.int(), d.int(), d.time()
	if d.v >= VersionHistoryStep {
		if n := d.n(2); n > 0 {
			p.Sizes = make([]SizePoint, 0, n)
			for range n {
				p.Sizes = append(p.Sizes, SizePoint{At: d.time(), Ready: d.int()})
			}
		}
	}
	if (!hasWindows && len(p.Windows) > 0) || (!hasSeries && len(p.Series) > 0) {
		d.fail("entries in an absent map")
	}
	return id, p
}

// ReadSnapshot reads a snapshot of any version this code knows into a new
// state: the legacy JSON document or a binary snapshot. It refuses
// anything else, a truncated or corrupt stream (the checksum), and a
// snapshot with bytes after its end, with ErrUnknownSnapshot; the caller's
// state is untouched either way.
func ReadSnapshot(r io.Reader) (*State, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	head, err := br.Peek(len(snapshotMagic) + 1)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading snapshot: %w", err)
	}
	if trimmed := bytes.TrimLeft(head, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '{' {
		data, err := io.ReadAll(br)
		if err != nil {
			return nil, fmt.Errorf("reading snapshot: %w", err)
		}
		s, err := decodeLegacySnapshot(data)
		if err != nil {
			return nil, fmt.Errorf("%w: version 1 (JSON): %w", ErrUnknownSnapshot, err)
		}
		return s, nil
	}
	if len(head) < len(snapshotMagic)+1 || string(head[:len(snapshotMagic)]) != snapshotMagic {
		return nil, fmt.Errorf("%w: neither a JSON nor a binary snapshot", ErrUnknownSnapshot)
	}
	v := head[len(snapshotMagic)]
	if v < snapshotUnfenced || v > SnapshotVersion || v == VersionBatched {
		return nil, fmt.Errorf("%w: version %d (this node reads 1 to 6 and 8 to %d; there is no version 7)", ErrUnknownSnapshot, v, SnapshotVersion)
	}
	s, err := readBinarySnapshot(br, v)
	if err != nil {
		return nil, fmt.Errorf("%w: version %d: %w", ErrUnknownSnapshot, v, err)
	}
	return s, nil
}

// crcReader checksums what it reads.
type crcReader struct {
	r   *bufio.Reader
	crc uint32
	one [1]byte
}

// ReadByte reads and checksums one byte (io.ByteReader, for varints).
func (c *crcReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.one[0] = b
		c.crc = crc32.Update(c.crc, castagnoli, c.one[:])
	}
	return b, err
}

// Read reads and checksums.
func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.crc = crc32.Update(c.crc, castagnoli, p[:n])
	return n, err
}

func readBinarySnapshot(br *bufio.Reader, v uint8) (*State, error) {
	cr := &crcReader{r: br}
	if _, err := io.ReadFull(cr, make([]byte, len(snapshotMagic)+1)); err != nil {
		return nil, err
	}
	var buf []byte
	next := func() (*dec, error) {
		n, err := binary.ReadUvarint(cr)
		if err != nil {
			return nil, fmt.Errorf("record length: %w", noEOF(err))
		}
		if n > maxRecord {
			return nil, fmt.Errorf("record of %d bytes", n)
		}
		if uint64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(cr, buf); err != nil {
			return nil, fmt.Errorf("record: %w", noEOF(err))
		}
		return &dec{b: buf, v: v}, nil
	}
	s := New()
	d, err := next()
	if err != nil {
		return nil, err
	}
	count := d.header(s)
	if err := d.done(); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	for i := range count {
		if d, err = next(); err != nil {
			return nil, err
		}
		id, p := d.policyEntry()
		if err := d.done(); err != nil {
			return nil, fmt.Errorf("policy %d: %w", i, err)
		}
		if _, dup := s.Policies[id]; dup {
			return nil, fmt.Errorf("policy %q twice", id)
		}
		s.Policies[id] = p
	}
	want := cr.crc
	var sum [4]byte
	if _, err := io.ReadFull(br, sum[:]); err != nil {
		return nil, fmt.Errorf("checksum: %w", noEOF(err))
	}
	if got := binary.LittleEndian.Uint32(sum[:]); got != want {
		return nil, fmt.Errorf("checksum %08x, want %08x: the snapshot is corrupt", got, want)
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		return nil, errors.New("bytes after the end")
	}
	return s, nil
}

// noEOF turns a clean EOF inside a snapshot into ErrUnexpectedEOF: the
// stream ended before its checksum.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
