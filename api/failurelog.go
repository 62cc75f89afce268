package api

import (
	"net"
	"sync"
	"time"
)

// Bounds of the auth-failure log.
const (
	// failureLogEvery is how often one token/source's 401s or 429s are
	// logged: the first at once, then one line with the count per period.
	failureLogEvery = 10 * time.Second
	// maxFailureKeys bounds the sources remembered; beyond it (a flood
	// from many addresses) they share one more key.
	maxFailureKeys = 1024
)

// failureKey is who failed how: the token name ("" when none could be
// named), the client's host (ports change per connection) and the status.
type failureKey struct {
	token, host string
	status      int
}

// failureCount is one key's failures since its last line.
type failureCount struct {
	last  time.Time // when a line was last written
	count int       // failures since, not yet logged
}

// failureLog rate-limits the log lines of authentication failures (401)
// and rate-limit refusals (429): a flood of them (issue 14 counted
// 428,400 lines) becomes one line per token and source every
// failureLogEvery, carrying how many there were. It only decides; the
// caller writes the line.
type failureLog struct {
	mu     sync.Mutex
	keys   map[failureKey]*failureCount
	pruned time.Time // when prune last ran: at most once a period, so a flood costs O(1) a failure
}

// note records one failure at now and returns whether to write a line,
// with how many failures the line stands for (this one included).
func (l *failureLog) note(token, remoteAddr string, status int, now time.Time) (bool, int) {
	host := remoteAddr
	if h, _, err := net.SplitHostPort(remoteAddr); err == nil {
		host = h
	}
	k := failureKey{token: token, host: host, status: status}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keys == nil {
		l.keys = map[failureKey]*failureCount{}
	}
	c, ok := l.keys[k]
	if !ok {
		if len(l.keys) >= maxFailureKeys && now.Sub(l.pruned) >= failureLogEvery {
			l.prune(now)
			l.pruned = now
		}
		if len(l.keys) >= maxFailureKeys {
			k = failureKey{token: "*", host: "*", status: status}
			c = l.keys[k]
		}
		if c == nil {
			l.keys[k] = &failureCount{last: now, count: 0}
			return true, 1
		}
	}
	c.count++
	if now.Sub(c.last) < failureLogEvery {
		return false, 0
	}
	n := c.count
	c.last, c.count = now, 0
	return true, n
}

// prune forgets keys with nothing pending whose period has passed.
func (l *failureLog) prune(now time.Time) {
	for k, c := range l.keys {
		if c.count == 0 && now.Sub(c.last) >= failureLogEvery {
			delete(l.keys, k)
		}
	}
}
