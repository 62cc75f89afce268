package azure

import (
	"errors"
	"io"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v8"
	"github.com/go-faster/jx"

	"github.com/capstan-io/capstan/internal/leanjson"
)

// decodeListPage decodes a VirtualMachineScaleSets list page (ARM's
// {"value":[...],"nextLink":"..."}) into the fields the batch describe
// reads (steady, groupState): each scale set's name, tags, sku.capacity
// and properties.provisioningState, and the page's nextLink. Every other
// field of a scale set is left nil, and its value is skipped unread.
//
// The SDK's decoder (VirtualMachineScaleSetListResult.UnmarshalJSON) turns
// every object of every scale set into a map of json.RawMessage and
// decodes each value again from it, so each byte is validated and scanned
// once per level it sits under: 44 % of an idle leader's CPU with 10,000
// scale sets in the Azure load run's profile (BENCHMARKS.md, "Cloud load
// run"), on the emulator's small scale sets; ARM's carry their whole
// virtualMachineProfile, several kB each. This one reads the page once
// with go-faster/jx (the API's push decoder already uses it), which skips
// what it does not read without building it, and reads values with
// internal/leanjson.
//
// It reports ok=false, and the caller decodes the page with the SDK's
// decoder instead, for anything it does not read exactly as that decoder
// would: a field it reads with another JSON type than ARM's (null
// included), a key it reads twice in one object, a key that is not
// printable ASCII, a capacity that is not a plain integer, a string that
// does not decode to valid UTF-8, malformed JSON, or anything but
// whitespace after the page. Keys match exactly, as the SDK's do.
// FuzzListPageDecoder checks that whenever this succeeds and the SDK's
// decoder does too, the two read the same.
func decodeListPage(data []byte) (sets []armcompute.VirtualMachineScaleSet, next string, ok bool) {
	d := jx.DecodeBytes(data)
	if d.Next() != jx.Object {
		return nil, "", false
	}
	var seenValue, seenNext bool
	err := d.ObjBytes(func(d *jx.Decoder, key []byte) error {
		switch string(key) {
		case "value":
			if seenValue || d.Next() != jx.Array {
				return errNotLean
			}
			seenValue = true
			return d.Arr(func(d *jx.Decoder) error {
				ss, err := decodeScaleSet(d)
				if err != nil {
					return err
				}
				sets = append(sets, ss)
				return nil
			})
		case "nextLink":
			if seenNext || d.Next() != jx.String {
				return errNotLean
			}
			seenNext = true
			var err error
			next, err = leanjson.String(d)
			return err
		}
		if !leanjson.Plain(key) {
			return errNotLean
		}
		return d.Skip()
	})
	if err != nil {
		return nil, "", false
	}
	// Only whitespace may follow the page.
	if err := d.Skip(); !errors.Is(err, io.EOF) {
		return nil, "", false
	}
	return sets, next, true
}

// errNotLean stops decodeListPage: the SDK's decoder takes the page.
var errNotLean = leanjson.ErrNotLean

// decodeScaleSet reads one scale set of a list page (see decodeListPage).
func decodeScaleSet(d *jx.Decoder) (armcompute.VirtualMachineScaleSet, error) {
	var ss armcompute.VirtualMachineScaleSet
	if d.Next() != jx.Object {
		return ss, errNotLean
	}
	var seen [4]bool // name, tags, sku, properties
	once := func(i int, want jx.Type) error {
		if seen[i] || d.Next() != want {
			return errNotLean
		}
		seen[i] = true
		return nil
	}
	err := d.ObjBytes(func(d *jx.Decoder, key []byte) error {
		switch string(key) {
		case "name":
			if err := once(0, jx.String); err != nil {
				return err
			}
			s, err := leanjson.String(d)
			ss.Name = &s
			return err
		case "tags":
			if err := once(1, jx.Object); err != nil {
				return err
			}
			ss.Tags = map[string]*string{}
			return d.ObjBytes(func(d *jx.Decoder, key []byte) error {
				k := string(key)
				if !leanjson.Plain(key) || d.Next() != jx.String {
					return errNotLean
				}
				if _, dup := ss.Tags[k]; dup {
					return errNotLean
				}
				v, err := leanjson.String(d)
				ss.Tags[k] = &v
				return err
			})
		case "sku":
			if err := once(2, jx.Object); err != nil {
				return err
			}
			ss.SKU = &armcompute.SKU{}
			seenCap := false
			return d.ObjBytes(func(d *jx.Decoder, key []byte) error {
				if string(key) != "capacity" {
					if !leanjson.Plain(key) {
						return errNotLean
					}
					return d.Skip()
				}
				if seenCap {
					return errNotLean
				}
				seenCap = true
				c, err := leanjson.Int(d, 64)
				ss.SKU.Capacity = &c
				return err
			})
		case "properties":
			if err := once(3, jx.Object); err != nil {
				return err
			}
			ss.Properties = &armcompute.VirtualMachineScaleSetProperties{}
			seenState := false
			return d.ObjBytes(func(d *jx.Decoder, key []byte) error {
				if string(key) != "provisioningState" {
					if !leanjson.Plain(key) {
						return errNotLean
					}
					return d.Skip()
				}
				if seenState || d.Next() != jx.String {
					return errNotLean
				}
				seenState = true
				s, err := leanjson.String(d)
				ss.Properties.ProvisioningState = &s
				return err
			})
		}
		if !leanjson.Plain(key) {
			return errNotLean
		}
		return d.Skip()
	})
	return ss, err
}
