package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/capstan-io/capstan/api/tlsutil"
)

func newTLSCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tls",
		Short: "Make the certificates a TLS-secured cluster needs",
	}
	cmd.AddCommand(newTLSInitCommand())
	return cmd
}

func newTLSInitCommand() *cobra.Command {
	var validity time.Duration
	o := tlsutil.InitOptions{}
	cmd := &cobra.Command{
		Use:   "init --dir DIR --nodes n1,n2,n3 [--hosts 127.0.0.1,localhost] [--clients admin]",
		Short: "Make a CA, a certificate per node and per API client",
		Long: `Make a private CA (ECDSA P-256) in DIR, unless DIR already holds one
(ca.crt and ca.key), and sign with it:

  - a certificate per node (NODE.crt, NODE.key): common name and DNS name
    the node id, plus every --hosts entry as an IP address or DNS name;
    usable as server and client, it is the node's identity on the API, on
    Raft, and for the writes it forwards;
  - a certificate per API client (NAME.crt, NAME.key), client use only.

Keys are written 0600, certificates 0644. Existing node and client files
are not overwritten unless --force; an existing CA is always kept, so a
node added later gets a certificate the cluster trusts. ca.key signs
everything: keep it off the servers once the certificates are made.`,
		Example: `  capstan tls init --dir tls --nodes n1,n2,n3 --hosts 127.0.0.1,localhost --clients admin
  capstan agent --node-id n1 ... --tls-cert tls/n1.crt --tls-key tls/n1.key --tls-ca tls/ca.crt
  capstan status --addr https://127.0.0.1:8081 --ca-cert tls/ca.crt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if validity <= 0 {
				return fmt.Errorf("--validity: must be > 0 (got %s)", validity)
			}
			o.Validity = validity
			written, reused, err := tlsutil.Init(o)
			out := cmd.OutOrStdout()
			if reused {
				fmt.Fprintf(out, "using the existing CA %s\n", filepath.Join(o.Dir, tlsutil.CACertFile))
			}
			for _, w := range written {
				fmt.Fprintf(out, "wrote %s  %04o  %s\n", w.Path, w.Mode.Perm(), w.What)
			}
			if err != nil {
				return fmt.Errorf("tls init: %w", err)
			}
			if len(o.Nodes) > 0 {
				n := o.Nodes[0]
				fmt.Fprintf(out, "\nStart node %s with:\n  --tls-cert %s --tls-key %s --tls-ca %s\n", n,
					filepath.Join(o.Dir, n+".crt"), filepath.Join(o.Dir, n+".key"), filepath.Join(o.Dir, tlsutil.CACertFile))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Dir, "dir", "", "directory for the CA, node and client files (required; created 0700)")
	f.StringSliceVar(&o.Nodes, "nodes", nil, "node ids to issue node certificates to (comma-separated)")
	f.StringSliceVar(&o.Hosts, "hosts", []string{"127.0.0.1", "localhost"}, "IP addresses and DNS names peers and clients reach the nodes by (comma-separated; in every node certificate)")
	f.StringSliceVar(&o.Clients, "clients", nil, "API client names to issue client certificates to (comma-separated)")
	f.DurationVar(&validity, "validity", tlsutil.DefaultLeafValidity, "how long node and client certificates are valid")
	f.BoolVar(&o.Force, "force", false, "overwrite existing node and client files (the CA is always kept)")
	return cmd
}
