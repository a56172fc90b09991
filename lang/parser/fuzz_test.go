package parser_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"nudge/lang/format"
	"nudge/lang/parser"
)

// FuzzParse parses arbitrary input, formats what parses and parses the
// result again: nothing may panic, a formatted file must parse without
// errors and formatting must be idempotent. Seeds are the parser and
// formatter test inputs; crashers found are kept in testdata/fuzz.
func FuzzParse(f *testing.F) {
	for _, pat := range []string{"testdata/valid/*.nudge", "testdata/syntax/*.nudge", "../format/testdata/*.input"} {
		files, _ := filepath.Glob(pat)
		for _, name := range files {
			src, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		file, diags := parser.ParseFile("fuzz.nudge", src)
		if file == nil {
			t.Fatal("nil file")
		}
		for _, d := range diags {
			if d.Code != "syntax" || !d.Span.IsValid() {
				t.Fatalf("bad diagnostic %+v", d)
			}
		}
		_, _ = parser.ParseCondition("fuzz", src)
		if diags.HasErrors() {
			return
		}
		out := format.File(file)
		file2, diags2 := parser.ParseFile("fuzz.nudge", out)
		if diags2.HasErrors() {
			t.Fatalf("formatted output does not parse: %v\n--- input\n%q\n--- output\n%s", diags2, src, out)
		}
		if out2 := format.File(file2); !bytes.Equal(out, out2) {
			t.Fatalf("format not idempotent\n--- input\n%q\n--- first\n%s\n--- second\n%s", src, out, out2)
		}
	})
}

// BenchmarkParse parses a generated ~30-line rule file (SPEC §3 style).
func BenchmarkParse(b *testing.B) {
	src := []byte(benchSource)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, diags := parser.ParseFile("bench.nudge", src); len(diags) > 0 {
			b.Fatal(diags)
		}
	}
}

const benchSource = `# generated benchmark file
brand "acme"
import "crm"

segment recent_visitor = visited in last 3 months
segment loyal "Loyal buyers" =
    purchased at least 3 times in last 365 days
    and sum(purchased.amount in last 365 days) >= 500

rule store_a_coupon "Coupon for store A visitors"
  if queued at store "A" or booked at store "A"
  then send coupon "A-10OFF" via sms
  limit once per member every 7 days

rule spending_spike
  if purchased where amount > 1.5 * avg(purchased.amount before)
     and count(purchased before) >= 3
  then tag "upgrading" and send recommendation "premium-picks" via app_push

rule dormancy_reminder
  if days since last purchased > 90 and member.city = "长沙"
  then send reminder "we-miss-you" via sms
  limit once per member every 30 days
  stop after 3 unanswered

rule pay_reminder
  if order_placed not followed by paid matching order_id within 2 hours
  then send reminder "please-pay" via app_push

cap sms to 1 per day
quiet hours 22:00 to 08:00
`
