package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/capstan-io/capstan/cloud/emukit"
	"github.com/capstan-io/capstan/cloud/fake"
)

// fakeCloudOptions are the flags of `capstan fakecloud`.
type fakeCloudOptions struct {
	addr           string
	bootDelay      time.Duration
	groups         []string
	autoCreate     bool
	defaultMin     int
	defaultMax     int
	defaultDesired int
	readRate       float64
	writeRate      float64
	rateBurst      int
}

// fakeGroupSpec is one --group flag, parsed.
type fakeGroupSpec struct {
	name              string
	min, max, desired int
}

// fakeCloudShutdownTimeout bounds the graceful drain on SIGINT/SIGTERM;
// requests are short, and slow injected faults end when the command's
// context does, so anything still running after this is stuck.
const fakeCloudShutdownTimeout = 10 * time.Second

func newFakeCloudCommand() *cobra.Command {
	var o fakeCloudOptions
	cmd := &cobra.Command{
		Use:   "fakecloud",
		Short: "Serve an in-memory fake cloud over HTTP for local clusters and demos",
		Long: `Serve an in-memory cloud provider over HTTP: instance groups whose new
instances become ready after --boot-delay, with a call log and fault
injection. The agents of a local cluster use it as their "fake" provider so
that all of them resize the same groups; tests and demos inspect it with
GET /v1/groups and GET /v1/calls and break it with POST /v1/faults.

Groups are created up front with --group NAME=MIN:MAX:DESIRED (repeatable),
at run time with POST /v1/groups/NAME, or on first use with --auto-create.
--read-rate and --write-rate throttle it as a provider's API limits do:
calls over the limit are answered 429 throttled, change nothing and show
in the call log with "throttled": true.
Runs until interrupted (SIGINT or SIGTERM), then shuts down gracefully.`,
		Example: `  capstan fakecloud --addr 127.0.0.1:7070 --boot-delay 30s --group web=1:20:2
  curl -s 127.0.0.1:7070/v1/groups
  curl -s -XPOST 127.0.0.1:7070/v1/faults -d '{"group":"web","err":"throttled","times":3}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runFakeCloud(cmd.Context(), cmd.ErrOrStderr(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:7070", "listen address (HOST:PORT; port 0 picks a free one)")
	f.DurationVar(&o.bootDelay, "boot-delay", 30*time.Second, "how long a new instance is pending before it is in service")
	f.StringArrayVar(&o.groups, "group", nil, "create a group at start, NAME=MIN:MAX:DESIRED (repeatable)")
	f.BoolVar(&o.autoCreate, "auto-create", false, "create unknown groups on first use with the --default-* sizes instead of answering not found")
	f.IntVar(&o.defaultMin, "default-min", 0, "min size of auto-created groups")
	f.IntVar(&o.defaultMax, "default-max", 100, "max size of auto-created groups")
	f.IntVar(&o.defaultDesired, "default-desired", 1, "initial size of auto-created groups")
	f.Float64Var(&o.readRate, "read-rate", 0, "throttle describes above this many calls per second, as a provider's API limit does (429 throttled; 0: no limit)")
	f.Float64Var(&o.writeRate, "write-rate", 0, "throttle resizes above this many calls per second (0: no limit)")
	f.IntVar(&o.rateBurst, "rate-burst", 0, "calls an idle fake cloud takes at once before --read-rate and --write-rate apply (0: one second's worth)")
	return cmd
}

// validate checks the flags and parses --group, naming the flag at fault.
func (o fakeCloudOptions) validate() ([]fakeGroupSpec, error) {
	if o.addr == "" {
		return nil, errors.New("--addr: must not be empty")
	}
	if _, _, err := net.SplitHostPort(o.addr); err != nil {
		return nil, fmt.Errorf("--addr: want HOST:PORT (got %q): %w", o.addr, err)
	}
	if o.bootDelay < 0 {
		return nil, fmt.Errorf("--boot-delay: must be >= 0 (got %s)", o.bootDelay)
	}
	switch {
	case o.defaultMin < 0:
		return nil, fmt.Errorf("--default-min: must be >= 0 (got %d)", o.defaultMin)
	case o.defaultMax < o.defaultMin:
		return nil, fmt.Errorf("--default-max: must be >= --default-min %d (got %d)", o.defaultMin, o.defaultMax)
	case o.defaultMax > fake.MaxGroupSize:
		return nil, fmt.Errorf("--default-max: must be <= %d (got %d)", fake.MaxGroupSize, o.defaultMax)
	case o.defaultDesired < o.defaultMin || o.defaultDesired > o.defaultMax:
		return nil, fmt.Errorf("--default-desired: must be within --default-min %d and --default-max %d (got %d)", o.defaultMin, o.defaultMax, o.defaultDesired)
	}
	for _, r := range []struct {
		flag string
		v    float64
	}{{"--read-rate", o.readRate}, {"--write-rate", o.writeRate}} {
		if !(r.v >= 0) || math.IsInf(r.v, 0) {
			return nil, fmt.Errorf("%s: must be a number of calls per second >= 0 (got %v)", r.flag, r.v)
		}
	}
	if o.rateBurst < 0 {
		return nil, fmt.Errorf("--rate-burst: must be >= 0 (got %d)", o.rateBurst)
	}
	specs := make([]fakeGroupSpec, 0, len(o.groups))
	seen := make(map[string]bool, len(o.groups))
	for _, s := range o.groups {
		g, err := parseFakeGroup(s)
		if err != nil {
			return nil, fmt.Errorf("--group %q: %w", s, err)
		}
		if seen[g.name] {
			return nil, fmt.Errorf("--group %q: group %q is given more than once", s, g.name)
		}
		seen[g.name] = true
		specs = append(specs, g)
	}
	return specs, nil
}

// parseFakeGroup parses NAME=MIN:MAX:DESIRED. Sizes are checked here too,
// so a bad flag fails before the server starts rather than as a wrapped
// cloud error.
func parseFakeGroup(s string) (fakeGroupSpec, error) {
	const want = "want NAME=MIN:MAX:DESIRED, e.g. web=1:20:2"
	name, sizes, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fakeGroupSpec{}, errors.New(want)
	}
	if strings.ContainsAny(name, "/ ") {
		// The name is one segment of the HTTP API's paths.
		return fakeGroupSpec{}, fmt.Errorf("group name %q must not contain '/' or spaces", name)
	}
	parts := strings.Split(sizes, ":")
	if len(parts) != 3 {
		return fakeGroupSpec{}, errors.New(want)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil {
			return fakeGroupSpec{}, fmt.Errorf("%s: %q is not an integer", want, p)
		}
		n[i] = v
	}
	g := fakeGroupSpec{name: name, min: n[0], max: n[1], desired: n[2]}
	switch {
	case g.min < 0:
		return g, fmt.Errorf("MIN must be >= 0 (got %d)", g.min)
	case g.max < g.min:
		return g, fmt.Errorf("MAX must be >= MIN (got MIN %d, MAX %d)", g.min, g.max)
	case g.max > fake.MaxGroupSize:
		return g, fmt.Errorf("MAX must be <= %d (got %d)", fake.MaxGroupSize, g.max)
	case g.desired < g.min || g.desired > g.max:
		return g, fmt.Errorf("DESIRED must be within MIN %d and MAX %d (got %d)", g.min, g.max, g.desired)
	}
	return g, nil
}

// runFakeCloud serves the fake cloud until ctx is cancelled.
func runFakeCloud(ctx context.Context, stderr io.Writer, o fakeCloudOptions) error {
	specs, err := o.validate()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	c := fake.New(fake.Options{
		BootDelay:      o.bootDelay,
		AutoCreate:     o.autoCreate,
		DefaultMin:     o.defaultMin,
		DefaultMax:     o.defaultMax,
		DefaultDesired: o.defaultDesired,
		OnCall:         func(call fake.Call) { logFakeCall(ctx, log, call) },
		RateLimit:      emukit.RateLimit{ReadsPerSecond: o.readRate, WritesPerSecond: o.writeRate, Burst: o.rateBurst},
	})
	for _, g := range specs {
		if err := c.CreateGroup(g.name, g.min, g.max, g.desired); err != nil {
			return fmt.Errorf("--group %s: %w", g.name, err)
		}
	}

	// Listening before serving makes a busy port an immediate, clear error
	// and lets the start line show the real address when the port is 0.
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	srv := &http.Server{
		Handler:           fake.NewHandler(c),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		// Requests inherit the command's context, so on shutdown a call
		// held by an injected delay ends at once instead of stalling the
		// drain.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	log.Info("fake cloud listening", "addr", ln.Addr().String(), "boot_delay", o.bootDelay,
		"groups", len(specs), "auto_create", o.autoCreate, "read_rate", o.readRate, "write_rate", o.writeRate)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("fake cloud server: %w", err)
	case <-ctx.Done():
	}
	log.Info("fake cloud shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fakeCloudShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("fake cloud shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("fake cloud server: %w", err)
	}
	return nil
}

// logFakeCall logs one provider call: resizes at info level, so a demo's
// log shows who resized what under which term; describes, which the
// agents make constantly, at debug.
func logFakeCall(ctx context.Context, log *slog.Logger, call fake.Call) {
	level := slog.LevelInfo
	if call.Op == fake.OpDescribe || call.Op == fake.OpDescribeBatch {
		level = slog.LevelDebug
	}
	attrs := []slog.Attr{
		slog.String("op", call.Op), slog.String("group", call.Group),
		slog.Int("from", call.From), slog.Int("to", call.To),
		slog.String("node", call.Caller.Node), slog.Uint64("term", call.Caller.Term),
	}
	if call.Err != "" {
		level = max(level, slog.LevelWarn)
		attrs = append(attrs, slog.String("err", call.Err))
	}
	log.LogAttrs(ctx, level, "fake cloud call", attrs...)
}
