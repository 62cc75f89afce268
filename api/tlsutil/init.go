package tlsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// File names Init writes in its directory. A node's and a client's files
// are named after it.
const (
	CACertFile = "ca.crt"
	CAKeyFile  = "ca.key"
)

// File modes: private keys are readable by their owner only.
const (
	keyMode  fs.FileMode = 0o600
	certMode fs.FileMode = 0o644
)

// InitOptions say what Init makes.
type InitOptions struct {
	// Dir receives the files; it is created (0700) when missing.
	Dir string
	// Nodes are node ids: each gets NAME.crt and NAME.key.
	Nodes []string
	// Hosts are the IP addresses and DNS names every node certificate
	// carries, besides the node id.
	Hosts []string
	// Clients are API client names: each gets NAME.crt and NAME.key.
	Clients []string
	// Validity is how long node and client certificates last; 0 means
	// DefaultLeafValidity. A new CA lasts DefaultCAValidity.
	Validity time.Duration
	// Force overwrites existing node and client files. An existing CA is
	// never overwritten: it is reused, so certificates issued later join
	// the cluster that trusts it.
	Force bool
	// Now is the issue time; zero means time.Now.
	Now time.Time
}

// Written is one file Init wrote.
type Written struct {
	Path string
	Mode fs.FileMode
	// What describes the file, e.g. "node n1 certificate".
	What string
}

// Validate reports every problem with the options at once.
func (o InitOptions) Validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("dir: required"))
	}
	if len(o.Nodes) == 0 && len(o.Clients) == 0 {
		errs = append(errs, errors.New("nodes: at least one node or client is required"))
	}
	seen := map[string]string{"ca": "the CA's files"}
	for _, list := range []struct {
		flag  string
		names []string
	}{{"nodes", o.Nodes}, {"clients", o.Clients}} {
		for _, n := range list.names {
			if err := checkName(n); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", list.flag, err))
				continue
			}
			if prev, ok := seen[strings.ToLower(n)]; ok {
				errs = append(errs, fmt.Errorf("%s: %q: its files would clash with %s", list.flag, n, prev))
				continue
			}
			seen[strings.ToLower(n)] = fmt.Sprintf("%s %q", strings.TrimSuffix(list.flag, "s"), n)
		}
	}
	for _, h := range o.Hosts {
		if err := checkHost(h); err != nil {
			errs = append(errs, fmt.Errorf("hosts: %w", err))
		}
	}
	if o.Validity < 0 {
		errs = append(errs, fmt.Errorf("validity: must be > 0 (got %s)", o.Validity))
	}
	return errors.Join(errs...)
}

// Init makes (or reuses) the CA in o.Dir and issues a certificate to each
// node and client. It refuses to overwrite node or client files unless
// o.Force, checking every file before it writes any. It returns what it
// wrote, and whether it reused an existing CA.
func Init(o InitOptions) (written []Written, reusedCA bool, err error) {
	if err := o.Validate(); err != nil {
		return nil, false, err
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.Validity == 0 {
		o.Validity = DefaultLeafValidity
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("dir: %w", err)
	}
	ca, err := existingCA(o.Dir)
	if err != nil {
		return nil, false, err
	}
	reusedCA = ca != nil

	type file struct {
		name, what string
		mode       fs.FileMode
	}
	var plan []file
	var clash []string
	add := func(name, what string, mode fs.FileMode) {
		if _, err := os.Stat(filepath.Join(o.Dir, name)); err == nil && !o.Force {
			clash = append(clash, filepath.Join(o.Dir, name))
		}
		plan = append(plan, file{name: name, what: what, mode: mode})
	}
	for _, n := range o.Nodes {
		add(n+".crt", "node "+n+" certificate", certMode)
		add(n+".key", "node "+n+" key", keyMode)
	}
	for _, c := range o.Clients {
		add(c+".crt", "client "+c+" certificate", certMode)
		add(c+".key", "client "+c+" key", keyMode)
	}
	if len(clash) > 0 {
		return nil, reusedCA, fmt.Errorf("refusing to overwrite %s (give --force to replace them)", strings.Join(clash, ", "))
	}

	// Issue everything before writing anything, so a failure leaves the
	// directory as it was.
	contents := map[string][]byte{}
	if ca == nil {
		if ca, err = NewAuthority("Capstan CA", o.Now, DefaultCAValidity); err != nil {
			return nil, false, err
		}
		keyPEM, err := ca.KeyPEM()
		if err != nil {
			return nil, false, err
		}
		plan = append([]file{{name: CACertFile, what: "CA certificate", mode: certMode}, {name: CAKeyFile, what: "CA key (keep it offline once the certificates are made)", mode: keyMode}}, plan...)
		contents[CACertFile], contents[CAKeyFile] = ca.CertPEM(), keyPEM
	}
	issue := func(name string, s Spec) error {
		kp, err := ca.Issue(s)
		if err != nil {
			return err
		}
		contents[name+".crt"], contents[name+".key"] = kp.CertPEM, kp.KeyPEM
		return nil
	}
	for _, n := range o.Nodes {
		if err := issue(n, NodeSpec(n, o.Hosts, o.Now, o.Validity)); err != nil {
			return nil, reusedCA, err
		}
	}
	for _, c := range o.Clients {
		if err := issue(c, ClientSpec(c, o.Now, o.Validity)); err != nil {
			return nil, reusedCA, err
		}
	}
	for _, f := range plan {
		path := filepath.Join(o.Dir, f.name)
		if err := writeFileAtomic(path, contents[f.name], f.mode); err != nil {
			return written, reusedCA, err
		}
		written = append(written, Written{Path: path, Mode: f.mode, What: f.what})
	}
	return written, reusedCA, nil
}

// existingCA loads the CA in dir, or returns nil when there is none. Half
// a CA (a certificate without its key, or the reverse) is an error: Init
// can neither reuse nor silently replace it.
func existingCA(dir string) (*Authority, error) {
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	switch {
	case errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist):
		return nil, nil
	case certErr != nil:
		return nil, fmt.Errorf("%s: %w (a CA needs both %s and %s)", certPath, certErr, CACertFile, CAKeyFile)
	case keyErr != nil:
		return nil, fmt.Errorf("%s: %w (a CA needs both %s and %s)", keyPath, keyErr, CACertFile, CAKeyFile)
	}
	ca, err := LoadAuthority(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("existing CA in %s: %w", dir, err)
	}
	return ca, nil
}

// writeFileAtomic writes data to path with mode through a temporary file
// and a rename, so a reader (an agent reloading on SIGHUP) never sees half
// a file and a replaced key file never is, even briefly, readable by others.
func writeFileAtomic(path string, data []byte, mode fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
