package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/capstan-io/capstan/api"
	"github.com/capstan-io/capstan/policy"
)

// policyFiles lists the policy files of a directory: its *.yaml, *.yml and
// *.json files, sorted by name, not descending into subdirectories.
func policyFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading policy directory: %w", err)
	}
	var files []string
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".yaml", ".yml", ".json":
			if !e.IsDir() {
				files = append(files, filepath.Join(dir, e.Name()))
			}
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no policy files (*.yaml, *.yml, *.json)", dir)
	}
	return files, nil
}

// runPolicyApplyDir applies every policy file of dir in one go: all are
// validated first, and none is applied when any is invalid or two declare
// the same id.
func runPolicyApplyDir(ctx context.Context, stdout io.Writer, t *apiTarget, dir string) error {
	files, err := policyFiles(dir)
	if err != nil {
		return err
	}
	var problems []string
	ids := map[string]string{}
	for _, f := range files {
		p, err := loadPolicy(f)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if prev, dup := ids[p.ID]; dup {
			problems = append(problems, fmt.Sprintf("%s: id %q is also declared by %s", f, p.ID, prev))
		}
		ids[p.ID] = f
	}
	if len(problems) > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%s: nothing applied; %d of %d file(s) have problems:\n%s",
			dir, len(problems), len(files), strings.Join(problems, "\n"))}
	}
	for i, f := range files {
		if err := runPolicyApply(ctx, stdout, t, f, ""); err != nil {
			if i > 0 {
				return fmt.Errorf("%w (the %d file(s) before %s were applied)", err, i, f)
			}
			return err
		}
	}
	return nil
}

// confirm asks question on w and reads the answer from r: true for y or
// yes. No answer (end of input) is a no.
func confirm(r io.Reader, w io.Writer, question string) bool {
	fmt.Fprintf(w, "%s [y/N] ", question)
	line, _ := bufio.NewReader(r).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	fmt.Fprintln(w)
	return false
}

// diffExit is the exit status of a `policy diff` that could not compare,
// as diff(1) uses 2 for trouble and 1 for differences.
const diffExit = 2

func newPolicyDiffCommand() *cobra.Command {
	var (
		af   apiFlags
		file string
	)
	cmd := &cobra.Command{
		Use:   "diff -f FILE",
		Short: "Compare a policy file with the version the cluster holds, field by field",
		Long: `Compare a policy file, with every default filled in, to the policy of the
same id the cluster holds. Prints one line per field that differs:
"PATH: STORED -> FILE" ("<none>" where one side lacks the field). Exits 0
when they are the same, 1 when they differ (also when the cluster does not
hold the policy), 2 when they could not be compared, like diff.`,
		Example: `  capstan policy diff -f examples/policies/app-cpu.yaml && echo unchanged`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			want, err := loadPolicy(file)
			if err != nil {
				return &exitError{code: diffExit, err: err}
			}
			t, err := af.target()
			if err != nil {
				return &exitError{code: diffExit, err: err}
			}
			ctx := cmd.Context()
			var rec api.PolicyRecord
			err = t.call(ctx, func(c *api.Client) error {
				rec, err = c.GetPolicy(ctx, want.ID)
				return err
			})
			var ae *api.Error
			stored := &rec.Policy
			switch {
			case errors.As(err, &ae) && ae.Code == api.CodeNotFound:
				stored = nil
			case err != nil:
				return &exitError{code: diffExit, err: describe(err)}
			}
			diffs, err := policyDiff(stored, want)
			if err != nil {
				return &exitError{code: diffExit, err: err}
			}
			out := cmd.OutOrStdout()
			if len(diffs) == 0 {
				fmt.Fprintf(out, "policy %s: no differences (version %d)\n", want.ID, rec.Version)
				return nil
			}
			if stored == nil {
				fmt.Fprintf(out, "policy %s is not on the cluster; every field is new:\n", want.ID)
			} else {
				fmt.Fprintf(out, "policy %s: %d field(s) differ (stored version %d -> %s):\n", want.ID, len(diffs), rec.Version, file)
			}
			for _, d := range diffs {
				fmt.Fprintln(out, d)
			}
			return &exitError{code: 1, err: errDiffers}
		},
	}
	af.register(cmd)
	cmd.Flags().StringVarP(&file, "file", "f", "", "policy file (YAML or JSON); - reads standard input")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// errDiffers ends a `policy diff` that found differences: exit 1, with a
// one-line summary after the listing.
var errDiffers = errors.New("the file differs from the stored policy")

// policyDiff lists the fields that differ between the stored policy (nil:
// none) and want, as "PATH: STORED -> WANT", sorted by path. Both sides
// are compared in their policy-file form, defaults filled in.
func policyDiff(stored *policy.Policy, want policy.Policy) ([]string, error) {
	flat := func(p *policy.Policy) (map[string]string, error) {
		out := map[string]string{}
		if p == nil {
			return out, nil
		}
		y, err := policy.Marshal(*p)
		if err != nil {
			return nil, err
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(y, &doc); err != nil {
			return nil, err
		}
		flatten("", &doc, out)
		return out, nil
	}
	a, err := flat(stored)
	if err != nil {
		return nil, err
	}
	b, err := flat(&want)
	if err != nil {
		return nil, err
	}
	var paths []string
	for k := range a {
		paths = append(paths, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			paths = append(paths, k)
		}
	}
	slices.Sort(paths)
	var out []string
	for _, k := range paths {
		av, aok := a[k]
		bv, bok := b[k]
		if aok && bok && av == bv {
			continue
		}
		if !aok {
			av = "<none>"
		}
		if !bok {
			bv = "<none>"
		}
		out = append(out, fmt.Sprintf("%s: %s -> %s", k, av, bv))
	}
	return out, nil
}

// flatten records every scalar of a YAML tree under its path
// (metrics[0].target).
func flatten(path string, n *yaml.Node, out map[string]string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			flatten(path, c, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			if path != "" {
				key = path + "." + key
			}
			flatten(key, n.Content[i+1], out)
		}
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			out[path] = "[]"
		}
		for i, c := range n.Content {
			flatten(fmt.Sprintf("%s[%d]", path, i), c, out)
		}
	default:
		out[path] = n.Value
	}
}
