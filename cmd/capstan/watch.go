package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// watchFlags are --watch and --interval, for read commands an operator
// keeps on screen (status, decisions), as kubectl get -w and watch(1).
type watchFlags struct {
	on       bool
	interval time.Duration
	now      func() time.Time
}

func (f *watchFlags) register(cmd *cobra.Command) {
	cmd.Flags().BoolVarP(&f.on, "watch", "w", false, "refresh every --interval until interrupted (Ctrl-C)")
	cmd.Flags().DurationVar(&f.interval, "interval", 2*time.Second, "refresh interval of --watch")
}

// run calls show once, or with --watch every interval until ctx ends,
// each refresh headed by the command line and the time. A refresh that
// fails prints its error and the watch goes on, as watch(1) does; the
// interrupt that ends it is no error.
func (f *watchFlags) run(ctx context.Context, w io.Writer, title string, show func(io.Writer) error) error {
	if !f.on {
		return show(w)
	}
	if f.interval <= 0 {
		return fmt.Errorf("--interval: must be > 0 (got %s)", f.interval)
	}
	now := f.now
	if now == nil {
		now = time.Now
	}
	t := time.NewTicker(f.interval)
	defer t.Stop()
	for {
		// Render first, then write at once, so a slow answer never shows
		// half a screen.
		var buf bytes.Buffer
		fmt.Fprintf(&buf, "Every %s: %s    %s\n\n", f.interval, title, formatTime(now()))
		if err := show(&buf); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			fmt.Fprintf(&buf, "error: %v\n", err)
		}
		buf.WriteString("\n")
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			// select picks at random when the tick and the interrupt
			// are both ready: an interrupt always wins.
			if ctx.Err() != nil {
				return nil
			}
		}
	}
}

// commandLine is how a watch names what it refreshes: "capstan status".
func commandLine(cmd *cobra.Command, args []string) string {
	return strings.TrimSpace(cmd.CommandPath() + " " + strings.Join(args, " "))
}
