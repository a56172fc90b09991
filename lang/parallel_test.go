package lang_test

import (
	"fmt"
	"reflect"
	"runtime"
	"testing"

	"nudge/lang"
	"nudge/stdlib"
)

// TestLoadSourcesDeterministic loads a mix of valid files and files with
// syntax and check errors on one and on several workers: the files, their
// order and the diagnostics must be the same.
func TestLoadSourcesDeterministic(t *testing.T) {
	var srcs []lang.Source
	for i := range 60 {
		s := genFile(i)
		switch i % 4 {
		case 1:
			s.Src = append(s.Src, fmt.Sprintf("rule broken_%d if then tag \"x\"\nsegment s_%d = \n", i, i)...)
		case 2:
			s.Src = append(s.Src, fmt.Sprintf("rule unknown_%d if no_such_event_%d then tag \"x\"\n", i, i)...)
		}
		srcs = append(srcs, s)
	}
	srcs = append(srcs, lang.Source{Name: "empty.nudge"}, lang.Source{Name: "junk.nudge", Src: []byte("}}} \"unterminated\n")})
	env := stdlib.Env()
	load := func(procs int) (*lang.Program, string) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		prog, diags := lang.LoadSources(srcs, env)
		return prog, fmt.Sprint(diags)
	}
	one, oneDiags := load(1)
	if len(one.Files) != len(srcs) {
		t.Fatalf("got %d files, want %d", len(one.Files), len(srcs))
	}
	for i, f := range one.Files {
		if f.Name != srcs[i].Name {
			t.Fatalf("file %d is %s, want %s", i, f.Name, srcs[i].Name)
		}
	}
	for _, procs := range []int{2, 4, 8} {
		many, manyDiags := load(procs)
		if manyDiags != oneDiags {
			t.Errorf("GOMAXPROCS=%d: diagnostics differ:\n%s\nwant:\n%s", procs, manyDiags, oneDiags)
		}
		if !reflect.DeepEqual(many.Files, one.Files) {
			t.Errorf("GOMAXPROCS=%d: files differ", procs)
		}
		if !reflect.DeepEqual(many.Sources, one.Sources) {
			t.Errorf("GOMAXPROCS=%d: sources differ", procs)
		}
	}
	if oneDiags == "[]" {
		t.Fatal("expected diagnostics from the broken files")
	}
}
