package main

import (
	"math"
	"strings"
	"testing"
)

// TestFakeCloudRateFlags: the rate-limit flags are checked before the
// server starts, and the error names the flag.
func TestFakeCloudRateFlags(t *testing.T) {
	base := fakeCloudOptions{addr: "127.0.0.1:0", defaultMax: 10, defaultDesired: 1}
	tests := []struct {
		name    string
		mutate  func(*fakeCloudOptions)
		wantErr string // "" = valid
	}{
		{"no limit", func(*fakeCloudOptions) {}, ""},
		{"limits and a burst", func(o *fakeCloudOptions) { o.readRate, o.writeRate, o.rateBurst = 20, 10, 40 }, ""},
		{"negative read rate", func(o *fakeCloudOptions) { o.readRate = -1 }, "--read-rate"},
		{"NaN write rate", func(o *fakeCloudOptions) { o.writeRate = math.NaN() }, "--write-rate"},
		{"infinite read rate", func(o *fakeCloudOptions) { o.readRate = math.Inf(1) }, "--read-rate"},
		{"negative burst", func(o *fakeCloudOptions) { o.rateBurst = -2 }, "--rate-burst"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.mutate(&o)
			_, err := o.validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one naming %s", err, tc.wantErr)
			}
		})
	}
}
