package main

// Tests of the deployment files in examples/deploy: they parse, the
// Kubernetes objects have the shape the README promises, the alert rules
// pass promtool, and the dashboard and the alerts use only metrics the
// code defines. deploy_flags_test.go checks their command lines and config
// keys against the real commands.

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// deployDir holds the deployment files; repoRoot the module, whose Go
// sources define the metrics.
const (
	deployDir = "../../examples/deploy"
	repoRoot  = "../.."
)

// minStopGrace is the least time every deployment gives an agent between
// SIGTERM and SIGKILL: a leader transfers leadership (an election's few
// seconds), stops Raft, then drains the API for up to 5 s.
const minStopGrace = 30 * time.Second

// decodeYAMLDocs decodes every document of a YAML stream into a generic
// value, so that a file that does not parse fails with its name and line.
func decodeYAMLDocs(data []byte) ([]any, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []any
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return docs, err
		}
		if v != nil {
			docs = append(docs, v)
		}
	}
}

// deployFiles lists the files under examples/deploy whose names end in
// one of exts.
func deployFiles(t *testing.T, exts ...string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(deployDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && slices.Contains(exts, filepath.Ext(path)) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no %v files under %s", exts, deployDir)
	}
	return files
}

func readDeploy(t *testing.T, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(deployDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestDeployYAMLParses(t *testing.T) {
	for _, f := range deployFiles(t, ".yaml", ".yml") {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := decodeYAMLDocs(data)
		if err != nil {
			t.Errorf("%s: %v", f, err)
		} else if len(docs) == 0 {
			t.Errorf("%s: no YAML document", f)
		}
	}
}

// k8sObject is the part of a Kubernetes object these tests look at; the
// files were checked once against the real API types by a strict decode.
type k8sObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		// Service
		ClusterIP                string `yaml:"clusterIP"`
		PublishNotReadyAddresses bool   `yaml:"publishNotReadyAddresses"`
		Ports                    []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
		// Service selector, or the workload's and the PDB's label selector.
		Selector yaml.Node `yaml:"selector"`
		// PodDisruptionBudget
		MaxUnavailable *int `yaml:"maxUnavailable"`
		// StatefulSet
		Replicas             int    `yaml:"replicas"`
		ServiceName          string `yaml:"serviceName"`
		PodManagementPolicy  string `yaml:"podManagementPolicy"`
		VolumeClaimTemplates []struct {
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
		} `yaml:"volumeClaimTemplates"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec k8sPodSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type k8sPodSpec struct {
	ServiceAccountName            string `yaml:"serviceAccountName"`
	TerminationGracePeriodSeconds int    `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               struct {
		RunAsNonRoot *bool `yaml:"runAsNonRoot"`
		RunAsUser    int   `yaml:"runAsUser"`
	} `yaml:"securityContext"`
	Containers []struct {
		Name  string   `yaml:"name"`
		Args  []string `yaml:"args"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		LivenessProbe  k8sProbe `yaml:"livenessProbe"`
		ReadinessProbe k8sProbe `yaml:"readinessProbe"`
		Resources      struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		SecurityContext struct {
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
			Capabilities             struct {
				Drop []string `yaml:"drop"`
			} `yaml:"capabilities"`
		} `yaml:"securityContext"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
	} `yaml:"containers"`
	Volumes []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
}

type k8sProbe struct {
	HTTPGet struct {
		Path   string `yaml:"path"`
		Port   string `yaml:"port"`
		Scheme string `yaml:"scheme"`
	} `yaml:"httpGet"`
}

// loadK8s decodes every object of the given files in kubernetes/.
func loadK8s(t *testing.T, files ...string) []k8sObject {
	t.Helper()
	var objs []k8sObject
	for _, f := range files {
		dec := yaml.NewDecoder(bytes.NewReader(readDeploy(t, filepath.Join("kubernetes", f))))
		for {
			var o k8sObject
			err := dec.Decode(&o)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("kubernetes/%s: %v", f, err)
			}
			if o.Kind == "" || o.APIVersion == "" || o.Metadata.Name == "" {
				t.Fatalf("kubernetes/%s: an object without kind, apiVersion or name: %+v", f, o)
			}
			objs = append(objs, o)
		}
	}
	return objs
}

// kustomizeResources is what kubernetes/kustomization.yaml applies.
func kustomizeResources(t *testing.T) []string {
	t.Helper()
	var k struct {
		Resources []string `yaml:"resources"`
	}
	if err := yaml.Unmarshal(readDeploy(t, "kubernetes/kustomization.yaml"), &k); err != nil {
		t.Fatal(err)
	}
	return k.Resources
}

// matchLabels reads a selector: a Service's plain map or a workload's
// {matchLabels: ...}.
func matchLabels(t *testing.T, n yaml.Node) map[string]string {
	t.Helper()
	var sel struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	}
	if err := n.Decode(&sel); err == nil && len(sel.MatchLabels) > 0 {
		return sel.MatchLabels
	}
	var m map[string]string
	if err := n.Decode(&m); err != nil {
		t.Fatalf("selector: %v", err)
	}
	return m
}

// selects reports whether selector picks a pod with labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestDeployKustomizationListsEveryManifest(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join(deployDir, "kubernetes"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, e := range entries {
		// The Secrets are made from the user's files, never applied from
		// the example.
		if n := e.Name(); strings.HasSuffix(n, ".yaml") && n != "kustomization.yaml" && n != "secrets.example.yaml" {
			want = append(want, n)
		}
	}
	got := slices.Clone(kustomizeResources(t))
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("kustomization.yaml resources %v, want every manifest %v", got, want)
	}
}

func TestDeployKubernetesObjects(t *testing.T) {
	objs := loadK8s(t, kustomizeResources(t)...)
	byKind := map[string][]k8sObject{}
	for _, o := range objs {
		byKind[o.Kind] = append(byKind[o.Kind], o)
	}
	for kind, n := range map[string]int{"StatefulSet": 1, "Service": 2, "PodDisruptionBudget": 1, "ConfigMap": 1, "ServiceAccount": 1} {
		if len(byKind[kind]) != n {
			t.Errorf("%d %s objects, want %d", len(byKind[kind]), kind, n)
		}
	}
	if t.Failed() {
		return
	}
	sts := byKind["StatefulSet"][0]
	spec, pod := sts.Spec, sts.Spec.Template.Spec
	podLabels := sts.Spec.Template.Metadata.Labels
	if spec.Replicas != 3 || spec.PodManagementPolicy != "Parallel" {
		t.Errorf("StatefulSet: replicas %d, podManagementPolicy %q; want 3 and Parallel (a forming cluster needs all three at once)", spec.Replicas, spec.PodManagementPolicy)
	}
	if !selects(matchLabels(t, spec.Selector), podLabels) {
		t.Errorf("StatefulSet selector does not match its pod labels %v", podLabels)
	}
	if len(spec.VolumeClaimTemplates) != 1 {
		t.Fatalf("StatefulSet: %d volumeClaimTemplates, want 1 for the data directory", len(spec.VolumeClaimTemplates))
	}
	if g := time.Duration(pod.TerminationGracePeriodSeconds) * time.Second; g < minStopGrace {
		t.Errorf("terminationGracePeriodSeconds %s, want at least %s for a leadership transfer", g, minStopGrace)
	}
	if pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot || pod.SecurityContext.RunAsUser == 0 {
		t.Errorf("pod securityContext %+v: want runAsNonRoot and a non-zero runAsUser", pod.SecurityContext)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("probes: liveness %q, readiness %q; want /healthz and /readyz", c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path)
	}
	sc := c.SecurityContext
	if !sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("container securityContext %+v: want readOnlyRootFilesystem, no privilege escalation, drop ALL", sc)
	}
	if c.Resources.Requests["cpu"] == "" || c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
		t.Errorf("resources %+v: want cpu and memory requests and a memory limit", c.Resources)
	}
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	if ports["http"] == 0 || ports["raft"] == 0 {
		t.Errorf("container ports %v: want http and raft", ports)
	}
	for _, probe := range []k8sProbe{c.LivenessProbe, c.ReadinessProbe} {
		if probe.HTTPGet.Port != "http" {
			t.Errorf("probe on port %q, want the http port", probe.HTTPGet.Port)
		}
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	if mounts[spec.VolumeClaimTemplates[0].Metadata.Name] != "/var/lib/capstan" {
		t.Errorf("the volume claim %q is mounted at %q, want /var/lib/capstan", spec.VolumeClaimTemplates[0].Metadata.Name, mounts[spec.VolumeClaimTemplates[0].Metadata.Name])
	}

	// Every ConfigMap and Secret the pod mounts is one of the manifests or
	// one of the example Secrets the README has the user create.
	have := map[string]bool{}
	for _, o := range append(objs, loadK8s(t, "secrets.example.yaml")...) {
		have[o.Kind+"/"+o.Metadata.Name] = true
	}
	for _, v := range pod.Volumes {
		switch {
		case v.ConfigMap != nil && !have["ConfigMap/"+v.ConfigMap.Name]:
			t.Errorf("volume %s: no ConfigMap %q", v.Name, v.ConfigMap.Name)
		case v.Secret != nil && !have["Secret/"+v.Secret.SecretName]:
			t.Errorf("volume %s: no Secret %q in secrets.example.yaml", v.Name, v.Secret.SecretName)
		}
		if _, ok := mounts[v.Name]; !ok {
			t.Errorf("volume %s is not mounted", v.Name)
		}
	}
	if !have["ServiceAccount/"+pod.ServiceAccountName] {
		t.Errorf("serviceAccountName %q is not among the manifests", pod.ServiceAccountName)
	}

	// The headless Service named by serviceName gives the pods their DNS
	// names, also before they are ready; the other one serves clients.
	var headless, client int
	for _, svc := range byKind["Service"] {
		if !selects(matchLabels(t, svc.Spec.Selector), podLabels) {
			t.Errorf("Service %s does not select the agents' pods", svc.Metadata.Name)
		}
		for _, p := range svc.Spec.Ports {
			if ports[p.TargetPort] != p.Port {
				t.Errorf("Service %s port %s: %d -> %q, want the container's port of that name (%v)", svc.Metadata.Name, p.Name, p.Port, p.TargetPort, ports)
			}
		}
		if svc.Metadata.Name == spec.ServiceName {
			headless++
			if svc.Spec.ClusterIP != "None" || !svc.Spec.PublishNotReadyAddresses {
				t.Errorf("Service %s: clusterIP %q, publishNotReadyAddresses %v; want a headless Service publishing not-ready pods", svc.Metadata.Name, svc.Spec.ClusterIP, svc.Spec.PublishNotReadyAddresses)
			}
		} else {
			client++
		}
	}
	if headless != 1 || client != 1 {
		t.Errorf("%d headless Service named %q and %d client Service, want one of each", headless, spec.ServiceName, client)
	}

	pdb := byKind["PodDisruptionBudget"][0]
	if pdb.Spec.MaxUnavailable == nil || *pdb.Spec.MaxUnavailable != 1 || !selects(matchLabels(t, pdb.Spec.Selector), podLabels) {
		t.Errorf("PodDisruptionBudget: want maxUnavailable 1 over the agents' pods")
	}
	if _, err := decodeYAMLDocs([]byte(byKind["ConfigMap"][0].Data["agent.yaml"])); err != nil {
		t.Errorf("ConfigMap agent.yaml: %v", err)
	}
}

// composeFile is the part of docker-compose.yml these tests read.
type composeFile struct {
	Services map[string]struct {
		Command         []string `yaml:"command"`
		StopGracePeriod string   `yaml:"stop_grace_period"`
		Volumes         []string `yaml:"volumes"`
		Secrets         []string `yaml:"secrets"`
		Healthcheck     struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
	Secrets map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	if err := yaml.Unmarshal(readDeploy(t, "docker-compose.yml"), &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

func TestDeployComposeCluster(t *testing.T) {
	c := loadCompose(t)
	agents := 0
	for name, s := range c.Services {
		if len(s.Command) == 0 {
			t.Errorf("service %s: no command", name)
			continue
		}
		if s.Command[0] != "agent" {
			continue
		}
		agents++
		if !slices.Contains(s.Command, "--bootstrap-expect=3") || !slices.ContainsFunc(s.Command, func(a string) bool { return strings.HasPrefix(a, "--join=") }) {
			t.Errorf("service %s: want --bootstrap-expect=3 and --join in %v", name, s.Command)
		}
		if !slices.ContainsFunc(s.Volumes, func(v string) bool { return strings.HasSuffix(v, ":/var/lib/capstan") }) {
			t.Errorf("service %s: no volume on /var/lib/capstan (%v)", name, s.Volumes)
		}
		if g, err := time.ParseDuration(s.StopGracePeriod); err != nil || g < minStopGrace {
			t.Errorf("service %s: stop_grace_period %q, want at least %s", name, s.StopGracePeriod, minStopGrace)
		}
		if len(s.Healthcheck.Test) < 3 || s.Healthcheck.Test[0] != "CMD" || !slices.Contains(s.Healthcheck.Test, "health") {
			t.Errorf("service %s: healthcheck %v, want [CMD capstan health ...]", name, s.Healthcheck.Test)
		}
		for _, sec := range s.Secrets {
			if _, ok := c.Secrets[sec]; !ok {
				t.Errorf("service %s: secret %s is not declared", name, sec)
			}
		}
	}
	if agents != 3 {
		t.Errorf("%d agent services, want 3", agents)
	}
	for name, sec := range c.Secrets {
		if !strings.HasPrefix(sec.File, "./secrets/") || strings.Contains(sec.File, "ca.key") {
			t.Errorf("secret %s from %q: want a file in ./secrets, never the CA's key", name, sec.File)
		}
	}
}

// dockerfileStages splits a Dockerfile into its stages' instructions
// (continuation lines joined, comments dropped).
func dockerfileStages(data []byte) [][]string {
	var stages [][]string
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		if strings.HasPrefix(strings.ToUpper(line), "FROM ") || len(stages) == 0 {
			stages = append(stages, nil)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], line)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if t := strings.TrimSpace(l); strings.HasPrefix(t, "#") {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cur.WriteString(strings.TrimSuffix(l, "\\") + " ")
			continue
		}
		cur.WriteString(l)
		flush()
	}
	flush()
	return stages
}

func TestDeployDockerfile(t *testing.T) {
	stages := dockerfileStages(readDeploy(t, "Dockerfile"))
	if len(stages) < 3 {
		t.Fatalf("%d stages (ARG prelude included), want a build stage and a final stage", len(stages))
	}
	build := strings.Join(stages[len(stages)-2], "\n")
	for _, want := range []string{"FROM --platform=$BUILDPLATFORM golang:", "--mount=type=cache,target=/go/pkg/mod", "CGO_ENABLED=0", "-trimpath", "-X main.version=", "./cmd/capstan"} {
		if !strings.Contains(build, want) {
			t.Errorf("build stage lacks %q", want)
		}
	}
	final := stages[len(stages)-1]
	get := func(instr string) []string {
		var out []string
		for _, l := range final {
			if f := strings.Fields(l); len(f) > 1 && strings.EqualFold(f[0], instr) {
				out = append(out, strings.TrimSpace(l[len(f[0]):]))
			}
		}
		return out
	}
	if from := get("FROM"); len(from) != 1 || !(strings.HasPrefix(from[0], "gcr.io/distroless/static") || from[0] == "scratch") {
		t.Errorf("final stage FROM %v, want distroless static or scratch", from)
	}
	if user := get("USER"); len(user) != 1 || strings.HasPrefix(user[0], "0") || strings.HasPrefix(user[0], "root") {
		t.Errorf("final stage USER %v, want one non-root user", user)
	}
	if vol := get("VOLUME"); len(vol) != 1 || !strings.Contains(vol[0], "/var/lib/capstan") {
		t.Errorf("final stage VOLUME %v, want /var/lib/capstan", vol)
	}
	if ep := get("ENTRYPOINT"); len(ep) != 1 || !strings.HasSuffix(ep[0], `/capstan"]`) {
		t.Errorf("ENTRYPOINT %v, want the capstan binary (exec form)", ep)
	}
	// The exposed ports are the ones the Kubernetes pods name.
	expose := strings.Fields(strings.Join(get("EXPOSE"), " "))
	for _, o := range loadK8s(t, "statefulset.yaml") {
		for _, p := range o.Spec.Template.Spec.Containers[0].Ports {
			if !slices.Contains(expose, strconv.Itoa(p.ContainerPort)) {
				t.Errorf("EXPOSE %v lacks the %s port %d", expose, p.Name, p.ContainerPort)
			}
		}
	}
}

// systemdUnit parses a unit file into section -> key -> values (a key may
// repeat; an empty assignment is kept as "").
func systemdUnit(data []byte) map[string]map[string][]string {
	unit := map[string]map[string][]string{}
	section := ""
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, ";"):
		case strings.HasPrefix(l, "[") && strings.HasSuffix(l, "]"):
			section = strings.Trim(l, "[]")
			unit[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(l, "=")
			if ok && section != "" {
				unit[section][strings.TrimSpace(k)] = append(unit[section][strings.TrimSpace(k)], strings.TrimSpace(v))
			}
		}
	}
	return unit
}

func TestDeploySystemdUnit(t *testing.T) {
	svc := systemdUnit(readDeploy(t, "systemd/capstan.service"))["Service"]
	if svc == nil {
		t.Fatal("no [Service] section")
	}
	one := func(k string) string {
		if v := svc[k]; len(v) == 1 {
			return v[0]
		}
		t.Errorf("%s: %v, want exactly one", k, svc[k])
		return ""
	}
	for k, want := range map[string]string{
		"KillSignal": "SIGTERM", "Restart": "on-failure", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
		"PrivateTmp": "yes", "ProtectHome": "yes", "CapabilityBoundingSet": "", "StateDirectory": "capstan",
	} {
		if got := one(k); got != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
	if u := one("User"); (u == "" || u == "root") && one("DynamicUser") != "yes" {
		t.Errorf("User=%q: want a dedicated user or DynamicUser=yes", u)
	}
	if r := one("ExecReload"); !strings.Contains(r, "-HUP $MAINPID") {
		t.Errorf("ExecReload=%q, want SIGHUP to the main process", r)
	}
	if d, err := time.ParseDuration(one("TimeoutStopSec")); err != nil || d < minStopGrace {
		t.Errorf("TimeoutStopSec=%v, want at least %s", svc["TimeoutStopSec"], minStopGrace)
	}
	if s := one("ExecStart"); !strings.HasSuffix(s, "capstan agent --config /etc/capstan/agent.yaml") {
		t.Errorf("ExecStart=%q, want capstan agent --config /etc/capstan/agent.yaml", s)
	}
}

// metricNameRE finds capstan_* names in dashboards, rules and Go source.
var metricNameRE = regexp.MustCompile(`capstan_[a-z0-9_]*[a-z0-9]`)

// goDefinedNames returns every "capstan_..." string literal in the
// module's non-test Go files: metric names are defined as literals.
func goDefinedNames(t *testing.T) map[string]bool {
	t.Helper()
	lit := regexp.MustCompile(`"(capstan_[a-z0-9_]+)"`)
	names := map[string]bool{}
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "bin", "out", "examples", "node_modules":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range lit.FindAllSubmatch(data, -1) {
			names[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// undefinedMetrics returns the capstan_* names in text that defined lacks;
// histogram series (_bucket, _count, _sum) count as their family.
func undefinedMetrics(text string, defined map[string]bool) []string {
	var missing []string
	for _, name := range metricNameRE.FindAllString(text, -1) {
		family := name
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && defined[base] {
				family = base
			}
		}
		if !defined[family] && !slices.Contains(missing, name) {
			missing = append(missing, name)
		}
	}
	return missing
}

func TestUndefinedMetrics(t *testing.T) {
	defined := map[string]bool{"capstan_a_total": true, "capstan_lat_seconds": true}
	got := undefinedMetrics(`rate(capstan_a_total[5m]) capstan_lat_seconds_bucket capstan_lat_seconds_count capstan_c_bucket capstan_b capstan_b`, defined)
	if want := []string{"capstan_c_bucket", "capstan_b"}; !slices.Equal(got, want) {
		t.Errorf("undefinedMetrics = %v, want %v", got, want)
	}
}

func TestDeployMetricsAreDefined(t *testing.T) {
	defined := goDefinedNames(t)
	if !defined["capstan_raft_leader"] {
		t.Fatalf("found no metric definitions in the Go source (%d names)", len(defined))
	}
	for _, f := range []string{"grafana/capstan-dashboard.json", "prometheus/alerts.yml", "prometheus/alerts_test.yml"} {
		text := string(readDeploy(t, f))
		if !metricNameRE.MatchString(text) {
			t.Errorf("%s uses no capstan_* metric", f)
		}
		for _, name := range undefinedMetrics(text, defined) {
			t.Errorf("%s uses %s, which no Go file defines", f, name)
		}
	}
}

// grafanaPanel is the part of a dashboard panel the tests check.
type grafanaPanel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource *grafanaDS      `json:"datasource"`
	GridPos    map[string]int  `json:"gridPos"`
	Panels     []grafanaPanel  `json:"panels"`
	Targets    []grafanaTarget `json:"targets"`
}

type grafanaDS struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaTarget struct {
	RefID      string     `json:"refId"`
	Expr       string     `json:"expr"`
	Datasource *grafanaDS `json:"datasource"`
}

type grafanaDashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []grafanaPanel `json:"panels"`
}

// dashboardPanels returns the dashboard's panels, those inside collapsed
// rows included, rows themselves excluded.
func dashboardPanels(d grafanaDashboard) []grafanaPanel {
	var out []grafanaPanel
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			out = append(out, p)
		}
	}
	walk(d.Panels)
	return out
}

func loadDashboard(t *testing.T) grafanaDashboard {
	t.Helper()
	var d grafanaDashboard
	if err := json.Unmarshal(readDeploy(t, "grafana/capstan-dashboard.json"), &d); err != nil {
		t.Fatalf("grafana/capstan-dashboard.json: %v", err)
	}
	return d
}

func TestDeployDashboard(t *testing.T) {
	d := loadDashboard(t)
	if d.Title == "" || d.UID == "" {
		t.Errorf("dashboard title %q, uid %q: want both", d.Title, d.UID)
	}
	dsVar := ""
	for _, v := range d.Templating.List {
		if v.Type == "datasource" && v.Query == "prometheus" {
			dsVar = "${" + v.Name + "}"
		}
	}
	if dsVar == "" {
		t.Fatal("no Prometheus data source variable in templating")
	}
	panels := dashboardPanels(d)
	if len(panels) < 20 {
		t.Errorf("%d panels, want the full set (cluster, evaluations, cloud, ingest, sources, API)", len(panels))
	}
	ids := map[int]string{}
	for _, p := range panels {
		name := strconv.Quote(p.Title)
		if prev, dup := ids[p.ID]; dup || p.ID == 0 {
			t.Errorf("panel %s: id %d is missing or also %s's", name, p.ID, prev)
		}
		ids[p.ID] = name
		if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != dsVar {
			t.Errorf("panel %s: datasource %+v, want the %s variable", name, p.Datasource, dsVar)
		}
		if p.GridPos["w"] <= 0 || p.GridPos["h"] <= 0 || p.GridPos["x"]+p.GridPos["w"] > 24 {
			t.Errorf("panel %s: gridPos %v", name, p.GridPos)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %s: no targets", name)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" || tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("panel %s: target %+v needs an expression and a unique refId", name, tg)
			}
			refs[tg.RefID] = true
			if tg.Datasource == nil || tg.Datasource.UID != dsVar {
				t.Errorf("panel %s target %s: datasource %+v, want %s", name, tg.RefID, tg.Datasource, dsVar)
			}
		}
	}
}

// promtoolPath finds promtool (Debian's prometheus package has it). It
// skips the test when missing, unless CAPSTAN_REQUIRE_PROMETHEUS is set
// (as in CI), which makes a missing promtool a failure.
func promtoolPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if _, serr := os.Stat("/usr/bin/promtool"); serr == nil {
			return "/usr/bin/promtool"
		}
		if os.Getenv("CAPSTAN_REQUIRE_PROMETHEUS") != "" {
			t.Fatalf("CAPSTAN_REQUIRE_PROMETHEUS is set but promtool is missing: %v (apt-get install prometheus)", err)
		}
		t.Skipf("promtool not found (apt-get install prometheus): %v", err)
	}
	return p
}

func runPromtool(t *testing.T, promtool, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command(promtool, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestDeployPromtool(t *testing.T) {
	promtool := promtoolPath(t)
	dir, err := filepath.Abs(filepath.Join(deployDir, "prometheus"))
	if err != nil {
		t.Fatal(err)
	}
	runPromtool(t, promtool, dir, "check", "rules", "alerts.yml")
	runPromtool(t, promtool, dir, "test", "rules", "alerts_test.yml")

	// The scrape config, with stand-ins for the token and CA files it
	// names (promtool checks that they exist).
	tmp := t.TempDir()
	for _, f := range []string{"prometheus.yml", "alerts.yml"} {
		copyFile(t, filepath.Join(dir, f), filepath.Join(tmp, f))
	}
	if err := os.MkdirAll(filepath.Join(tmp, "capstan"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"read-token", "ca.pem"} {
		if err := os.WriteFile(filepath.Join(tmp, "capstan", f), []byte("stand-in\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	runPromtool(t, promtool, tmp, "check", "config", "prometheus.yml")

	// Every dashboard query parses as PromQL once Grafana's variables are
	// replaced: promtool checks them as recording rules.
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	vars := strings.NewReplacer("$__rate_interval", "5m", "$job", "capstan", "$instance", ".+")
	for _, p := range dashboardPanels(loadDashboard(t)) {
		for _, tg := range p.Targets {
			rules = append(rules, rule{Record: "dashboard:panel" + strconv.Itoa(p.ID) + ":" + tg.RefID, Expr: vars.Replace(tg.Expr)})
		}
	}
	doc, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "dashboard-rules.yml"), doc, 0o644); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, promtool, tmp, "check", "rules", "dashboard-rules.yml")
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// mdLinkRE finds relative Markdown links: [text](path).
var mdLinkRE = regexp.MustCompile(`\]\(([^)#:\s]+)(#[^)]*)?\)`)

func TestDeployReadmeLinks(t *testing.T) {
	readme := string(readDeploy(t, "README.md"))
	links := mdLinkRE.FindAllStringSubmatch(readme, -1)
	if len(links) == 0 {
		t.Fatal("README.md links to none of the files")
	}
	for _, m := range links {
		if _, err := os.Stat(filepath.Join(deployDir, m[1])); err != nil {
			t.Errorf("README.md links to %s: %v", m[1], err)
		}
	}
	main, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(main), "(examples/deploy/README.md)") && !strings.Contains(string(main), "(examples/deploy/)") {
		t.Error("the main README.md does not link examples/deploy/README.md")
	}
}
