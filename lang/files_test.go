package lang_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"nudge/lang"
	"nudge/lang/check"
	"nudge/lang/diag"
	"nudge/stdlib"
)

// TestLoadLimits: what a rule file may be. Named pipes, devices and files
// over 1 MiB are diagnostics naming the file (a warning, skipped, when found
// in a directory); nothing blocks on a pipe or reads a device without end.
func TestLoadLimits(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("named pipes and /dev/zero are Unix")
	}
	dir := t.TempDir()
	rule := "import \"crm\"\nrule a if queued then tag \"a\"\n"
	writeFiles(t, dir, map[string]string{
		"rules/a.nudge": rule,
		"exact.nudge":   rule + "#" + strings.Repeat("x", lang.MaxFileSize-len(rule)-2) + "\n",
		"large.nudge":   rule + "#" + strings.Repeat("x", lang.MaxFileSize-len(rule)-1) + "\n",
	})
	fifo := filepath.Join(dir, "rules", "pipe.nudge")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		paths []string
		rules int
		want  []string // severity code file, in order
	}{
		{"pipe in a directory is skipped", []string{filepath.Join(dir, "rules")}, 1,
			[]string{"warning not-regular-file " + fifo}},
		{"pipe named explicitly", []string{fifo}, 0,
			[]string{"error not-regular-file " + fifo}},
		{"device named explicitly", []string{"/dev/zero"}, 0,
			[]string{"error not-regular-file /dev/zero"}},
		{"exactly 1 MiB", []string{filepath.Join(dir, "exact.nudge")}, 1, nil},
		{"over 1 MiB", []string{filepath.Join(dir, "large.nudge")}, 0,
			[]string{"error file-too-large " + filepath.Join(dir, "large.nudge")}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			type result struct {
				prog  *lang.Program
				diags diag.List
				err   error
			}
			done := make(chan result, 1)
			go func() {
				p, d, err := lang.Load(c.paths, stdlib.Env())
				done <- result{p, d, err}
			}()
			var r result
			select {
			case r = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("Load blocked")
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
			var got []string
			for _, d := range r.diags {
				got = append(got, d.Severity.String()+" "+d.Code+" "+d.Span.File)
				if d.Span.File == "" || !strings.Contains(d.Message, "1 MiB") && d.Code == check.CodeFileTooLarge {
					t.Errorf("diagnostic names no file or no limit: %v", d)
				}
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
			if n := len(r.prog.Info.Rules); n != c.rules {
				t.Errorf("%d rules loaded, want %d", n, c.rules)
			}
		})
	}
}

// TestParseFileNesting: text nested deeper than lang.MaxNesting is reported
// at the token that goes past the limit and is not parsed (the parser's
// recursion would exhaust the stack); up to the limit it parses.
func TestParseFileNesting(t *testing.T) {
	atom := "purchased in last 7 days"
	cases := []struct {
		name string
		src  string
		deep bool
		col  int
	}{
		{"parentheses at the limit", "rule r if " + strings.Repeat("(", 500) + atom + strings.Repeat(")", 500) + " then tag \"x\"", false, 0},
		{"parentheses past the limit", "rule r if " + strings.Repeat("(", 501) + atom + strings.Repeat(")", 501) + " then tag \"x\"", true, 11 + 500},
		{"100000 parentheses", "rule r if " + strings.Repeat("(", 100000) + atom, true, 11 + 500},
		{"not past the limit", "rule r if " + strings.Repeat("not ", 501) + atom + " then tag \"x\"", true, 11 + 500*4},
		{"not and parentheses", "rule r if " + strings.Repeat("not (", 251) + atom + strings.Repeat(")", 251) + " then tag \"x\"", true, 11 + 250*5},
		{"many not joined by and", "rule r if " + strings.Repeat("not a and ", 2000) + atom + " then tag \"x\"", false, 0},
		{"many not in a list", "rule r if member.city in (\"a\") and f(" + strings.Repeat("not a, ", 2000) + "b) then tag \"x\"", false, 0},
		{"parentheses in strings and comments", "# " + strings.Repeat("(", 1000) + "\nrule r if sku = \"" + strings.Repeat("(", 1000) + "\" then tag \"x\"", false, 0},
		{"where nested", "rule r if count(a where (b where (c where " + strings.Repeat("(", 498) + "x", true, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, diags := lang.ParseFile("t.nudge", []byte(c.src))
			var deep *diag.Diagnostic
			for i, d := range diags {
				if d.Code == check.CodeTooDeep {
					deep = &diags[i]
				}
			}
			if (deep != nil) != c.deep {
				t.Fatalf("too deep reported: %v, want %v (%v)", deep != nil, c.deep, diags)
			}
			if deep != nil && c.col > 0 && (deep.Span.Start.Line != 1 || deep.Span.Start.Col != c.col) {
				t.Errorf("reported at %v, want 1:%d", deep.Span.Start, c.col)
			}
		})
	}
}

// TestLoadEmptyDirectory: a directory without rule files (a mistyped path,
// or one of test files only) is an error naming it, not an empty program
// that checks clean; one with rule files in a subdirectory loads.
func TestLoadEmptyDirectory(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	tests := filepath.Join(dir, "tests")
	nested := filepath.Join(dir, "nested", "deep")
	for _, d := range []string{empty, tests, nested} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(tests, "a_test.nudge"), []byte("test \"x\"\n"), 0o644)
	os.WriteFile(filepath.Join(nested, "r.nudge"), []byte("brand \"acme\"\nimport \"crm\"\n"), 0o644)
	for _, p := range []string{empty, tests} {
		_, _, err := lang.Load([]string{p}, stdlib.Env())
		if want := "load " + p + ": no rule files (*.nudge) in this directory"; err == nil || err.Error() != want {
			t.Errorf("Load(%s) = %v; want %q", p, err, want)
		}
	}
	if _, _, err := lang.Load([]string{filepath.Join(dir, "nested")}, stdlib.Env()); err != nil {
		t.Errorf("Load(nested) = %v", err)
	}
}
