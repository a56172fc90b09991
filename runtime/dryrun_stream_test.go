package runtime

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"regexp"
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
			want := decisionsJSONL(t, res.Decisions)
			rules := map[string]bool{}
			for _, d := range res.Decisions {
				rules[d.Rule] = true
			}
			if len(rules) < 2 {
				t.Fatalf("decisions of %d rules: the test needs several", len(rules))
			}
			got := streamedJSONL(t, db, tc.prog, now)
			if !bytes.Equal(got, want) {
				t.Errorf("streamed lines differ: %d bytes, want %d\n got: %.300s\nwant: %.300s", len(got), len(want), got, want)
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
	want := decisionsJSONL(t, res.Decisions)
	for _, esc := range []string{`\u003c`, `\u0026`, `\u2028`, `\u001b`, `\"`, `\\`, `"params":{`} {
		if !bytes.Contains(want, []byte(esc)) {
			t.Fatalf("the decisions have no %s: the test lost its hostile strings\n%s", esc, want)
		}
	}
	got := streamedJSONL(t, db, prog, now)
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range min(len(gl), len(wl)) {
		if gl[i] != wl[i] {
			t.Errorf("line %d differs:\n got: %s\nwant: %s", i+1, gl[i], wl[i])
		}
	}
	if len(gl) != len(wl) {
		t.Errorf("%d lines, want %d", len(gl), len(wl))
	}
}

// decisionsJSONL is ds written by a DecisionWriter.
func decisionsJSONL(t *testing.T, ds []Decision) []byte {
	t.Helper()
	var b bytes.Buffer
	w := NewDecisionWriter(&b)
	for i := range ds {
		if err := w.Write(&ds[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// streamedJSONL is what a dry run of prog at now streams
// (RunOptions.OnDecision) to a DecisionWriter, as `run --dry-run --output
// jsonl` does; it fails t when the run also returns decisions.
func streamedJSONL(t *testing.T, db *DB, prog *compiler.Program, now time.Time) []byte {
	t.Helper()
	var b bytes.Buffer
	w := NewDecisionWriter(&b)
	res, err := db.Run(context.Background(), prog, RunOptions{Now: now, DryRun: true, OnDecision: w.Write})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(res.Decisions) != 0 {
		t.Errorf("a streamed dry run returned %d decisions", len(res.Decisions))
	}
	return b.Bytes()
}

// dryRunJourneys has a journey of `enter on` with a split (variants), the
// exit, wait until and `enter when` journeys of differentialJourneys, and
// the Double 11 promo's `send winner` (whose sends a dry run decides in
// the journeys step), next to rules.
const dryRunJourneys = differentialJourneys + `
journey thanks
  enter on purchased
  split
    50% a
      send coupon "TA" via sms
    50% b
      send coupon "TB" via sms
  end
end

journey promo
  enter when purchased in last 30 days and days_since(2024-11-08) between 0 and 1
  convert on purchased within 1 day
  split
    10% copy_a
      send coupon "A" via sms
    10% copy_b
      send coupon "B" via app_push
    80% rest
      wait 1 day
      send winner
  end
end
`

// TestDryRunJourneysMatchRun is the differential of `run --dry-run`
// against `run` for journeys: at each tick of a schedule, on the same
// database, the dry run's decisions (collected, and streamed as `run
// --dry-run --output jsonl` does) are the committed run's, line for line
// (journey, step, variant; the enter, exit and complete decisions), and
// its journey counts are those the committed run leaves. A journey step's
// action carries no trigger_seq (its stored one is a synthetic key, not
// an event's seq); an enter of `enter on` carries the entering event's.
func TestDryRunJourneysMatchRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := demoDB(t, "", 2000)
	prog := compileSource(t, dryRunJourneys)
	start := demodata.DefaultNow.Add(-3 * 24 * time.Hour)
	var all bytes.Buffer
	for _, step := range []time.Duration{0, 20 * time.Minute, 6 * time.Hour, 25 * time.Hour, 49 * time.Hour, 72 * time.Hour} {
		now := start.Add(step)
		dry, err := db.Run(ctx, prog, RunOptions{Now: now, DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		streamed := streamedJSONL(t, db, prog, now)
		real, err := db.Run(ctx, prog, RunOptions{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		want := decisionsJSONL(t, real.Decisions)
		if got := decisionsJSONL(t, dry.Decisions); !bytes.Equal(got, want) {
			t.Errorf("%s: the dry run's decisions differ from the run's:\n%s", now, lineDiff(string(got), string(want)))
		}
		if !bytes.Equal(streamed, want) {
			t.Errorf("%s: the streamed dry run differs from the run:\n%s", now, lineDiff(string(streamed), string(want)))
		}
		counts, err := db.JourneyCounts(ctx, prog, real.Brand)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(dry.Journeys) != fmt.Sprint(counts) {
			t.Errorf("%s: the dry run's journey counts %v, the run leaves %v", now, dry.Journeys, counts)
		}
		all.Write(want)
	}
	enterSeq := regexp.MustCompile(`"trigger_seq":[1-9]`)
	var enter, exit, complete, sends, variants, winners int
	for _, line := range strings.Split(strings.TrimSpace(all.String()), "\n") {
		if !strings.Contains(line, `"journey":`) {
			continue
		}
		switch {
		case strings.Contains(line, `"action":"enter"`):
			enter++
			if strings.Contains(line, `"rule":"thanks"`) && !enterSeq.MatchString(line) {
				t.Errorf("an enter on without the entering event's seq: %s", line)
			}
		case strings.Contains(line, `"action":"exit"`):
			exit++
		case strings.Contains(line, `"action":"complete"`):
			complete++
		default:
			sends++
			if strings.Contains(line, `"trigger_seq"`) {
				t.Errorf("a journey step's action with a trigger_seq: %s", line)
			}
		}
		if strings.Contains(line, `"variant":`) {
			variants++
		}
		if strings.Contains(line, `"winner"`) {
			winners++
		}
	}
	t.Logf("journey decisions: %d enter, %d exit, %d complete, %d sends (%d with a variant, %d of winners)", enter, exit, complete, sends, variants, winners)
	if enter == 0 || exit == 0 || complete == 0 || sends == 0 || variants == 0 || winners == 0 {
		t.Errorf("the schedule lacks some journey decisions: it tests nothing of them")
	}
}

// lineDiff shows the first lines where got and want differ.
func lineDiff(got, want string) string {
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	var b strings.Builder
	n := 0
	for i := range max(len(gl), len(wl)) {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w && n < 3 {
			fmt.Fprintf(&b, "line %d\n got: %s\nwant: %s\n", i+1, g, w)
			n++
		}
	}
	fmt.Fprintf(&b, "%d lines, want %d", len(gl), len(wl))
	return b.String()
}
