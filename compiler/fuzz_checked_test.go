package compiler_test

// This file is an external test package (compiler_test) because it runs
// the program through runtime, which imports compiler.

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"nudge/compiler"
	"nudge/lang"
	"nudge/runtime"
	"nudge/runtime/runtimetest"
	"nudge/stdlib"
)

// FuzzCheckedCompiles is the product's contract (SPEC §7, "a program that
// `nudge check` passes must run"): every source text that lang.LoadSources
// (what `nudge check` runs) accepts without errors compiles without
// errors, every query the compiler produces (each rule's and journey
// entry's full, as-the-runtime-runs-it, scoped and lane forms, and each
// `why` explanation query) prepares in DuckDB over the runtime's migrated
// schema, and a dry-run tick of the program over a few members and events
// (which composes and runs the journeys' exit, wait and if conditions)
// succeeds. Nothing may panic.
//
// The seeds are every rule file of the repository (examples, lang and
// compiler testdata, the .nudge files of cmd/nudge's scripts, the stdlib
// modules) and generated stress inputs (fuzzStress); the saved failures are
// in testdata/fuzz/FuzzCheckedCompiles.
//
//	go test ./compiler -run '^$' -fuzz '^FuzzCheckedCompiles$' -fuzztime 10m
func FuzzCheckedCompiles(f *testing.F) {
	for _, src := range fuzzSeeds(f) {
		f.Add(src)
	}
	// The largest stress inputs take seconds each (a rule of 500 trigger
	// atoms ticks in 5 s): only -checkedfull runs them, the fuzzer would
	// spend its time there.
	for _, s := range fuzzStress(!*checkedFull) {
		f.Add([]byte(s))
	}
	env := stdlib.Env()
	f.Fuzz(func(t *testing.T, src []byte) {
		prog, diags := lang.LoadSources([]lang.Source{{Name: "fuzz.nudge", Src: src}}, env)
		if prog == nil || prog.Info == nil {
			t.Fatal("LoadSources returned no program")
		}
		if diags.HasErrors() {
			return
		}
		p, cdiags := compiler.Compile(prog.Info)
		if cdiags.HasErrors() || p == nil {
			t.Fatalf("check accepts the program, compile refuses it: %v\n--- input:\n%s", cdiags, src)
		}
		exps, wdiags := compiler.Why(prog.Info)
		if wdiags.HasErrors() {
			t.Fatalf("check accepts the program, compiler.Why refuses it: %v\n--- input:\n%s", wdiags, src)
		}
		if _, jdiags := compiler.WhyJourneys(prog.Info); jdiags.HasErrors() {
			t.Fatalf("check accepts the program, compiler.WhyJourneys refuses it: %v\n--- input:\n%s", jdiags, src)
		}
		fx := checkedDB(t)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, q := range checkedQueries(p, exps) {
			if err := fx.prepare(ctx, q.sql); err != nil {
				t.Fatalf("%s does not prepare: %v\n--- input:\n%s\n--- sql:\n%s", q.name, err, src, q.sql)
			}
		}
		if p.Brand != "" && p.Brand != fixtureBrand {
			return // a tick refuses a brand the database does not hold; the queries prepared
		}
		ticks := fixtureTicks
		if !fullRun() {
			// The seed run in `go test` ticks only the programs with
			// journeys (whose conditions only a tick composes), once: a
			// tick costs about 100 ms, a prepare a few.
			if len(p.Journeys) == 0 {
				return
			}
			ticks = ticks[:1]
		}
		for _, now := range ticks {
			if _, err := fx.db.Run(ctx, p, runtime.RunOptions{Now: now, DryRun: true, Lookback: 3 * 365 * 24 * time.Hour}); err != nil {
				t.Fatalf("dry-run tick at %s: %v\n--- input:\n%s", now.Format(time.DateTime), err, src)
			}
		}
	})
}

var checkedFull = flag.Bool("checkedfull", false, "FuzzCheckedCompiles: without -fuzz, run the seeds as the fuzzer does (the largest stress inputs, every tick)")

// fullRun reports whether FuzzCheckedCompiles runs in full: the fuzzer's
// (-test.fuzz) or -checkedfull. Otherwise, in the seed run of `go test`,
// it leaves out the largest stress inputs and ticks less.
func fullRun() bool {
	fl := flag.Lookup("test.fuzz")
	return *checkedFull || fl != nil && fl.Value.String() != ""
}

// checkedQuery is one query of a compiled program, named for messages.
type checkedQuery struct{ name, sql string }

// checkedQueries lists every query the compiler produced for p and exps.
func checkedQueries(p *compiler.Program, exps []*compiler.Explanation) []checkedQuery {
	var out []checkedQuery
	rules := slices.Clone(p.Rules)
	for _, j := range p.Journeys {
		rules = append(rules, j.Enter)
	}
	for _, r := range rules {
		for _, q := range []checkedQuery{
			{"full", r.SQL},
			{"full, as the runtime runs it", fmt.Sprintf("SELECT 0, q.member_id FROM (\n%s\n) q", strings.TrimRight(strings.TrimSpace(r.SQL), ";"))},
			{"scoped", r.Tick.ScopedSQL},
			{"lane", r.Tick.LaneSQL},
		} {
			if q.sql != "" {
				out = append(out, checkedQuery{"rule " + r.Name + " (" + q.name + " form)", q.sql})
			}
		}
	}
	for _, e := range exps {
		out = append(out, checkedQuery{"explanation of " + e.Rule, e.SQL})
	}
	return out
}

// fixtureBrand is the brand of the fixture's members and events.
const fixtureBrand = "acme"

// fixtureTicks are the instants of the dry-run ticks: one inside the
// events' span and one months after it (dormancy, waits run out).
var fixtureTicks = []time.Time{
	time.Date(2024, 11, 11, 12, 0, 0, 0, time.UTC),
	time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC),
}

// fixtureMembers and fixtureEvents are the fixture's data: examples/data
// and events of every crm type, with props, so that conditions are
// evaluated over rows (a conversion error shows only then).
const fixtureMembers = `member_id,brand,name,phone,city,tier,birthday,signup_at,consent_sms,consent_app_push,consent_wechat,consent_phone,attrs
M1,acme,王芳,13800000001,长沙,gold,1990-11-11,2022-03-01 09:00:00,true,true,true,true,"{""score"": 5, ""vip"": true, ""note"": ""x""}"
M2,acme,李强,13800000002,长沙,silver,1985-06-02,2023-07-15 09:00:00,true,false,true,false,
M3,acme,张敏,13800000003,上海,bronze,1992-01-20,2024-09-20 09:00:00,false,true,false,false,"{""score"": ""high""}"
M4,acme,,,,,,,,,,,
`

func fixtureEvents() string {
	var b strings.Builder
	b.WriteString("member_id,brand,type,ts,store,sku,category,amount,channel,order_id,props\n")
	types := []string{"queued", "booked", "visited", "purchased", "order_placed", "paid", "refunded", "browsed",
		"carted", "favorited", "message_opened", "message_clicked", "subscribed", "unsubscribed"}
	start := time.Date(2024, 1, 5, 9, 30, 15, 0, time.UTC)
	for i, typ := range types {
		for k, m := range []string{"M1", "M2", "M3"} {
			ts := start.Add(time.Duration(i*23+k*7) * 24 * time.Hour).Add(time.Duration(i*k) * time.Hour)
			props := `"{""qty"": 2, ""flag"": true, ""label"": ""a"", ""n"": 1.5}"`
			if k == 2 {
				props = `"{""qty"": ""many"", ""n"": ""NaN""}"`
			}
			fmt.Fprintf(&b, "%s,acme,%s,%s,A,TB-10PK,food,%d.50,sms,O%d,%s\n", m, typ, ts.Format(time.DateTime), 10+i*k*7, k, props)
		}
		// A second event of the type for M1 an hour later (followed-by,
		// counts, ladders) and one on the last day before the first tick.
		fmt.Fprintf(&b, "M1,acme,%s,%s,B,X,,99.99,wechat,O0,\n", typ, start.Add(time.Duration(i*23)*24*time.Hour+time.Hour).Format(time.DateTime))
		fmt.Fprintf(&b, "M2,acme,%s,2024-11-11 11:00:00,A,,,,,,\n", typ)
	}
	return b.String()
}

// checkedFixture is the database FuzzCheckedCompiles prepares and ticks
// in, with one connection holding the temporary tables the scoped and
// lane forms read.
type checkedFixture struct {
	db   *runtime.DB
	conn *sql.Conn
}

var (
	fixtureOnce sync.Once
	fixture     *checkedFixture
	fixtureErr  error
)

// checkedDB returns the fuzz target's database, created once per process
// (a fuzz worker runs many inputs; opening and migrating a database per
// input would dominate). Dry-run ticks roll back, so it stays as created.
func checkedDB(t *testing.T) *checkedFixture {
	t.Helper()
	fixtureOnce.Do(func() {
		runtimetest.OneThread()
		fixture, fixtureErr = openFixture(t.TempDir())
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return fixture
}

func openFixture(dir string) (*checkedFixture, error) {
	ctx := context.Background()
	db, err := runtime.Open(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, in := range []struct{ table, csv string }{{"members", fixtureMembers}, {"events", fixtureEvents()}} {
		f := filepath.Join(dir, in.table+".csv")
		if err := os.WriteFile(f, []byte(in.csv), 0o644); err != nil {
			return nil, err
		}
		if _, err := db.Import(ctx, in.table, []string{f}); err != nil {
			return nil, fmt.Errorf("import %s: %w", in.table, err)
		}
	}
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		return nil, err
	}
	for _, q := range compiler.ScopeTablesSQL {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return nil, err
		}
	}
	return &checkedFixture{db: db, conn: conn}, nil
}

// prepare prepares q on the fixture's connection.
func (fx *checkedFixture) prepare(ctx context.Context, q string) error {
	st, err := fx.conn.PrepareContext(ctx, q)
	if err != nil {
		return err
	}
	return st.Close()
}

// fuzzSeeds reads every rule file of the repository that checks without
// errors is not required: the fuzz function skips those that do not.
func fuzzSeeds(f *testing.F) [][]byte {
	f.Helper()
	var out [][]byte
	for _, pat := range []string{
		"../examples/*.nudge", "testdata/*.nudge", "../lang/testdata/valid/*.nudge", "../lang/testdata/check/*.nudge",
		"../lang/parser/testdata/*/*.nudge", "../runtime/runtimetest/testdata/*.nudge",
	} {
		files, err := filepath.Glob(pat)
		if err != nil {
			f.Fatal(err)
		}
		for _, p := range files {
			if strings.HasSuffix(p, lang.TestSuffix) {
				continue
			}
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			out = append(out, b)
		}
	}
	// The stdlib modules, each as a file that imports nothing else.
	for _, name := range stdlibModules {
		out = append(out, []byte("import \""+name+"\"\n"))
	}
	// The .nudge sections of cmd/nudge's scripts.
	scripts, err := filepath.Glob("../cmd/nudge/testdata/script/*.txtar")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range scripts {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, txtarNudge(b)...)
	}
	return out
}

var stdlibModules = []string{"crm"}

var txtarHeader = regexp.MustCompile(`(?m)^-- (.+?) --$`)

// txtarNudge returns the contents of the .nudge files of a txtar archive
// (not the _test.nudge ones).
func txtarNudge(b []byte) [][]byte {
	var out [][]byte
	idx := txtarHeader.FindAllSubmatchIndex(b, -1)
	for i, m := range idx {
		name := string(b[m[2]:m[3]])
		if !strings.HasSuffix(name, lang.Ext) || strings.HasSuffix(name, lang.TestSuffix) {
			continue
		}
		start, end := m[1]+1, len(b)
		if i+1 < len(idx) {
			end = idx[i+1][0]
		}
		if start > end {
			start = end
		}
		out = append(out, b[start:end])
	}
	return out
}

// fuzzStress returns generated programs at and near the checker's limits
// (check.MaxDepth, MaxChain, MaxTriggerAtoms, MaxDigits,
// MaxDurationYears), with unicode names, timestamps with seconds, every
// window unit and journeys with every step kind. short leaves out the
// largest, which take seconds each: the seed run of `go test` has the
// smaller ones, the fuzzer starts from all.
func fuzzStress(short bool) []string {
	const hdr = "import \"crm\"\n"
	var out []string
	add := func(s string) { out = append(out, hdr+s) }
	chain := func(n int, op string, atom func(i int) string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = atom(i)
		}
		return strings.Join(parts, " "+op+" ")
	}
	nest := func(n int, open, close, inner string) string {
		return strings.Repeat(open, n) + inner + strings.Repeat(close, n)
	}
	sizes := []int{50, 99, 100}
	chains := []int{100, 499, 500}
	if short {
		sizes, chains = []int{50}, []int{100}
	}
	for _, n := range sizes {
		add("rule deep_not if " + nest(n, "not (", ")", "purchased ever") + " then tag \"x\"\n")
		add("rule deep_arith if " + nest(n, "(1 + ", ")", "count(purchased ever)") + " > 3 then tag \"x\"\n")
		add("rule deep_mul if " + nest(n/2, "(2 * ", ")", "sum(purchased.amount in last 30 days)") + " > 3 then tag \"x\"\n")
		add("rule deep_where if " + nest(n/2, "purchased where (", ")", "amount > 1") + " then tag \"x\"\n")
		add("journey deep_j\n  enter when member.tier = \"gold\"\n  exit when " + nest(n, "not (", ")", "purchased") + "\n  send coupon \"A\" via sms\nend\n")
	}
	for _, n := range chains {
		add("rule or_chain if " + chain(n, "or", func(i int) string { return fmt.Sprintf("member.city = \"c%d\"", i) }) + " then tag \"x\"\n")
		add("rule and_chain if " + chain(n, "and", func(i int) string { return fmt.Sprintf("count(purchased in last %d days) >= 0", i+1) }) + " then tag \"x\"\n")
		add("rule trig_chain if " + chain(n, "or", func(i int) string { return fmt.Sprintf("queued at store \"S%d\"", i) }) + " then send coupon \"A\" via sms\n")
		add("rule nfb_chain if " + chain(n/5, "or", func(i int) string {
			return fmt.Sprintf("order_placed of sku \"K%d\" not followed by paid matching order_id within %d hours", i, i+1)
		}) + " then send reminder \"P\" via sms\n")
		add("journey jtrig\n  enter on " + chain(n, "or", func(i int) string { return fmt.Sprintf("booked at store \"S%d\"", i) }) +
			"\n  exit when " + chain(n, "or", func(i int) string { return fmt.Sprintf("paid of sku \"K%d\"", i) }) + "\n  send coupon \"A\" via sms\nend\n")
		segs := make([]string, 0, n)
		for i := range n / 10 {
			segs = append(segs, fmt.Sprintf("segment seg_%d = %s", i, chain(10, "or", func(k int) string { return fmt.Sprintf("visited at store \"S%d_%d\" in last 3 months", i, k) })))
		}
		add(strings.Join(segs, "\n") + "\nrule seg_chain if " + chain(n/10, "or", func(i int) string { return fmt.Sprintf("seg_%d", i) }) + " then tag \"x\"\n")
	}
	// Numbers: the most digits, tiny and huge, in arithmetic that may overflow.
	for _, num := range []string{"999999999999999", "999999999999999.999999999999999", "0.000000000000001", "100000000000000", "123456789012345.5"} {
		add(fmt.Sprintf("rule big if sum(purchased.amount ever) * %[1]s * %[1]s > %[1]s and count(purchased ever) + %[1]s < %[1]s * %[1]s then tag \"x\"\n", num))
		add(fmt.Sprintf("rule bigdiv if avg(purchased.amount in last 1 year) / %[1]s - %[1]s * %[1]s * %[1]s between -%[1]s and %[1]s then tag \"x\"\n", num))
		add(fmt.Sprintf("rule bigfield if purchased where amount * %[1]s > %[1]s * %[1]s then tag \"x\"\nevent sale { qty number }\nrule bigsale if sale where qty * %[1]s > %[1]s ever then tag \"y\"\n", num))
		add(fmt.Sprintf("cap sms to 1000000000 per 1 day\nrule bigprio if purchased ever then send coupon \"A\" via sms\n  priority %[1]s\n", num))
		add(fmt.Sprintf("journey bignum\n  enter when days since last purchased > %[1]s * %[1]s\n  if sum(purchased.amount ever) > %[1]s * %[1]s * %[1]s\n    send coupon \"A\" via sms\n  end\nend\n", num))
	}
	// Every window unit, at the longest duration the checker allows.
	for _, u := range []string{"minute", "minutes", "hour", "hours", "day", "days", "week", "weeks", "month", "months", "year", "years"} {
		n := map[string]int{"minute": 52560000, "hour": 876000, "day": 36500, "week": 5214, "month": 1200, "year": 100}[strings.TrimSuffix(u, "s")]
		add(fmt.Sprintf("rule w_%[1]s if purchased in last %[2]d %[1]s and count(visited in last 1 %[1]s) >= 1 and sum(purchased.amount in last %[2]d %[1]s) > 0 then tag \"x\"\n  limit once per member every %[2]d %[1]s\n", u, n))
		add(fmt.Sprintf("rule nfb_%[1]s if order_placed not followed by paid matching order_id within %[2]d %[1]s then send reminder \"P\" via sms\n", u, n))
		add(fmt.Sprintf("cap sms to 1 per %[2]d %[1]s\ncap all to 2 per %[1]s\nrule c_%[1]s if booked then send coupon \"A\" via sms\n  expire after %[2]d %[1]s\n", u, n))
		add(fmt.Sprintf("journey j_%[1]s\n  enter on queued\n  exit when paid in last 1 %[1]s\n  wait %[2]d %[1]s\n  wait until purchased for at most %[2]d %[1]s\n  send coupon \"A\" via sms\nend\n", u, n))
		add(fmt.Sprintf("rule b_%[1]s if birthday_in(%[2]d %[1]s) and spend_percentile(%[2]d %[1]s) > 0.5 then tag \"x\"\n", u, n))
	}
	// Timestamps and dates, with seconds, at the calendar's edges.
	for _, ts := range []string{"2024-11-11 10:00:59", "2024-02-29 23:59:59", "0001-01-01", "9999-12-31 23:59:59", "1970-01-01 00:00:01", "2024-11-11"} {
		add(fmt.Sprintf("rule t if member.signup_at > %[1]s and purchased where ts >= %[1]s in last 1 year and member.birthday < %[1]s then tag \"x\"\n", ts))
		add(fmt.Sprintf("journey jt\n  enter when member.signup_at <= %[1]s\n  wait until %[1]s\n  send coupon \"A\" via sms\n  if days_since(%[1]s) > 0 and hours_since(member.signup_at) > 0\n    tag \"y\"\n  end\nend\n", ts))
	}
	// Unicode names everywhere a name may stand.
	add("event 下单 { 金额 number, 门店 text, 时间 timestamp, 是否 bool }\nmember { 等级 text, 积分 number }\n" +
		"segment 忠诚客户 \"忠诚\" = 下单 where 金额 > 100 at least 3 times in last 1 year\n" +
		"rule 望湘园 \"望湘园 优惠\" if 下单 at 门店 \"望湘园\" and 忠诚客户 and member.等级 = \"金\" and member.积分 >= 1.5 and 下单 where 是否 and 时间 > 2024-01-01 in last 2 weeks\n" +
		"  then send coupon \"券-10\" via sms with 门店 = 门店, 名 = member.name\n" +
		"journey 旅程 \"旅程\"\n  enter on 下单 where 金额 >= 50\n  exit when 下单 matching 门店\n  send coupon \"券\" via wechat else sms\nend\n")
	// A journey with every step kind and every header option.
	add(`cost sms 0.05
cost coupon "A" 10
stock "A" 1000
holdout 5% of members
quiet hours 22:00 to 08:00
quiet hours 21:00 to 09:00 for sms
journey every_step "Every step"
  enter on queued at store "A" or order_placed where amount >= 50
  exit when paid matching order_id or refunded in last 2 days
  limit once per member every 30 days
  priority 5
  holdout 10%
  stop after 3 unanswered
  convert on purchased within 7 days
  budget 3000 per month
  expire after 2 hours
  send coupon "A" via sms else wechat with order = order_id, amount = amount, name = member.name, n = 3
  wait 30 minutes
  wait until paid matching order_id for at most 1 day
  wait until 2024-11-11 10:00:30
  if paid matching order_id and not (count(purchased ever) > 2) and tagged "vip"
    tag "payer"
  else
    untag "payer" and notify "crm-team"
  end
  split
    10% a
      send coupon "A" via sms
    10% b
      send coupon "B" via app_push
    80% rest
      wait 2 days
      send winner
  end
end
`)
	add(`journey tx
  enter when member.tier = "gold" and days since last purchased > 30
  transactional
  send reminder "R" via sms
  wait until purchased where amount > 1.5 * avg(purchased.amount ever) for at most 3 days
  if order_placed not followed by paid matching order_id within 2 hours
    send reminder "X" via sms
  end
end
`)
	add(`journey exitnfb
  enter on order_placed
  exit when order_placed not followed by paid matching order_id within 1 hour
  wait 1 day
  send reminder "R" via sms
end
`)
	// Many rules in one program, with and without triggers.
	var many strings.Builder
	nRules := 200
	if short {
		nRules = 30
	}
	for i := range nRules {
		fmt.Fprintf(&many, "rule r%d if queued at store \"S%d\" and purchased at least %d times in last %d days then send coupon \"C%d\" via sms\n  priority %d\n", i, i, i%5+1, i+1, i, i)
		fmt.Fprintf(&many, "rule s%d if tagged \"t%d\" and days since last purchased > %d then tag \"t%d\"\n", i, i, i, i+1)
	}
	add(many.String())
	return out
}
