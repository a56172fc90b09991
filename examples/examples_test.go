package examples

import (
	"bytes"
	"io/fs"
	"strings"
	"testing"

	"nudge/lang"
	"nudge/lang/diag"
	"nudge/lang/format"
	"nudge/stdlib"
)

// load parses and checks the embedded example files together, as
// `nudge check examples/` does.
func load(t *testing.T) (*lang.Program, diag.List) {
	t.Helper()
	names, err := fs.Glob(Files, "*.nudge")
	if err != nil {
		t.Fatal(err)
	}
	names = withoutTests(names)
	if len(names) != 11 {
		t.Errorf("found %d example files, want 11 (nine cases, Double 11 and policies): %v", len(names), names)
	}
	var srcs []lang.Source
	for _, n := range names {
		b, err := fs.ReadFile(Files, n)
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, lang.Source{Name: "examples/" + n, Src: b})
	}
	return lang.LoadSources(srcs, stdlib.Env())
}

// TestExamplesCheckClean: every example parses and checks without a
// diagnostic, warnings included.
func TestExamplesCheckClean(t *testing.T) {
	prog, diags := load(t)
	if len(diags) > 0 {
		var buf bytes.Buffer
		diag.RenderText(&buf, diags, prog.Sources)
		t.Errorf("examples have diagnostics:\n%s", buf.String())
	}
}

// TestExamplesTellTheirStory: each file opens with a comment (the business
// case it implements) and declares brand "acme", so the examples run on a
// database holding several brands.
func TestExamplesTellTheirStory(t *testing.T) {
	names, _ := fs.Glob(Files, "*.nudge")
	for _, n := range withoutTests(names) {
		t.Run(n, func(t *testing.T) {
			b, _ := fs.ReadFile(Files, n)
			lines := strings.Split(string(b), "\n")
			for i := 0; i < 2; i++ {
				if !strings.HasPrefix(lines[i], "#") {
					t.Errorf("line %d is %q; a file opens with at least two comment lines telling its story", i+1, lines[i])
				}
			}
			if !strings.Contains(string(b), "\nbrand \"acme\"\n") {
				t.Errorf(`missing brand "acme"`)
			}
		})
	}
}

// TestExamplesFormatted: the examples are in the canonical layout, so
// `nudge fmt --check examples/` passes.
func TestExamplesFormatted(t *testing.T) {
	names, _ := fs.Glob(Files, "*.nudge")
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			src, _ := fs.ReadFile(Files, n)
			out, diags := format.Source(n, src)
			if len(diags) > 0 {
				t.Fatalf("format: %v", diags)
			}
			if !bytes.Equal(out, src) {
				t.Errorf("not in the canonical layout; run `nudge fmt -w examples/`")
			}
		})
	}
}

// withoutTests drops the *_test.nudge files (test blocks for `nudge test`,
// checked by runtime/ruletest).
func withoutTests(names []string) []string {
	var out []string
	for _, n := range names {
		if !strings.HasSuffix(n, lang.TestSuffix) {
			out = append(out, n)
		}
	}
	return out
}
