package lang_test

import (
	"fmt"
	"strings"
	"testing"

	"nudge/internal/cputime"
	"nudge/lang"
	"nudge/lang/check"
	"nudge/stdlib"
)

// genFile returns a generated rule file of about 30 lines with names unique
// to index i.
func genFile(i int) lang.Source {
	var b strings.Builder
	fmt.Fprintf(&b, `# generated rule file %d
import "crm"

segment recent_%d "Recent visitors %d" = visited in last %d days
segment loyal_%d =
    purchased at least 3 times in last 365 days
    and sum(purchased.amount in last 365 days) >= %d

rule store_coupon_%d "Coupon for store %d"
  if queued at store "S%d" or booked at store "S%d"
  then send coupon "C-%d" via sms
  limit once per member every 7 days

rule spike_%d
  if purchased where amount > 1.5 * avg(purchased.amount before)
     and count(purchased before) >= 3
  then tag "upgrading" and send recommendation "premium" via app_push

rule dormancy_%d
  if days since last purchased > %d and loyal_%d
  then send reminder "we-miss-you" via sms
  limit once per member every 30 days
  stop after 3 unanswered

rule unpaid_%d
  if order_placed not followed by paid matching order_id within 2 hours
  then send reminder "please-pay" via app_push

rule local_%d
  if recent_%d and member.city = "长沙" and member.tier in ("gold", "silver")
  then send voucher "V-%d" via wechat
  priority %d
`, i, i, i, 30+i%60, i, 100+i, i, i, i, i, i, i, i, 60+i%90, i, i, i, i, i, i%10)
	return lang.Source{Name: fmt.Sprintf("gen/rules_%04d.nudge", i), Src: []byte(b.String())}
}

// BenchmarkLoad parses and checks 1,000 generated rule files of ~30 lines
// as one program and reports files per second.
func BenchmarkLoad(b *testing.B) {
	const n = 1000
	srcs := make([]lang.Source, n)
	for i := range srcs {
		srcs[i] = genFile(i)
	}
	env := stdlib.Env()
	if _, diags := lang.LoadSources(srcs, env); len(diags) > 0 {
		b.Fatalf("generated files have diagnostics: %v", diags)
	}
	b.ResetTimer()
	cpu0 := cputime.Process()
	for b.Loop() {
		_, diags := lang.LoadSources(srcs, env)
		if len(diags) > 0 {
			b.Fatal(diags)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "files/s")
	b.ReportMetric(float64(n*b.N)/(cputime.Process()-cpu0).Seconds(), "files/cpu-s")
}

// BenchmarkCheck checks the same 1,000 parsed files (parsing excluded), to
// tell the checker's share of BenchmarkLoad.
func BenchmarkCheck(b *testing.B) {
	const n = 1000
	srcs := make([]lang.Source, n)
	for i := range srcs {
		srcs[i] = genFile(i)
	}
	env := stdlib.Env()
	prog, diags := lang.LoadSources(srcs, env)
	if len(diags) > 0 {
		b.Fatal(diags)
	}
	b.ResetTimer()
	cpu0 := cputime.Process()
	for b.Loop() {
		if _, diags := check.Check(prog.Files, env); len(diags) > 0 {
			b.Fatal(diags)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "files/s")
	b.ReportMetric(float64(n*b.N)/(cputime.Process()-cpu0).Seconds(), "files/cpu-s")
}
