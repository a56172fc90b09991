package ruletest

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"nudge/compiler"
	"nudge/internal/sqlquote"
	"nudge/lang/ast"
	"nudge/lang/check"
	"nudge/lang/diag"
	"nudge/lang/format"
	nrt "nudge/runtime"
	"nudge/runtime/policy"
)

// DefaultBrand is the brand of test data when the rules name none.
const DefaultBrand = "test"

// statuses are the decision statuses of SPEC §7 (policy.Statuses).
var statuses = func() map[string]bool {
	m := map[string]bool{}
	for _, s := range policy.Statuses {
		m[string(s)] = true
	}
	return m
}()

// Options configures a test run.
type Options struct {
	// Run selects the tests to run by name; nil runs every test.
	Run *regexp.Regexp
	// Lookback is the trigger lookback of each tick (0: runtime.DefaultLookback).
	Lookback time.Duration
	// Coverage records, before every tick, which branches of each rule's
	// condition were true for some member (see Coverage).
	Coverage bool
	// Parallel is how many tests run at once, each in its own database
	// (0 or 1: one after the other). Results keep the tests' order.
	Parallel int
}

// Result is the outcome of one test.
type Result struct {
	File     string
	Name     string
	Span     diag.Span // the test block
	Failures []Failure
	Ticks    int
	Elapsed  time.Duration
}

// Passed reports whether every expectation of the test held.
func (r *Result) Passed() bool { return len(r.Failures) == 0 }

// Failure is one unmet expectation (or a step that could not run).
type Failure struct {
	Span    diag.Span // the step
	Message string    // what went wrong, e.g. `expect store_a_coupon fires for "m2" with status no_consent`
	Tick    int       // 1-based tick the expectation looked at (0: none)
	TickAt  time.Time
	// Diff lists the expected lines (Op '-') and the actual decisions of
	// the tick that bear on the expectation (Op '+').
	Diff []DiffLine
}

// DiffLine is one line of a failure diff.
type DiffLine struct {
	Op   byte // '-' expected, '+' actual
	Text string
}

// Suite is the input of Run: the checked program the tests run against,
// its compiled form, and the parsed test files.
type Suite struct {
	Info    *check.Info
	Program *compiler.Program
	Files   []*ast.File // *_test.nudge files; declarations other than tests are ignored
}

// Run runs the selected tests of s in order. The error is non-nil only when
// the tests could not run at all (e.g. the database cannot be opened);
// everything a test does wrong is a Failure of that test.
func Run(ctx context.Context, s Suite, opts Options) ([]*Result, *Coverage, error) {
	var cov *Coverage
	if opts.Coverage {
		var err error
		if cov, err = newCoverage(s.Info, s.Program); err != nil {
			return nil, nil, err
		}
	}
	var tests []*ast.TestDecl
	for _, f := range s.Files {
		for _, d := range f.Decls {
			t, ok := d.(*ast.TestDecl)
			if !ok || (opts.Run != nil && !opts.Run.MatchString(t.Name.Value)) {
				continue
			}
			if cov != nil {
				cov.noteTest(t)
			}
			tests = append(tests, t)
		}
	}
	workers := max(opts.Parallel, 1)
	out := make([]*Result, len(tests))
	errs := make([]error, len(tests))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, len(tests)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i], errs[i] = runTest(ctx, s, tests[i], opts, cov)
			}
		}()
	}
	for i := range tests {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, cov, err
	}
	for _, err := range errs {
		if err != nil {
			return nil, cov, err
		}
	}
	return out, cov, nil
}

// state is one running test.
type state struct {
	s       Suite
	opts    Options
	db      *nrt.DB
	brand   string
	clock   time.Time
	hasNow  bool
	members map[string]bool
	ticks   int
	last    *nrt.RunResult
	// lastTick is the latest tick step; a tick before it is refused (the
	// checker reports it too: a test's instants are literals).
	lastTick *ast.TickStep
	res      *Result
	cov      *Coverage
}

func runTest(ctx context.Context, s Suite, t *ast.TestDecl, opts Options, cov *Coverage) (*Result, error) {
	start := time.Now()
	res := &Result{File: t.Span.File, Name: t.Name.Value, Span: t.Span.Span}
	db, err := nrt.Open(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("test %q: %w", t.Name.Value, err)
	}
	defer db.Close()
	st := &state{s: s, opts: opts, db: db, brand: s.Program.Brand, members: map[string]bool{}, res: res, cov: cov}
	if st.brand == "" {
		st.brand = DefaultBrand
	}
	for _, step := range t.Steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !st.step(ctx, step) {
			break // a step that cannot run ends the test
		}
	}
	res.Ticks = st.ticks
	res.Elapsed = time.Since(start)
	return res, nil
}

func (st *state) fail(n ast.Node, diff []DiffLine, format string, args ...any) {
	f := Failure{Span: n.Pos(), Message: fmt.Sprintf(format, args...), Tick: st.ticks, Diff: diff}
	if st.last != nil {
		f.TickAt = st.last.Now
	}
	st.res.Failures = append(st.res.Failures, f)
}

// step runs one step; false means the test cannot go on.
func (st *state) step(ctx context.Context, step ast.TestStep) bool {
	bad := false
	ast.Inspect(step, func(n ast.Node) bool {
		if d, ok := n.(*ast.DateLit); ok && !bad {
			if err := validDate(d); err != nil {
				st.fail(d, nil, "%v", err)
				bad = true
			}
		}
		return !bad
	})
	if bad {
		return false
	}
	// The clock may not be 0001-01-01 00:00:00, which the runtime reads as
	// no time at all (the wall clock), as --now may not.
	if at := nowOf(step); at != nil && dateTime(at).IsZero() {
		st.fail(at, nil, "0001-01-01 00:00:00 is read as no time at all; give a real date such as 2024-11-11")
		return false
	}
	switch s := step.(type) {
	case *ast.NowStep:
		st.clock, st.hasNow = dateTime(s.At), true
	case *ast.MemberStep:
		if err := st.insertMember(ctx, s); err != nil {
			st.fail(s, nil, "%v", err)
			return false
		}
	case *ast.EventStep:
		if err := st.insertEvent(ctx, s); err != nil {
			st.fail(s, nil, "%v", err)
			return false
		}
	case *ast.TickStep:
		switch {
		case s.At != nil:
			st.clock, st.hasNow = dateTime(s.At), true
		case s.Later != nil:
			if !st.hasNow {
				st.fail(s, nil, "`tick ... later` needs a clock: start the test with `now TIMESTAMP`")
				return false
			}
			st.clock = check.AddDuration(st.clock, s.Later)
		}
		if !st.hasNow {
			st.fail(s, nil, "tick without a clock: start the test with `now TIMESTAMP` or write `tick at TIMESTAMP`")
			return false
		}
		if st.last != nil && st.clock.Before(st.last.Now) {
			st.fail(s, nil, "this tick at %s is before the test's previous tick at %s (line %d): time cannot run backwards, as `nudge run` refuses it; tick at %[2]s or later",
				fmtTime(st.clock), fmtTime(st.last.Now), st.lastTick.Span.Start.Line)
			return false
		}
		if st.cov != nil {
			if err := st.cov.observe(ctx, st.db, st.brand, st.clock, st.opts.Lookback); err != nil {
				st.fail(s, nil, "coverage at %s: %v", fmtTime(st.clock), err)
				return false
			}
		}
		res, err := st.db.Run(ctx, st.s.Program, nrt.RunOptions{Now: st.clock, Brand: st.brand, Lookback: st.opts.Lookback})
		if err != nil {
			st.fail(s, nil, "tick at %s failed: %v", fmtTime(st.clock), err)
			return false
		}
		st.ticks++
		st.last, st.lastTick = res, s
	case *ast.ExpectStep:
		return st.expect(ctx, s)
	}
	return true
}

// ---- data ----

func (st *state) insertMember(ctx context.Context, s *ast.MemberStep) error {
	cols := []string{"member_id", "brand"}
	vals := []string{"$id::VARCHAR", "$brand::VARCHAR"}
	args := []any{sql.Named("id", s.ID.Value), sql.Named("brand", st.brand)}
	cols, vals, args, err := fieldValues(s.Fields, "attrs", cols, vals, args, func(fv *ast.FieldValue) (*check.Field, error) {
		f := st.s.Info.Members[fv.Name.Name]
		if f == nil {
			return nil, fmt.Errorf("unknown member field %q%s", fv.Name.Name, suggest(fv.Name.Name, keys(st.s.Info.Members)))
		}
		if f.Column == "member_id" || f.Column == "brand" {
			return nil, fmt.Errorf("member field %q is set by the test itself", fv.Name.Name)
		}
		return f, nil
	})
	if err != nil {
		return err
	}
	q := fmt.Sprintf("INSERT OR REPLACE INTO members (%s) VALUES (%s)", strings.Join(cols, ", "), strings.Join(vals, ", "))
	if _, err := st.db.SQL().ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("member %q: %w", s.ID.Value, err)
	}
	if err := st.db.MembersChanged(ctx); err != nil {
		return err
	}
	st.members[s.ID.Value] = true
	return nil
}

func (st *state) insertEvent(ctx context.Context, s *ast.EventStep) error {
	et := st.s.Info.Events[s.Event.Name]
	if et == nil {
		return fmt.Errorf("unknown event type %q%s", s.Event.Name, suggest(s.Event.Name, keys(st.s.Info.Events)))
	}
	if !st.members[s.Member.Value] {
		return fmt.Errorf("member %q is not declared in this test; add `member %q` before its events", s.Member.Value, s.Member.Value)
	}
	var ts time.Time
	switch {
	case s.At != nil:
		ts = dateTime(s.At)
	case !st.hasNow:
		return fmt.Errorf("event time needs a clock: start the test with `now TIMESTAMP` or write `at TIMESTAMP`")
	case s.Ago != nil:
		ts = check.AddDuration(st.clock, negate(s.Ago))
	default:
		ts = st.clock
	}
	seq, err := st.db.NextEventSeq(ctx)
	if err != nil {
		return err
	}
	cols := []string{"seq", "member_id", "brand", "type", "ts"}
	vals := []string{"$seq::BIGINT", "$id::VARCHAR", "$brand::VARCHAR", "$type::VARCHAR", "$ts::TIMESTAMP"}
	args := []any{sql.Named("seq", seq), sql.Named("id", s.Member.Value), sql.Named("brand", st.brand), sql.Named("type", et.Name), sql.Named("ts", ts)}
	cols, vals, args, err = fieldValues(s.Fields, "props", cols, vals, args, func(fv *ast.FieldValue) (*check.Field, error) {
		f := et.Fields[fv.Name.Name]
		if f == nil {
			return nil, fmt.Errorf("event %s has no field %q%s", et.Name, fv.Name.Name, suggest(fv.Name.Name, keys(et.Fields)))
		}
		switch f.Column {
		case "seq", "member_id", "brand", "type", "ts":
			return nil, fmt.Errorf("field %q of an event is set by the step itself (member, event type and time)", fv.Name.Name)
		}
		return f, nil
	})
	if err != nil {
		return err
	}
	q := fmt.Sprintf("INSERT INTO events (%s) VALUES (%s)", strings.Join(cols, ", "), strings.Join(vals, ", "))
	if _, err := st.db.SQL().ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("event %s of %q: %w", et.Name, s.Member.Value, err)
	}
	return nil
}

// fieldValues appends a step's `with` fields to an INSERT's columns, value
// expressions and bound arguments: fields with a physical column get their
// own column, the others are gathered into one json_object for jsonCol
// (attrs for members, props for events). resolve looks a field up and
// refuses the ones the step sets itself.
func fieldValues(fields []*ast.FieldValue, jsonCol string, cols, vals []string, args []any,
	resolve func(*ast.FieldValue) (*check.Field, error)) ([]string, []string, []any, error) {
	var js []string
	for i, fv := range fields {
		f, err := resolve(fv)
		if err != nil {
			return nil, nil, nil, err
		}
		expr, arg, err := literalSQL(fmt.Sprintf("v%d", i), fv, f.Type)
		if err != nil {
			return nil, nil, nil, err
		}
		args = append(args, arg)
		if f.Column != "" {
			col, err := sqlquote.Ident(f.Column)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("column %q %w", f.Column, err)
			}
			cols = append(cols, col)
			vals = append(vals, expr)
		} else {
			key, err := sqlquote.String(f.Name)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("field %q %w", f.Name, err)
			}
			js = append(js, key, expr)
		}
	}
	if len(js) > 0 {
		cols = append(cols, jsonCol)
		vals = append(vals, "json_object("+strings.Join(js, ", ")+")")
	}
	return cols, vals, args, nil
}

// literalSQL returns the SQL expression and argument that give the value of
// fv as type t; the literal's kind must fit the field's type.
func literalSQL(name string, fv *ast.FieldValue, t check.Type) (string, any, error) {
	var text string
	var kind check.Type
	switch v := fv.Value.(type) {
	case *ast.StringLit:
		text, kind = v.Value, check.Text
	case *ast.NumberLit:
		text, kind = v.Text, check.Number
	case *ast.BoolLit:
		text, kind = fmt.Sprint(v.Value), check.Bool
	case *ast.DateLit:
		text, kind = fmtTime(dateTime(v)), check.Timestamp
		if !v.HasTime {
			text, kind = fmt.Sprintf("%04d-%02d-%02d", v.Year, v.Month, v.Day), check.Date
		}
	default:
		return "", nil, fmt.Errorf("field %s: a duration is not a field value", fv.Name.Name)
	}
	ok := kind == t || (kind == check.Date && t == check.Timestamp) || (kind == check.Timestamp && t == check.Date)
	if !ok {
		return "", nil, fmt.Errorf("field %s is %s; %s is %s", fv.Name.Name, article(t), text, article(kind))
	}
	sqlType := map[check.Type]string{check.Text: "VARCHAR", check.Number: "DOUBLE", check.Bool: "BOOLEAN", check.Date: "DATE", check.Timestamp: "TIMESTAMP"}[t]
	return fmt.Sprintf("CAST($%s::VARCHAR AS %s)", name, sqlType), sql.Named(name, text), nil
}

func article(t check.Type) string {
	switch t {
	case check.Text:
		return "text"
	case check.Bool:
		return "a boolean (true or false)"
	}
	return "a " + t.String()
}

// ---- expectations ----

func (st *state) expect(ctx context.Context, s *ast.ExpectStep) bool {
	if st.last == nil {
		st.fail(s, nil, "%s: there was no tick yet; add `tick` before it", expectText(s))
		return true
	}
	if s.Journey != nil && !st.hasJourney(s.Rule.Name) {
		st.fail(s, nil, "%s: there is no journey %s%s", expectText(s), s.Rule.Name, suggest(s.Rule.Name, st.journeyNames()))
		return true
	}
	if s.Rule != nil && !st.hasRule(s.Rule.Name) && !st.hasJourney(s.Rule.Name) {
		st.fail(s, nil, "%s: there is no rule %s%s", expectText(s), s.Rule.Name, suggest(s.Rule.Name, st.ruleNames()))
		return true
	}
	if s.Status != nil && !statuses[s.Status.Name] {
		st.fail(s, nil, "%s: unknown status %s%s (statuses: %s)", expectText(s), s.Status.Name, suggest(s.Status.Name, keys(statuses)), strings.Join(keys(statuses), ", "))
		return true
	}
	if s.Member != nil && !st.members[s.Member.Value] {
		st.fail(s, nil, "%s: member %q is not declared in this test", expectText(s), s.Member.Value)
		return true
	}
	if s.Journey != nil {
		st.expectJourney(s)
		return true
	}
	decs := st.last.Decisions
	match := func(d nrt.Decision) bool {
		return (s.Rule == nil || d.Rule == s.Rule.Name) && (s.Member == nil || d.MemberID == s.Member.Value)
	}
	var related []DiffLine
	for _, d := range decs {
		if match(d) {
			related = append(related, DiffLine{'+', decisionText(d)})
		}
	}
	who := ""
	if s.Member != nil {
		who = fmt.Sprintf(" %q", s.Member.Value)
	}
	switch s.Kind {
	case ast.ExpectFires:
		want := s.Rule.Name + who + " fires"
		if s.Via != nil {
			want += " via " + s.Via.Name
		}
		if s.Status != nil {
			want += " with status " + s.Status.Name
		}
		want += paramsText(s.Params)
		for _, d := range decs {
			if match(d) && (s.Status == nil || d.Status == s.Status.Name) && deliveryMatches(s, d) {
				return true
			}
		}
		if len(related) == 0 {
			related = []DiffLine{{'+', fmt.Sprintf("(no decision of %s%s)", s.Rule.Name, who)}}
		}
		st.fail(s, append([]DiffLine{{'-', want}}, related...), "%s", expectText(s))
	case ast.ExpectNoFire, ast.ExpectNothing:
		if len(related) == 0 {
			return true
		}
		want := "(no decision)"
		if s.Rule != nil {
			want = fmt.Sprintf("(no decision of %s%s)", s.Rule.Name, who)
		}
		st.fail(s, append([]DiffLine{{'-', want}}, related...), "%s", expectText(s))
	case ast.ExpectTagged, ast.ExpectNotTagged:
		tags, err := st.tags(ctx, s.Member.Value)
		if err != nil {
			st.fail(s, nil, "%s: %v", expectText(s), err)
			return false
		}
		has := false
		for _, t := range tags {
			has = has || t == s.Tag.Value
		}
		if has == (s.Kind == ast.ExpectTagged) {
			return true
		}
		want := fmt.Sprintf("%q tagged %q", s.Member.Value, s.Tag.Value)
		if s.Kind == ast.ExpectNotTagged {
			want = fmt.Sprintf("%q not tagged %q", s.Member.Value, s.Tag.Value)
		}
		got := fmt.Sprintf("%q has no tags", s.Member.Value)
		if len(tags) > 0 {
			q := make([]string, len(tags))
			for i, t := range tags {
				q[i] = fmt.Sprintf("%q", t)
			}
			got = fmt.Sprintf("%q tagged %s", s.Member.Value, strings.Join(q, ", "))
		}
		st.fail(s, []DiffLine{{'-', want}, {'+', got}}, "%s", expectText(s))
	}
	return true
}

func (st *state) tags(ctx context.Context, member string) ([]string, error) {
	rows, err := st.db.SQL().QueryContext(ctx, `SELECT tag FROM member_tags WHERE brand = $brand::VARCHAR AND member_id = $id::VARCHAR ORDER BY tag`,
		sql.Named("brand", st.brand), sql.Named("id", member))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// hasRule reports whether the program has a rule or a journey (they share
// one namespace and journeys' decisions carry their name as rule) named name.
func (st *state) hasRule(name string) bool {
	return slices.Contains(st.ruleNames(), name)
}

func (st *state) ruleNames() []string {
	var out []string
	for _, r := range st.s.Program.Rules {
		out = append(out, r.Name)
	}
	for _, j := range st.s.Program.Journeys {
		out = append(out, j.Name)
	}
	return out
}

// expectText renders an expectation as written (canonical spacing).
func expectText(s *ast.ExpectStep) string {
	who := ""
	if s.Member != nil {
		who = fmt.Sprintf(" for %q", s.Member.Value)
	}
	switch s.Kind {
	case ast.ExpectJourney, ast.ExpectNoJourney:
		return format.JourneyExpect(s)
	case ast.ExpectNothing:
		return "expect nothing fires"
	case ast.ExpectTagged:
		return fmt.Sprintf("expect %q tagged %q", s.Member.Value, s.Tag.Value)
	case ast.ExpectNotTagged:
		return fmt.Sprintf("expect %q not tagged %q", s.Member.Value, s.Tag.Value)
	case ast.ExpectNoFire:
		return "expect " + s.Rule.Name + " does not fire" + who
	}
	t := "expect " + s.Rule.Name + " fires" + who
	if s.Via != nil {
		t += " via " + s.Via.Name
	}
	if s.Status != nil {
		t += " with status " + s.Status.Name
	}
	return t + paramsText(s.Params)
}

// decisionText renders one decision as a diff line.
func decisionText(d nrt.Decision) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %q %s", d.Rule, d.MemberID, d.Action)
	switch d.Action {
	case "send":
		fmt.Fprintf(&b, " %s %q via %s", d.Kind, d.Content, d.Channel)
	default:
		fmt.Fprintf(&b, " %q", d.Content)
	}
	fmt.Fprintf(&b, ": %s", d.Status)
	if d.Reason != "" {
		fmt.Fprintf(&b, " (%s)", d.Reason)
	}
	if len(d.Params) > 0 {
		fmt.Fprintf(&b, " params %s", d.Params)
	}
	return b.String()
}

// ---- helpers ----

// dateTime is the instant of a date literal (ast.DateLit.Time); one that
// does not exist is reported by validDate before it is used.
func dateTime(d *ast.DateLit) time.Time {
	t, _ := d.Time()
	return t
}

// validDate reports a date or time that does not exist (2024-02-30, 25:00).
func validDate(d *ast.DateLit) error {
	if _, ok := d.Time(); !ok {
		return fmt.Errorf("%s is not a valid date and time", d.Text)
	}
	return nil
}

func fmtTime(t time.Time) string { return t.Format("2006-01-02 15:04:05") }

func negate(d *ast.DurationLit) *ast.DurationLit {
	n := *d.N
	n.Value = -n.Value
	out := *d
	out.N = &n
	return &out
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// suggest returns `; did you mean "x"?` for the name the checker would
// suggest (check.Suggest: the closest plausible typo), or "".
func suggest(name string, names []string) string {
	if best := check.Suggest(name, names); best != "" {
		return fmt.Sprintf("; did you mean %q?", best)
	}
	return ""
}

// nowOf is the time a step sets the test clock to: `now T` and `tick at
// T` (nil for other steps).
func nowOf(step ast.TestStep) *ast.DateLit {
	switch s := step.(type) {
	case *ast.NowStep:
		return s.At
	case *ast.TickStep:
		return s.At
	}
	return nil
}
