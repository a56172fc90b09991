package parser

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// sameInFile checks that parsing src with one lexer for the whole file
// (ParseFile) gives the trees and diagnostics of parsing each declaration
// alone.
func sameInFile(t *testing.T, src []byte) {
	t.Helper()
	got, gotDiags := parseFile("f.nudge", src, true)
	want, wantDiags := parseFile("f.nudge", src, false)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("trees differ on\n%s\nin the file's lexer:\n%s\nalone:\n%s", src, debugString(got), debugString(want))
	}
	if !reflect.DeepEqual(gotDiags, wantDiags) {
		t.Fatalf("diagnostics differ on\n%s\nin the file's lexer: %v\nalone: %v", src, gotDiags, wantDiags)
	}
}

// TestDeclsParseTheSameInFile runs sameInFile over the test inputs.
func TestDeclsParseTheSameInFile(t *testing.T) {
	var files []string
	for _, pat := range []string{"testdata/valid/*.nudge", "testdata/syntax/*.nudge", "../format/testdata/*.input", "../../examples/*.nudge"} {
		m, _ := filepath.Glob(pat)
		files = append(files, m...)
	}
	if len(files) < 20 {
		t.Fatalf("only %d files", len(files))
	}
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) { sameInFile(t, src) })
	}
	for _, src := range []string{
		"segment s = a\nmember { x text }", "segment s = member\nmember { x text }", "rule r if a then tag \"x\" limit\nrule q if b then tag \"y\"",
		"segment s = a and\nsegment t = b", "cap sms to 1 per day\ncost sms 0.05", "segment s = a not\ntest \"t\"\n  tick",
		"segment s = a in\nrule r if a then tag \"x\"", "segment s = f(\nsegment t = b",
	} {
		t.Run(src, func(t *testing.T) { sameInFile(t, []byte(src)) })
	}
}

// FuzzDeclsInFile checks sameInFile on arbitrary input.
func FuzzDeclsInFile(f *testing.F) {
	for _, pat := range []string{"testdata/valid/*.nudge", "testdata/syntax/*.nudge", "../format/testdata/*.input"} {
		files, _ := filepath.Glob(pat)
		for _, name := range files {
			src, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) { sameInFile(t, src) })
}
