package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/capstan-io/capstan/api"
)

// defaultAddr is the API addresses client commands try when neither
// --addr nor CAPSTAN_ADDR says otherwise: the three nodes of the local
// cluster (make run), the first being the agent's default --http-addr.
const defaultAddr = "http://127.0.0.1:8081,http://127.0.0.1:8082,http://127.0.0.1:8083"

// addrEnv names the environment variable that sets the default --addr, so
// an operator points every command at a cluster once per shell.
const addrEnv = "CAPSTAN_ADDR"

// apiFlags are the flags every command that talks to the API shares.
type apiFlags struct {
	addr    string
	timeout time.Duration
	token   clientTokenFlags
	tls     clientTLSFlags
}

// register adds --addr and --timeout to cmd.
func (f *apiFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.addr, "addr", "",
		"API address of a node (any node; writes are forwarded to the leader), or several, comma-separated, tried in order when one does not answer (default $"+addrEnv+", else the three local nodes "+defaultAddr+", then the members the cluster last reported)")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 30*time.Second, "timeout of each API request")
	f.token.register(cmd)
	f.tls.register(cmd)
}

// target resolves the addresses: --addr, then $CAPSTAN_ADDR, then the
// default. Without --addr, the members the cluster reported last time
// (memberCache) are tried after those, so the CLI still finds a cluster
// whose first listed nodes are down.
func (f *apiFlags) target() (*apiTarget, error) {
	addr := f.addr
	if addr == "" {
		addr = os.Getenv(addrEnv)
	}
	if addr == "" {
		addr = defaultAddr
	}
	if f.timeout <= 0 {
		return nil, fmt.Errorf("--timeout: must be > 0 (got %s)", f.timeout)
	}
	withToken, err := f.token.option()
	if err != nil {
		return nil, err
	}
	tr, err := f.tls.transport()
	if err != nil {
		return nil, err
	}
	t := &apiTarget{newClient: func(u string) *api.Client {
		return api.NewClient(u, &http.Client{Timeout: f.timeout, Transport: tr}, withToken)
	}}
	for _, a := range strings.Split(addr, ",") {
		if a = strings.TrimSpace(a); a != "" {
			u := f.tls.url(a)
			t.add(u)
			t.tlsWithoutCert = t.tlsWithoutCert || (strings.HasPrefix(u, "https://") && f.tls.clientCert == "")
		}
	}
	if len(t.clients) == 0 {
		return nil, fmt.Errorf("--addr: no address in %q", addr)
	}
	if f.addr == "" {
		t.cache = &memberCache{seeds: addr}
		for _, m := range t.cache.load() {
			t.add(f.tls.url(m))
		}
	}
	return t, nil
}

// apiTarget is one or more nodes of a cluster. Any node serves any request
// (followers forward writes), so the nodes are interchangeable: a call
// moves on to the next node only when a node does not answer at all, and
// the node that answered is tried first next time.
type apiTarget struct {
	clients   []*api.Client
	cur       int
	newClient func(url string) *api.Client
	// cache remembers the members a node reports, for the next run;
	// nil when --addr was given.
	cache *memberCache
	// tlsWithoutCert is set when a node is reached over https with no
	// client certificate: a server that requires one closes the
	// connection after the handshake, which the client may see only as a
	// broken connection, so a failure gets a hint.
	tlsWithoutCert bool
}

// add appends a node unless it is already known.
func (t *apiTarget) add(u string) {
	for _, c := range t.clients {
		if c.BaseURL() == api.NewClient(u, nil).BaseURL() {
			return
		}
	}
	t.clients = append(t.clients, t.newClient(u))
}

// learn adds the members a node reported, so the rest of the run can move
// on to them, and remembers them for the next run.
func (t *apiTarget) learn(info api.ClusterInfo) {
	var addrs []string
	for _, m := range info.Members {
		if m.HTTPAddr != "" {
			t.add(m.HTTPAddr)
			addrs = append(addrs, m.HTTPAddr)
		}
	}
	if t.cache != nil && len(addrs) > 0 {
		t.cache.store(addrs)
	}
}

// call runs fn against the current node, then the others in turn while
// nothing answers. An answer, even an error answer, ends the search: the
// cluster has spoken. When no node answers, the error names each node
// and why once, and says what to try next.
func (t *apiTarget) call(ctx context.Context, fn func(*api.Client) error) error {
	var (
		err   error
		fails []string
	)
	for i := range t.clients {
		c := t.clients[(t.cur+i)%len(t.clients)]
		err = fn(c)
		var ae *api.Error
		if err == nil || errors.As(err, &ae) || ctx.Err() != nil {
			t.cur = (t.cur + i) % len(t.clients)
			return err
		}
		fails = append(fails, c.BaseURL()+": "+cause(err))
	}
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	hint := "is the cluster running (make run)? Point --addr or $" + addrEnv + " at a node that is up; `capstan status` lists the members"
	if t.tlsWithoutCert && !errors.As(err, &unknownAuthority) && !errors.As(err, &hostname) {
		hint = "if the API requires client certificates, give --client-cert and --client-key"
	}
	what := "the node did not answer"
	if len(fails) > 1 {
		what = fmt.Sprintf("no node answered (%d tried)", len(fails))
	}
	return &unreachableError{msg: fmt.Sprintf("%s:\n  %s\nhint: %s", what, strings.Join(fails, "\n  "), hint), err: err}
}

// unreachableError is a call no node answered; it wraps the last node's
// error, so errors.Is still sees its cause.
type unreachableError struct {
	msg string
	err error
}

func (e *unreachableError) Error() string { return e.msg }
func (e *unreachableError) Unwrap() error { return e.err }

// cause is the innermost reason of a request error, without the method
// and URL the client put in front: "dial tcp 127.0.0.1:8081: connect:
// connection refused" becomes "dial: connect: connection refused".
func cause(err error) string {
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Op + ": " + op.Err.Error() // op.Error() repeats the address
	}
	if u := errors.Unwrap(err); u != nil {
		return u.Error()
	}
	return err.Error()
}

// describe turns an API error into what an operator reads: the message,
// then each field at fault on its own line.
func describe(err error) error {
	var ae *api.Error
	if !errors.As(err, &ae) || len(ae.Fields) == 0 {
		return err
	}
	var b strings.Builder
	b.WriteString(ae.Message)
	for _, f := range ae.Fields {
		b.WriteString("\n  ")
		if f.Path != "" {
			b.WriteString(f.Path + ": ")
		}
		b.WriteString(f.Message)
	}
	return &exitError{code: 1, err: errors.New(b.String())}
}

// outputFlag adds -o/--output with the formats a command supports; the
// first is the default.
func outputFlag(cmd *cobra.Command, dst *string, formats ...string) {
	cmd.Flags().StringVarP(dst, "output", "o", formats[0], "output format: "+strings.Join(formats, ", "))
}

// checkOutput refuses a format the command does not support.
func checkOutput(got string, formats ...string) error {
	for _, f := range formats {
		if got == f {
			return nil
		}
	}
	return fmt.Errorf("--output: must be one of %s (got %q)", strings.Join(formats, ", "), got)
}

// writeJSON prints v as indented JSON, for -o json.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// writeFormat prints v as JSON or YAML (-o json, -o yaml). YAML is the
// JSON document re-encoded, so both name fields alike (the json tags) and
// keep their order.
func writeFormat(w io.Writer, format string, v any) error {
	if format != "yaml" {
		return writeJSON(w, v)
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return err
	}
	blockStyle(&doc)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return err
	}
	return enc.Close()
}

// blockStyle drops the flow style and quotes the JSON source gave every
// node; the encoder quotes what would otherwise read as another type.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// newTable returns a tabwriter for aligned columns; call Flush when done.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// formatTime renders an instant compactly in UTC, the zone decision
// records and traces use; "-" when unset.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// orDash renders an empty value as "-" so table columns stay aligned.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// query runs get against the cluster the flags name, trying the nodes in
// turn while none answers, and returns an API error as an operator reads
// it (describe). It is the fetch half of every read command.
func query[T any](cmd *cobra.Command, af *apiFlags, get func(context.Context, *api.Client) (T, error)) (T, error) {
	var v T
	t, err := af.target()
	if err != nil {
		return v, err
	}
	ctx := cmd.Context()
	if err := t.call(ctx, func(c *api.Client) error {
		var err error
		v, err = get(ctx, c)
		return err
	}); err != nil {
		return v, describe(err)
	}
	return v, nil
}
