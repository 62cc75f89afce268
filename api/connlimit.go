package api

import (
	"net"
	"sync"
)

// perClientListener caps the connections one client (one remote IP
// address) holds open at once. Over the cap, a new connection of that
// client is closed as soon as it is accepted, so one client's idle or
// slow connections cannot take the server's whole connection cap
// (ServerLimits.MaxConns) from everyone else, and the accept loop never
// waits for it. Clients behind one NAT or proxy share an address, and so
// a cap. golang.org/x/net/netutil caps only the total; no library in the
// module caps per client, and this is the one counter it needs.
type perClientListener struct {
	net.Listener
	max int

	mu   sync.Mutex
	open map[string]int // by remote IP; entries at zero are dropped
}

// limitPerClient wraps ln with a cap of max connections per remote IP.
func limitPerClient(ln net.Listener, max int) net.Listener {
	return &perClientListener{Listener: ln, max: max, open: map[string]int{}}
}

// Accept returns the next connection of a client under its cap, closing
// those over it.
func (l *perClientListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		l.mu.Lock()
		if l.open[ip] >= l.max {
			l.mu.Unlock()
			_ = c.Close()
			continue
		}
		l.open[ip]++
		l.mu.Unlock()
		return &perClientConn{Conn: c, release: func() { l.release(ip) }}, nil
	}
}

func (l *perClientListener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[ip]--; l.open[ip] <= 0 {
		delete(l.open, ip)
	}
}

// remoteIP is the client's address without its port (the whole address
// when it has none, as for a Unix socket).
func remoteIP(c net.Conn) string {
	addr := c.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// perClientConn gives its client's slot back once, on the first Close.
type perClientConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close closes the connection and frees its slot.
func (c *perClientConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
