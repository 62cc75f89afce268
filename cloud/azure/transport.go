package azure

import (
	"crypto/tls"
	"net/http"
	"time"

	"golang.org/x/net/http2"
)

// maxIdleConns bounds the idle keep-alive connections the driver keeps
// per host (and in all) when it builds its own transport.
const maxIdleConns = 64

// newTransport is the transport the driver uses when Options give none:
// the SDK's default settings (net/http's defaults with HTTP/2, TLS 1.2 at
// least, renegotiation allowed, HTTP/2 connections pinged after 10 s
// idle), but a pool of 64 idle connections per host instead of 10. ARM
// answers over HTTP/2, where one connection carries concurrent calls;
// over HTTP/1.1 (a proxy, an emulator) a pool of 10 closed the surplus of
// every burst of more concurrent calls, and the next burst dialled it
// again (68 connections for 10 bursts of 16 calls against the emulator).
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = maxIdleConns
	t.MaxIdleConnsPerHost = maxIdleConns
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, Renegotiation: tls.RenegotiateFreelyAsClient}
	if h2, err := http2.ConfigureTransports(t); err == nil {
		// As the SDK does: a dead HTTP/2 connection is found by a ping,
		// not by the next call hanging until its deadline.
		h2.ReadIdleTimeout = 10 * time.Second
		h2.PingTimeout = 5 * time.Second
	}
	return t
}
