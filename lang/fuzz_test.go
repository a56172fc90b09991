package lang_test

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"nudge/lang"
	"nudge/lang/diag"
	"nudge/lang/format"
	"nudge/lang/parser"
	"nudge/stdlib"
)

var formatProps = flag.Bool("formatprops", true, "FuzzLoad: also check the formatter's round-trip properties (off: hunt panics only)")

// FuzzLoad feeds arbitrary text through parse, check and format. Nothing may
// panic; every diagnostic points into the file; a file without syntax errors must format to text that parses
// without syntax errors, formats to itself again, and checks to the same
// diagnostic codes (formatting never changes meaning).
//
//	go test ./lang -run '^$' -fuzz FuzzLoad -fuzztime 2m
func FuzzLoad(f *testing.F) {
	for _, pat := range []string{"testdata/check/*.nudge", "testdata/valid/*.nudge", "testdata/hostile/*.nudge", "../examples/*.nudge", "parser/testdata/*/*.nudge"} {
		paths, _ := filepath.Glob(pat)
		for _, p := range paths {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte("rule r if queued and not booked then send x \"y\" via sms"))
	f.Add([]byte("segment a = b\nsegment b = a\nrule r if a then tag \"\""))
	env := stdlib.Env()
	f.Fuzz(func(t *testing.T, src []byte) {
		prog, diags := lang.LoadSources([]lang.Source{{Name: "fuzz.nudge", Src: src}}, env)
		if prog == nil || prog.Info == nil {
			t.Fatal("LoadSources returned no program")
		}
		renderAll(diags, prog.Sources)
		for _, d := range diags {
			if !placed(d, len(src)) {
				t.Fatalf("diagnostic without a place in the file: %+v\n--- input:\n%s", d, src)
			}
		}
		if hasSyntax(diags) || len(prog.Files) != 1 {
			return
		}
		out := format.File(prog.Files[0])
		if !*formatProps {
			_, _ = parser.ParseFile("fuzz.nudge", out)
			return
		}
		f2, d2 := parser.ParseFile("fuzz.nudge", out)
		if hasSyntax(d2) {
			t.Fatalf("formatted output does not parse: %v\n--- input:\n%s\n--- formatted:\n%s", d2, src, out)
		}
		if again := format.File(f2); string(again) != string(out) {
			t.Fatalf("format is not idempotent\n--- once:\n%s\n--- twice:\n%s", out, again)
		}
		prog2, diags2 := lang.LoadSources([]lang.Source{{Name: "fuzz.nudge", Src: out}}, env)
		renderAll(diags2, prog2.Sources)
		if a, b := codes(diags), codes(diags2); !slices.Equal(a, b) {
			t.Fatalf("formatting changed the diagnostics: %v -> %v\n--- input:\n%s\n--- formatted:\n%s", a, b, src, out)
		}
	})
}

// placed reports whether d points into a file of n bytes: its file named,
// its start at a line and column, its end not before its start nor past the
// end of the file.
func placed(d diag.Diagnostic, n int) bool {
	s := d.Span
	if s.File != "fuzz.nudge" || !s.IsValid() || s.Start.Col < 1 || s.Start.Offset > n {
		return false
	}
	if !s.End.IsValid() {
		return true
	}
	return s.End.Offset >= s.Start.Offset && s.End.Offset <= n && !s.End.Before(s.Start)
}

// renderAll renders diagnostics in every format, which must not panic.
func renderAll(l diag.List, src diag.Sources) {
	diag.RenderText(discard{}, l, src)
	_ = diag.RenderJSON(discard{}, l)
	diag.RenderGitHub(discard{}, l)
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func hasSyntax(l diag.List) bool {
	for _, d := range l {
		if d.Code == "syntax" {
			return true
		}
	}
	return false
}

// codes returns the sorted diagnostic codes of l.
func codes(l diag.List) []string {
	out := make([]string, 0, len(l))
	for _, d := range l {
		out = append(out, d.Severity.String()+":"+d.Code)
	}
	slices.Sort(out)
	return out
}
