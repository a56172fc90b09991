package parser

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"nudge/lang/ast"
	"nudge/lang/diag"
)

// differ parses every declaration chunk of src with both the fast path and
// the participle grammar and reports any disagreement: acceptance, tree
// (spans included) or diagnostics.
func differ(t *testing.T, src []byte) {
	t.Helper()
	res := lex("d.nudge", src)
	toks := res.toks
	for i := 0; i < len(toks); {
		j := i + 1
		for j < len(toks) && !startsDecl(toks, j) {
			j++
		}
		chunk := toks[i:j]
		i = j
		if !startsDecl(chunk, 0) || (reserved[chunk[0].text] && chunk[0].text != "test") {
			continue
		}
		all := withEOF(chunk, chunk[0].start)
		fd, fdiags, fok := parseFast("d.nudge", chunk)
		sd, sdiags, sok := parseSlow("d.nudge", all)
		if fok != sok {
			t.Fatalf("fast path ok=%v, participle ok=%v (%v) on chunk:\n%s", fok, sok, sdiags, src[chunk[0].start.Offset:chunk[len(chunk)-1].end.Offset])
		}
		if !fok {
			continue
		}
		if !reflect.DeepEqual(fd, sd) {
			t.Fatalf("trees differ on chunk:\n%s\nfast:\n%s\nparticiple:\n%s", src[chunk[0].start.Offset:chunk[len(chunk)-1].end.Offset], debugString(fd), debugString(sd))
		}
		if !reflect.DeepEqual(fdiags, sdiags) {
			t.Fatalf("diagnostics differ: fast %v, participle %v", fdiags, sdiags)
		}
	}
	// the whole input as a standalone condition
	if len(toks) == 0 {
		return
	}
	fx, _, fok := parseFastCond("c", toks)
	sx, sdiags := ParseCondition("c", src)
	_, bad := sx.(*ast.BadExpr)
	sok := !bad
	if fok != sok {
		t.Fatalf("condition: fast path ok=%v, participle ok=%v (%v) on:\n%s", fok, sok, sdiags, src)
	}
	if fok && !reflect.DeepEqual(fx, sx) {
		t.Fatalf("condition trees differ on:\n%s\nfast: %s\nparticiple: %s", src, debugString(fx), debugString(sx))
	}
}

func parseSlow(file string, all []token) (ast.Decl, diag.List, bool) {
	toks := all[:len(all)-1]
	var ds diag.List
	d := parseDecl(file, all, toLexerTokens(file, toks), 0, len(toks), &ds)
	_, bad := d.(*ast.BadDecl)
	return d, ds, !bad
}

// TestFastPathMatchesParticiple runs the differential check over all test
// inputs, valid and invalid.
func TestFastPathMatchesParticiple(t *testing.T) {
	var files []string
	for _, pat := range []string{"testdata/valid/*.nudge", "testdata/syntax/*.nudge", "../format/testdata/*.input", "../../examples/*.nudge"} {
		m, _ := filepath.Glob(pat)
		files = append(files, m...)
	}
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) { differ(t, src) })
	}
	extra := []string{
		"segment s = a and - b", "segment s = a and -", "segment s = x between purchased where a and b and c",
		"segment s = a not in b", "segment s = a is x", "segment s = a in last", "segment s = purchased exactly - x",
		"segment s = count(purchased.amount where a)", "segment s = f(,)", "segment s = f(a,)", "segment s = (not)",
		"rule r if a then tag \"x\" and", "rule r if a then tag \"x\" limit once per member every",
		"rule r if a then tag \"x\" limit once per member every 3", "cap sms to 1 per -2 days", "cap sms to 1 per - x",
		"segment s = member.x = not a", "segment s = a = b = c", "segment s = not not", "segment s = visited at least 2 times at store \"A\"",
		"segment s = a not followed by b within 2 days at least 1 times in last 3 days",
		"event e { a text, b }", "member { a }", "segment s = days since", "segment s = tagged x",
	}
	for _, src := range extra {
		t.Run(src, func(t *testing.T) { differ(t, []byte(src)) })
	}
}

// FuzzFastPath checks on arbitrary input that the fast path and the
// participle grammar agree.
func FuzzFastPath(f *testing.F) {
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
	f.Fuzz(func(t *testing.T, src []byte) { differ(t, src) })
}

// BenchmarkParseParticiple parses the BenchmarkParse file with the
// participle grammar alone (no fast path), for comparison.
func BenchmarkParseParticiple(b *testing.B) {
	src, err := os.ReadFile("testdata/valid/spec.nudge")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		toks := lex("bench.nudge", src).toks
		for i := 0; i < len(toks); {
			j := i + 1
			for j < len(toks) && !startsDecl(toks, j) {
				j++
			}
			if _, ds, ok := parseSlow("bench.nudge", withEOF(toks[i:j], toks[i].start)); !ok {
				b.Fatal(ds)
			}
			i = j
		}
	}
}

// BenchmarkParseSpec parses the SPEC §3 example (66 lines) with ParseFile.
func BenchmarkParseSpec(b *testing.B) {
	src, err := os.ReadFile("testdata/valid/spec.nudge")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, ds := ParseFile("bench.nudge", src); len(ds) > 0 {
			b.Fatal(ds)
		}
	}
}
