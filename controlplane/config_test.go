package controlplane

import (
	"strings"
	"testing"
	"time"

	"github.com/capstan-io/capstan/cloud"
	"github.com/capstan-io/capstan/store"
)

func TestConfigValidateAddresses(t *testing.T) {
	tests := []struct {
		name string
		set  func(*Config)
		want string // substring of the error; "" for valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"bind all interfaces", func(c *Config) { c.RaftBind = "0.0.0.0:7001" }, ""},
		{"bad raft-bind", func(c *Config) { c.RaftBind = "7001" }, "raft-bind: must be host:port"},
		{"bad raft-addr", func(c *Config) { c.RaftAddr = "nohost" }, "raft-addr: must be host:port"},
		{"bad http-addr", func(c *Config) { c.HTTPAddr = "" }, "http-addr: must be host:port"},
		{"no settle time", func(c *Config) { c.CloudSettle = 0 }, ""},
		{"negative settle time", func(c *Config) { c.CloudSettle = -time.Second }, "cloud-settle: must be >= 0"},
		{"group refresh", func(c *Config) { c.GroupRefresh = time.Second }, ""},
		{"no group refresh", func(c *Config) { c.GroupRefresh = 0 }, "group-refresh: must be > 0 (got 0s)"},
		{"negative group refresh", func(c *Config) { c.GroupRefresh = -time.Second }, "group-refresh: must be > 0 (got -1s)"},
		{"write the newest version", func(c *Config) { c.WriteVersion = 0 }, ""},
		{"write version 1", func(c *Config) { c.WriteVersion = 1 }, ""},
		{"write version 3", func(c *Config) { c.WriteVersion = 3 }, ""},
		{"write version 11, the upgrade from version 11", func(c *Config) { c.WriteVersion = 11 }, ""},
		{"write the current version", func(c *Config) { c.WriteVersion = int(store.CurrentVersion) }, ""},
		{"write a version too new", func(c *Config) { c.WriteVersion = int(store.CurrentVersion) + 1 }, "raft-write-version: must be a version this server writes, 1 to 14 (got 15)"},
		{"write a version that wraps a byte", func(c *Config) { c.WriteVersion = 258 }, "raft-write-version: must be a version this server writes"},
		{"write a negative version", func(c *Config) { c.WriteVersion = -1 }, "raft-write-version: must be a version this server writes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.NodeID, c.DataDir, c.RaftAddr, c.HTTPAddr = "n1", t.TempDir(), "127.0.0.1:7001", "127.0.0.1:8081"
			c.BootstrapExpect = 1
			c.Drivers = func(string) (cloud.Driver, error) { return nil, nil }
			tc.set(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("valid config refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
