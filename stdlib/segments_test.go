package stdlib_test

import (
	"database/sql"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"nudge/compiler"
	"nudge/lang/ast"
	"nudge/lang/check"
	"nudge/lang/parser"
	"nudge/stdlib"
)

// TestCRMSegments compiles every segment of module crm, as a state rule
// `rule r_SEGMENT if SEGMENT then ...` through the real checker and compiler,
// and runs it on the hand-computed dataset of seedRFM plus signup dates, at
// 2024-06-30 12:00 for brand acme.
//
//	member  signup_at          purchases (ever, up to now)        rfm
//	m1      2023-01-01         3, last yesterday, 600 in 365d     5 5 5
//	m2      2024-05-31 12:00   1 on 06-20 (+ one in the future)   4 3 3
//	m3      NULL               1 on 2023-01-01                    2 1 1
//	m4      2024-06-01 13:00   2, last 2024-04-01 10:00           3 4 4
//	m5      2024-06-20         none                               1 1 1
//	x1      brand other        one big purchase today             -
func TestCRMSegments(t *testing.T) {
	want := map[string][]string{
		"dormant":         {"m3"},
		"one_time_buyer":  {"m2", "m3"}, // m2's future purchase does not count
		"repeat_buyer":    {"m1", "m4"},
		"new_member":      {"m4", "m5"}, // m2 signed up exactly 30 days ago
		"high_value":      {"m1"},       // spend percentiles: m1 100, m4 75, m2 50
		"active_buyer":    {"m1", "m2"}, // m4's last purchase is 90 days and 2 hours ago
		"rfm_champions":   {"m1"},
		"rfm_loyal":       {"m1", "m4"}, // r >= 3 and f >= 4
		"rfm_at_risk":     nil,          // r <= 2 and f >= 3 and m >= 3
		"rfm_cant_lose":   nil,
		"rfm_new":         nil,    // r = 5 and f <= 1
		"rfm_hibernating": {"m3"}, // m5 never bought
	}
	db := openDB(t)
	seedRFM(t, db)
	for _, s := range []string{
		`UPDATE members SET signup_at = TIMESTAMP '2023-01-01 00:00' WHERE member_id = 'm1'`,
		`UPDATE members SET signup_at = TIMESTAMP '2024-05-31 12:00' WHERE member_id = 'm2'`,
		`UPDATE members SET signup_at = TIMESTAMP '2024-06-01 13:00' WHERE member_id = 'm4'`,
		`UPDATE members SET signup_at = TIMESTAMP '2024-06-20 00:00' WHERE member_id = 'm5'`,
		`UPDATE members SET signup_at = TIMESTAMP '2024-06-30 00:00' WHERE member_id = 'x1'`,
	} {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	var src strings.Builder
	src.WriteString("import \"crm\"\n")
	for _, n := range names {
		fmt.Fprintf(&src, "rule r_%s if %s then tag \"x\"\n", n, n)
	}
	f, diags := parser.ParseFile("segments.nudge", []byte(src.String()))
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	info, diags := check.Check([]*ast.File{f}, stdlib.Env())
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	if len(want) != len(info.Segments) {
		t.Errorf("crm has %d segments, the test covers %d", len(info.Segments), len(want))
	}
	prog, diags := compiler.Compile(info)
	if len(diags) > 0 {
		t.Fatal(diags)
	}
	for _, r := range prog.Rules {
		name := strings.TrimPrefix(r.Name, "r_")
		t.Run(name, func(t *testing.T) {
			rows, err := db.Query(r.SQL, sql.Named("now", ts("2024-06-30 12:00")), sql.Named("brand", "acme"))
			if err != nil {
				t.Fatalf("%v\n%s", err, r.SQL)
			}
			defer rows.Close()
			cols, err := rows.Columns()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for rows.Next() {
				var id string
				vals := []any{&id}
				for len(vals) < len(cols) {
					vals = append(vals, new(any))
				}
				if err := rows.Scan(vals...); err != nil {
					t.Fatal(err)
				}
				got = append(got, id)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if strings.Join(got, ",") != strings.Join(want[name], ",") {
				t.Errorf("segment %s = %v, want %v\n%s", name, got, want[name], r.SQL)
			}
		})
	}
}
