package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// podmanPath finds podman. Like promtoolPath, it skips the test when
// podman is missing, unless CAPSTAN_REQUIRE_PODMAN is set (as in CI),
// which makes a missing podman a failure.
func podmanPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("podman")
	if err != nil {
		if os.Getenv("CAPSTAN_REQUIRE_PODMAN") != "" {
			t.Fatalf("CAPSTAN_REQUIRE_PODMAN is set but podman is missing: %v (apt-get install podman buildah)", err)
		}
		t.Skipf("podman not found (apt-get install podman buildah): %v", err)
	}
	return p
}

// imagePod is one of the StatefulSet pods the test stands in for, on a
// loopback address of its own.
type imagePod struct{ name, ip string }

// imagePorts are the manifests' ports (statefulset.yaml: Raft and the
// API), which every pod uses on its own address.
var imagePorts = []string{"7001", "8081"}

// imagePods gives the three pods loopback addresses 127.X.Y.11-13, with
// X.Y picked at random for each run and passed over while any of their
// ports is taken: a fixed 127.0.0.11-13 made two runs at once on one
// machine (two checkouts' tests) fight over the same ports, and the
// loser's agents fail to bind or, worse, reach the other run's cluster.
// (CI runs the package once per machine, and nothing else there listens
// on 7001 or 8081.) A listener on all interfaces takes a port on every
// address, so the test then says so instead of trying forever.
func imagePods(t *testing.T) []imagePod {
	t.Helper()
	var taken error
	for range 20 {
		prefix := fmt.Sprintf("127.%d.%d.", 1+rand.IntN(254), rand.IntN(256))
		pods := []imagePod{{"capstan-0", prefix + "11"}, {"capstan-1", prefix + "12"}, {"capstan-2", prefix + "13"}}
		if taken = portsFree(pods); taken == nil {
			return pods
		}
	}
	t.Fatalf("no loopback addresses with the manifests' ports %v free: %v (a listener on all interfaces?)", imagePorts, taken)
	return nil
}

// portsFree reports the first of the pods' ports that cannot be bound.
func portsFree(pods []imagePod) error {
	for _, p := range pods {
		for _, port := range imagePorts {
			l, err := net.Listen("tcp", net.JoinHostPort(p.ip, port))
			if err != nil {
				return err
			}
			l.Close()
		}
	}
	return nil
}

// TestImageFormsACluster builds the image with `make image`, unpacks its
// filesystem (podman save), and starts three agents from the image's own
// binary with the Kubernetes manifests' arguments and configuration
// (statefulset.yaml, configmap.yaml), each pod's mounts laid out under a
// directory of its own; then checks that the three form a cluster and
// answer /readyz over TLS. Running containers does not work on the CI
// machines (cgroups), so the processes run on the host; what is tested is
// the image's content and the manifests' flags.
func TestImageFormsACluster(t *testing.T) {
	podman := podmanPath(t)
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	pods := imagePods(t)
	image := fmt.Sprintf("localhost/capstan:imagetest-%d", os.Getpid())

	// 1. make image, into a staging directory of the test's own.
	runCmd(t, root, "make", "image", "IMAGE="+image, "IMAGE_DIR="+filepath.Join(work, "context"), "VERSION=imagetest", "PODMAN="+podman)
	t.Cleanup(func() { exec.Command(podman, "rmi", "--force", image).Run() })

	// 2. The image's filesystem.
	archive := filepath.Join(work, "image.tar")
	runCmd(t, work, podman, "save", "--format", "docker-archive", "--output", archive, image)
	fsRoot := filepath.Join(work, "rootfs")
	unpackImage(t, archive, fsRoot)
	bin := filepath.Join(fsRoot, "usr/local/bin/capstan")
	for _, p := range []string{bin, filepath.Join(fsRoot, "etc/ssl/certs/ca-certificates.crt"), filepath.Join(fsRoot, "var/lib/capstan")} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("the image lacks %s: %v", strings.TrimPrefix(p, fsRoot), err)
		}
	}
	if out, err := exec.Command(bin, "version", "--client").CombinedOutput(); err != nil || !strings.Contains(string(out), "client: imagetest") {
		t.Fatalf("the image's binary: %v\n%s", err, out)
	}

	// 3. What the manifests mount: the cluster's certificates and tokens.
	secrets := filepath.Join(work, "secrets")
	hosts := make([]string, len(pods))
	names := make([]string, len(pods))
	for i, p := range pods {
		hosts[i], names[i] = p.ip, p.name
	}
	runCmd(t, work, bin, "tls", "init", "--dir", secrets, "--nodes", strings.Join(names, ","), "--hosts", strings.Join(hosts, ","))
	tokens := runCmd(t, work, bin, "token", "generate", "--name", "node", "--role", "admin", "--secret-file", filepath.Join(secrets, "node.secret"))
	secret, err := os.ReadFile(filepath.Join(secrets, "node.secret"))
	if err != nil {
		t.Fatal(err)
	}

	config := k8sConfigFile(t)
	var args [][]string
	for _, o := range loadK8s(t, "statefulset.yaml") {
		if o.Kind == "StatefulSet" {
			for _, p := range pods {
				args = append(args, podArgs(o.Spec.Template.Spec.Containers[0].Args, pods, p))
			}
		}
	}
	if len(args) != len(pods) {
		t.Fatal("statefulset.yaml has no StatefulSet")
	}

	// 4. Three agents, each with its pod's files under its own root.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i, p := range pods {
		podRoot := filepath.Join(work, p.name)
		files := map[string][]byte{
			"etc/capstan/agent.yaml":             []byte(rebase(config, podRoot)),
			"etc/capstan/tls/ca.crt":             readFile(t, filepath.Join(secrets, "ca.crt")),
			"etc/capstan/tls/" + p.name + ".crt": readFile(t, filepath.Join(secrets, p.name+".crt")),
			"etc/capstan/tls/" + p.name + ".key": readFile(t, filepath.Join(secrets, p.name+".key")),
			"etc/capstan/tokens/tokens.yaml":     []byte(tokens),
			"etc/capstan/tokens/node.secret":     secret,
		}
		for name, data := range files {
			path := filepath.Join(podRoot, name)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(filepath.Join(podRoot, "var/lib/capstan"), 0o700); err != nil {
			t.Fatal(err)
		}
		podArgs := make([]string, len(args[i]))
		for k, a := range args[i] {
			podArgs[k] = rebase(a, podRoot)
		}
		log, err := os.Create(filepath.Join(work, p.name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(ctx, bin, podArgs...)
		cmd.Stdout, cmd.Stderr = log, log
		cmd.WaitDelay = 5 * time.Second
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
			log.Close()
			if t.Failed() {
				data, _ := os.ReadFile(log.Name())
				t.Logf("%s log:\n%s", p.name, lastLines(string(data), 30))
			}
		})
	}

	// 5. The cluster forms: every node ready (a leader known, caught up),
	// and three voters with one leader.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(readFile(t, filepath.Join(secrets, "ca.crt")))
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	deadline := time.Now().Add(60 * time.Second)
	for _, p := range pods {
		url := "https://" + p.ip + ":8081/readyz"
		for {
			resp, err := hc.Get(url)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not ready within 60s (last: %v)", url, err)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	out := runCmd(t, work, bin, "status", "-o", "json", "--addr", "https://"+pods[0].ip+":8081",
		"--ca-cert", filepath.Join(secrets, "ca.crt"), "--token", strings.TrimSpace(string(secret)))
	var rep statusReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, out)
	}
	leaders := 0
	for _, m := range rep.Cluster.Members {
		if m.Role == "leader" {
			leaders++
		}
	}
	if len(rep.Cluster.Members) != 3 || leaders != 1 || rep.Cluster.Version != "imagetest" {
		t.Errorf("cluster: %d members, %d leaders, version %q; want 3, 1, imagetest\n%s", len(rep.Cluster.Members), leaders, rep.Cluster.Version, out)
	}
}

// runCmd runs a command in dir and returns its standard output, failing the
// test with its output when it fails.
func runCmd(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// k8sConfigFile returns agent.yaml of the manifests' ConfigMap.
func k8sConfigFile(t *testing.T) string {
	t.Helper()
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(readDeploy(t, "kubernetes/configmap.yaml"), &cm); err != nil {
		t.Fatal(err)
	}
	c, ok := cm.Data["agent.yaml"]
	if !ok {
		t.Fatal("configmap.yaml has no agent.yaml")
	}
	return c
}

// podDNS matches a pod's name in the headless service, as the manifests
// write it once $(POD_NAME) is expanded.
var podDNS = regexp.MustCompile(`(capstan-[0-9]+)\.capstan-peers\.\$\(POD_NAMESPACE\)\.svc\.cluster\.local`)

// podArgs expands the StatefulSet's arguments for one pod as Kubernetes
// would, with each pod's DNS name replaced by its loopback address and
// the all-interfaces binds by that address (three pods share one host).
func podArgs(args []string, pods []imagePod, pod imagePod) []string {
	out := make([]string, len(args))
	for i, a := range args {
		a = strings.ReplaceAll(a, "$(POD_NAME)", pod.name)
		a = podDNS.ReplaceAllStringFunc(a, func(m string) string {
			name := podDNS.FindStringSubmatch(m)[1]
			for _, p := range pods {
				if p.name == name {
					return p.ip
				}
			}
			return m
		})
		out[i] = strings.ReplaceAll(a, "0.0.0.0", pod.ip)
	}
	return out
}

// rebase moves the pod's absolute mount paths under root.
func rebase(s, root string) string {
	for _, dir := range []string{"/etc/capstan", "/var/lib/capstan"} {
		s = strings.ReplaceAll(s, dir, filepath.Join(root, dir))
	}
	return s
}

// unpackImage extracts a docker-archive's layers, in order, into dir.
func unpackImage(t *testing.T, archive, dir string) {
	t.Helper()
	files := map[string][]byte{}
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[h.Name] = data
		}
	}
	var manifest []struct{ Layers []string }
	if err := json.Unmarshal(files["manifest.json"], &manifest); err != nil || len(manifest) != 1 {
		t.Fatalf("image archive manifest: %v (%d images)", err, len(manifest))
	}
	for _, layer := range manifest[0].Layers {
		lr := tar.NewReader(bytes.NewReader(files[layer]))
		for {
			h, err := lr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("layer %s: %v", layer, err)
			}
			path := filepath.Join(dir, filepath.Clean("/"+h.Name))
			switch h.Typeflag {
			case tar.TypeDir:
				err = os.MkdirAll(path, 0o755)
			case tar.TypeReg:
				if err = os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
					var data []byte
					if data, err = io.ReadAll(lr); err == nil {
						err = os.WriteFile(path, data, os.FileMode(h.Mode)&0o777)
					}
				}
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
