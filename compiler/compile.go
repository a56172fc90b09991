package compiler

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"nudge/internal/sqlquote"
	"nudge/internal/tickform"
	"nudge/lang/ast"
	"nudge/lang/check"
	"nudge/lang/diag"
)

// diagCode is the code of every diagnostic the compiler reports.
const diagCode = "compile"

// Compile translates a checked program into one query per rule. Rules that
// cannot be compiled are left out of the Program and reported in the list;
// the compiler never panics on a program the checker accepted.
//
// The passes, in order, per rule: find the trigger atoms, build the candidate
// events of a trigger rule, translate the condition (collecting per-member
// aggregates into one GROUP BY per event type), collect the explanation
// values, then assemble the statement.
func Compile(info *check.Info) (*Program, diag.List) {
	var diags diag.List
	p := &Program{Brand: info.Brand}
	for i, r := range info.Rules {
		if rule := compileRule(info, r, watermarksOf(i), tickform.RuleScope, &diags); rule != nil {
			p.Rules = append(p.Rules, rule)
		}
	}
	for _, c := range info.Caps {
		per, ok := goDuration(float64(c.Minutes), time.Minute)
		if !ok {
			diags.Errorf(c.Decl.Pos(), diagCode, "the cap period is out of range (at most about 292 years)")
			continue
		}
		p.Caps = append(p.Caps, Cap{Channel: c.Channel, Count: c.Count, Per: per})
	}
	for _, q := range info.Quiet {
		p.Quiet = append(p.Quiet, Quiet{From: q.From, To: q.To, Channel: q.Channel})
	}
	compileJourneys(info, p, &diags)              // journey.go
	diags = append(diags, AttachLoop(info, p)...) // closed loop: see loop.go
	attachMoney(info, p)                          // money policies: see money.go
	// (A rule's condition is translated in several forms, each of which
	// reports the same problem: the list is collected, then de-duplicated.)
	return p, diags.Dedup()
}

// Audience is the compiled form of a state condition for the REPL: the
// members for whom the condition holds at $now.
//
// The query takes the parameters now and brand and returns member_id followed
// by one column per entry of Values (the aggregates, member fields and
// function values the condition used).
type Audience struct {
	SQL    string
	Values []Value
}

// CompileCondition compiles a state condition (one that was checked against
// info, for example typed at the REPL) into an audience query. A condition
// with a trigger atom (a windowless event) has no audience and is reported.
func CompileCondition(info *check.Info, cond ast.Expr) (*Audience, diag.List) {
	var diags diag.List
	rc := newRuleCompiler(info, &diags)
	var trig []ast.Node
	rc.walkCond(cond, func(n ast.Node) {
		switch n := n.(type) {
		case *ast.EventAtom:
			if n.IsTrigger() {
				trig = append(trig, n)
			}
		case *ast.FollowedAtom:
			trig = append(trig, n)
		case *ast.Ident:
			if rc.isBareEvent(n) {
				trig = append(trig, n)
			}
		}
	})
	for _, t := range trig {
		rc.errorf(t, "%q is a trigger (a windowless event): it has no audience at one instant; add a window such as `in last 7 days` or `ever`", label(t))
	}
	if len(trig) > 0 {
		return nil, diags
	}
	s := &scope{member: "m", memberID: "m.member_id", top: true}
	where := append([]string{"m.brand = " + brandSQL}, rc.conjuncts(cond, s)...)
	vals := rc.values(cond, s)
	q := &selectStmt{from: "members m", where: where}
	q.cols = append(q.cols, "m.member_id")
	q.cols = append(q.cols, vals.cols...)
	q.with = rc.statsCTEs()
	q.joins = rc.statsJoins("m")
	if diags.HasErrors() {
		return nil, diags
	}
	return &Audience{SQL: q.String(), Values: vals.values}, diags
}

// compileRule compiles the rule r, its watermark parameters wm, its
// scoped form over the tables of scope.
func compileRule(info *check.Info, r *check.Rule, wm Watermarks, scope tickform.Scope, diags *diag.List) *Rule {
	d := r.Decl
	before := len(*diags)
	rc := newRuleCompiler(info, diags)
	rc.wm = wm
	out := &Rule{
		Name:       d.Name.Name,
		Watermarks: wm,
		Trigger:    r.Trigger,
		Priority:   r.Priority,
		Holdout:    r.HoldoutPercent,
		StopAfter:  r.StopAfter,
		File:       d.Span.File,
		Line:       d.Span.Start.Line,
		Stratum:    r.Stratum,
	}
	for _, a := range r.After {
		if a.Decl.Name != nil {
			out.After = append(out.After, a.Decl.Name.Name)
		}
	}
	if d.Title != nil {
		out.Title = d.Title.Value
	}
	for _, a := range d.Actions {
		act := Action{Verb: a.Kind.String()}
		if a.SendKind != nil {
			act.Kind = a.SendKind.Name
		}
		if a.Value != nil {
			act.Content = a.Value.Value
		}
		if a.Channel != nil {
			act.Channel = a.Channel.Name
		}
		out.Actions = append(out.Actions, act)
	}
	if r.Limit != nil {
		out.Limit = &Limit{}
		if r.Limit.Every != nil {
			out.Limit.Every = rc.durationOf(r.Limit.Every)
		}
	}
	deliveryOf(r, out)
	out.Events = rc.eventTypes(d.Cond)
	// The scoped form reads the rows of the members to evaluate instead of
	// the whole tables (see Rule.Tick.ScopedSQL).
	scoped := newRuleCompiler(info, diags)
	scoped.membersTable, scoped.eventsTable, scoped.wm = scope.Members, scope.Events, wm
	lanes := newRuleCompiler(info, diags)
	lanes.membersTable, lanes.eventsTable, lanes.lane = tickform.ScopeMembers, tickform.ScopeEvents, true
	for _, c := range []*ruleCompiler{rc, scoped, lanes} {
		c.withParams(r)
	}
	if r.Trigger {
		out.SQL = rc.triggerQuery(r, out)
		out.Tick.ScopedSQL = scoped.triggerQuery(r, &Rule{})
		out.Tick.ScopeEventReads = scoped.scopeEventReads()
		out.Tick.ScopeEventsSince = scoped.scopeEventsSince()
		out.Lag = rc.triggerLag(r)
		out.Tick.LaneSQL = lanes.triggerQuery(r, &Rule{})
	} else {
		out.SQL = rc.stateQuery(d.Cond, out)
		if delta := rc.ruleDelta(d.Cond); delta != nil {
			out.Tick.ScopedSQL = scoped.stateQuery(d.Cond, &Rule{})
			out.Tick.ScopeEventReads = scoped.scopeEventReads()
			out.Tick.ScopeEventsSince = scoped.scopeEventsSince()
			out.Tick.Delta = delta
			out.Tick.LaneSQL = lanes.stateQuery(d.Cond, &Rule{})
		}
	}
	if lanes.laneless {
		out.Tick.LaneSQL = ""
	}
	for _, dg := range (*diags)[before:] {
		if dg.Severity == diag.Error {
			return nil
		}
	}
	return out
}

// eventTypes returns the event types a condition reads, sorted.
func (rc *ruleCompiler) eventTypes(cond ast.Expr) []string {
	seen := map[string]bool{}
	var out []string
	rc.walkCond(cond, func(n ast.Node) {
		var name string
		switch x := n.(type) {
		case *ast.EventRef:
			name = eventName(rc.eventType(x), x)
		case *ast.Ident:
			if rc.isBareEvent(x) {
				name = x.Name
			}
		}
		if name != "" && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	})
	sort.Strings(out)
	return out
}

// triggerLag returns the longest `within` of the rule's not-followed-by
// atoms, rounded up (months as 31 days, years as 366): an event becomes due
// at most that long after its ts.
func (rc *ruleCompiler) triggerLag(r *check.Rule) time.Duration {
	var lag time.Duration
	for _, a := range r.TriggerAtoms {
		if fa, ok := a.(*ast.FollowedAtom); ok && fa.Within != nil {
			lag = max(lag, rc.durationIn(fa.Within, 31*24*time.Hour, 366*24*time.Hour))
		}
	}
	return lag
}

// ruleCompiler holds the state of compiling one rule (or one REPL condition).
type ruleCompiler struct {
	info   *check.Info
	diags  *diag.List
	nAlias int

	// Per-member aggregates, one GROUP BY per event type.
	stats       []*statsCTE
	statsByType map[string]*statsCTE
	// restrictStats limits the aggregates to the candidates' members (trigger rules).
	restrictStats bool

	// Trigger atoms: index by node; candFilters records, for a rule with a
	// single trigger atom, the filters its candidate CTE already applied.
	atomIndex     map[ast.Expr]int
	mixedTriggers bool // trigger atoms of several event types
	nAtoms        int
	candPushed    map[ast.Node]bool

	inlining map[*ast.SegmentDecl]bool

	// The tables a rule query reads: members and events, or the scope
	// copies (see Rule.Tick.ScopedSQL).
	membersTable, eventsTable string
	// now is the SQL of the evaluation instant outside the lane form
	// (nowSQL, or another parameter for tickform.DailyAtom.Then); wm names the
	// rule's watermark parameters (trigger rules).
	now string
	wm  Watermarks
	// journey is set while a journey's own conditions are compiled
	// (journey.go): an event atom without a window means "since entry".
	journey *check.Journey
	// lane: compile the lane form (Rule.Tick.LaneSQL), where every row carries
	// its own instant (nowOf). laneless is set when the rule reads
	// something by the member's real id (tags, ranks among all members),
	// which the lane form's copies replace by the lane's: it has none.
	lane, laneless bool
	// typesRead collects, per event type the query reads from eventsTable
	// (every read of it filters on one type), the columns it reads of those
	// events (not of candidate events, see candidateCTE); anyType, those
	// read of an event of a type the compiler could not resolve (an error
	// is reported then). inCandidates is set while a candidate CTE is
	// compiled.
	inCandidates bool
	typesRead    map[string]map[string]bool
	anyType      map[string]bool
	// typesSince collects, per event type read from eventsTable, the
	// lower bounds on ts of its reads (see Rule.Tick.ScopeEventsSince): ""
	// for a read without one (ever, relative to a candidate).
	typesSince map[string][]string
	// paramCols are the SQL of the rule's `with` parameter columns
	// (delivery.go), after the explanation values.
	paramCols []string
}

func newRuleCompiler(info *check.Info, diags *diag.List) *ruleCompiler {
	return &ruleCompiler{
		info:        info,
		diags:       diags,
		statsByType: map[string]*statsCTE{},
		atomIndex:   map[ast.Expr]int{},
		candPushed:  map[ast.Node]bool{},
		inlining:    map[*ast.SegmentDecl]bool{},
		typesRead:   map[string]map[string]bool{},
		anyType:     map[string]bool{},
		typesSince:  map[string][]string{},

		membersTable: "members",
		eventsTable:  "events",
		now:          nowSQL,
	}
}

func (rc *ruleCompiler) errorf(n ast.Node, format string, args ...any) {
	rc.diags.Errorf(n.Pos(), diagCode, format, args...)
}

// nowOf is the SQL of the evaluation instant in a row aliased alias: the
// parameter $now, or in the lane form the row's own tickform.LaneNow (every table the
// lane form reads carries it).
func (rc *ruleCompiler) nowOf(alias string) string {
	if rc.lane {
		return alias + "." + tickform.LaneNow
	}
	return rc.now
}

// nowIn is the instant the condition is evaluated at in scope s: in a
// trigger rule the candidate's due time (SPEC §5: the rest of a trigger
// rule's condition is evaluated at the firing's due time, whenever the tick
// runs), else nowOf the innermost row of s: its event, else its member.
func (rc *ruleCompiler) nowIn(s *scope) string {
	switch {
	case s.cand != "":
		return s.cand + ".due_at"
	case !rc.lane:
		return rc.now
	case s.ev != "":
		return rc.nowOf(s.ev)
	case s.member != "":
		return rc.nowOf(s.member)
	}
	return rc.now // no row: the lane form has none, and DuckDB reports the unbound parameter
}

// newAlias returns a fresh alias for a correlated events scan.
func (rc *ruleCompiler) newAlias() string {
	rc.nAlias++
	return fmt.Sprintf("e%d", rc.nAlias)
}

// candAlias is the alias of a trigger rule's candidate event in its query
// (`FROM cand c`).
const candAlias = "c"

// scope says what names mean where an expression is compiled.
type scope struct {
	ev       string           // alias of the current event (bare field names), "" when none
	evType   *check.EventType // its type
	member   string           // alias of the member row, "" when none
	memberID string           // SQL of the current member's id
	cand     string           // alias of the candidate (triggering) event in trigger rules
	top      bool             // in the rule's final query: per-member aggregates may use the GROUP BY CTEs
}

// inner returns the scope of the filters of an event scanned as alias.
func (s *scope) inner(alias string, et *check.EventType) *scope {
	return &scope{ev: alias, evType: et, member: s.member, memberID: s.memberID, cand: s.cand}
}

// ---- statements ----

// stateQuery builds the query of a state rule.
func (rc *ruleCompiler) stateQuery(cond ast.Expr, out *Rule) string {
	s := &scope{member: "m", memberID: "m.member_id", top: true}
	where := append([]string{"m.brand = " + brandSQL}, rc.conjuncts(cond, s)...)
	vals := rc.values(cond, s)
	out.Values = vals.values
	q := &selectStmt{from: rc.membersTable + " m", where: where}
	q.cols = append(q.cols, "m.member_id", "NULL::BIGINT AS trigger_seq", "NULL::TIMESTAMP AS due_at")
	q.cols = append(q.cols, vals.cols...)
	q.cols = append(q.cols, rc.paramCols...)
	q.with = rc.statsCTEs()
	q.joins = rc.statsJoins("m")
	return q.String()
}

// triggerQuery builds the query of a trigger rule.
func (rc *ruleCompiler) triggerQuery(r *check.Rule, out *Rule) string {
	atoms := rc.triggerAtoms(r)
	if len(atoms) == 0 {
		return ""
	}
	rc.restrictStats = true
	ctes := rc.candidateCTEs(atoms, "")
	s := &scope{member: "m", memberID: "c.member_id", cand: "c", top: true}
	where := rc.conjuncts(r.Decl.Cond, s)
	vals := rc.values(r.Decl.Cond, s)
	out.Values = vals.values
	q := &selectStmt{from: "cand c"}
	q.cols = append(q.cols, "c.member_id", "c.seq AS trigger_seq", "c.due_at")
	q.cols = append(q.cols, vals.cols...)
	q.cols = append(q.cols, rc.paramCols...)
	q.with = append(ctes, rc.statsCTEs()...)
	q.joins = append([]string{"JOIN " + rc.membersTable + " m ON m.member_id = c.member_id AND m.brand = " + brandSQL}, rc.statsJoins("c")...)
	q.where = where
	return q.String()
}

// triggerAtoms are the distinct trigger atoms of the trigger rule r, each
// given its index (atomIndex, nAtoms); none (an error reported) when r has
// no trigger event.
func (rc *ruleCompiler) triggerAtoms(r *check.Rule) []ast.Expr {
	var atoms []ast.Expr
	for _, a := range r.TriggerAtoms {
		if _, dup := rc.atomIndex[a]; dup {
			continue
		}
		rc.atomIndex[a] = len(atoms)
		atoms = append(atoms, a)
	}
	rc.nAtoms = len(atoms)
	if len(atoms) == 0 {
		rc.errorf(r.Decl.Cond, "rule %s is a trigger rule without a trigger event", r.Decl.Name.Name)
	}
	return atoms
}

// candidateCTEs are the CTEs of a trigger rule's candidate events, the
// last one named cand: every event that may trigger one of atoms, once.
// The atoms of one event type that are due at their event's time (all but
// `followed by` atoms, whose lags differ) share one scan, the `OR` of
// their simple filters: a rule of hundreds of atoms (`queued at store "S1"
// or ... or queued at store "S500"`) was hundreds of scans of events, which
// DuckDB took seconds to plan even over a few members. extra, when not
// "", is a condition over e every candidate meets as well (why's members).
func (rc *ruleCompiler) candidateCTEs(atoms []ast.Expr, extra string) []cte {
	var groups [][]ast.Expr
	byType := map[string]int{}
	types := map[string]bool{}
	for _, a := range atoms {
		ref := triggerRef(a)
		typ := eventName(rc.eventType(ref), ref)
		types[typ] = true
		if _, followed := a.(*ast.FollowedAtom); !followed {
			if i, ok := byType[typ]; ok {
				groups[i] = append(groups[i], a)
				continue
			}
			byType[typ] = len(groups)
		}
		groups = append(groups, []ast.Expr{a})
	}
	rc.mixedTriggers = len(types) > 1
	if len(groups) == 1 {
		return []cte{rc.candidateCTE("cand", groups[0], len(atoms) == 1, extra)}
	}
	var ctes []cte
	var union []string
	for i, g := range groups {
		name := fmt.Sprintf("cand_%d", i)
		ctes = append(ctes, rc.candidateCTE(name, g, false, extra))
		union = append(union, "SELECT * FROM "+name)
	}
	// Groups of pairwise different event types select disjoint events: no
	// need to deduplicate.
	op := "\nUNION\n"
	if len(types) == len(groups) {
		op = "\nUNION ALL\n"
	}
	return append(ctes, cte{name: "cand", comment: "every candidate event once", body: strings.Join(union, op)})
}

// candidateCTE selects the events that may trigger one of atoms (of one
// event type; a `followed by` atom alone): of the type, due at $now and
// not considered by an earlier run. With single set (the rule's only
// atom), the atom's simple filters are applied here and not again in the
// final WHERE; otherwise the final WHERE checks every atom whole and these
// filters only narrow the scan.
func (rc *ruleCompiler) candidateCTE(name string, atoms []ast.Expr, single bool, extra string) cte {
	var ref *ast.EventRef
	due := "e.ts"
	var lag *ast.DurationLit // of a followed atom: its due time is e.ts + lag
	switch a := atoms[0].(type) {
	case *ast.EventAtom, *ast.Ident:
		ref = triggerRef(a)
	case *ast.FollowedAtom:
		ref = a.First
		lag = a.Within
		due = "(" + rc.shift("e.ts", '+', lag) + ")"
	default:
		rc.errorf(a, "unsupported trigger %q", label(a))
		return cte{name: name, body: "SELECT * FROM events WHERE false"}
	}
	et := rc.eventType(ref)
	where := []string{"e.brand = " + brandSQL, "e.type = " + rc.quote(ref.Event, eventName(et, ref))}
	inner := &scope{ev: "e", evType: et}
	rc.inCandidates = true
	defer func() { rc.inCandidates = false }()
	var alts []string // per atom, its simple filters
	for _, a := range atoms {
		var parts []string
		for _, p := range filterParts(triggerRef(a).Filters) {
			if rc.partSimple(p) {
				parts = append(parts, rc.filterPart(p, inner))
				if single {
					rc.candPushed[p] = true
				}
			}
		}
		if len(atoms) == 1 {
			where = append(where, parts...)
			break
		}
		if len(parts) == 0 {
			alts = nil // an atom without simple filters takes every event of the type
			break
		}
		alts = append(alts, boolAnd(parts...))
	}
	if len(alts) > 0 {
		where = append(where, boolOr(alts...))
	}
	if extra != "" {
		where = append(where, extra)
	}
	comment := "candidates: " + label(atoms[0])
	if len(atoms) > 1 {
		more := "1 more atom"
		if len(atoms) > 2 {
			more = fmt.Sprintf("%d more atoms", len(atoms)-1)
		}
		comment = fmt.Sprintf("candidates: %s and %s of %s", label(atoms[0]), more, eventName(et, ref))
	}
	if rc.lane {
		// The events of each lane's member, as of the lane: due in (prev, now].
		where = append(where, due+" <= e."+tickform.LaneNow, due+" > e."+tickform.LanePrev)
		lanes := "SELECT ev.* REPLACE (l.lane AS member_id), l.now AS " + tickform.LaneNow + ", l.prev AS " + tickform.LanePrev +
			"\n  FROM events ev JOIN " + tickform.Lanes + " l ON l.member_id = ev.member_id"
		body := "SELECT e.*, " + due + " AS due_at\nFROM (\n  " + lanes + "\n) e\nWHERE " + whereList("", where)
		return cte{name: name, comment: comment, body: body}
	}
	where = append(where, due+" <= "+rc.now)
	if rc.wm.Seq == "" || rc.wm.Now == "" {
		rc.errorf(atoms[0], "internal error: no watermark parameters for the trigger %q", label(atoms[0]))
	}
	wmSeqSQL, wmNowSQL := paramSQL(rc.wm.Seq, "BIGINT"), paramSQL(rc.wm.Now, "TIMESTAMP")
	// Not considered before: NOT (seq <= wm_seq AND due <= wm_now), as two
	// disjoint scans that DuckDB can each restrict to a few row groups by
	// the min and max of seq and ts: the events ingested since the previous
	// run, and the older ones that became due since (late, future-dated).
	// The bound on ts is implied by the one on due and only there to let
	// DuckDB skip row groups.
	lower := wmNowSQL
	if lag != nil {
		lower = "(" + rc.shift(wmNowSQL, '-', lag) + ")"
	}
	fresh := append(append([]string{}, where...), "e.seq > "+wmSeqSQL)
	late := append(append([]string{}, where...), "e.seq <= "+wmSeqSQL, "e.ts > "+lower)
	if lag != nil {
		late = append(late, due+" > "+wmNowSQL)
	}
	// Candidates come from the events table also in the scoped form: the
	// ranges above find them there, and the scope's copy of events then
	// needs no column only candidates read.
	sel := "SELECT e.*, " + due + " AS due_at\nFROM events e\nWHERE "
	body := sel + whereList("", fresh) + "\nUNION ALL\n" + sel + whereList("", late)
	return cte{name: name, comment: comment, body: body}
}

// ---- per-member aggregates ----

// statsCTE is one GROUP BY member_id over the events of one type, holding
// every per-member aggregate of the rule over that type as a column.
//
// In a trigger rule (perCand set) it instead groups, by candidate (seq,
// due_at), the events of the candidate's member up to the candidate's due
// time, where the rest of a trigger rule's condition is evaluated: its
// aggregates, windows and `before` aggregates (which also read only the
// events strictly before the candidate), computed in one join instead of
// one subquery each.
type statsCTE struct {
	name    string
	event   *check.EventType
	perCand bool
	cols    []*statCol
	byKey   map[string]*statCol
}

// beforeCand is the condition of a `before` aggregate in a per-candidate
// statsCTE: the event is strictly before the candidate.
const beforeCand = "e.ts < " + candAlias + ".ts"

// statCol is one aggregate of a statsCTE: agg over the events with
// ts > lower (when lower is set) that satisfy every cond.
type statCol struct {
	name  string
	agg   string
	lower string // SQL of the window's lower bound, "" for ever
	conds []string
}

func (rc *ruleCompiler) statsFor(et *check.EventType, perCand bool) *statsCTE {
	key := et.Name
	if perCand {
		key = "cand\x00" + key
	}
	if st, ok := rc.statsByType[key]; ok {
		return st
	}
	st := &statsCTE{name: fmt.Sprintf("s%d", len(rc.stats)), event: et, perCand: perCand, byKey: map[string]*statCol{}}
	rc.stats = append(rc.stats, st)
	rc.statsByType[key] = st
	return st
}

// column returns the name of the column computing agg over the events
// after lower that satisfy conds, adding it when new.
func (st *statsCTE) column(agg, lower string, conds []string) string {
	key := agg + "\x00" + lower + "\x00" + strings.Join(conds, "\x00")
	if c, ok := st.byKey[key]; ok {
		return c.name
	}
	c := &statCol{name: fmt.Sprintf("a%d", len(st.cols)), agg: agg, lower: lower, conds: conds}
	st.cols = append(st.cols, c)
	st.byKey[key] = c
	return c.name
}

// statsCTEs renders the GROUP BY CTEs. Conditions shared by every column of
// a CTE move into its WHERE (so DuckDB filters while scanning), and so does
// the widest window when every column has one; the rest become FILTER
// clauses.
func (rc *ruleCompiler) statsCTEs() []cte {
	var out []cte
	for _, st := range rc.stats {
		rc.readType(st.event.Name)
		// (Only a bound at now bounds the copy: a per-candidate one is
		// relative to each candidate.)
		bounded := false
		where := []string{"e.brand = " + brandSQL, "e.type = " + rc.quoteText(st.event.Name), "e.ts <= " + rc.nowOf("e")}
		if st.perCand {
			where[2] = "e.ts <= " + candAlias + ".due_at"
		}
		// Shared lower bound.
		lowers := map[string]bool{}
		var lowerList []string
		allWindowed := true
		for _, c := range st.cols {
			if c.lower == "" {
				allWindowed = false
			} else if !lowers[c.lower] {
				lowers[c.lower] = true
				lowerList = append(lowerList, c.lower)
			}
		}
		sameLower := allWindowed && len(lowerList) == 1
		switch {
		case sameLower:
			where = append(where, "e.ts > "+lowerList[0])
			bounded = !st.perCand
		case allWindowed:
			where = append(where, "e.ts > least("+strings.Join(lowerList, ", ")+")")
			bounded = !st.perCand
		}
		if bounded {
			rc.readSince(st.event.Name, lowerList...)
		} else {
			rc.readSince(st.event.Name, "")
		}
		// Shared conditions.
		var common []string
		for _, cond := range st.cols[0].conds {
			shared := true
			for _, c := range st.cols[1:] {
				if !slices.Contains(c.conds, cond) {
					shared = false
				}
			}
			if shared && !slices.Contains(common, cond) {
				common = append(common, cond)
			}
		}
		what := st.event.Name + " events up to its due time"
		if slices.Contains(common, beforeCand) {
			// Every column reads only events before the candidate,
			// which implies the bound at its due time.
			where = slices.Delete(where, 2, 3)
			what = "the " + st.event.Name + " events before it"
		}
		where = append(where, common...)
		if rc.restrictStats && !st.perCand {
			where = append(where, "e.member_id IN (SELECT member_id FROM cand)")
		}
		var cols []string
		for _, c := range st.cols {
			var own []string
			if c.lower != "" && !sameLower {
				own = append(own, "e.ts > "+c.lower)
			}
			for _, cond := range c.conds {
				if !slices.Contains(common, cond) {
					own = append(own, cond)
				}
			}
			agg := c.agg
			if f := boolAnd(own...); f != sqlTrue {
				agg += " FILTER (WHERE " + indent(f, "  ") + ")"
			}
			cols = append(cols, agg+" AS "+c.name)
		}
		if st.perCand {
			// A candidate is its event (seq) at its due time, and in the
			// lane form also its lane: lanes of one member whose windows
			// overlap share an event, and each has its own copy of the
			// member's events (keyed by seq alone, the copies summed).
			key := "c.seq, c.due_at"
			if rc.lane {
				key = "c.member_id, " + key
			}
			body := "SELECT " + key + ",\n       " + indent(strings.Join(cols, ",\n"), "       ") +
				"\nFROM cand c\nJOIN " + rc.eventsTable + " e ON e.member_id = c.member_id\nWHERE " + whereList("", where) + "\nGROUP BY " + key
			out = append(out, cte{name: st.name, comment: "per-candidate aggregates of " + what, body: body})
			continue
		}
		body := "SELECT e.member_id,\n       " + indent(strings.Join(cols, ",\n"), "       ") +
			"\nFROM " + rc.eventsTable + " e\nWHERE " + whereList("", where) + "\nGROUP BY e.member_id"
		out = append(out, cte{name: st.name, comment: "per-member aggregates of " + st.event.Name + " events", body: body})
	}
	return out
}

func (rc *ruleCompiler) statsJoins(alias string) []string {
	var out []string
	for _, st := range rc.stats {
		if st.perCand {
			join := fmt.Sprintf("LEFT JOIN %s ON %s.seq = %s.seq AND %s.due_at = %s.due_at", st.name, st.name, alias, st.name, alias)
			if rc.lane {
				join += fmt.Sprintf(" AND %s.member_id = %s.member_id", st.name, alias)
			}
			out = append(out, join)
			continue
		}
		out = append(out, fmt.Sprintf("LEFT JOIN %s ON %s.member_id = %s.member_id", st.name, st.name, alias))
	}
	return out
}

// aggKind is what an aggregate computes over the matching events.
type aggKind int

const (
	aggCount      aggKind = iota // count(*)
	aggCountField                // count(field): non-NULL values
	aggSum
	aggAvg
	aggMin
	aggMax
	aggLastTS  // max(ts)
	aggFirstTS // min(ts)
)

// aggregate returns the SQL value of an aggregate over the current member's
// events matching ref and win. Counts are never NULL; the others are NULL
// when no event matches.
func (rc *ruleCompiler) aggregate(kind aggKind, ref *ast.EventRef, field *ast.Ident, win *ast.Window, s *scope) string {
	et := rc.eventType(ref)
	if win != nil && win.Kind == ast.Before && s.cand == "" {
		rc.errorf(win, "`before` means before the triggering event and needs a trigger rule (one with a windowless event)")
		return "NULL"
	}
	before := win != nil && win.Kind == ast.Before
	perCand := s.cand == candAlias
	if s.top && (!before || perCand) && rc.filtersSimple(ref.Filters) {
		st := rc.statsFor(et, perCand)
		inner := &scope{ev: "e", evType: et}
		lower := ""
		if win != nil && win.Kind == ast.InLast {
			lower = rc.nowIn(s)
			if !perCand {
				lower = rc.nowOf("e")
			}
			lower = rc.shift(lower, '-', win.Dur)
		}
		var conds []string
		if before {
			conds = append(conds, beforeCand)
		}
		for _, p := range filterParts(ref.Filters) {
			if c := unwrapFalse(rc.filterPart(p, inner)); c != sqlTrue {
				conds = append(conds, c)
			}
		}
		agg := rc.aggFunc(kind, "e", et, field)
		col := st.name + "." + st.column(agg, lower, conds)
		if kind == aggCount || kind == aggCountField {
			return "COALESCE(" + col + ", 0)"
		}
		return col
	}
	a := rc.newAlias()
	return "(\n  " + indent(rc.correlated(rc.aggFunc(kind, a, et, field), a, et, ref, win, s), "  ") + "\n)"
}

// correlated builds `SELECT what FROM events a WHERE <member's events matching ref in win>`.
func (rc *ruleCompiler) correlated(what, a string, et *check.EventType, ref *ast.EventRef, win *ast.Window, s *scope) string {
	rc.readType(eventName(et, ref))
	rc.readSince(eventName(et, ref), "")
	where := []string{
		a + ".brand = " + brandSQL,
		a + ".member_id = " + s.memberID,
		a + ".type = " + rc.quote(ref.Event, eventName(et, ref)),
		rc.window(a, win, s, false),
	}
	inner := s.inner(a, et)
	for _, f := range ref.Filters {
		where = append(where, rc.filter(f, inner))
	}
	return "SELECT " + what + "\nFROM " + rc.eventsTable + " " + a + "\nWHERE " + whereList("", where)
}

func (rc *ruleCompiler) aggFunc(kind aggKind, a string, et *check.EventType, field *ast.Ident) string {
	fieldSQL := func() string {
		if field == nil {
			rc.errorf(&ast.Ident{}, "aggregate needs a field")
			return "NULL"
		}
		f, _ := rc.eventField(field, a, et)
		return f
	}
	switch kind {
	case aggCount:
		return "count(*)"
	case aggCountField:
		return "count(" + fieldSQL() + ")"
	case aggSum:
		return "sum(" + fieldSQL() + ")"
	case aggAvg:
		return "avg(" + fieldSQL() + ")"
	case aggMin:
		return "min(" + fieldSQL() + ")"
	case aggMax:
		return "max(" + fieldSQL() + ")"
	case aggLastTS:
		return "max(" + a + ".ts)"
	default:
		return "min(" + a + ".ts)"
	}
}

// window renders a window over events aliased a: up to $now, or in a
// trigger rule up to the candidate's due time. In a GROUP BY CTE (inStats)
// the upper bound is already in the WHERE.
func (rc *ruleCompiler) window(a string, w *ast.Window, s *scope, inStats bool) string {
	at := rc.nowOf(a)
	if s.cand != "" {
		at = rc.nowIn(s)
	}
	upper := a + ".ts <= " + at
	if inStats {
		upper = sqlTrue
	}
	if w == nil {
		return upper
	}
	switch w.Kind {
	case ast.InLast:
		return boolAnd(a+".ts > "+rc.shift(at, '-', w.Dur), upper)
	case ast.Before:
		return a + ".ts < " + s.cand + ".ts"
	}
	return upper
}

// ---- names ----

func eventName(et *check.EventType, ref *ast.EventRef) string {
	if et != nil {
		return et.Name
	}
	return ref.Event.Name
}

// eventType resolves the event type of ref.
func (rc *ruleCompiler) eventType(ref *ast.EventRef) *check.EventType {
	if r := rc.info.Refs[ref.Event]; r != nil && r.Event != nil {
		return r.Event
	}
	if et := rc.info.Events[ref.Event.Name]; et != nil {
		return et
	}
	rc.errorf(ref.Event, "unknown event type %q", ref.Event.Name)
	return &check.EventType{Name: ref.Event.Name, Fields: map[string]*check.Field{}}
}

// eventField returns the SQL of field id of an event aliased a.
func (rc *ruleCompiler) eventField(id *ast.Ident, a string, et *check.EventType) (string, check.Type) {
	var f *check.Field
	if r := rc.info.Refs[id]; r != nil && r.Kind == check.RefEventField && r.Field != nil {
		f = r.Field
	} else if et != nil {
		f = et.Fields[id.Name]
	}
	if f == nil {
		rc.errorf(id, "unknown field %q of event %s", id.Name, et.Name)
		return "NULL", check.Invalid
	}
	evType := ""
	if et != nil {
		evType = et.Name
	}
	return rc.columnOrJSON(id, a, "props", f, evType), f.Type
}

// readType notes that the query reads events of type name from eventsTable
// and returns the set of their columns it reads.
func (rc *ruleCompiler) readType(name string) map[string]bool {
	cols := rc.typesRead[name]
	if cols == nil {
		cols = map[string]bool{}
		rc.typesRead[name] = cols
	}
	return cols
}

// readSince notes lower bounds on ts of a read of events of type name
// from eventsTable ("": the read has none).
func (rc *ruleCompiler) readSince(name string, lowers ...string) {
	rc.typesSince[name] = append(rc.typesSince[name], lowers...)
}

// scopeEventsSince renders typesSince as Rule.Tick.ScopeEventsSince: the
// types of typesRead whose every read has a bound.
func (rc *ruleCompiler) scopeEventsSince() map[string]string {
	out := map[string]string{}
	for t := range rc.typesRead {
		lowers := rc.typesSince[t]
		if len(lowers) == 0 || slices.Contains(lowers, "") {
			continue
		}
		out[t] = tickform.EarliestBound(lowers)
	}
	return out
}

// scopeEventReads renders typesRead as Rule.Tick.ScopeEventReads.
func (rc *ruleCompiler) scopeEventReads() map[string][]string {
	out := map[string][]string{}
	for t, cols := range rc.typesRead {
		all := maps.Clone(cols)
		maps.Copy(all, rc.anyType)
		out[t] = slices.Sorted(maps.Keys(all))
	}
	return out
}

// memberField returns the SQL of a member field.
func (rc *ruleCompiler) memberField(mf *ast.MemberField, s *scope) string {
	var f *check.Field
	if r := rc.info.Refs[mf.Field]; r != nil && r.Field != nil {
		f = r.Field
	} else {
		f = rc.info.Members[mf.Field.Name]
	}
	if f == nil {
		rc.errorf(mf, "unknown member field %q", mf.Field.Name)
		return "NULL"
	}
	if s.member == "" {
		rc.errorf(mf, "member.%s cannot be used here", mf.Field.Name)
		return "NULL"
	}
	return rc.columnOrJSON(mf.Field, s.member, "attrs", f, "")
}

// columnOrJSON reads a field from its column, or from the JSON column
// jsonCol, cast to the field's type (TRY_CAST: a malformed value reads as
// NULL instead of failing the whole rule; so does a number that is not
// finite). evType is the type of the event read (for
// Rule.Tick.ScopeEventReads; "" for a member field).
func (rc *ruleCompiler) columnOrJSON(n ast.Node, alias, jsonCol string, f *check.Field, evType string) string {
	if jsonCol == "props" && alias != candAlias && !rc.inCandidates {
		// An event's field read from eventsTable (a candidate's come
		// from the events table, see candidateCTE).
		col := jsonCol
		if f.Column != "" {
			col = f.Column
		}
		if evType == "" {
			rc.anyType[col] = true
		} else {
			rc.readType(evType)[col] = true
		}
	}
	if f.Column != "" {
		col, err := sqlquote.Ident(f.Column)
		if err != nil {
			rc.errorf(n, "column %q: %v", f.Column, err)
			return "NULL"
		}
		return alias + "." + col
	}
	path, err := jsonPath(f.Name)
	if err != nil {
		rc.errorf(n, "%v", err)
		return "NULL"
	}
	raw := "json_extract_string(" + alias + "." + jsonCol + ", " + path + ")"
	switch f.Type {
	case check.Number:
		// (DuckDB reads "NaN", "inf" and "1e999" as numbers, which compare
		// above every number: they are no number a marketer meant.)
		num := "TRY_CAST(" + raw + " AS DOUBLE)"
		return "(CASE WHEN isfinite(" + num + ") THEN " + num + " END)"
	case check.Bool:
		return "TRY_CAST(" + raw + " AS BOOLEAN)"
	case check.Date:
		return "TRY_CAST(" + raw + " AS DATE)"
	case check.Timestamp:
		return "TRY_CAST(" + raw + " AS TIMESTAMP)"
	}
	return raw
}

// ---- literals ----

// quote quotes a string from rule text, reporting a problem at n.
func (rc *ruleCompiler) quote(n ast.Node, s string) string {
	q, err := sqlquote.String(s)
	if err != nil {
		rc.errorf(n, "string %q cannot be used in a query: it %v", s, err)
		return "NULL"
	}
	return q
}

// quoteText quotes a name known to be valid (an event type that resolved).
func (rc *ruleCompiler) quoteText(s string) string {
	q, err := sqlquote.String(s)
	if err != nil {
		return "NULL"
	}
	return q
}

// shift is the SQL of x + d (op '+') or x - d (op '-'). A duration in
// months or years is written with the other operator and negated (x -
// INTERVAL (-1) MONTH for x + 1 month; the same instant): DuckDB 1.5.6
// holds INTERVAL 1 MONTH equal to INTERVAL 30 DAY, so within one query it
// computed x - INTERVAL 30 DAY and x - INTERVAL 1 MONTH once (common
// subexpressions, aggregates) when x is a column, and a rule reading both
// windows (count in last 30 days and in last 1 month) got one of them
// wrong. A different operator keeps them apart.
func (rc *ruleCompiler) shift(x string, op byte, d *ast.DurationLit) string {
	iv := rc.interval(d)
	if f := strings.Fields(iv); d != nil && (d.Unit == ast.Month || d.Unit == ast.Year) && len(f) == 3 {
		iv = "INTERVAL (-" + f[1] + ") " + f[2]
		op = map[byte]byte{'+': '-', '-': '+'}[op]
	}
	return x + " " + string(op) + " " + iv
}

func (rc *ruleCompiler) interval(d *ast.DurationLit) string {
	if d == nil {
		return "INTERVAL 0 DAY"
	}
	s, err := intervalSQL(d)
	if err != nil {
		rc.errorf(d, "%v", err)
		return "INTERVAL 0 DAY"
	}
	return s
}
