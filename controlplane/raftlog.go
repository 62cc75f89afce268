package controlplane

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// raftLogRepeatWindow is how long an identical Raft log line is held back
// after it was logged: while a peer is down Raft logs its failed heartbeat
// several times a second; the operator sees it once, then once per window
// with the count of repeats.
const raftLogRepeatWindow = 30 * time.Second

// raftLogger routes the Raft library's logs (an hclog.Logger) to slog:
// each line keeps its message and arguments as slog attributes, at the
// matching slog level, so no second timestamp or "[ERROR]" ends up inside
// a slog message. Raft's errors about one peer (a failed heartbeat, append
// or vote request to a member that is down: a "peer" or "target"
// argument) are logged as WARN: the cluster carries
// on without that member, and member health shows it. Identical lines
// (same level, message and arguments, durations such as Raft's backoff
// aside) are rate-limited (repeats).
type raftLogger struct {
	log     *slog.Logger
	name    string
	implied []any
	level   *levelBox
	repeats *repeatLimiter
}

// levelBox is the logger's level, shared by the loggers With and Named
// derive, as hclog's are.
type levelBox struct {
	mu sync.Mutex
	l  hclog.Level
}

func (b *levelBox) get() hclog.Level {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.l
}

func (b *levelBox) set(l hclog.Level) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.l = l
}

// newRaftLogger returns Raft's logger writing to l, from level up.
func newRaftLogger(l *slog.Logger, level hclog.Level, now func() time.Time) *raftLogger {
	return &raftLogger{log: l, name: "raft", level: &levelBox{l: level},
		repeats: &repeatLimiter{window: raftLogRepeatWindow, now: now, seen: map[string]*repeat{}}}
}

// repeatLimiter counts lines logged within a window of their first
// appearance. The zero value is not usable; newRaftLogger makes one.
type repeatLimiter struct {
	window time.Duration
	now    func() time.Time
	mu     sync.Mutex
	seen   map[string]*repeat
}

type repeat struct {
	logged     time.Time
	suppressed int
}

// admit reports whether the line with this key is logged now, and how
// many identical lines were held back since it was last logged.
func (r *repeatLimiter) admit(key string) (bool, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	// Forget lines not seen for a window, so the map stays small.
	for k, s := range r.seen {
		if now.Sub(s.logged) > 2*r.window && s.suppressed == 0 {
			delete(r.seen, k)
		}
	}
	s, ok := r.seen[key]
	if !ok {
		r.seen[key] = &repeat{logged: now}
		return true, 0
	}
	if now.Sub(s.logged) < r.window {
		s.suppressed++
		return false, 0
	}
	n := s.suppressed
	s.logged, s.suppressed = now, 0
	return true, n
}

// slogLevel maps an hclog level to slog's.
func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace, hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// Log implements hclog.Logger.
func (r *raftLogger) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off || level < r.level.get() {
		return
	}
	all := append(append([]any{}, r.implied...), args...)
	sl := slogLevel(level)
	if sl == slog.LevelError && (hasKey(all, "peer") || hasKey(all, "target")) {
		sl = slog.LevelWarn
	}
	ok, n := r.repeats.admit(repeatKey(level, r.name, msg, all))
	if !ok {
		return
	}
	attrs := make([]any, 0, len(all)+4)
	attrs = append(attrs, "module", r.name)
	for i := 0; i+1 < len(all); i += 2 {
		attrs = append(attrs, fmt.Sprint(all[i]), all[i+1])
	}
	if n > 0 {
		attrs = append(attrs, "repeated", n, "within", r.repeats.window.String())
	}
	r.log.Log(context.Background(), sl, msg, attrs...)
}

// hasKey reports whether key names one of the key/value pairs in args.
func hasKey(args []any, key string) bool {
	for i := 0; i+1 < len(args); i += 2 {
		if args[i] == key {
			return true
		}
	}
	return false
}

// repeatKey identifies a line for rate-limiting: its level, module,
// message and arguments, leaving out durations (Raft's backoff grows with
// every failure of the same kind).
func repeatKey(level hclog.Level, name, msg string, args []any) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d|%s|%s", level, name, msg)
	for i := 0; i+1 < len(args); i += 2 {
		if _, isDur := args[i+1].(time.Duration); isDur {
			continue
		}
		fmt.Fprintf(&b, "|%v=%v", args[i], args[i+1])
	}
	return b.String()
}

// Trace implements hclog.Logger.
func (r *raftLogger) Trace(msg string, args ...any) { r.Log(hclog.Trace, msg, args...) }

// Debug implements hclog.Logger.
func (r *raftLogger) Debug(msg string, args ...any) { r.Log(hclog.Debug, msg, args...) }

// Info implements hclog.Logger.
func (r *raftLogger) Info(msg string, args ...any) { r.Log(hclog.Info, msg, args...) }

// Warn implements hclog.Logger.
func (r *raftLogger) Warn(msg string, args ...any) { r.Log(hclog.Warn, msg, args...) }

// Error implements hclog.Logger.
func (r *raftLogger) Error(msg string, args ...any) { r.Log(hclog.Error, msg, args...) }

// IsTrace implements hclog.Logger.
func (r *raftLogger) IsTrace() bool { return r.level.get() <= hclog.Trace }

// IsDebug implements hclog.Logger.
func (r *raftLogger) IsDebug() bool { return r.level.get() <= hclog.Debug }

// IsInfo implements hclog.Logger.
func (r *raftLogger) IsInfo() bool { return r.level.get() <= hclog.Info }

// IsWarn implements hclog.Logger.
func (r *raftLogger) IsWarn() bool { return r.level.get() <= hclog.Warn }

// IsError implements hclog.Logger.
func (r *raftLogger) IsError() bool { return r.level.get() <= hclog.Error }

// ImpliedArgs implements hclog.Logger.
func (r *raftLogger) ImpliedArgs() []any { return r.implied }

// With implements hclog.Logger.
func (r *raftLogger) With(args ...any) hclog.Logger {
	c := *r
	c.implied = append(append([]any{}, r.implied...), args...)
	return &c
}

// Name implements hclog.Logger.
func (r *raftLogger) Name() string { return r.name }

// Named implements hclog.Logger.
func (r *raftLogger) Named(name string) hclog.Logger {
	c := *r
	c.name = r.name + "." + name
	return &c
}

// ResetNamed implements hclog.Logger.
func (r *raftLogger) ResetNamed(name string) hclog.Logger {
	c := *r
	c.name = name
	return &c
}

// SetLevel implements hclog.Logger.
func (r *raftLogger) SetLevel(l hclog.Level) { r.level.set(l) }

// GetLevel implements hclog.Logger.
func (r *raftLogger) GetLevel() hclog.Level { return r.level.get() }

// StandardLogger implements hclog.Logger: lines written to it are logged
// at INFO (Raft does not use it).
func (r *raftLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(r.StandardWriter(opts), "", 0)
}

// StandardWriter implements hclog.Logger.
func (r *raftLogger) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return stdWriter{r}
}

// stdWriter logs each write as one INFO line.
type stdWriter struct{ r *raftLogger }

func (w stdWriter) Write(p []byte) (int, error) {
	w.r.Info(strings.TrimSpace(string(p)))
	return len(p), nil
}
