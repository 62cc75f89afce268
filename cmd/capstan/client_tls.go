package main

import (
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/capstan-io/capstan/api/tlsutil"
)

// caCertEnv names the environment variable that sets the default --ca-cert.
const caCertEnv = "CAPSTAN_CA_CERT"

// clientTLSFlags are the TLS flags of every command that talks to the API.
type clientTLSFlags struct {
	caCert, clientCert, clientKey string
}

// register adds --ca-cert, --client-cert and --client-key to cmd.
func (f *clientTLSFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.caCert, "ca-cert", "", "CA certificate (PEM) to verify the API's certificate with, e.g. the cluster's ca.crt (default $"+caCertEnv+", else the system's roots)")
	cmd.Flags().StringVar(&f.clientCert, "client-cert", "", "client certificate (PEM) for an API that asks for one (--tls-client-auth)")
	cmd.Flags().StringVar(&f.clientKey, "client-key", "", "private key (PEM) of --client-cert")
}

func (f *clientTLSFlags) ca() string {
	if f.caCert != "" {
		return f.caCert
	}
	return os.Getenv(caCertEnv)
}

// enabled reports whether any TLS setting was given.
func (f *clientTLSFlags) enabled() bool {
	return f.ca() != "" || f.clientCert != "" || f.clientKey != ""
}

// transport is the HTTP transport for the API: the default one, with the
// CA and client certificate when given.
func (f *clientTLSFlags) transport() (http.RoundTripper, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if !f.enabled() {
		return tr, nil
	}
	cfg, err := tlsutil.ClientConfig(f.ca(), f.clientCert, f.clientKey)
	if err != nil {
		// tlsutil names the setting ("ca-cert: ..."); say it is a flag.
		return nil, fmt.Errorf("--%w", err)
	}
	tr.TLSClientConfig = cfg
	return tr, nil
}

// url is the base URL for an --addr entry: as given when it has a scheme;
// a bare host:port means https when TLS settings are given, else http.
func (f *clientTLSFlags) url(addr string) string {
	if strings.Contains(addr, "://") || !f.enabled() {
		return addr
	}
	return "https://" + addr
}
