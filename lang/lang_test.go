package lang_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"nudge/lang"
	"nudge/stdlib"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.nudge":            "import \"crm\"\nrule a if queued then tag \"a\"\n",
		"sub/b.nudge":        "rule b if member.tier = \"gold\" then tag \"b\"\n",
		"sub/deep/c.nudge":   "rule c if dormant then tag \"c\"\n",
		"sub/b_test.nudge":   "this is a test file and is skipped\n",
		".hidden/x.nudge":    "not loaded\n",
		"notes.txt":          "not a rule file\n",
		"explicit.rules":     "rule e if member.tier = \"x\" then tag \"e\"\n",
		"broken/broken.nudg": "ignored\n",
	})
	cases := []struct {
		name  string
		paths []string
		rules []string
	}{
		{"directory", []string{dir}, []string{"a", "b", "c"}},
		{"file and directory", []string{filepath.Join(dir, "sub"), filepath.Join(dir, "a.nudge")}, []string{"b", "c", "a"}},
		{"explicit file of any extension", []string{filepath.Join(dir, "explicit.rules")}, []string{"e"}},
		{"same file twice", []string{filepath.Join(dir, "a.nudge"), dir}, []string{"a", "b", "c"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			prog, diags, err := lang.Load(c.paths, stdlib.Env())
			if err != nil {
				t.Fatal(err)
			}
			if len(diags) > 0 {
				t.Fatal(diags)
			}
			var got []string
			for _, r := range prog.Info.Rules {
				got = append(got, r.Decl.Name.Name)
			}
			if len(got) != len(c.rules) {
				t.Fatalf("rules = %v, want %v", got, c.rules)
			}
			for i := range got {
				if got[i] != c.rules[i] {
					t.Fatalf("rules = %v, want %v", got, c.rules)
				}
			}
			if len(prog.Files) != len(prog.Sources) {
				t.Errorf("%d files but %d sources", len(prog.Files), len(prog.Sources))
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	_, _, err := lang.Load([]string{filepath.Join(dir, "missing.nudge")}, stdlib.Env())
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want not-exist", err)
	}
	// Language problems are diagnostics, not errors.
	writeFiles(t, dir, map[string]string{"bad.nudge": "rule r if queud then tag \"x\"\n"})
	prog, diags, err := lang.Load([]string{dir}, stdlib.Env())
	if err != nil {
		t.Fatal(err)
	}
	if !diags.HasErrors() || prog == nil || prog.Sources[filepath.Join(dir, "bad.nudge")] == nil {
		t.Errorf("want diagnostics with sources, got %v", diags)
	}
}

// TestModuleSourcesRendered: a diagnostic inside a stdlib module (here a
// user segment clashing with one) renders with the module's source.
func TestModuleSourcesRendered(t *testing.T) {
	prog, diags := lang.LoadSources([]lang.Source{{Name: "m.nudge", Src: []byte("import \"crm\"\nevent dormant {}\n")}}, stdlib.Env())
	if len(diags) == 0 {
		t.Fatal("want a name conflict")
	}
	for _, d := range diags {
		if _, ok := prog.Sources[d.Span.File]; !ok {
			t.Errorf("no source for %s", d.Span.File)
		}
	}
}
