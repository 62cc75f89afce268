package tlsutil

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// ClientAuth is how the API treats client certificates.
type ClientAuth int

// The --tls-client-auth modes.
const (
	// ClientAuthNone asks API clients for no certificate.
	ClientAuthNone ClientAuth = iota
	// ClientAuthRequest verifies a client certificate when one is given.
	ClientAuthRequest
	// ClientAuthRequire refuses API clients without a valid certificate.
	ClientAuthRequire
)

// ParseClientAuth reads a --tls-client-auth value.
func ParseClientAuth(s string) (ClientAuth, error) {
	switch s {
	case "", "none":
		return ClientAuthNone, nil
	case "request":
		return ClientAuthRequest, nil
	case "require":
		return ClientAuthRequire, nil
	}
	return ClientAuthNone, fmt.Errorf("tls-client-auth: must be none, request or require (got %q)", s)
}

// String is the flag value.
func (c ClientAuth) String() string {
	switch c {
	case ClientAuthRequest:
		return "request"
	case ClientAuthRequire:
		return "require"
	}
	return "none"
}

func (c ClientAuth) tlsType() tls.ClientAuthType {
	switch c {
	case ClientAuthRequest:
		return tls.VerifyClientCertIfGiven
	case ClientAuthRequire:
		return tls.RequireAndVerifyClientCert
	}
	return tls.NoClientCert
}

// Files names the PEM files a node's TLS material comes from; the field
// names follow the agent's flags.
type Files struct {
	// Cert and Key are the node's certificate (with any intermediates)
	// and private key (--tls-cert, --tls-key).
	Cert, Key string
	// CA is the cluster CA bundle peers' certificates must chain to
	// (--tls-ca).
	CA string
	// ClientCA is an extra CA bundle for API client certificates
	// (--tls-client-ca); optional.
	ClientCA string
}

// material is one consistent load of the files.
type material struct {
	cert *tls.Certificate
	// ca verifies peers (nodes); clientCAs verifies API clients: the
	// client CA plus the cluster CA, so peers' forwarded writes pass.
	ca, clientCAs *x509.CertPool
}

// Store holds a node's TLS material and hands the current version to
// every TLS config built from it. Reload swaps it atomically, so new
// connections use new certificates while established ones (Raft's among
// them) carry on undisturbed.
type Store struct {
	files Files
	cur   atomic.Pointer[material]
}

// NewStore loads the files. The node certificate must itself be a valid
// node certificate of the cluster CA (chain, validity, server and client
// usage), since peers check exactly that.
func NewStore(files Files) (*Store, error) {
	s := &Store{files: files}
	m, err := load(files)
	if err != nil {
		return nil, err
	}
	s.cur.Store(m)
	return s, nil
}

// Reload reads the files again and, when they are valid, makes them
// current. On error the previous material stays in use.
func (s *Store) Reload() error {
	m, err := load(s.files)
	if err != nil {
		return err
	}
	s.cur.Store(m)
	return nil
}

// Leaf is the node certificate in use.
func (s *Store) Leaf() *x509.Certificate { return s.cur.Load().cert.Leaf }

func load(f Files) (*material, error) {
	var errs []error
	if f.Cert == "" {
		errs = append(errs, errors.New("tls-cert: required"))
	}
	if f.Key == "" {
		errs = append(errs, errors.New("tls-key: required with tls-cert"))
	}
	if f.CA == "" {
		errs = append(errs, errors.New("tls-ca: required with tls-cert (peers' certificates are checked against it)"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("tls-cert %s, tls-key %s: %w", f.Cert, f.Key, err)
	}
	ca, err := loadPool(f.CA)
	if err != nil {
		return nil, fmt.Errorf("tls-ca: %w", err)
	}
	clientCAs, err := loadPool(f.CA)
	if err != nil {
		return nil, fmt.Errorf("tls-ca: %w", err)
	}
	if f.ClientCA != "" {
		extra, err := ParseCertificatesFile(f.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("tls-client-ca: %w", err)
		}
		for _, c := range extra {
			clientCAs.AddCert(c)
		}
	}
	chain := make([]*x509.Certificate, 0, len(cert.Certificate))
	for _, der := range cert.Certificate {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("tls-cert %s: %w", f.Cert, err)
		}
		chain = append(chain, c)
	}
	if err := verifyNode(chain, ca, time.Now()); err != nil {
		return nil, fmt.Errorf("tls-cert %s: not a node certificate of tls-ca %s: %w", f.Cert, f.CA, err)
	}
	cert.Leaf = chain[0]
	return &material{cert: &cert, ca: ca, clientCAs: clientCAs}, nil
}

// aeadSuites are the TLS 1.2 cipher suites every Capstan endpoint offers
// and accepts: ECDHE key exchange with an AEAD cipher only. Go's defaults
// still include CBC suites with SHA-1 MACs (ECDHE-ECDSA-AES128-SHA,
// AES256-SHA). TLS 1.3 suites are not configurable and all AEAD.
func aeadSuites() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
}

// ParseCertificatesFile reads the certificates of a PEM file.
func ParseCertificatesFile(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	certs, err := ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return certs, nil
}

func loadPool(path string) (*x509.CertPool, error) {
	certs, err := ParseCertificatesFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// verifyNode checks that chain[0] is a node certificate of the CA pool:
// it chains to the pool, is valid at now, and may act as both server and
// client. Requiring both usages keeps an API client certificate signed by
// the same CA from passing for a node.
func verifyNode(chain []*x509.Certificate, roots *x509.CertPool, now time.Time) error {
	if len(chain) == 0 {
		return errors.New("no certificate presented")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	for _, u := range nodeUsages {
		opts := x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{u}}
		if _, err := chain[0].Verify(opts); err != nil {
			return err
		}
	}
	return nil
}

// NodeOf is the node id of the certificate a TLS peer presented, when it
// is a node certificate of the current cluster CA (chain, validity, both
// usages). An API client certificate, or one of the extra client CA,
// is no node's.
func (s *Store) NodeOf(cs *tls.ConnectionState) (string, bool) {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return "", false
	}
	if verifyNode(cs.PeerCertificates, s.cur.Load().ca, time.Now()) != nil {
		return "", false
	}
	return NodeName(cs.PeerCertificates[0]), true
}

// NodeName is the node id a node certificate names: its common name.
func NodeName(c *x509.Certificate) string { return c.Subject.CommonName }

// ServerConfig is the API server's TLS config: the current node
// certificate, TLS 1.2 at least, and client certificates per auth,
// verified against the client CA and the cluster CA.
func (s *Store) ServerConfig(auth ClientAuth) *tls.Config {
	base := &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: aeadSuites(), NextProtos: []string{"h2", "http/1.1"}, ClientAuth: auth.tlsType()}
	return &tls.Config{
		MinVersion: tls.VersionTLS12, CipherSuites: aeadSuites(),
		// Each handshake gets a config built from the current material,
		// so a reload takes effect for the next connection.
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			m := s.cur.Load()
			c := base.Clone()
			c.Certificates = []tls.Certificate{*m.cert}
			c.ClientCAs = m.clientCAs
			return c, nil
		},
	}
}

// PeerServerConfig is the TLS config Raft accepts peers with: the peer
// must present a node certificate of the cluster CA.
func (s *Store) PeerServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12, CipherSuites: aeadSuites(),
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			m := s.cur.Load()
			return &tls.Config{
				MinVersion:   tls.VersionTLS12,
				CipherSuites: aeadSuites(),
				Certificates: []tls.Certificate{*m.cert},
				// Raft connections are long-lived and pooled: resumption
				// would save nothing, and a ticket the server sends
				// after the handshake would sit unread in a probe that
				// only checks the certificate.
				SessionTicketsDisabled: true,
				// Ask for any certificate and verify it below, so the
				// check is the same as on the dialing side (both usages).
				ClientAuth: tls.RequireAnyClientCert,
				VerifyConnection: func(cs tls.ConnectionState) error {
					return verifyNode(cs.PeerCertificates, m.ca, time.Now())
				},
			}, nil
		},
	}
}

// PeerClientConfig is the TLS config Raft dials peers with: it presents
// the node certificate and requires the peer's to be a node certificate
// of the cluster CA. Host names are not checked: the CA signs only nodes,
// and a node is named by its certificate, not by the address it is dialed at.
func (s *Store) PeerClientConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12, CipherSuites: aeadSuites(),
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return s.cur.Load().cert, nil
		},
		// The standard check would verify a host name and use a fixed
		// root pool; VerifyConnection does the node check against the
		// current CA instead.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyNode(cs.PeerCertificates, s.cur.Load().ca, time.Now())
		},
	}
}

// DialTLSContext dials a peer's API over TLS for an http.Transport: the
// server certificate is verified against the current cluster CA and the
// dialed host name or IP, and the node certificate is presented when the
// server asks for one.
func (s *Store) DialTLSContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	m := s.cur.Load()
	d := &tls.Dialer{Config: &tls.Config{
		MinVersion: tls.VersionTLS12, CipherSuites: aeadSuites(),
		ServerName: host,
		RootCAs:    m.ca,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return m.cert, nil
		},
	}}
	return d.DialContext(ctx, network, addr)
}

// ClientConfig is a TLS config for a CLI client: roots from caFile (the
// system's when empty) and, when certFile is set, a client certificate.
func ClientConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: aeadSuites()}
	if caFile != "" {
		pool, err := loadPool(caFile)
		if err != nil {
			return nil, fmt.Errorf("ca-cert: %w", err)
		}
		c.RootCAs = pool
	}
	switch {
	case certFile != "" && keyFile != "":
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("client-cert %s, client-key %s: %w", certFile, keyFile, err)
		}
		c.Certificates = []tls.Certificate{cert}
	case certFile != "":
		return nil, errors.New("client-key: required with client-cert")
	case keyFile != "":
		return nil, errors.New("client-cert: required with client-key")
	}
	return c, nil
}
