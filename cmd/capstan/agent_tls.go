package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/capstan-io/capstan/api/tlsutil"
)

// agentTLS is the agent's TLS setup: nil when it runs plaintext. Its
// methods work on a nil receiver, so the agent wires one code path.
type agentTLS struct {
	store *tlsutil.Store
	auth  tlsutil.ClientAuth
	log   *slog.Logger
}

// newAgentTLS loads the --tls-* files, or returns nil (after a warning)
// when --tls-cert is not given.
func newAgentTLS(o agentOptions, logger *slog.Logger) (*agentTLS, error) {
	auth, err := tlsutil.ParseClientAuth(o.TLSClientAuth)
	if err != nil {
		return nil, err
	}
	if o.TLSCert == "" {
		for _, f := range []struct{ flag, v string }{{"tls-key", o.TLSKey}, {"tls-ca", o.TLSCA}, {"tls-client-ca", o.TLSClientCA}} {
			if f.v != "" {
				return nil, fmt.Errorf("--%s: needs --tls-cert (and --tls-key, --tls-ca)", f.flag)
			}
		}
		if auth != tlsutil.ClientAuthNone {
			return nil, fmt.Errorf("--tls-client-auth %s: needs --tls-cert (and --tls-key, --tls-ca)", auth)
		}
		logger.Warn("TLS is off: the API and Raft traffic are unencrypted and peers are not authenticated; " +
			"give --tls-cert, --tls-key and --tls-ca (capstan tls init makes them) on any network but loopback")
		return nil, nil
	}
	store, err := tlsutil.NewStore(tlsutil.Files{Cert: o.TLSCert, Key: o.TLSKey, CA: o.TLSCA, ClientCA: o.TLSClientCA})
	if err != nil {
		return nil, err
	}
	a := &agentTLS{store: store, auth: auth, log: logger}
	a.logCertificate("TLS on: the API is served over https and Raft runs over mutual TLS")
	return a, nil
}

// Store is the node's TLS material, or nil.
func (a *agentTLS) Store() *tlsutil.Store {
	if a == nil {
		return nil
	}
	return a.store
}

func (a *agentTLS) logCertificate(msg string) {
	leaf := a.store.Leaf()
	a.log.Info(msg, "certificate", leaf.Subject.CommonName, "serial", leaf.SerialNumber.Text(16),
		"not_after", leaf.NotAfter.UTC().Format(time.RFC3339), "client_auth", a.auth.String())
}

// transport is the HTTP transport the agent reaches its peers' APIs with
// (discovery, join, forwarded writes): https verified against the cluster
// CA, with the node certificate as client certificate.
func (a *agentTLS) transport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if a != nil {
		tr.DialTLSContext = a.store.DialTLSContext
	}
	return tr
}

// serve serves srv on ln, over TLS when it is on.
func (a *agentTLS) serve(srv *http.Server, ln net.Listener) error {
	if a == nil {
		return srv.Serve(ln)
	}
	srv.TLSConfig = a.store.ServerConfig(a.auth)
	// TLS handshake errors (a plaintext client, an unknown certificate)
	// go to the agent's log as warnings instead of the standard logger.
	srv.ErrorLog = slog.NewLogLogger(a.log.With("component", "http").Handler(), slog.LevelWarn)
	return srv.ServeTLS(ln, "", "")
}

// reloadOnHUP reloads the certificates and CAs on every SIGHUP until ctx
// ends. New connections (API and Raft) use the new files; established
// ones, and so the cluster, carry on. A bad file keeps the old material.
// The signal is caught from the moment it returns.
func (a *agentTLS) reloadOnHUP(ctx context.Context) {
	if a == nil {
		return
	}
	onSIGHUP(ctx, func() {
		if err := a.store.Reload(); err != nil {
			a.log.Error("SIGHUP: TLS reload failed; keeping the certificates in use", "err", err)
			return
		}
		a.logCertificate("SIGHUP: TLS certificates reloaded")
	})
}
