package lang_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"nudge/lang"
	"nudge/lang/diag"
	"nudge/stdlib"
)

var update = flag.Bool("update", false, "rewrite golden files")

// loadCase reads one test input: a .nudge file is one source; a .txtar
// archive holds several files loaded together as one program.
func loadCase(t *testing.T, path string) []lang.Source {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(path, ".txtar") {
		return []lang.Source{{Name: filepath.ToSlash(path), Src: b}}
	}
	ar := txtar.Parse(b)
	var srcs []lang.Source
	for _, f := range ar.Files {
		srcs = append(srcs, lang.Source{Name: f.Name, Src: f.Data})
	}
	if len(srcs) == 0 {
		t.Fatalf("%s: archive holds no files", path)
	}
	return srcs
}

// TestCheckGolden checks every invalid input in testdata/check and compares
// the rendered diagnostics with its .golden file (regenerate with -update).
func TestCheckGolden(t *testing.T) {
	var cases []string
	for _, pat := range []string{"testdata/check/*.nudge", "testdata/check/*.txtar"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, m...)
	}
	if len(cases) < 40 {
		t.Errorf("only %d golden cases in testdata/check, want at least 40", len(cases))
	}
	for _, path := range cases {
		name := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(path), ".nudge"), ".txtar")
		t.Run(name, func(t *testing.T) {
			prog, diags := lang.LoadSources(loadCase(t, path), stdlib.Env())
			if len(diags) == 0 {
				t.Fatalf("%s is an invalid input but produced no diagnostics", path)
			}
			var buf bytes.Buffer
			diag.RenderText(&buf, diags, prog.Sources)
			golden := strings.TrimSuffix(strings.TrimSuffix(path, ".nudge"), ".txtar") + ".golden"
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got := buf.String(); got != string(want) {
				t.Errorf("diagnostics differ from %s\n--- got:\n%s--- want:\n%s", golden, got, want)
			}
		})
	}
}

// TestValid loads every valid input in testdata/valid: no diagnostics at all.
func TestValid(t *testing.T) {
	cases, err := filepath.Glob("testdata/valid/*.nudge")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no valid inputs in testdata/valid")
	}
	for _, path := range cases {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".nudge"), func(t *testing.T) {
			prog, diags := lang.LoadSources(loadCase(t, path), stdlib.Env())
			if len(diags) > 0 {
				var buf bytes.Buffer
				diag.RenderText(&buf, diags, prog.Sources)
				t.Errorf("unexpected diagnostics:\n%s", buf.String())
			}
		})
	}
}

// TestExamples loads every examples/*.nudge file: no errors (warnings are
// allowed but reported).
func TestExamples(t *testing.T) {
	cases, err := filepath.Glob("../examples/*.nudge")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range cases {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".nudge"), func(t *testing.T) {
			prog, diags, err := lang.Load([]string{path}, stdlib.Env())
			if err != nil {
				t.Fatal(err)
			}
			if len(diags) > 0 {
				var buf bytes.Buffer
				diag.RenderText(&buf, diags, prog.Sources)
				if diags.HasErrors() {
					t.Errorf("example has errors:\n%s", buf.String())
				} else {
					t.Logf("example has warnings:\n%s", buf.String())
				}
			}
		})
	}
	if len(cases) > 0 {
		// All examples together form one program too: names must not clash.
		prog, diags, err := lang.Load([]string{"../examples"}, stdlib.Env())
		if err != nil {
			t.Fatal(err)
		}
		if diags.HasErrors() {
			var buf bytes.Buffer
			diag.RenderText(&buf, diags, prog.Sources)
			t.Errorf("examples loaded together (as nudge demo does) have errors:\n%s", buf.String())
		}
	}
}
