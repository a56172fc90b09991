package compiler

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"nudge/internal/tickform"
	"nudge/lang"
	"nudge/stdlib"
)

// ScopeTablesSQL creates the temp tables a tick makes before it runs the
// compiled forms (the lanes and the scopes' copies), empty, so that the
// forms that read them prepare (here and in FuzzCheckedCompiles).
var ScopeTablesSQL = []string{
	"CREATE TEMP TABLE " + tickform.Lanes + " (lane VARCHAR, member_id VARCHAR, now TIMESTAMP, prev TIMESTAMP)",
	"CREATE TEMP TABLE " + tickform.ScopeMembers + " AS SELECT *, NULL::TIMESTAMP AS " + tickform.LaneNow + " FROM members",
	"CREATE TEMP TABLE " + tickform.ScopeEvents + " AS SELECT *, NULL::TIMESTAMP AS " + tickform.LaneNow + " FROM events",
	"CREATE TEMP TABLE " + tickform.JourneyScopeMembers + " AS SELECT * FROM members",
	"CREATE TEMP TABLE " + tickform.JourneyScopeEvents + " AS SELECT * FROM events",
}

// TestCheckedCorpusPrepares is the promise of `nudge check`: every file it
// accepts compiles and its queries PREPARE in DuckDB. It takes every input
// of the fuzz corpora (go test fuzz v1 files), the hostile corpus and the
// checker's test files; each accepted one must compile without errors, and
// each rule's queries (full, scoped and lane forms, and the full form inside
// a SELECT as the runtime runs it), and each journey's entry's (compiled as
// a rule), must prepare over the runtime's schema.
func TestCheckedCorpusPrepares(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	for _, q := range ScopeTablesSQL {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	var inputs []corpusInput
	for _, dir := range []string{"../lang/parser/testdata/fuzz/FuzzParse", "../lang/testdata/fuzz/FuzzLoad"} {
		inputs = append(inputs, fuzzCorpus(t, dir)...)
	}
	for _, pat := range []string{"../lang/testdata/hostile/*.nudge", "../lang/testdata/check/*.nudge", "../lang/testdata/valid/*.nudge"} {
		files, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			inputs = append(inputs, corpusInput{name: f, src: b})
		}
	}
	accepted := 0
	for _, in := range inputs {
		prog, diags := lang.LoadSources([]lang.Source{{Name: "corpus.nudge", Src: in.src}}, stdlib.Env())
		if diags.HasErrors() {
			continue
		}
		accepted++
		p, diags := Compile(prog.Info)
		if diags.HasErrors() {
			t.Errorf("%s: check accepts it, compile reports %v", in.name, diags)
			continue
		}
		rules := slices.Clone(p.Rules)
		for _, j := range p.Journeys {
			rules = append(rules, j.Enter) // (an entry is compiled as a rule)
		}
		for _, r := range rules {
			queries := []struct{ form, sql string }{
				{"full", r.SQL},
				{"full, as the runtime runs it", fmt.Sprintf("SELECT 0, q.member_id FROM (\n%s\n) q", strings.TrimRight(strings.TrimSpace(r.SQL), ";"))},
				{"scoped", r.Tick.ScopedSQL},
				{"lane", r.Tick.LaneSQL},
			}
			for _, q := range queries {
				if q.sql == "" {
					continue
				}
				if _, err := db.PrepareContext(ctx, q.sql); err != nil {
					t.Errorf("%s: rule %s (%s form) does not prepare: %v", in.name, r.Name, q.form, err)
				}
			}
		}
	}
	t.Logf("%d inputs, %d accepted by check", len(inputs), accepted)
	if accepted < 40 {
		t.Errorf("only %d of %d corpus inputs are accepted by check: the corpus tests too little", accepted, len(inputs))
	}
}

// corpusInput is one source text of a corpus.
type corpusInput struct {
	name string
	src  []byte
}

// fuzzCorpus reads the inputs of a go test fuzz corpus directory: files
// starting "go test fuzz v1", then one []byte("...") or string("...") value.
func fuzzCorpus(t *testing.T, dir string) []corpusInput {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []corpusInput
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 16<<20)
		if !sc.Scan() || sc.Text() != "go test fuzz v1" {
			t.Fatalf("%s: not a go test fuzz v1 file", path)
		}
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				continue
			}
			var lit string
			for _, pre := range []string{"[]byte(", "string("} {
				if strings.HasPrefix(line, pre) && strings.HasSuffix(line, ")") {
					lit = line[len(pre) : len(line)-1]
				}
			}
			s, err := strconv.Unquote(lit)
			if err != nil {
				t.Fatalf("%s: cannot read value %.40q: %v", path, line, err)
			}
			out = append(out, corpusInput{name: path, src: []byte(s)})
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no inputs", dir)
	}
	return out
}

// TestCompileReportsOnce: a rule's condition is translated in several forms
// (full, scoped, lane), and a problem in it is reported once, not once per
// form. (The checker rejects a NUL in a text first; Compile is given the
// checked program regardless, as a tool might.)
func TestCompileReportsOnce(t *testing.T) {
	src := "import \"crm\"\nrule r if purchased where sku = \"a\\u0000b\" then tag \"x\"\nrule s if member.tier = \"\\u0000\" then tag \"y\"\n"
	prog, _ := lang.LoadSources([]lang.Source{{Name: "t.nudge", Src: []byte(src)}}, stdlib.Env())
	_, diags := Compile(prog.Info)
	seen := map[string]int{}
	for _, d := range diags {
		seen[d.Error()]++
	}
	if len(seen) != 2 {
		t.Errorf("want one diagnostic per rule, got %v", diags)
	}
	for d, n := range seen {
		if n > 1 {
			t.Errorf("reported %d times: %s", n, d)
		}
	}
}
