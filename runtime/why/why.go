package why

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"nudge/compiler"
	nrt "nudge/runtime"
)

// Options configures an explanation.
type Options struct {
	Now      time.Time     // evaluation instant (zero: the wall clock)
	Brand    string        // as runtime.RunOptions.Brand
	Rule     string        // explain only this rule ("" every rule)
	Lookback time.Duration // as runtime.RunOptions.Lookback (0: the default)
	// Whole opens the database a dry run of the whole brand reads when the
	// explained members' sends compete for a stock or a budget (dryRun)
	// and the db explained holds the rows of those members only (a
	// scratch of runtime.OpenScratch); close is called when the run is
	// done. nil: the db explained.
	Whole func(context.Context) (db *nrt.DB, close func(), err error)
	// Verdicts, when set, are the decisions of DryRun for the explained
	// members, so that Explain and ExplainJourneys share one dry run; nil:
	// each runs it.
	Verdicts Verdicts
}

// Verdicts are a dry run's decisions by rule (or journey) and member: the
// key is the name, a NUL byte, and the member id.
type Verdicts map[string][]nrt.Decision

// DryRun returns the decisions of a dry run of prog at opts' instant for
// members (see dryRun), for Options.Verdicts.
func DryRun(ctx context.Context, db *nrt.DB, prog *compiler.Program, members []string, opts Options) (Verdicts, error) {
	now, lookback := opts.instant()
	brand, err := resolveBrand(ctx, db.SQL(), prog.Brand, opts.Brand)
	if err != nil {
		return nil, err
	}
	return dryRun(ctx, db, prog, brand, now, lookback, members, opts.Whole)
}

// verdicts returns o.Verdicts, or when they are not set the decisions of
// a dry run for members (dryRun).
func (o Options) verdicts(ctx context.Context, db *nrt.DB, prog *compiler.Program, brand string, now time.Time, lookback time.Duration, members []string) (Verdicts, error) {
	if o.Verdicts != nil {
		return o.Verdicts, nil
	}
	return dryRun(ctx, db, prog, brand, now, lookback, members, o.Whole)
}

// instant returns the evaluation instant (the wall clock when Now is
// zero; its date and time of day read as UTC, to the microsecond) and the
// lookback (the default when Lookback is 0): what Explain and
// ExplainJourneys evaluate with.
func (o Options) instant() (time.Time, time.Duration) {
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = time.Date(now.Year(), now.Month(), now.Day(), now.Hour(), now.Minute(), now.Second(), now.Nanosecond(), time.UTC).Truncate(time.Microsecond)
	lookback := o.Lookback
	if lookback <= 0 {
		lookback = nrt.DefaultLookback
	}
	return now, lookback
}

// Report explains every selected rule for one member.
type Report struct {
	Member string
	Now    time.Time
	Brand  string
	Exists bool // the member is in members for the brand
	Rules  []*RuleReport
}

// RuleReport explains one rule for one member.
type RuleReport struct {
	Rule *compiler.Rule
	Exp  *compiler.Explanation
	// Rows are the explanation rows: one for a state rule (none when the
	// member does not exist), one per trigger event considered for a
	// trigger rule.
	Rows []Row
	// Cond is true when the condition holds for some row.
	Cond bool
	// Policies are the policy states of the member for this rule.
	Policies []Policy
	// Decisions are what a dry run decides for this rule and member.
	Decisions []nrt.Decision
	// Fires is true when the dry run records a firing; Verdict is the
	// closing line ("would fire: ..." or "would not fire: ...").
	Fires   bool
	Verdict string
	// Recent lists, for a trigger rule with no event to consider when one
	// member is explained, the member's latest events of its trigger types
	// and why each is not considered.
	Recent []Recent
	// LastRefused is true when the rule's latest firing for the member was
	// refused (no send went out: capped, no_consent, over_budget, ...);
	// LastRefusal lists its sends' statuses ("capped, no_consent").
	LastRefused bool
	LastRefusal string
	// GaveUp is true when the rule (stop after N unanswered) already gave
	// up on the member since the member's last event: a firing now is not
	// recorded (policy.StopAfterSQL).
	GaveUp bool
}

// Row is one explanation row.
type Row struct {
	TriggerSeq *int64
	DueAt      *time.Time
	Fires      bool
	Text       map[string]*string // value columns (v*, n* of values) by name; nil is NULL
	Bool       map[string]bool    // verdict columns by name
}

// Policy is the state of one policy for a member and rule.
type Policy struct {
	Name string // limit, global control group, holdout, consent, stop after, stock, budget, cap, quiet hours
	OK   bool   // false: this policy stops or changes the send
	Text string
}

// Explain explains the rules of prog for each member at opts.Now. exps are
// prog's explanation queries (compiler.Why of the same check.Info). One
// member is explained with queries restricted to it; several with one pass
// over the brand per rule.
func Explain(ctx context.Context, db *nrt.DB, prog *compiler.Program, exps []*compiler.Explanation, members []string, opts Options) ([]*Report, error) {
	now, lookback := opts.instant()
	byName := map[string]*compiler.Explanation{}
	for _, e := range exps {
		byName[e.Rule] = e
	}
	var rules []*compiler.Rule
	for _, r := range prog.Rules {
		if opts.Rule == "" || r.Name == opts.Rule {
			rules = append(rules, r)
		}
	}
	if len(rules) == 0 {
		var names []string
		for _, r := range prog.Rules {
			names = append(names, r.Name)
		}
		return nil, fmt.Errorf("no rule %q (rules: %s)", opts.Rule, strings.Join(names, ", "))
	}
	var q queryer = db.SQL()
	brand, err := resolveBrand(ctx, q, prog.Brand, opts.Brand)
	if err != nil {
		return nil, err
	}
	reports := map[string]*Report{}
	var out []*Report
	for _, m := range members {
		if reports[m] != nil {
			continue
		}
		r := &Report{Member: m, Now: now, Brand: brand}
		reports[m] = r
		out = append(out, r)
	}
	if err := markExisting(ctx, q, brand, reports); err != nil {
		return nil, err
	}
	// The verdict: a dry run of the whole program restricted to the members.
	dec, err := opts.verdicts(ctx, db, prog, brand, now, lookback, members)
	if err != nil {
		return nil, err
	}
	// The explanations read the database as the tick would: after it
	// admitted the events whose member arrived (runtime.AdmitArrivals),
	// in a transaction rolled back.
	tx, err := arrived(ctx, db, brand, now, lookback)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	q = tx
	var member any
	if len(members) == 1 {
		member = members[0]
	}
	for _, rule := range rules {
		e := byName[rule.Name]
		if e == nil {
			return nil, fmt.Errorf("rule %s has no explanation query", rule.Name)
		}
		rows, err := explainRows(ctx, q, e, brand, now, lookback, member, reports)
		if err != nil {
			return nil, fmt.Errorf("rule %s (%s:%d): %w", rule.Name, rule.File, rule.Line, err)
		}
		for _, rep := range out {
			rr := &RuleReport{Rule: rule, Exp: e, Rows: rows[rep.Member], Decisions: dec[rule.Name+"\x00"+rep.Member]}
			if e.Trigger && len(rr.Rows) == 0 && rep.Exists && len(out) == 1 {
				if rr.Recent, err = recentEvents(ctx, q, e, rep.Member, brand, now, lookback); err != nil {
					return nil, fmt.Errorf("rule %s: %w", rule.Name, err)
				}
			}
			for _, row := range rr.Rows {
				rr.Cond = rr.Cond || row.Fires
			}
			rr.Fires = len(rr.Decisions) > 0
			rep.Rules = append(rep.Rules, rr)
		}
	}
	if err := policies(ctx, q, prog, brand, now, out, db.EveryMembersOutbox()); err != nil {
		return nil, err
	}
	for _, rep := range out {
		for _, rr := range rep.Rules {
			rr.Verdict = verdict(rep, rr)
		}
	}
	return out, nil
}

type queryer interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// resolveBrand picks the brand as runtime.Run does (runtime.DatabaseBrand).
func resolveBrand(ctx context.Context, q queryer, fileBrand, optBrand string) (string, error) {
	return nrt.DatabaseBrand(ctx, q, fileBrand, optBrand)
}

func inList(members []string) string {
	q := make([]string, len(members))
	for i, m := range members {
		q[i] = "'" + strings.ReplaceAll(m, "'", "''") + "'"
	}
	return "(" + strings.Join(q, ", ") + ")"
}

func markExisting(ctx context.Context, q queryer, brand string, reports map[string]*Report) error {
	var ids []string
	for id := range reports {
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := q.QueryContext(ctx, `SELECT member_id FROM members WHERE brand = $brand::VARCHAR AND member_id IN `+inList(ids), sql.Named("brand", brand))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		reports[id].Exists = true
	}
	return rows.Err()
}

// dryRun returns the decisions of a dry run of prog for the given members.
// Policies are per member (caps, consent, limits, unanswered sends), so
// each member's decisions are first computed by a dry run whose rules and
// journey entries give only those members (memberDryRun). Members compete
// only for a stock or a budget (SPEC §9): when none of the members' sends
// competes, their decisions are those of a dry run of the whole brand,
// which is not needed; when one does, its verdict depends on the other
// members' firings of every rule (the order priority, rule, member, and
// caps deciding a fallback's channel), so the whole brand is run, on the
// database whole opens (nil: db).
func dryRun(ctx context.Context, db *nrt.DB, prog *compiler.Program, brand string, now time.Time, lookback time.Duration, members []string, whole func(context.Context) (*nrt.DB, func(), error)) (Verdicts, error) {
	if len(members) == 0 {
		return Verdicts{}, nil
	}
	want := map[string]bool{}
	for _, m := range members {
		want[m] = true
	}
	decisions, err := memberDryRun(ctx, db, prog, brand, now, lookback, members)
	if err != nil {
		return nil, err
	}
	if !prog.Competes() || !slices.ContainsFunc(decisions, func(d nrt.Decision) bool {
		// (A journey's decision has the journey's name as its rule.)
		return want[d.MemberID] && d.Action == "send" && prog.SendCompetes(d.Rule, d.Journey != "", d.Content)
	}) {
		return byRuleAndMember(decisions, want), nil
	}
	if whole != nil {
		wdb, closeDB, err := whole(ctx)
		if err != nil {
			return nil, err
		}
		defer closeDB()
		db = wdb
	}
	// An incremental dry run: its decisions are a full evaluation's
	// (the differential tests hold the tick to that), at a fraction of
	// its cost on a large base.
	res, err := db.Run(ctx, prog, nrt.RunOptions{Now: now, Brand: brand, DryRun: true, Lookback: lookback})
	if err != nil {
		return nil, fmt.Errorf("dry run: %w", err)
	}
	return byRuleAndMember(res.Decisions, want), nil
}

// memberDryRun runs prog as a dry run whose rules' queries and journeys'
// entries give only the given members. (The journeys' instances of other
// members advance too, in a dry run thrown away.)
func memberDryRun(ctx context.Context, db *nrt.DB, prog *compiler.Program, brand string, now time.Time, lookback time.Duration, members []string) ([]nrt.Decision, error) {
	list := inList(members)
	only := func(r *compiler.Rule) *compiler.Rule {
		c := *r
		c.SQL = "SELECT * FROM (\n" + strings.TrimRight(strings.TrimSpace(r.SQL), ";") + "\n) w WHERE w.member_id IN " + list
		c.Tick.Delta, c.Tick.ScopedSQL = nil, "" // the restricted query has no scoped form
		return &c
	}
	restricted := *prog
	restricted.Rules = make([]*compiler.Rule, len(prog.Rules))
	for i, r := range prog.Rules {
		restricted.Rules[i] = only(r)
	}
	restricted.Journeys = make([]*compiler.Journey, len(prog.Journeys))
	for i, j := range prog.Journeys {
		c := *j
		c.Enter = only(j.Enter)
		restricted.Journeys[i] = &c
	}
	res, err := db.Run(ctx, &restricted, nrt.RunOptions{Now: now, Brand: brand, DryRun: true, Lookback: lookback})
	if err != nil {
		return nil, fmt.Errorf("dry run: %w", err)
	}
	return res.Decisions, nil
}

// byRuleAndMember groups the decisions of the members in want by rule
// and member.
func byRuleAndMember(decisions []nrt.Decision, want map[string]bool) Verdicts {
	out := Verdicts{}
	for _, d := range decisions {
		if want[d.MemberID] {
			k := d.Rule + "\x00" + d.MemberID
			out[k] = append(out[k], d)
		}
	}
	return out
}

// Rows runs the explanation query e for every member of brand at now (with
// the rule's watermarks from db, as a tick would) and returns the rows by
// member. nudge test --coverage uses it to see which branches were true.
func Rows(ctx context.Context, db *nrt.DB, e *compiler.Explanation, brand string, now time.Time, lookback time.Duration) (map[string][]Row, error) {
	if lookback <= 0 {
		lookback = nrt.DefaultLookback
	}
	tx, err := arrived(ctx, db, brand, now, lookback)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return explainRows(ctx, tx, e, brand, now, lookback, nil, nil)
}

// arrived begins a transaction in which the events waiting for a member
// who arrived are admitted as a tick at now would admit them; the caller
// rolls it back.
func arrived(ctx context.Context, db *nrt.DB, brand string, now time.Time, lookback time.Duration) (*sql.Tx, error) {
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	if _, err := nrt.AdmitArrivals(ctx, tx, brand, now, lookback); err != nil {
		tx.Rollback()
		return nil, err
	}
	return tx, nil
}

// explainRows runs an explanation query and returns its rows by member,
// keeping only the members of reports (all when reports is nil).
func explainRows(ctx context.Context, q queryer, e *compiler.Explanation, brand string, now time.Time, lookback time.Duration, member any, reports map[string]*Report) (map[string][]Row, error) {
	wm, err := watermark(ctx, q, e, brand, now, lookback)
	if err != nil {
		return nil, err
	}
	wmSeq, wmNow := wm.seq, wm.now
	rows, err := q.QueryContext(ctx, e.SQL,
		append(e.Watermarks.Args(wmSeq, wmNow),
			sql.Named(compiler.ParamNow, now), sql.Named(compiler.ParamBrand, brand),
			sql.Named(compiler.ParamMember, member))...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	out := map[string][]Row{}
	for rows.Next() {
		var id string
		var seq sql.NullInt64
		var due sql.NullTime
		dest := []any{&id, &seq, &due}
		rest := make([]any, len(cols)-3)
		for i := range rest {
			if types[i+3].DatabaseTypeName() == "BOOLEAN" {
				rest[i] = new(sql.NullBool)
			} else {
				rest[i] = new(sql.NullString)
			}
			dest = append(dest, rest[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		if reports != nil && reports[id] == nil {
			continue
		}
		row := Row{Text: map[string]*string{}, Bool: map[string]bool{}}
		if seq.Valid {
			v := seq.Int64
			row.TriggerSeq = &v
		}
		if due.Valid {
			t := due.Time
			row.DueAt = &t
		}
		for i, c := range cols[3:] {
			switch v := rest[i].(type) {
			case *sql.NullBool:
				row.Bool[c] = v.Valid && v.Bool
			case *sql.NullString:
				if v.Valid {
					s := v.String
					row.Text[c] = &s
				} else {
					row.Text[c] = nil
				}
			}
		}
		row.Fires = row.Bool["fires"]
		out[id] = append(out[id], row)
	}
	return out, rows.Err()
}

// wmark is a trigger rule's watermark pair as the next tick would bind it.
type wmark struct {
	seq   int64
	now   time.Time
	first bool // the rule never ran for the brand
}

func watermark(ctx context.Context, q queryer, e *compiler.Explanation, brand string, now time.Time, lookback time.Duration) (wmark, error) {
	wm := wmark{seq: math.MaxInt64, now: now.Add(-lookback), first: true}
	if !e.Trigger {
		return wm, nil
	}
	var seq sql.NullInt64
	var wnow sql.NullTime
	err := q.QueryRowContext(ctx, `SELECT wm_seq, wm_now FROM rule_state WHERE rule = $rule::VARCHAR AND brand = $brand::VARCHAR`,
		sql.Named("rule", e.Rule), sql.Named("brand", brand)).Scan(&seq, &wnow)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return wm, nil
	case err != nil:
		return wm, err
	}
	return wmark{seq: seq.Int64, now: wnow.Time}, nil
}

// maxRecent bounds the recent trigger-type events listed for a member.
const maxRecent = 5

// Recent is one of a member's latest events of a trigger rule's event
// types, with why the rule does not consider it now.
type Recent struct {
	Seq    int64
	Type   string
	TS     time.Time
	Reason string
}

// recentEvents lists the member's latest events of the rule's trigger
// types and why none of them is a candidate: not due yet, already
// considered by an earlier run, older than a first run's lookback, or not
// matching the trigger's filters.
func recentEvents(ctx context.Context, q queryer, e *compiler.Explanation, member, brand string, now time.Time, lookback time.Duration) ([]Recent, error) {
	within := map[string]time.Duration{}
	var types []string
	var walk func(n *compiler.Node)
	walk = func(n *compiler.Node) {
		if n.Trigger && n.Event != "" {
			if _, ok := within[n.Event]; !ok {
				types = append(types, n.Event)
			}
			if n.Within > within[n.Event] {
				within[n.Event] = n.Within
			}
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(e.Root)
	if len(types) == 0 {
		return nil, nil
	}
	wm, err := watermark(ctx, q, e, brand, now, lookback)
	if err != nil {
		return nil, err
	}
	var out []Recent
	err = scan(ctx, q, `SELECT seq, type, ts FROM events WHERE brand = $brand::VARCHAR AND member_id = $m::VARCHAR
		AND type IN `+inList(types)+` ORDER BY ts DESC, seq DESC LIMIT `+fmt.Sprint(maxRecent),
		[]any{sql.Named("brand", brand), sql.Named("m", member)}, func(r *sql.Rows) error {
			var ev Recent
			if err := r.Scan(&ev.Seq, &ev.Type, &ev.TS); err != nil {
				return err
			}
			due := ev.TS.Add(within[ev.Type])
			switch {
			case due.After(now):
				ev.Reason = "not due until " + fmtTime(due)
			case wm.first && !due.After(wm.now):
				ev.Reason = fmt.Sprintf("due at %s, before this first run's lookback (since %s)", fmtTime(due), fmtTime(wm.now))
			case !wm.first && ev.Seq <= wm.seq && !due.After(wm.now):
				ev.Reason = "already considered by an earlier run"
			default:
				ev.Reason = "does not match the trigger's filters"
			}
			out = append(out, ev)
			return nil
		})
	return out, err
}
