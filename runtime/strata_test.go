package runtime

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nudge/compiler"
	"nudge/internal/tickform"
)

// compileSource compiles rule source text through the checker and the
// compiler, as `nudge run` does.
func compileSource(t testing.TB, src string) *compiler.Program {
	t.Helper()
	return compileFile(t, writeFile(t, t.TempDir(), "rules.nudge", src))
}

const strataMembers = `member_id,brand,tier,consent_sms,consent_email,consent_app_push
m1,acme,gold,true,true,true
m2,acme,gold,true,true,true
m3,acme,silver,true,true,true
`

const strataEvents = `member_id,brand,type,ts,amount
m1,acme,purchased,2024-11-10 09:00,200
m2,acme,purchased,2024-09-01 09:00,20
`

// TestTagStrata: within one tick a rule that reads a tag other rules write
// is evaluated after them and sees their tags (SPEC §5 Actions), whatever
// the order of the rules in the source. Each case runs its ticks in turn
// (the first evaluates everyone, the later ones incrementally) and lists
// the decisions of each and the tags after the last.
func TestTagStrata(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		src     string
		setup   string // SQL run before the first tick
		ticks   []string
		events  []string // CSV rows (strataEvents' columns) imported before the tick of the same index
		want    []string // the decisions of each tick
		wantTag string   // member_tags after the last tick
	}{
		{
			name: "two waves: the second skips the members the first reached",
			src: `brand "acme"
import "crm"
rule wave2
  if count(purchased in last 90 days) >= 1 and not tagged "reached"
  then send coupon "W2" via sms
rule wave1
  if count(purchased in last 30 days) >= 1
  then tag "reached" and send coupon "W1" via email
`,
			ticks: []string{"2024-11-11 10:00"},
			want: []string{"wave2 m2 send pending\n" +
				"wave1 m1 tag applied\nwave1 m1 send pending\n"},
			wantTag: "m1|reached|wave1",
		},
		{
			name: "two waves, incrementally: a later purchase reaches m2 in the first wave",
			src: `brand "acme"
import "crm"
rule wave2
  if count(purchased in last 90 days) >= 1 and not tagged "reached"
  then send coupon "W2" via sms
  limit once per member every 1 hour
rule wave1
  if count(purchased in last 30 days) >= 1
  then tag "reached" and send coupon "W1" via email
`,
			ticks:  []string{"2024-11-11 08:00", "2024-11-11 10:00"},
			events: []string{"", "m2,acme,purchased,2024-11-11 09:30,30\n"},
			want: []string{
				"wave2 m2 send pending\nwave1 m1 tag applied\nwave1 m1 send pending\n",
				"wave1 m2 tag applied\nwave1 m2 send pending\n",
			},
			wantTag: "m1|reached|wave1 m2|reached|wave1",
		},
		{
			name: "a trigger rule's tag is seen by a state rule in the same tick",
			src: `brand "acme"
import "crm"
rule welcome_vip
  if tagged "vip"
  then send coupon "VIP" via sms
rule vip
  if purchased where amount > 100
  then tag "vip"
`,
			ticks:   []string{"2024-11-11 08:00"},
			want:    []string{"welcome_vip m1 send pending\nvip m1 tag applied\n"},
			wantTag: "m1|vip|vip",
		},
		{
			name: "an untag is seen too, and a chain of three strata",
			src: `brand "acme"
import "crm"
segment paused = tagged "paused"
rule remind
  if paused
  then send reminder "R" via sms and tag "reminded"
rule wake
  if count(purchased in last 30 days) >= 1
  then untag "paused"
rule report
  if tagged "reminded"
  then notify "crm"
`,
			setup: `INSERT INTO member_tags (brand, member_id, tag, tagged_at) VALUES
				('acme', 'm1', 'paused', TIMESTAMP '2024-01-01'), ('acme', 'm3', 'paused', TIMESTAMP '2024-01-01')`,
			ticks: []string{"2024-11-11 10:00"},
			want: []string{"remind m3 send pending\nremind m3 tag applied\n" +
				"wake m1 untag applied\n" +
				"report m3 notify pending\n"},
			wantTag: "m3|paused| m3|reminded|remind",
		},
		{
			name: "a rule reading its own tag sees the tags as at the start of its stratum",
			src: `brand "acme"
rule greet
  if not tagged "greeted" and member.tier = "gold"
  then tag "greeted" and send message "hello" via app_push
  limit once per member every 1 hour
`,
			ticks:   []string{"2024-11-11 10:00", "2024-11-11 12:00"},
			want:    []string{"greet m1 tag applied\ngreet m1 send pending\ngreet m2 tag applied\ngreet m2 send pending\n", ""},
			wantTag: "m1|greeted|greet m2|greeted|greet",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, full := range []bool{false, true} {
				db := fixture(t, strataMembers, strataEvents)
				if c.setup != "" {
					if _, err := db.sql.Exec(c.setup); err != nil {
						t.Fatal(err)
					}
				}
				prog := compileSource(t, c.src)
				for i, now := range c.ticks {
					if i < len(c.events) && c.events[i] != "" {
						importEvents(t, db, "member_id,brand,type,ts,amount\n"+c.events[i])
					}
					res := run(t, db, prog, now, func(o *RunOptions) { o.EvaluateAll = full })
					expect(t, now, res.Decisions, c.want[i])
				}
				if got := strings.Join(queryStrings(t, db, `SELECT member_id, tag, coalesce(rule, '') FROM member_tags ORDER BY ALL`), " "); got != c.wantTag {
					t.Errorf("full %t: tags = %s, want %s", full, got, c.wantTag)
				}
			}
		})
	}
}

// TestTagStrataDryRun: a dry run sees the tags of earlier strata and
// leaves no tag behind.
func TestTagStrataDryRun(t *testing.T) {
	t.Parallel()
	db := fixture(t, strataMembers, strataEvents)
	prog := compileSource(t, `brand "acme"
import "crm"
rule wave2
  if count(purchased in last 90 days) >= 1 and not tagged "reached"
  then send coupon "W2" via sms
rule wave1
  if count(purchased in last 30 days) >= 1
  then tag "reached"
`)
	res := run(t, db, prog, "2024-11-11 10:00", func(o *RunOptions) { o.DryRun = true })
	expect(t, "dry run", res.Decisions, "wave2 m2 send pending\nwave1 m1 tag applied\n")
	if got := queryStrings(t, db, `SELECT member_id FROM member_tags`); len(got) != 0 {
		t.Errorf("a dry run left tags: %v", got)
	}
}

// TestTagStrataDifferential is the differential proof for programs with
// strata: two copies of a demo database go through the same random history,
// one ticked incrementally, the other evaluating every member at every tick;
// a tag written in a tick by one stratum must put its member in the scope of
// the later ones (their rules read tags, so they have no Delta and are
// evaluated over everyone, and a trigger rule reads its members' tags as they
// are in the tick's transaction). Rules of testdata/strata.nudge read tags
// other rules write and untag, through segments too, over three strata.
func TestTagStrataDifferential(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("long: many ticks over a demo database")
	}
	prog := compileFile(t, filepath.Join("testdata", "strata.nudge"))
	if prog.Strata() < 3 {
		t.Fatalf("testdata/strata.nudge has %d strata, want at least 3", prog.Strata())
	}
	steps := []time.Duration{0, 20 * time.Minute, time.Hour, 5 * time.Hour, 24 * time.Hour, 49 * time.Hour}
	// (24 ticks: every step four times; 30 kept the test suite near its
	// ten minutes.)
	incrementalMatchesFull(t, prog, steps, 24)
}

// TestReplayDeclinesStrata: Replay declines a program with strata even if
// every rule had a lane form and a Delta, continuous since the previous
// tick (a round applies every rule's tags at once).
func TestReplayDeclinesStrata(t *testing.T) {
	t.Parallel()
	db := fixture(t, strataMembers, "")
	prog := &compiler.Program{Rules: []*compiler.Rule{
		{Name: "reader", SQL: allMembers, Tick: tickform.Forms{LaneSQL: allMembers, Delta: &tickform.Delta{}}, Stratum: 1, Actions: []compiler.Action{{Verb: "tag", Content: "y"}}},
		{Name: "writer", SQL: allMembers, Tick: tickform.Forms{LaneSQL: allMembers, Delta: &tickform.Delta{}}, Actions: []compiler.Action{{Verb: "tag", Content: "x"}}},
	}}
	run(t, db, prog, "2024-11-11 10:00")
	now := ts("2024-11-11 10:00")
	_, err := db.Replay(context.Background(), prog, RunOptions{}, now, []time.Time{now.Add(time.Hour)})
	if !IsNotReplayable(err) {
		t.Fatalf("Replay of a program with strata: %v, want a decline", err)
	}
}
