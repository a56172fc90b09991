package runtime

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestJourneyTagsWithinTick: a journey's step sees the tags its
// instance's earlier steps applied in the same tick (consecutive steps,
// or a tick catching up on several), and the tags the rules applied in
// the tick, which run before the journeys; a rule sees a journey's tag at
// the next tick (docs/decisions.md, "Tags within a tick: journeys").
// Before, a journey's tags were applied with the tick's decisions, after
// every journey step, so `if tagged` after `tag` took the else branch
// when both ran in one tick and the then branch when ticks were a day
// apart, and a journey did not see a rule's tag of the same tick.
func TestJourneyTagsWithinTick(t *testing.T) {
	t.Parallel()
	// Each case is a member with one purchase at its own store, which only
	// the case's journey (and rule) read, and the tag x; the cases run
	// together, in one database, at the same ticks.
	ifX := `  if tagged "x"
    send coupon "A" via sms
  else
    send coupon "B" via sms
  end
end
`
	cases := []struct {
		name   string
		member string
		at     string // the purchase's time
		src    string // journeys and rules; STORE is the member's store
		tagged bool   // the member holds x before the first tick
		want   []string
		tags   []string // the member's tags at the end
	}{
		{
			name: "tag then if, one tick", member: "m1", at: "2024-11-11 10:00",
			src:  "journey j1\n  enter on purchased at store STORE\n  tag \"x\"\n" + ifX,
			want: []string{"j1 enter - 11-11 10:00", "j1 tag x 11-11 10:00", "j1 send A 11-11 10:00", "j1 complete - 11-11 10:00"},
			tags: []string{"x"},
		},
		{
			// The first tick tags, the last runs the if.
			name: "tag, wait, if: ticks apart", member: "m2", at: "2024-11-11 10:00",
			src:  "journey j2\n  enter on purchased at store STORE\n  tag \"x\"\n  wait 1 day\n" + ifX,
			want: []string{"j2 enter - 11-11 10:00", "j2 tag x 11-11 10:00", "j2 send A 11-12 10:00", "j2 complete - 11-12 10:00"},
			tags: []string{"x"},
		},
		{
			// The first tick catches up on the tag and the if.
			name: "tag, wait, if: one tick", member: "m3", at: "2024-11-09 10:00",
			src:  "journey j3\n  enter on purchased at store STORE\n  tag \"x\"\n  wait 1 day\n" + ifX,
			want: []string{"j3 enter - 11-09 10:00", "j3 tag x 11-09 10:00", "j3 send A 11-10 10:00", "j3 complete - 11-10 10:00"},
			tags: []string{"x"},
		},
		{
			name: "untag then if", member: "m4", at: "2024-11-11 10:00", tagged: true,
			src:  "journey j4\n  enter on purchased at store STORE\n  untag \"x\"\n" + ifX,
			want: []string{"j4 enter - 11-11 10:00", "j4 untag x 11-11 10:00", "j4 send B 11-11 10:00", "j4 complete - 11-11 10:00"},
		},
		{
			// (Before, it timed out at 11:00: the first tick reads the
			// tag before its step applied it.)
			name: "wait until tagged ends at once", member: "m5", at: "2024-11-11 10:00",
			src: `journey j5
  enter on purchased at store STORE
  tag "x"
  wait until tagged "x" for at most 1 hour
  send coupon "A" via sms
end
`,
			want: []string{"j5 enter - 11-11 10:00", "j5 tag x 11-11 10:00", "j5 send A 11-11 10:00", "j5 complete - 11-11 10:00"},
			tags: []string{"x"},
		},
		{
			name: "exit when tagged, before the next step", member: "m6", at: "2024-11-11 10:00",
			src: `journey j6
  enter on purchased at store STORE
  exit when tagged "x"
  send coupon "A" via sms
  tag "x"
  wait 1 hour
  send coupon "B" via sms
end
`,
			want: []string{"j6 enter - 11-11 10:00", "j6 send A 11-11 10:00", "j6 tag x 11-11 10:00", "j6 exit - 11-11 11:00"},
			tags: []string{"x"},
		},
		{
			name: "a rule's tag of the same tick", member: "m7", at: "2024-11-11 10:00",
			src:  "rule r7\n  if purchased at store STORE\n  then tag \"x\"\n\njourney j7\n  enter on purchased at store STORE\n" + ifX,
			want: []string{"r7 tag x 11-11 10:00", "j7 enter - 11-11 10:00", "j7 send A 11-11 10:00", "j7 complete - 11-11 10:00"},
			tags: []string{"x"},
		},
		{
			name: "a rule sees a journey's tag at the next tick", member: "m8", at: "2024-11-11 10:00",
			src: `rule r8
  if tagged "y"
  then send coupon "R" via sms

journey j8
  enter on purchased at store STORE
  tag "y"
end
`,
			want: []string{"j8 enter - 11-11 10:00", "j8 tag y 11-11 10:00", "j8 complete - 11-11 10:00", "r8 send R 11-14 12:00"},
			tags: []string{"y"},
		},
	}
	var members, events, src strings.Builder
	members.WriteString("member_id,brand,consent_sms\n")
	events.WriteString("member_id,brand,type,ts,store\n")
	src.WriteString("brand \"acme\"\nimport \"crm\"\n")
	for _, c := range cases {
		fmt.Fprintf(&members, "%s,acme,true\n", c.member)
		fmt.Fprintf(&events, "%s,acme,purchased,%s,%s\n", c.member, c.at, c.member)
		src.WriteString("\n" + strings.ReplaceAll(c.src, "STORE", strconv.Quote(c.member)))
	}
	db := fixture(t, members.String(), events.String())
	for _, c := range cases {
		if c.tagged {
			if _, err := db.sql.Exec(`INSERT INTO member_tags (brand, member_id, tag, tagged_at, rule) VALUES ('acme', $1, 'x', TIMESTAMP '2024-11-01 00:00', 'seed')`, c.member); err != nil {
				t.Fatal(err)
			}
		}
	}
	prog := compileJourneys(t, src.String())
	for _, now := range []string{"2024-11-11 12:00", "2024-11-14 12:00"} {
		run(t, db, prog, now, func(o *RunOptions) { o.Lookback = 30 * 24 * time.Hour })
	}
	for _, c := range cases {
		if got := tagDecisions(t, db, c.member); !slices.Equal(got, c.want) {
			t.Errorf("%s: decisions:\n%s\nwant:\n%s", c.name, strings.Join(got, "\n"), strings.Join(c.want, "\n"))
		}
		var tags []string
		rows, err := db.sql.QueryContext(context.Background(), `SELECT tag FROM member_tags WHERE member_id = $1 ORDER BY tag`, c.member)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var tag string
			if err := rows.Scan(&tag); err != nil {
				t.Fatal(err)
			}
			tags = append(tags, tag)
		}
		rows.Close()
		if !slices.Equal(tags, c.tags) {
			t.Errorf("%s: tags %v, want %v", c.name, tags, c.tags)
		}
	}
}

// tagDecisions lists the member's decisions as "rule action content due"
// (a state rule's: its tick), in the order of due time, rules before
// journeys, then the journey's steps.
func tagDecisions(t *testing.T, db *DB, member string) []string {
	t.Helper()
	rows, err := db.sql.QueryContext(context.Background(), `
SELECT rule || ' ' || action || ' ' || coalesce(content, '-') || ' ' || strftime(coalesce(due_at, fired_at), '%m-%d %H:%M')
FROM outbox WHERE member_id = $1
ORDER BY coalesce(due_at, fired_at), journey IS NOT NULL, CASE action WHEN 'enter' THEN 0 WHEN 'exit' THEN 2 WHEN 'complete' THEN 3 ELSE 1 END, step, action_index`, member)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
