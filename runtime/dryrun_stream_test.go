package runtime

import (
	"bytes"
	"context"
	"testing"

	"nudge/compiler"
	"nudge/runtime/demodata"
)

// TestDryRunStreamMatchesDecisions holds RunOptions.DecisionsJSONL (how `run
// --dry-run --output jsonl` writes) to the same lines, in the same order,
// as the dry run's RunResult.Decisions written by a DecisionWriter.
func TestDryRunStreamMatchesDecisions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := demoDB(t, "", 3000)
	now := demodata.DefaultNow
	for _, tc := range []struct {
		name string
		prog *compiler.Program
	}{
		{"spec", compileFile(t, "testdata/spec.nudge")},
		// Rules out of their names' order, sends with values and params.
		{"order", compileSource(t, `brand "acme"
import "crm"

rule zeta "lapsed"
  if days since last purchased > 90
  then send reminder "r <soon> & save" via sms with code = "Z&1"

rule alpha "any buyer"
  if days since last purchased > 30
  then send coupon "a" via sms and tag "seen"
`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := db.Run(ctx, tc.prog, RunOptions{Now: now, DryRun: true})
			if err != nil {
				t.Fatal(err)
			}
			var want bytes.Buffer
			w := NewDecisionWriter(&want)
			rules := map[string]bool{}
			for i := range res.Decisions {
				rules[res.Decisions[i].Rule] = true
				if err := w.Write(&res.Decisions[i]); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if len(rules) < 2 {
				t.Fatalf("decisions of %d rules: the test needs several", len(rules))
			}
			var got bytes.Buffer
			streamed, err := db.Run(ctx, tc.prog, RunOptions{Now: now, DryRun: true, DecisionsJSONL: &got})
			if err != nil {
				t.Fatal(err)
			}
			if len(streamed.Decisions) != 0 {
				t.Errorf("a streamed dry run returned %d decisions", len(streamed.Decisions))
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				gl, wl := bytes.Split(got.Bytes(), []byte("\n")), bytes.Split(want.Bytes(), []byte("\n"))
				for i := range min(len(gl), len(wl)) {
					if !bytes.Equal(gl[i], wl[i]) {
						t.Fatalf("line %d differs:\n got: %s\nwant: %s", i+1, gl[i], wl[i])
					}
				}
				t.Errorf("streamed lines differ: %d lines, want %d", len(gl), len(wl))
			}
		})
	}
}
