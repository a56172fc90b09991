package runtime

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"nudge/compiler"
	"nudge/runtime/demodata"
)

// TestDryRunStreamMatchesDecisions holds RunOptions.OnDecision (how `run
// --dry-run --output jsonl` streams) to the same lines, in the same order,
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
			sw := NewDecisionWriter(&got)
			streamed, err := db.Run(ctx, tc.prog, RunOptions{Now: now, DryRun: true, OnDecision: sw.Write})
			if err != nil {
				t.Fatal(err)
			}
			if err := sw.Flush(); err != nil {
				t.Fatal(err)
			}
			if len(streamed.Decisions) != 0 {
				t.Errorf("a streamed dry run returned %d decisions", len(streamed.Decisions))
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("streamed lines differ: %d bytes, want %d\n got: %.300s\nwant: %.300s", got.Len(), want.Len(), got.String(), want.String())
			}
		})
	}
}

// TestDryRunJSONLHostileStrings holds the streamed dry run
// (RunOptions.OnDecision) to the collected decisions, both written by a
// DecisionWriter, for member ids, rule texts and `with` parameters that
// need escaping: quotes, backslashes, control characters, <, > and &,
// U+2028 and U+2029, non-ASCII, JSON-like texts.
func TestDryRunJSONLHostileStrings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := Open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := demodata.DefaultNow
	hostile := []string{`q"uote`, `back\slash\`, "ctl\x01\x08\t\n\x0c\r\x1b\x1f\x7f end", "<b>&amp;</b>",
		"sep\u2028\u2029", "双十一 🎉 café", `\u0041 \\u00e9`, "/slash/", `x,"reason":null`, `,"values":{"a":1},"params":null}`, `{"a":[1,"}"]}`}
	for i, h := range hostile {
		id := fmt.Sprintf("m%02d %s", i, h)
		if _, err := db.sql.ExecContext(ctx, `INSERT INTO members (member_id, brand, consent_sms) VALUES ($id, 'acme', $ok::BOOLEAN)`,
			sql.Named("id", id), sql.Named("ok", i%2 == 0)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.sql.ExecContext(ctx, `INSERT INTO events (seq, member_id, brand, type, ts, store, sku) VALUES
			($seq::BIGINT, $id, 'acme', 'purchased', $ts::TIMESTAMP, $h, $h)`,
			sql.Named("seq", i+1), sql.Named("id", id), sql.Named("ts", now.Add(-time.Hour)), sql.Named("h", h)); err != nil {
			t.Fatal(err)
		}
	}
	prog := compileSource(t, `brand "acme"
import "crm"

rule hostile "strings that need escaping"
  if purchased
  then send coupon "<b>50% & \"more\"</b> 🎉 \\ back\u2028\ttab\n" via sms with store = store, sku = sku
`)
	res, err := db.Run(ctx, prog, RunOptions{Now: now, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Decisions) != len(hostile) {
		t.Fatalf("%d decisions, want %d", len(res.Decisions), len(hostile))
	}
	var want bytes.Buffer
	w := NewDecisionWriter(&want)
	for i := range res.Decisions {
		if err := w.Write(&res.Decisions[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, esc := range []string{`\u003c`, `\u0026`, `\u2028`, `\u001b`, `\"`, `\\`, `"params":{`} {
		if !strings.Contains(want.String(), esc) {
			t.Fatalf("the decisions have no %s: the test lost its hostile strings\n%s", esc, want.String())
		}
	}
	var got bytes.Buffer
	sw := NewDecisionWriter(&got)
	if _, err := db.Run(ctx, prog, RunOptions{Now: now, DryRun: true, OnDecision: sw.Write}); err != nil {
		t.Fatal(err)
	}
	if err := sw.Flush(); err != nil {
		t.Fatal(err)
	}
	gl, wl := strings.Split(got.String(), "\n"), strings.Split(want.String(), "\n")
	for i := range min(len(gl), len(wl)) {
		if gl[i] != wl[i] {
			t.Errorf("line %d differs:\n got: %s\nwant: %s", i+1, gl[i], wl[i])
		}
	}
	if len(gl) != len(wl) {
		t.Errorf("%d lines, want %d", len(gl), len(wl))
	}
}
