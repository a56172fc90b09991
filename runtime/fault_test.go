package runtime

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nudge/compiler"
	"nudge/lang"
	"nudge/stdlib"
)

// The fault test replays a fixed schedule of imports and ticks in a child
// process that is SIGKILLed at random moments, restarts it until it
// completes, and compares the database with an uninterrupted replay.
const (
	faultSteps     = 16
	faultBatchRows = 40
	faultMembers   = 60
	faultKills     = 20
)

var faultStart = time.Date(2024, 11, 11, 1, 0, 0, 0, time.UTC)

// faultNow is the now of step k: every 7 hours, so some ticks fall in
// quiet hours.
func faultNow(k int) time.Time { return faultStart.Add(time.Duration(k) * 7 * time.Hour) }

// faultProgram exercises trigger and state rules, limits, tags, caps,
// holdout, stop-after, quiet hours and the money policies (a stock, a
// budget, costs and the global control group).
func faultProgram() *compiler.Program {
	trig := sendRule("store_a", queuedAtA, true, "sms")
	trig.Limit = &compiler.Limit{Every: 8 * time.Hour}
	trig.Priority = 5
	gold := sendRule("gold", goldMembers, false, "sms")
	gold.Limit = &compiler.Limit{Every: 24 * time.Hour}
	gold.Actions = append(gold.Actions, compiler.Action{Verb: "tag", Content: "gold-seen"})
	gold.Holdout = 20
	gold.Budget = &compiler.Budget{Amount: 4, Per: "day"}
	buyers := &compiler.Rule{
		Name: "buyers", File: "fault.nudge", Line: 3,
		SQL: `SELECT m.member_id, CAST(NULL AS BIGINT) AS trigger_seq, CAST(NULL AS TIMESTAMP) AS due_at, count(*) AS v0
FROM members m JOIN events e ON e.member_id = m.member_id AND e.brand = m.brand
WHERE m.brand = $brand::VARCHAR AND e.type = 'purchased' AND e.ts > $now::TIMESTAMP - INTERVAL 2 DAY AND e.ts <= $now::TIMESTAMP
GROUP BY m.member_id HAVING count(*) >= 2`,
		Values:    []compiler.Value{{Column: "v0", Label: "count(purchased in last 2 days)"}},
		Actions:   []compiler.Action{{Verb: "send", Kind: "recommendation", Content: "picks", Channel: "wechat"}},
		Limit:     &compiler.Limit{Every: 10 * time.Hour},
		StopAfter: 2,
	}
	return &compiler.Program{
		Brand:    "acme",
		Rules:    []*compiler.Rule{trig, gold, buyers},
		Caps:     []compiler.Cap{{Channel: "sms", Count: 1, Per: 24 * time.Hour}, {Count: 3, Per: 48 * time.Hour}},
		Quiet:    []compiler.Quiet{{From: 22 * 60, To: 8 * 60}},
		Journeys: faultJourneys(),

		Costs:         map[string]float64{"sms": 1},
		Stocks:        []compiler.Stock{{Content: "C-store_a", Count: 12}},
		GlobalHoldout: 10,
	}
}

// faultJourney is a journey of the fault test: entries, sends competing
// with the rules' for caps, a wait, a split, a tag, exits.
const faultJourney = `brand "acme"
import "crm"

journey fault_journey
  enter on queued at store "A"
  exit when purchased
  send reminder "J1" via sms
  wait 3 hours
  split
    50% a
      send reminder "J2" via wechat
    50% b
      tag "j-b"
  end
end
`

func faultJourneys() []*compiler.Journey {
	p, diags := lang.LoadSources([]lang.Source{{Name: "fault_journey.nudge", Src: []byte(faultJourney)}}, stdlib.Env())
	if p == nil || diags.HasErrors() {
		panic(fmt.Sprint(diags))
	}
	prog, diags := compiler.Compile(p.Info)
	if prog == nil || diags.HasErrors() {
		panic(fmt.Sprint(diags))
	}
	return prog.Journeys
}

// writeFaultData writes members.csv and one events batch per step. Batches
// hold events due before, around and after their step's now (late and
// future events).
func writeFaultData(t *testing.T, dir string) {
	r := rand.New(rand.NewPCG(7, 11))
	var m strings.Builder
	m.WriteString("member_id,brand,tier,consent_sms,consent_wechat\n")
	for i := range faultMembers {
		tier := []string{"gold", "silver", "bronze"}[i%3]
		fmt.Fprintf(&m, "m%02d,acme,%s,%t,%t\n", i, tier, i%7 != 0, i%5 != 0)
	}
	writeFile(t, dir, "members.csv", m.String())
	for k := range faultSteps {
		var b strings.Builder
		b.WriteString("member_id,brand,type,ts,store\n")
		for range faultBatchRows {
			typ := []string{"queued", "purchased", "browsed"}[r.IntN(3)]
			at := faultNow(k).Add(time.Duration(r.IntN(16*60)-12*60) * time.Minute)
			fmt.Fprintf(&b, "m%02d,acme,%s,%s,%s\n", r.IntN(faultMembers), typ, at.Format("2006-01-02 15:04"), []string{"A", "B"}[r.IntN(2)])
		}
		writeFile(t, dir, fmt.Sprintf("batch%02d.csv", k), b.String())
	}
}

// replay runs the schedule from wherever the database stands: an import is
// skipped when the counter shows it committed, a tick when the run log has
// a run at or after its now. It ends with a dispatch, so sends of a tick
// whose dispatch was interrupted go out.
func replay(ctx context.Context, db *DB, dir string, sink Sink) error {
	prog := faultProgram()
	for k := range faultSteps {
		var seq int64
		if err := db.sql.QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'event_seq'`).Scan(&seq); err != nil {
			return err
		}
		if seq < int64((k+1)*faultBatchRows) {
			if _, err := db.Import(ctx, "events", []string{filepath.Join(dir, fmt.Sprintf("batch%02d.csv", k))}); err != nil {
				return err
			}
		}
		var last sql.NullTime
		if err := db.sql.QueryRowContext(ctx, `SELECT max(now) FROM runs`).Scan(&last); err != nil {
			return err
		}
		if last.Valid && !last.Time.Before(faultNow(k)) {
			continue
		}
		if _, err := db.Run(ctx, prog, RunOptions{Now: faultNow(k), Sinks: []Sink{sink}, SkipDecisions: true}); err != nil {
			return err
		}
	}
	_, err := db.Dispatch(ctx, nil, "acme", faultNow(faultSteps-1), []Sink{sink}, time.Minute, 0)
	return err
}

// helperTicks is the child of TestFaultKill.
func helperTicks(path string) error {
	dir := filepath.Dir(path)
	ctx := context.Background()
	db, err := Open(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	// Children cluster the events every tick consumed (cluster.go), so
	// kills also land in clustering; the reference keeps them in ingest
	// order, and the events must still compare equal.
	db.clusterMin = 1
	if err := replay(ctx, db, dir, &JSONLSink{Path: filepath.Join(dir, "crash.jsonl")}); err != nil {
		return err
	}
	// A kill after the last tick's commit (in its dispatch or clustering)
	// leaves that tick's events to the next tick's clustering, and replay
	// then runs no tick: catch up as that next tick would.
	var maxSeq int64
	if err := db.sql.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM events`).Scan(&maxSeq); err != nil {
		return err
	}
	_, err = db.clusterEvents(ctx, maxSeq)
	return err
}

// helperCmd returns a command re-executing the test binary in a helper mode.
func helperCmd(mode, path string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "NUDGE_RUNTIME_DB="+path)
	return cmd
}

func copyFile(t *testing.T, from, to string) {
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// snapshot renders the durable state a replay must reproduce exactly.
// Delivery bookkeeping (sent_at, attempts, last_error) is excluded: delivery
// is at-least-once and a crash may add attempts.
func snapshot(t *testing.T, db *DB) map[string][]string {
	return map[string][]string{
		"outbox": queryStrings(t, db, `SELECT firing_id, action_index, rule, brand, member_id, dedupe_key, action, kind, content, channel,
			status, reason, effective, fired_at, due_at, scheduled_at, idempotency_key, trigger_seq, run_id, CAST(vals AS VARCHAR)
			FROM outbox ORDER BY idempotency_key`),
		"tags":         queryStrings(t, db, `SELECT * FROM member_tags ORDER BY ALL`),
		"rule_state":   queryStrings(t, db, `SELECT rule, brand, wm_seq, wm_now, first_run_at, last_run_at FROM rule_state ORDER BY ALL`),
		"runs":         queryStrings(t, db, `SELECT id, now, brand, rules, candidates, firings, decisions, CAST(statuses AS VARCHAR) FROM runs ORDER BY id`),
		"rule_members": queryStrings(t, db, `SELECT * FROM rule_members ORDER BY ALL`),
		"events":       queryStrings(t, db, `SELECT seq, member_id, brand, type, ts, store FROM events ORDER BY seq`),
		"journeys":     queryStrings(t, db, `SELECT * FROM journey_instances ORDER BY ALL`),
		"journey rows": queryStrings(t, db, `SELECT idempotency_key, journey, step, variant FROM outbox WHERE journey IS NOT NULL ORDER BY ALL`),
	}
}

func TestFaultKill(t *testing.T) {
	t.Parallel() // long; independent of the other tests
	ctx := context.Background()
	dir := t.TempDir()
	writeFaultData(t, dir)
	base := filepath.Join(dir, "base.duckdb")
	db, err := Open(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Import(ctx, "members", []string{filepath.Join(dir, "members.csv")}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	refPath, crashPath := filepath.Join(dir, "ref.duckdb"), filepath.Join(dir, "crash.duckdb")
	copyFile(t, base, refPath)

	// The uninterrupted replay.
	start := time.Now()
	ref, err := Open(ctx, refPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	if err := replay(ctx, ref, dir, &JSONLSink{Path: filepath.Join(dir, "ref.jsonl")}); err != nil {
		t.Fatal(err)
	}
	refTime := time.Since(start)
	want := snapshot(t, ref)
	if len(want["outbox"]) == 0 {
		t.Fatal("the reference replay decided nothing")
	}
	// The money policies are in play: each refuses some sends.
	for _, st := range []string{"out_of_stock", "over_budget", "global control group"} {
		if n := len(queryStrings(t, ref, `SELECT firing_id FROM outbox WHERE status = $1 OR reason = $1`, st)); n == 0 {
			t.Errorf("the reference replay decided no %s", st)
		}
	}
	if len(want["journey rows"]) == 0 {
		t.Fatal("the reference replay ran no journey")
	}

	// A child's start-up (exec, open, WAL replay) is timed first; kill
	// delays are uniform over start-up plus about three steps, so a child
	// dies after a step or two, at any point of its life. An episode starts
	// from a fresh copy of the base database and restarts killed children
	// until one completes; then it is compared with the reference. Episodes
	// repeat until faultKills children have been killed.
	t0 := time.Now()
	if out, err := helperCmd("open", filepath.Join(dir, "probe.duckdb")).CombinedOutput(); err != nil {
		t.Fatalf("probe child: %v\n%s", err, out)
	}
	startup := time.Since(t0)
	window := startup + 3*refTime/faultSteps
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	kills, episodes := 0, 0
	for kills < faultKills {
		episodes++
		copyFile(t, base, crashPath)
		os.Remove(crashPath + ".wal")
		sinkPath := filepath.Join(dir, "crash.jsonl")
		os.Remove(sinkPath)
		for {
			cmd := helperCmd("ticks", crashPath)
			if kills == faultKills {
				// The last child of the last episode runs to completion.
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("final child: %v\n%s", err, out)
				}
				break
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			completed := false
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("child failed on its own: %v\n%s", err, stderr.String())
				}
				completed = true
			case <-time.After(time.Duration(r.Int64N(int64(window)))):
				cmd.Process.Kill()
				if err := <-done; err == nil {
					completed = true // it finished just before the kill
				} else {
					kills++
				}
			}
			if completed {
				break
			}
		}
		checkEpisode(t, crashPath, sinkPath, want)
	}
	t.Logf("reference replay %v (%d steps); child start-up %v; %d kills over %d episodes", refTime, faultSteps, startup, kills, episodes)
}

// checkEpisode compares a replayed database with the reference snapshot and
// checks that every sent row reached the sink at least once (a torn last
// line of a killed write is tolerated).
func checkEpisode(t *testing.T, path, sinkPath string, want map[string][]string) {
	t.Helper()
	crash, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer crash.Close()
	got := snapshot(t, crash)
	if n := count(t, crash, `SELECT count(*) FROM counters WHERE name = 'events_clustered' AND value = (SELECT max(seq) FROM events)`); n != 1 {
		t.Error("the children did not cluster the events their ticks consumed")
	}
	for _, table := range []string{"events", "outbox", "tags", "rule_state", "runs", "rule_members"} {
		if diff := diffLines(want[table], got[table]); diff != "" {
			t.Fatalf("%s differs from the uninterrupted replay (-want +got):\n%s", table, diff)
		}
	}
	delivered := map[string]int{}
	f, err := os.Open(sinkPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	torn := 0
	for sc.Scan() {
		var m Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			torn++
			continue
		}
		delivered[m.IdempotencyKey]++
	}
	dups := 0
	for _, n := range delivered {
		dups += n - 1
	}
	sent := queryStrings(t, crash, `SELECT idempotency_key FROM outbox WHERE status = 'sent'`)
	for _, k := range sent {
		if delivered[k] == 0 {
			t.Errorf("send %s is marked sent but never reached the sink", k)
		}
	}
	t.Logf("episode: outbox %d rows, %d sent, all delivered; %d redeliveries, %d torn lines", len(got["outbox"]), len(sent), dups, torn)
}

// diffLines reports lines missing from got (-) and extra in got (+).
func diffLines(want, got []string) string {
	count := map[string]int{}
	for _, l := range want {
		count[l]++
	}
	for _, l := range got {
		count[l]--
	}
	var b strings.Builder
	n := 0
	for l, c := range count {
		for ; c > 0 && n < 20; c-- {
			fmt.Fprintf(&b, "- %s\n", l)
			n++
		}
		for ; c < 0 && n < 20; c++ {
			fmt.Fprintf(&b, "+ %s\n", l)
			n++
		}
	}
	return b.String()
}
