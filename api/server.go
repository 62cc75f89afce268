package api

import (
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// ServerLimits bound what one client can hold of the API server: how long
// it may take to send a request, how long an answer may take, how long an
// idle keep-alive connection stays open, the header size, and how many
// connections are open at once. No route streams, so one WriteTimeout
// fits every route; it exceeds the longest a write can legitimately take
// (LeaderWait plus ForwardTimeout).
type ServerLimits struct {
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	// MaxConns caps the connections open at once; further ones wait in
	// the kernel's accept queue until one closes.
	MaxConns int
	// MaxConnsPerClient caps the connections one client (a remote IP
	// address) holds open at once; further ones of that client are closed
	// as soon as they are accepted, so one client cannot hold MaxConns
	// idle connections and lock everyone else out. None when not positive.
	MaxConnsPerClient int
}

// DefaultServerLimits are the agent's: a body of up to MaxBodyBytes sent
// within 30 s, answers within 30 s, idle connections closed after 2
// minutes, 64 KiB of headers, 1,024 connections, at most 512 (half) of
// them from one client: room for a follower's forwarded writes (its
// forwarding client keeps up to 128 idle connections to the leader) and
// for clients behind one proxy.
func DefaultServerLimits() ServerLimits {
	return ServerLimits{
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      DefaultLeaderWait + DefaultForwardTimeout + 15*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		MaxConns:          1024,
		MaxConnsPerClient: 512,
	}
}

// NewServer returns an http.Server for h with the limits applied.
func NewServer(h http.Handler, l ServerLimits) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
	}
}

// LimitListener caps the connections ln hands out at once: per client
// (MaxConnsPerClient, connlimit.go) and in all (MaxConns), each only when
// positive. golang.org/x/net's netutil does the total with the semaphore a
// hand-rolled cap would re-implement. The per-client cap sits under it, so
// a connection closed for its client's cap never holds a slot of the total.
func LimitListener(ln net.Listener, l ServerLimits) net.Listener {
	if l.MaxConnsPerClient > 0 {
		ln = limitPerClient(ln, l.MaxConnsPerClient)
	}
	if l.MaxConns <= 0 {
		return ln
	}
	return netutil.LimitListener(ln, l.MaxConns)
}
