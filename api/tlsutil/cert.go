// Package tlsutil makes and serves the TLS material of a Capstan cluster:
// a private certificate authority, node certificates (one identity per
// node, used for its API, its Raft traffic and the writes it forwards) and
// API client certificates; and a Store that hands the current material to
// TLS configs and swaps it atomically when the files change.
package tlsutil

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"regexp"
	"time"
)

// Default validity periods of what Init makes. A CA outlives many
// rotations of the leaf certificates it signs.
const (
	DefaultCAValidity   = 10 * 365 * 24 * time.Hour
	DefaultLeafValidity = 365 * 24 * time.Hour
)

// clockSkew backdates every certificate a little, so a peer whose clock
// runs a few minutes behind does not see a brand-new certificate as not
// yet valid.
const clockSkew = 5 * time.Minute

// nodeUsages are a node certificate's extended key usages: a node serves
// its API and Raft (server) and dials peers' Raft and APIs (client).
var nodeUsages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}

// Authority is a certificate authority: its certificate and signing key.
type Authority struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewAuthority makes a self-signed ECDSA P-256 CA named name, valid from
// now (less the clock-skew allowance) for validity.
func NewAuthority(name string, now time.Time, validity time.Duration) (*Authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Capstan"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// The CA signs leaves only, never another CA.
		MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("signing the CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing the CA certificate: %w", err)
	}
	return &Authority{Cert: cert, Key: key}, nil
}

// LoadAuthority reads a CA from its PEM certificate and PEM key, so more
// certificates can be issued by the CA a cluster already trusts.
func LoadAuthority(certPEM, keyPEM []byte) (*Authority, error) {
	certs, err := ParseCertificates(certPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	cert := certs[0]
	if !cert.IsCA {
		return nil, errors.New("CA certificate: not a CA (basic constraints say CA:FALSE)")
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("CA key: no PEM block")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	key, ok := parsed.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("CA key: a %T cannot sign", parsed)
	}
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("CA key: does not match the CA certificate")
	}
	return &Authority{Cert: cert, Key: key}, nil
}

// CertPEM is the CA certificate in PEM.
func (a *Authority) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.Cert.Raw})
}

// KeyPEM is the CA's private key in PKCS #8 PEM.
func (a *Authority) KeyPEM() ([]byte, error) {
	return encodeKey(a.Key)
}

// Spec describes a leaf certificate to issue.
type Spec struct {
	// CommonName is the node id or client name.
	CommonName string
	// DNSNames and IPs are the subject alternative names.
	DNSNames []string
	IPs      []net.IP
	// Usages are the extended key usages.
	Usages []x509.ExtKeyUsage
	// NotBefore and NotAfter bound the validity.
	NotBefore, NotAfter time.Time
}

// NodeSpec is a node's certificate: its id as the common name and as a DNS
// name, each host as an IP or DNS name, and both server and client
// authentication, since a node is both to its peers.
func NodeSpec(id string, hosts []string, now time.Time, validity time.Duration) Spec {
	s := Spec{CommonName: id, DNSNames: []string{id}, Usages: nodeUsages,
		NotBefore: now.Add(-clockSkew), NotAfter: now.Add(validity)}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			s.IPs = append(s.IPs, ip)
		} else if h != id {
			s.DNSNames = append(s.DNSNames, h)
		}
	}
	return s
}

// ClientSpec is an API client's certificate: client authentication only,
// so it can never pass for a node.
func ClientSpec(name string, now time.Time, validity time.Duration) Spec {
	return Spec{CommonName: name, Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		NotBefore: now.Add(-clockSkew), NotAfter: now.Add(validity)}
}

// KeyPair is an issued certificate with its new private key.
type KeyPair struct {
	Cert    *x509.Certificate
	CertPEM []byte
	KeyPEM  []byte
}

// Issue makes a new ECDSA P-256 key and a certificate for it signed by a.
func (a *Authority) Issue(s Spec) (*KeyPair, error) {
	if s.CommonName == "" {
		return nil, errors.New("common name: required")
	}
	if !s.NotAfter.After(s.NotBefore) {
		return nil, fmt.Errorf("%s: validity: not-after %s must be after not-before %s", s.CommonName, s.NotAfter, s.NotBefore)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("%s: generating the key: %w", s.CommonName, err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: s.CommonName, Organization: []string{"Capstan"}},
		DNSNames:              s.DNSNames,
		IPAddresses:           s.IPs,
		NotBefore:             s.NotBefore,
		NotAfter:              s.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           s.Usages,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Cert, key.Public(), a.Key)
	if err != nil {
		return nil, fmt.Errorf("%s: signing: %w", s.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%s: parsing the new certificate: %w", s.CommonName, err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &KeyPair{Cert: cert, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), KeyPEM: keyPEM}, nil
}

// ParseCertificates reads every CERTIFICATE block of a PEM bundle; it
// fails when there is none, or when one does not parse.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return certs, nil
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding the key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// newSerial is a random 128-bit serial number, as RFC 5280 asks of CAs
// (unique per CA, unpredictable).
func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("making a serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// nameRE is what a node id or client name must look like: it becomes a
// file name, and a node id becomes a DNS name in the certificate.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,61}[A-Za-z0-9])?$`)

// checkName reports why name cannot be a node id or client name.
func checkName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%q: must be 1-63 letters, digits, '-' or '.', starting and ending with a letter or digit", name)
	}
	return nil
}

// checkHost reports why host cannot be a subject alternative name.
func checkHost(host string) error {
	if net.ParseIP(host) != nil {
		return nil
	}
	for _, label := range splitDots(host) {
		if label == "*" {
			continue // a wildcard label is a valid SAN
		}
		if err := checkName(label); err != nil {
			return fmt.Errorf("%q: not an IP address or DNS name (label %w)", host, err)
		}
	}
	return nil
}

func splitDots(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}
