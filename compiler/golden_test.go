package compiler

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nudge/internal/tickform"
	"nudge/lang"
	"nudge/stdlib"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestGoldenSQL compiles every example rule file (../examples/*.nudge) and
// the compiler's own scenarios (testdata/*.nudge) and compares the explained
// SQL with testdata/examples/<name>.sql and testdata/golden/<name>.sql. Each
// query is also prepared in DuckDB, so a golden file never holds SQL that
// does not bind. Run with -update to rewrite the files.
func TestGoldenSQL(t *testing.T) {
	sets := []struct{ glob, dir string }{
		{"../examples/*.nudge", "testdata/examples"},
		{"testdata/*.nudge", "testdata/golden"},
	}
	db := openDB(t)
	total := 0
	for _, set := range sets {
		files, err := filepath.Glob(set.glob)
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range files {
			if strings.HasSuffix(file, lang.TestSuffix) {
				continue // test files for `nudge test`, not rules
			}
			total++
			name := strings.TrimSuffix(filepath.Base(file), ".nudge")
			t.Run(name, func(t *testing.T) {
				src, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				prog, diags := lang.LoadSources([]lang.Source{{Name: filepath.ToSlash(file), Src: src}}, stdlib.Env())
				if diags.HasErrors() {
					t.Fatalf("check %s: %v", file, diags)
				}
				p, diags := Compile(prog.Info)
				if len(diags) > 0 {
					t.Fatalf("compile %s: %v", file, diags)
				}
				for _, r := range p.Rules {
					if _, err := db.PrepareContext(context.Background(), r.SQL); err != nil {
						t.Errorf("rule %s does not prepare: %v\n%s", r.Name, err, r.SQL)
					}
				}
				got, _ := Explain(p, "")
				golden := filepath.Join(set.dir, name+".sql")
				if *update {
					if err := os.MkdirAll(set.dir, 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test ./compiler -run TestGoldenSQL -update)", err)
				}
				if got != string(want) {
					t.Errorf("%s differs from %s (run with -update and review the diff)\n--- got:\n%s", file, golden, got)
				}
			})
		}
	}
	if total == 0 {
		t.Fatal("no rule files found for golden SQL")
	}
}

// TestGoldenLaneSQL writes the lane form of every example rule
// (Rule.Tick.LaneSQL) to testdata/lanes/<name>.sql and compares, as
// TestGoldenSQL does for SQL; each lane form is prepared in DuckDB over
// lane tables shaped as the runtime's (replay.go). Run with -update to
// rewrite the files.
func TestGoldenLaneSQL(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	for _, q := range []string{
		"CREATE TEMP TABLE " + tickform.Lanes + " (lane VARCHAR, member_id VARCHAR, now TIMESTAMP, prev TIMESTAMP)",
		"CREATE TEMP TABLE " + tickform.ScopeMembers + " AS SELECT *, NULL::TIMESTAMP AS " + tickform.LaneNow + " FROM members",
		"CREATE TEMP TABLE " + tickform.ScopeEvents + " AS SELECT *, NULL::TIMESTAMP AS " + tickform.LaneNow + " FROM events",
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	files, err := filepath.Glob("../examples/*.nudge")
	if err != nil {
		t.Fatal(err)
	}
	lanes := 0
	for _, file := range files {
		if strings.HasSuffix(file, lang.TestSuffix) {
			continue
		}
		name := strings.TrimSuffix(filepath.Base(file), ".nudge")
		t.Run(name, func(t *testing.T) {
			p := loadProgram(t, file)
			var b strings.Builder
			for _, r := range p.Rules {
				if r.Tick.LaneSQL == "" {
					b.WriteString("-- rule " + r.Name + ": no lane form\n\n")
					continue
				}
				lanes++
				if _, err := db.PrepareContext(ctx, r.Tick.LaneSQL); err != nil {
					t.Errorf("rule %s: the lane form does not prepare: %v\n%s", r.Name, err, r.Tick.LaneSQL)
				}
				b.WriteString("-- rule " + r.Name + " (lane form)\n" + strings.TrimSpace(r.Tick.LaneSQL) + "\n\n")
			}
			got := b.String()
			golden := filepath.Join("testdata/lanes", name+".sql")
			if *update {
				if err := os.MkdirAll("testdata/lanes", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./compiler -run TestGoldenLaneSQL -update)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from %s (run with -update and review the diff)\n--- got:\n%s", file, golden, got)
			}
		})
	}
	if lanes < 11 { // every example rule (the ladder and Double 11 are journeys)
		t.Errorf("only %d example rules have a lane form", lanes)
	}
}
