package compiler

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// treeString renders an explanation tree compactly: kind, label, operator.
func treeString(n *Node) string {
	kinds := map[NodeKind]string{NodeAnd: "and", NodeOr: "or", NodeNot: "not", NodeSegment: "segment", NodeAtom: "atom"}
	var b strings.Builder
	b.WriteString("(" + kinds[n.Kind] + " " + n.Label)
	if n.Op != "" {
		fmt.Fprintf(&b, " [%s %s %s]", n.LeftLabel, n.Op, strings.Join(n.RightLabels, ","))
	}
	if n.Trigger {
		b.WriteString(" trigger")
	}
	if n.Count != "" {
		b.WriteString(" count")
	}
	for _, c := range n.Children {
		b.WriteString(" " + treeString(c))
	}
	return b.String() + ")"
}

// TestWhyAgreesWithRuleQueries checks, for rules of every shape, the
// explanation tree, and that the explanation query's `fires` column holds
// for exactly the rows the rule query returns.
func TestWhyAgreesWithRuleQueries(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	load(t, db, []member{
		parseMember(t, "m1 city=长沙 tier=gold"), parseMember(t, "m2 city=北京"), parseMember(t, "m3 tier=silver"),
	}, []event{
		parseEvent(t, "1 m1 purchased 2024-08-01T10:00 amount=100"),
		parseEvent(t, "2 m1 purchased 2024-11-11T09:00 amount=400"),
		parseEvent(t, "3 m2 purchased 2024-10-01T10:00 amount=20"),
		parseEvent(t, "4 m2 queued 2024-11-11T08:00 store=A"),
		parseEvent(t, "5 m3 booked 2024-11-11T09:30 store=B"),
		parseEvent(t, "6 m3 order_placed 2024-11-11T06:00 order=o1"),
		parseEvent(t, "7 m1 order_placed 2024-11-11T05:00 order=o2"),
		parseEvent(t, "8 m1 paid 2024-11-11T06:00 order=o2"),
	}, nil)
	now := time.Date(2024, 11, 11, 10, 0, 0, 0, time.UTC)
	cases := []struct{ rule, tree string }{
		{`segment big = sum(purchased.amount ever) >= 300
rule r if big or member.city in ("长沙", "北京") then tag "x"`,
			`(or big or member.city in ("长沙", "北京") (segment big (atom sum(purchased.amount ever) >= 300 [sum(purchased.amount ever) >= 300])) (atom member.city in ("长沙", "北京") [member.city in "长沙","北京"]))`},
		{`rule r if days since last purchased between 0 and 60 and not purchased in last 7 days then tag "x"`,
			`(and days since last purchased between 0 and 60 and not purchased in last 7 days (atom days since last purchased between 0 and 60 [days since last purchased between 0,60]) (not not purchased in last 7 days (atom purchased in last 7 days count)))`},
		{`rule r if queued at store "A" or booked at store "A" then tag "x"`,
			`(or queued at store "A" or booked at store "A" (atom queued at store "A" trigger (atom store = "A" [queued.store = "A"])) (atom booked at store "A" trigger (atom store = "A" [booked.store = "A"])))`},
		{`rule r if purchased where amount > 2 * avg(purchased.amount before) then tag "x"`,
			`(atom purchased where amount > 2 * avg(purchased.amount before) trigger (atom amount > 2 * avg(purchased.amount before) [amount > 2 * avg(purchased.amount before)]))`},
		// Windows and days since end at the due time (m1's purchase of
		// August and m2's fire; at now, neither would).
		{`rule r if purchased and sum(purchased.amount in last 1 day) < 200 and days since last purchased < 1 then tag "x"`,
			`(and purchased and sum(purchased.amount in last 1 day) < 200 and days since last purchased < 1 (atom purchased trigger) (atom sum(purchased.amount in last 1 day) < 200 [sum(purchased.amount in last 1 day) < 200]) (atom days since last purchased < 1 [days since last purchased < 1]))`},
		{`rule r if order_placed not followed by paid matching order_id within 2 hours then tag "x"`,
			`(atom order_placed not followed by paid matching order_id within 2 hours trigger (atom not followed by paid matching order_id within 2 hours))`},
	}
	for _, c := range cases {
		t.Run(c.rule, func(t *testing.T) {
			prog, info, err := compileText("import \"crm\"\n" + c.rule)
			if err != nil {
				t.Fatal(err)
			}
			exps, diags := Why(info)
			if diags.HasErrors() || len(exps) != 1 {
				t.Fatalf("Why: %v (%d explanations)", diags, len(exps))
			}
			if got := treeString(exps[0].Root); got != c.tree {
				t.Errorf("tree:\n%s\nwant:\n%s", got, c.tree)
			}
			want, err := runRule(ctx, db, prog.Rules[0], now, noWatermark)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 {
				t.Fatal("the rule fires for nobody: the case checks nothing")
			}
			got, err := firing(ctx, db, exps[0], now)
			if err != nil {
				t.Fatalf("%v\n%s", err, exps[0].SQL)
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("explanation fires for %v, rule query returns %v", got, want)
			}
		})
	}
}

// firing runs an explanation query for every member and returns the rows
// whose fires column holds, rendered as runRule does.
func firing(ctx context.Context, db *sql.DB, e *Explanation, now time.Time) ([]string, error) {
	rows, err := db.QueryContext(ctx, e.SQL, append(namedArgs(now, e.Watermarks), sql.Named(ParamMember, nil))...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	fi := -1
	for i, c := range cols {
		if c == "fires" {
			fi = i
		}
	}
	var out []string
	for rows.Next() {
		var mid string
		var seq sql.NullInt64
		var due sql.NullTime
		var fires bool
		dest := []any{&mid, &seq, &due}
		for i := range cols[3:] {
			if i+3 == fi {
				dest = append(dest, &fires)
			} else {
				dest = append(dest, new(any))
			}
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if !fires {
			continue
		}
		if !seq.Valid {
			out = append(out, mid)
			continue
		}
		out = append(out, fmt.Sprintf("%s#%d@%s", mid, seq.Int64, due.Time.UTC().Format("2006-01-02T15:04")))
	}
	sort.Strings(out)
	return out, rows.Err()
}
