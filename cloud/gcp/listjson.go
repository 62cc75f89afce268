package gcp

import (
	"errors"
	"io"

	"cloud.google.com/go/compute/apiv1/computepb"
	"github.com/go-faster/jx"

	"github.com/capstan-io/capstan/internal/leanjson"
)

// The driver decodes the list pages of its batch describe itself
// (decodeGroupList, decodeAutoscalerList), reading only the fields it
// uses. The SDK's REST clients decode them with protojson: about 50-100 µs
// and over 140 allocations per instance group manager of the load run
// (BenchmarkListDecode, on a loaded machine), and the leader's refresh of
// 10,000 groups every 15 s decodes 667 groups and 667 autoscalers a
// second, several percent of a core at idle (issue 15). These read a page
// once with go-faster/jx (already the API's push decoder), skip what they
// do not read without building it, and read values with internal/leanjson.
//
// They report ok=false, and the page goes to protojson (with the SDK's
// options) instead, for anything they might not read exactly as protojson
// would: a field they read with another JSON type than Compute Engine
// sends (null, or a quoted number, which protojson also accepts), a key
// they read twice in one object (protojson refuses it), a key with an
// underscore or outside printable ASCII (protojson also reads a field by
// its proto name, target_size), a number that is not a plain int32, a
// string that does not decode to valid UTF-8, malformed JSON, or anything
// but whitespace after the page. FuzzGroupListDecoder and
// FuzzAutoscalerListDecoder check that whenever one succeeds and protojson
// does too, the two read the same.

// errNotLean stops a lean decoder: protojson takes the page.
var errNotLean = leanjson.ErrNotLean

// decodeGroupList decodes an instanceGroupManagers.list (or
// regionInstanceGroupManagers.list) page: each group's name, targetSize,
// currentActions and status.isStable and status.autoscaler (what igmState
// and listBounds read), and nextPageToken.
func decodeGroupList(data []byte) (items []*computepb.InstanceGroupManager, next string, ok bool) {
	next, ok = decodeList(data, func(d *jx.Decoder) error {
		// One allocation for the group and what it points to.
		g := &groupSlab{}
		igm := &g.igm
		err := leanObj(d, func(d *jx.Decoder, key []byte) (int, error) {
			switch string(key) {
			case "name":
				var err error
				g.name, err = leanjson.String(d)
				igm.Name = &g.name
				return 1, err
			case "targetSize":
				var err error
				g.size, err = leanInt32(d)
				igm.TargetSize = &g.size
				return 2, err
			case "currentActions":
				igm.CurrentActions = &g.actions
				return 3, decodeActions(d, g)
			case "status":
				igm.Status = &g.status
				return 4, leanObj(d, func(d *jx.Decoder, key []byte) (int, error) {
					switch string(key) {
					case "isStable":
						if d.Next() != jx.Bool {
							return 1, errNotLean
						}
						var err error
						g.stable, err = d.Bool()
						g.status.IsStable = &g.stable
						return 1, err
					case "autoscaler":
						var err error
						g.autoscaler, err = leanjson.String(d)
						g.status.Autoscaler = &g.autoscaler
						return 2, err
					}
					return 0, nil
				})
			}
			return 0, nil
		})
		items = append(items, igm)
		return err
	})
	if !ok {
		return nil, "", false
	}
	return items, next, true
}

// groupSlab holds a decoded group and the values its fields point to.
type groupSlab struct {
	igm              computepb.InstanceGroupManager
	actions          computepb.InstanceGroupManagerActionsSummary
	status           computepb.InstanceGroupManagerStatus
	name, autoscaler string
	size             int32
	counts           [len(actionNames)]int32
	stable           bool
}

// actionNames are the currentActions counts igmState adds up, in the
// order of groupSlab.counts.
var actionNames = [...]string{"none", "refreshing", "creating", "creatingWithoutRetries", "recreating", "restarting", "starting", "resuming", "verifying"}

// decodeActions reads the counts of currentActions igmState adds up.
func decodeActions(d *jx.Decoder, g *groupSlab) error {
	a := &g.actions
	fields := [len(actionNames)]**int32{&a.None, &a.Refreshing, &a.Creating, &a.CreatingWithoutRetries, &a.Recreating,
		&a.Restarting, &a.Starting, &a.Resuming, &a.Verifying}
	return leanObj(d, func(d *jx.Decoder, key []byte) (int, error) {
		for i, name := range actionNames {
			if string(key) == name {
				var err error
				g.counts[i], err = leanInt32(d)
				*fields[i] = &g.counts[i]
				return i + 1, err
			}
		}
		return 0, nil
	})
}

// decodeAutoscalerList decodes an autoscalers.list (or
// regionAutoscalers.list) page: each autoscaler's name and
// autoscalingPolicy.minNumReplicas, maxNumReplicas and mode (what
// autoscalerBounds reads), and nextPageToken.
func decodeAutoscalerList(data []byte) (items []*computepb.Autoscaler, next string, ok bool) {
	next, ok = decodeList(data, func(d *jx.Decoder) error {
		// One allocation for the autoscaler and what it points to.
		a := &scalerSlab{}
		as := &a.as
		err := leanObj(d, func(d *jx.Decoder, key []byte) (int, error) {
			switch string(key) {
			case "name":
				var err error
				a.name, err = leanjson.String(d)
				as.Name = &a.name
				return 1, err
			case "autoscalingPolicy":
				p := &a.policy
				as.AutoscalingPolicy = p
				return 2, leanObj(d, func(d *jx.Decoder, key []byte) (int, error) {
					switch string(key) {
					case "minNumReplicas":
						var err error
						a.min, err = leanInt32(d)
						p.MinNumReplicas = &a.min
						return 1, err
					case "maxNumReplicas":
						var err error
						a.max, err = leanInt32(d)
						p.MaxNumReplicas = &a.max
						return 2, err
					case "mode":
						var err error
						a.mode, err = leanjson.String(d)
						p.Mode = &a.mode
						return 3, err
					}
					return 0, nil
				})
			}
			return 0, nil
		})
		items = append(items, as)
		return err
	})
	if !ok {
		return nil, "", false
	}
	return items, next, true
}

// scalerSlab holds a decoded autoscaler and the values its fields point
// to.
type scalerSlab struct {
	as         computepb.Autoscaler
	policy     computepb.AutoscalingPolicy
	name, mode string
	min, max   int32
}

// decodeList reads a list page's object, {"items":[...],
// "nextPageToken":"..."} among other fields, calling item for each
// element of items.
func decodeList(data []byte, item func(d *jx.Decoder) error) (next string, ok bool) {
	d := jx.DecodeBytes(data)
	err := leanObj(d, func(d *jx.Decoder, key []byte) (int, error) {
		switch string(key) {
		case "items":
			if d.Next() != jx.Array {
				return 1, errNotLean
			}
			return 1, d.Arr(item)
		case "nextPageToken":
			var err error
			next, err = leanjson.String(d)
			return 2, err
		}
		return 0, nil
	})
	if err != nil {
		return "", false
	}
	// Only whitespace may follow the page.
	if err := d.Skip(); !errors.Is(err, io.EOF) {
		return "", false
	}
	return next, true
}

// leanObj reads an object, calling field for each key; field returns the
// number (1 to 31) of the field it read, or 0 when it did not read the
// value (which is then skipped). A field read twice, a key with an
// underscore or outside printable ASCII, and a value that is not an
// object end the decoding with errNotLean.
func leanObj(d *jx.Decoder, field func(d *jx.Decoder, key []byte) (int, error)) error {
	if d.Next() != jx.Object {
		return errNotLean
	}
	var read uint32 // the fields read so far, by number
	return d.ObjBytes(func(d *jx.Decoder, key []byte) error {
		if !plainKey(key) {
			return errNotLean
		}
		n, err := field(d, key)
		if err != nil {
			return err
		}
		if n == 0 {
			return d.Skip()
		}
		if read&(1<<n) != 0 {
			return errNotLean
		}
		read |= 1 << n
		return nil
	})
}

// plainKey reports whether a key is printable ASCII without '_' (a proto
// field name, which protojson reads as the field too), '"' or '\\'.
func plainKey(b []byte) bool {
	for _, c := range b {
		if c == '_' {
			return false
		}
	}
	return leanjson.Plain(b)
}

// leanInt32 reads a plain JSON integer in int32's range
// (leanjson.Int).
func leanInt32(d *jx.Decoder) (int32, error) {
	n, err := leanjson.Int(d, 32)
	return int32(n), err
}
