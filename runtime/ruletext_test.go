package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// nudgeString writes s as a nudge string literal, with the language's
// escapes: \" \\ \n \t and \uXXXX for the other control characters and
// the Unicode line separators.
func nudgeString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// TestRuleTextInSQL: the strings of a program reach the SQL of its rules
// (literals, the comments naming candidate CTEs, titles, value labels)
// and the runtime runs several rules' queries in one statement, each with
// its own watermarks. Whatever a string holds (escaped quotes and
// backslashes, SQL quotes, comment markers, parameter-like text, line
// breaks, Chinese), in every place a string can be written, each rule sees
// exactly its own events: rule second, new at the second tick, considers
// the events of its lookback, rule pizza only the event ingested since its
// previous tick.
func TestRuleTextInSQL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, value string }{
		{"escaped quote", `12" pizza`},
		{"escaped quote and backslash", `12\" pizza`},
		{"backslash", `C:\coupons\`},
		{"single quote", `it's`},
		{"doubled single quote", `it''s '`},
		{"watermark parameter", `$wm_seq::BIGINT`},
		{"parameters", `$wm_now $wm_seq_0 $now $brand`},
		{"block comment end", `*/ SELECT 1 /*`},
		{"line comment", `-- $wm_seq`},
		{"newline", "a\n$wm_seq\nb"},
		{"carriage return", "a\r$wm_now"},
		{"tab", "a\tb"},
		{"line separator", "a\u2028b"},
		{"chinese", `望湘园 12" 披萨`},
		{"everything", "望湘园 \\\" '$wm_seq' */ -- \n\"$wm_now\" \\"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := nudgeString(tc.value)
			first := `rule pizza ` + s + `
  if purchased of sku ` + s + ` and 粉丝
  then send coupon ` + s + ` via app_push and tag ` + s + `
`
			second := `rule slice ` + s + `
  if purchased where sku = ` + s + ` and member.city in (` + s + `, "x") and count(purchased of sku ` + s + ` ever) >= 1
  then send coupon ` + s + ` via app_push
`
			head := `brand "acme"
import "crm"
segment 粉丝 ` + s + ` = member.city = ` + s + "\n"
			dir := t.TempDir()
			onlyFirst := compileFile(t, writeFile(t, dir, "first.nudge", head+first))
			both := compileFile(t, writeFile(t, dir, "both.nudge", head+first+second))

			db := openTest(t)
			ctx := context.Background()
			jsonl := func(name string, rows ...map[string]any) string {
				var b strings.Builder
				for _, r := range rows {
					line, err := json.Marshal(r)
					if err != nil {
						t.Fatal(err)
					}
					b.Write(line)
					b.WriteByte('\n')
				}
				return writeFile(t, dir, name, b.String())
			}
			member := func(id, city string) map[string]any {
				return map[string]any{"member_id": id, "brand": "acme", "city": city, "consent_app_push": true}
			}
			event := func(id, ts string) map[string]any {
				return map[string]any{"member_id": id, "brand": "acme", "type": "purchased", "ts": ts, "sku": tc.value}
			}
			if _, err := db.Import(ctx, "members", []string{jsonl("members.jsonl", member("m1", tc.value), member("m2", "elsewhere"), member("m3", tc.value))}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Import(ctx, "events", []string{jsonl("e1.jsonl", event("m1", "2024-11-11 09:00"), event("m2", "2024-11-11 09:30"))}); err != nil {
				t.Fatal(err)
			}
			expect(t, "first alone", run(t, db, onlyFirst, "2024-11-11 10:00").Decisions,
				"pizza m1 send pending\npizza m1 tag applied\n")
			if _, err := db.Import(ctx, "events", []string{jsonl("e2.jsonl", event("m3", "2024-11-11 11:00"))}); err != nil {
				t.Fatal(err)
			}
			res := run(t, db, both, "2024-11-11 12:00")
			got := strings.Split(strings.TrimSpace(brief(res.Decisions)), "\n")
			slices.Sort(got)
			want := []string{"pizza m3 send pending", "pizza m3 tag applied", "slice m1 send pending", "slice m3 send pending"}
			if !slices.Equal(got, want) {
				t.Errorf("both rules: decisions %q, want %q", got, want)
			}
			for _, d := range res.Decisions {
				if d.Content != tc.value {
					t.Errorf("%s %s %s: content %q, want %q", d.Rule, d.MemberID, d.Action, d.Content, tc.value)
				}
			}
			state := queryStrings(t, db, `SELECT rule, wm_seq, strftime(wm_now, '%H:%M') FROM rule_state ORDER BY rule`)
			if want := []string{"pizza|3|12:00", "slice|3|12:00"}; !slices.Equal(state, want) {
				t.Errorf("rule_state = %q, want %q", state, want)
			}
			// Each event once per rule: a later event fires both, nothing else.
			if _, err := db.Import(ctx, "events", []string{jsonl("e3.jsonl", event("m1", "2024-11-11 12:30"))}); err != nil {
				t.Fatal(err)
			}
			expect(t, "third tick", run(t, db, both, "2024-11-11 13:00").Decisions,
				"pizza m1 send pending\npizza m1 tag applied\nslice m1 send pending\n")
			tags := queryStrings(t, db, `SELECT member_id, tag FROM member_tags ORDER BY ALL`)
			if want := []string{"m1|" + tc.value, "m3|" + tc.value}; !slices.Equal(tags, want) {
				t.Errorf("tags = %q, want %q", tags, want)
			}
		})
	}
}
