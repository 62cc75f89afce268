package controlplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// ErrCorruptStore means the Raft store on disk failed its consistency
// check. It was opened read-only and not changed; the node must not start
// on it (see checkRaftStore).
var ErrCorruptStore = errors.New("the raft store is corrupt")

// checkRaftStore checks the bbolt file at path before anything opens it for
// writing. Opening a corrupt file for writing panics deep inside bbolt
// (raft.NewRaft reading a log), and every start commits transactions to it
// first, so a crash loop would keep rewriting the evidence. Here the file
// is opened read-only, every page reachable from its buckets is read and
// bbolt's own Tx.Check runs; a missing or empty file is a new store and
// passes. bbolt reports some damage by panicking: the walk runs where that
// is recovered, and the freelist page (which Tx.Check reads on its own
// goroutine, where a panic could not be recovered) is checked by hand
// before it. On corruption it returns an error wrapping ErrCorruptStore
// that names the file and says what to do.
func checkRaftStore(path string) error {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("checking the raft store %s: %w", path, err)
	case info.Size() == 0:
		return nil
	}
	if err := checkBolt(path); err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return fmt.Errorf("checking the raft store %s: another process holds it open (is another agent running on this data directory?): %w", path, err)
		}
		return fmt.Errorf("%w: %s: %w; it was not opened for writing and is unchanged. "+
			"Move the data directory aside (keep it for diagnosis) and start this node again with an empty one: "+
			"it rejoins the cluster and the other servers send it the data", ErrCorruptStore, path, err)
	}
	return nil
}

// checkBolt opens path read-only and checks it, turning bbolt's panics
// on damaged pages into errors.
func checkBolt(path string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	if err := checkFreelistPage(path); err != nil {
		return err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		if err := tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(b) }); err != nil {
			return err
		}
		var errs []error
		for e := range tx.Check() {
			errs = append(errs, e)
		}
		return errors.Join(errs...)
	})
}

// walk reads every key and value of a bucket and its sub-buckets, so
// that a damaged page panics here, where checkBolt recovers.
func walk(b *bolt.Bucket) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if v == nil {
			if sub := b.Bucket(k); sub != nil {
				if err := walk(sub); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// bbolt's on-disk layout (go.etcd.io/bbolt/internal/common): a page header
// is id (8 bytes), flags (2), count (2), overflow (4); the meta page's body
// is magic (4), version (4), page size (4), flags (4), root bucket (16),
// freelist page id (8), high-water page id (8), txid (8), checksum (8, the
// FNV-64a of the body before it).
const (
	boltPageHeader     = 16
	boltMagic          = 0xED0CDAED
	boltFreelistFlag   = 0x10
	boltNoFreelist     = 0xffffffffffffffff
	boltMetaFreelistAt = boltPageHeader + 32
	boltMetaTxidAt     = boltPageHeader + 48
	boltMetaChecksumAt = boltPageHeader + 56
)

// checkFreelistPage reads the freelist page of the newest valid meta page
// and checks that it is within the file and is a freelist page: bbolt
// panics ("invalid freelist page") otherwise.
func checkFreelistPage(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	head := make([]byte, 4096)
	if _, err := io.ReadFull(f, head); err != nil {
		return fmt.Errorf("reading the first meta page: %w", err)
	}
	pageSize := int64(binary.LittleEndian.Uint32(head[boltPageHeader+8:]))
	if binary.LittleEndian.Uint32(head[boltPageHeader:]) != boltMagic || pageSize < 512 || pageSize > 1<<20 {
		return nil // bolt.Open reports a bad meta page with its own error
	}
	var freelist, txid uint64
	found := false
	for i := int64(0); i < 2; i++ {
		meta := make([]byte, boltPageHeader+64)
		if _, err := f.ReadAt(meta, i*pageSize); err != nil {
			continue
		}
		if binary.LittleEndian.Uint32(meta[boltPageHeader:]) != boltMagic {
			continue
		}
		// A meta page torn by a crash is normal: bbolt falls back to the
		// other one, and so does this check.
		sum := fnv.New64a()
		sum.Write(meta[boltPageHeader:boltMetaChecksumAt])
		if sum.Sum64() != binary.LittleEndian.Uint64(meta[boltMetaChecksumAt:]) {
			continue
		}
		if t := binary.LittleEndian.Uint64(meta[boltMetaTxidAt:]); !found || t > txid {
			found, txid, freelist = true, t, binary.LittleEndian.Uint64(meta[boltMetaFreelistAt:])
		}
	}
	if !found || freelist == boltNoFreelist {
		return nil
	}
	if int64(freelist) >= info.Size()/pageSize {
		return fmt.Errorf("freelist page %d is beyond the end of the file (%d pages)", freelist, info.Size()/pageSize)
	}
	hdr := make([]byte, boltPageHeader)
	if _, err := f.ReadAt(hdr, int64(freelist)*pageSize); err != nil {
		return fmt.Errorf("reading freelist page %d: %w", freelist, err)
	}
	if flags := binary.LittleEndian.Uint16(hdr[8:]); flags&boltFreelistFlag == 0 {
		return fmt.Errorf("invalid freelist page %d (flags %#x)", freelist, flags)
	}
	return nil
}
