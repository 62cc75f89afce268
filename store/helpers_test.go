package store

import (
	"iter"
	"maps"
	"testing"
)

func mapsKeys[K comparable, V any](m map[K]V) iter.Seq[K] { return maps.Keys(m) }

// throughVersion is c as a node reads it back after a node writing entry
// version v encoded it.
func throughVersion(t *testing.T, c Command, v uint8) Command {
	t.Helper()
	b, err := EncodeVersion(c, v)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return back
}
