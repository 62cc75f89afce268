package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
)

// memberCache remembers, between runs, the API addresses of the members a
// cluster reported, keyed by the addresses the CLI was pointed at (seeds),
// so that a later run still finds the cluster when the seeds it lists
// first are down. It lives in the user's cache directory
// ($XDG_CACHE_HOME/capstan/members.json); it is a hint, never required:
// any error reading or writing it is ignored.
type memberCache struct {
	seeds string
}

// path is the cache file, or "" when the user has no cache directory.
func (c *memberCache) path() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "capstan", "members.json")
}

func (c *memberCache) read() map[string][]string {
	m := map[string][]string{}
	if p := c.path(); p != "" {
		if data, err := os.ReadFile(p); err == nil {
			_ = json.Unmarshal(data, &m) // a damaged cache is an empty one
		}
	}
	return m
}

// load returns the members remembered for the seeds.
func (c *memberCache) load() []string { return c.read()[c.seeds] }

// store remembers addrs as the members of the seeds' cluster.
func (c *memberCache) store(addrs []string) {
	p := c.path()
	if p == "" {
		return
	}
	m := c.read()
	addrs = slices.Sorted(slices.Values(addrs))
	if slices.Equal(m[c.seeds], addrs) {
		return
	}
	m[c.seeds] = addrs
	data, err := json.Marshal(m)
	if err != nil || os.MkdirAll(filepath.Dir(p), 0o700) != nil {
		return
	}
	tmp := p + ".tmp"
	if os.WriteFile(tmp, data, 0o600) == nil {
		_ = os.Rename(tmp, p)
	}
}
