package api

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// checkJoinAddr reports what is wrong with an address in a join request,
// or "" when it is fine. raft_addr is HOST:PORT; http_addr is HOST:PORT
// or, since a node serving its API over TLS registers it with its scheme,
// http(s)://HOST:PORT.
func checkJoinAddr(field, v string) string {
	hostPort := v
	if field == "http_addr" && strings.Contains(v, "://") {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Path != "" || u.RawQuery != "" || u.User != nil {
			return fmt.Sprintf("must be HOST:PORT or http(s)://HOST:PORT, got %q", v)
		}
		hostPort = u.Host
	}
	if _, port, err := net.SplitHostPort(hostPort); err != nil || port == "" {
		if field == "http_addr" {
			return fmt.Sprintf("must be HOST:PORT or http(s)://HOST:PORT, got %q", v)
		}
		return fmt.Sprintf("must be HOST:PORT, got %q", v)
	}
	return ""
}
