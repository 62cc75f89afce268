package main

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// checkCommandLine reports what in args (a capstan command line without
// the binary) the real command tree does not know: the subcommand, and
// every --flag and -f given to it.
func checkCommandLine(args []string) []string {
	root := newRootCommand(io.Discard, io.Discard)
	cmd, rest, err := root.Find(args)
	if err != nil {
		return []string{err.Error()}
	}
	// Find leaves the flags and the positional arguments.
	cmd.InitDefaultHelpFlag()
	var problems, positional []string
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		var fl interface{ Type() string }
		switch {
		case strings.HasPrefix(a, "--"):
			name, _, _ := strings.Cut(a[2:], "=")
			if f := cmd.Flags().Lookup(name); f != nil {
				fl = f.Value
				if !strings.Contains(a, "=") && f.Value.Type() != "bool" {
					i++ // the flag's value
				}
			} else if f := cmd.InheritedFlags().Lookup(name); f != nil {
				fl = f.Value
			}
		case strings.HasPrefix(a, "-") && len(a) == 2:
			if f := cmd.Flags().ShorthandLookup(a[1:]); f != nil {
				fl = f.Value
				if f.Value.Type() != "bool" {
					i++
				}
			}
		default:
			positional = append(positional, a)
			continue
		}
		if fl == nil {
			problems = append(problems, fmt.Sprintf("%s: no such flag on %q", a, cmd.CommandPath()))
		}
	}
	switch {
	case len(positional) > 0 && cmd.HasSubCommands() && !cmd.Runnable():
		problems = append(problems, fmt.Sprintf("%q: no such subcommand of %q", positional[0], cmd.CommandPath()))
	case cmd.ValidateArgs(positional) != nil:
		problems = append(problems, fmt.Sprintf("%q: %v", cmd.CommandPath(), cmd.ValidateArgs(positional)))
	}
	return problems
}

func TestCheckCommandLine(t *testing.T) {
	tests := []struct {
		args []string
		bad  bool
	}{
		{[]string{"agent", "--node-id=n1", "--join", "a:1,b:2", "--gcp-no-auth", "--config", "x.yaml"}, false},
		{[]string{"fakecloud", "--addr", "0.0.0.0:7070", "--auto-create"}, false},
		{[]string{"--help"}, false},
		{[]string{"policy", "apply", "-f", "p.yaml"}, false},
		{[]string{"decisions", "demo", "--limit", "5"}, false},
		{[]string{"agent", "--no-such-flag=1"}, true},
		{[]string{"agent", "--node-id", "n1", "--nodeid", "n2"}, true},
		{[]string{"agent", "extra"}, true},
		{[]string{"agnet", "--node-id=n1"}, true},
		{[]string{"policy", "aply", "-f", "p.yaml"}, true},
		{[]string{"decisions"}, true},
	}
	for _, tc := range tests {
		if got := checkCommandLine(tc.args); (len(got) > 0) != tc.bad {
			t.Errorf("checkCommandLine(%q) = %q, want problems: %v", tc.args, got, tc.bad)
		}
	}
}

// deployCommandLines gathers every capstan command line in the deployment
// files, each with where it comes from.
func deployCommandLines(t *testing.T) map[string][]string {
	t.Helper()
	lines := map[string][]string{}

	for _, stage := range dockerfileStages(readDeploy(t, "Dockerfile")) {
		for _, l := range stage {
			f := strings.Fields(l)
			if len(f) < 2 || (f[0] != "CMD" && f[0] != "ENTRYPOINT") {
				continue
			}
			var args []string
			if err := yaml.Unmarshal([]byte(strings.TrimSpace(l[len(f[0]):])), &args); err != nil {
				t.Fatalf("Dockerfile %s: want the exec (JSON) form: %v", f[0], err)
			}
			if f[0] == "ENTRYPOINT" {
				continue // the binary itself
			}
			lines["Dockerfile CMD"] = args
		}
	}

	c := loadCompose(t)
	for name, s := range c.Services {
		lines["docker-compose.yml "+name+" command"] = s.Command
		if test := s.Healthcheck.Test; len(test) > 2 && strings.HasSuffix(test[1], "/capstan") {
			lines["docker-compose.yml "+name+" healthcheck"] = test[2:]
		}
	}

	for _, o := range loadK8s(t, kustomizeResources(t)...) {
		for _, ctr := range o.Spec.Template.Spec.Containers {
			lines["kubernetes "+o.Metadata.Name+" container "+ctr.Name] = ctr.Args
		}
	}

	exec := systemdUnit(readDeploy(t, "systemd/capstan.service"))["Service"]["ExecStart"]
	if len(exec) != 1 {
		t.Fatalf("systemd ExecStart: %v", exec)
	}
	lines["systemd ExecStart"] = strings.Fields(exec[0])[1:]

	// The README's shell commands that run the binary.
	for i, l := range readmeCommands(string(readDeploy(t, "README.md"))) {
		lines[fmt.Sprintf("README.md command %d (%s)", i+1, strings.Join(l, " "))] = l
	}
	return lines
}

// shellStopRE ends a command at a pipe, a redirection, a comment or the
// next command.
var shellStopRE = regexp.MustCompile(`\s(\||&&|;|>|2>|#|&$)`)

// readmeCommands returns the arguments of each line in a fenced code
// block that runs bin/capstan, capstan or ../../bin/capstan (continuation
// lines joined).
func readmeCommands(md string) [][]string {
	var out [][]string
	inCode := false
	var cur string
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			inCode = !inCode
			continue
		}
		if !inCode {
			continue
		}
		if s, ok := strings.CutSuffix(l, "\\"); ok {
			cur += s + " "
			continue
		}
		line := cur + l
		cur = ""
		if m := shellStopRE.FindStringIndex(line); m != nil {
			line = line[:m[0]]
		}
		f := shellFields(line)
		// kubectl exec POD -- capstan ...: the part after "--".
		for i, w := range f {
			if w == "--" && i+1 < len(f) {
				f = f[i+1:]
				break
			}
		}
		if len(f) > 0 && (f[0] == "capstan" || strings.HasSuffix(f[0], "bin/capstan")) {
			out = append(out, f[1:])
		}
	}
	return out
}

// shellFields splits a command line into words as a shell would for the
// simple lines of a README: at blanks, except inside quotes, which it
// removes.
func shellFields(line string) []string {
	var words []string
	var w strings.Builder
	inWord := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			w.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

func TestShellFields(t *testing.T) {
	got := shellFields(`  capstan status --token "$(cat a b)" --x='' y  `)
	want := []string{"capstan", "status", "--token", "$(cat a b)", "--x=", "y"}
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Errorf("shellFields = %q, want %q", got, want)
	}
}

func TestReadmeCommands(t *testing.T) {
	md := "text bin/capstan nope\n```sh\nbin/capstan status   # comment\n../../bin/capstan tls init --dir d \\\n  --nodes a,b\nkubectl exec p -- capstan health --addr x | cat\necho capstan\n```\n"
	got := readmeCommands(md)
	want := [][]string{{"status"}, {"tls", "init", "--dir", "d", "--nodes", "a,b"}, {"health", "--addr", "x"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("readmeCommands = %q, want %q", got, want)
	}
}

func TestDeployCommandLinesUseRealFlags(t *testing.T) {
	lines := deployCommandLines(t)
	readme := 0
	for where, args := range lines {
		if len(args) == 0 {
			t.Errorf("%s: empty command line", where)
			continue
		}
		if strings.HasPrefix(where, "README") {
			readme++
		}
		for _, p := range checkCommandLine(args) {
			t.Errorf("%s: %s", where, p)
		}
	}
	if readme < 5 {
		t.Errorf("found %d capstan commands in README.md; the parser may have missed them", readme)
	}
}

// TestDeployConfigKeysAreFlags checks the example agent configs: every key
// is an agent flag's name with underscores, and its value is one that flag
// accepts.
func TestDeployConfigKeysAreFlags(t *testing.T) {
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(readDeploy(t, "kubernetes/configmap.yaml"), &cm); err != nil {
		t.Fatal(err)
	}
	configs := map[string][]byte{
		"systemd/agent.yaml":                   readDeploy(t, "systemd/agent.yaml"),
		"kubernetes/configmap.yaml agent.yaml": []byte(cm.Data["agent.yaml"]),
	}
	for where, data := range configs {
		var doc map[string]yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if len(doc) < 3 {
			t.Fatalf("%s: %d keys, want a real config", where, len(doc))
		}
		agent := newAgentCommand()
		for key, node := range doc {
			fl := agent.Flags().Lookup(strings.ReplaceAll(key, "_", "-"))
			if fl == nil || strings.Contains(key, "-") {
				t.Errorf("%s: key %s is no agent flag", where, key)
				continue
			}
			value := node.Value
			if node.Kind == yaml.SequenceNode {
				var items []string
				if err := node.Decode(&items); err != nil {
					t.Errorf("%s: %s: %v", where, key, err)
				}
				value = strings.Join(items, ",")
			}
			if err := fl.Value.Set(value); err != nil {
				t.Errorf("%s: %s: %q is not a valid --%s: %v", where, key, value, fl.Name, err)
			}
		}
	}
}
