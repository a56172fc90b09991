package tick

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"math"
	"strings"
	"time"

	"nudge/compiler"
	"nudge/internal/tickform"
	"nudge/runtime/policy"
)

// Incremental evaluation.
//
// A trigger rule reads only the rows of the members of its candidate
// events. For state rules, SPEC §5 evaluates a state rule over every member at every run. A tick
// gives the same firings when it evaluates only the members whose verdict or
// limit may have changed since the rule's previous evaluation at t0, provided
// that evaluation covered every member it had to (by induction, the first
// evaluation of a rule is always full):
//
//   - members with events ingested since (seq above the rule's watermark);
//   - members with events of a type the condition watches whose ts crossed a
//     window edge between t0 and now (tickform.Delta);
//   - members whose `limit ... every D` ran out between t0 and now;
//   - members whose latest firing was refused and who are not refused again
//     for sure (retries, see blocked).
//
// Everyone is re-evaluated when the rule has no Delta, when its query,
// limit, actions or the caps changed, when a tick ran at an earlier now
// (time went backwards), when the brand's members changed, and, for conditions on
// the date (birthday_in, age, days_since of a date), when the date changed.
// Members change through Import; whoever changes them otherwise calls
// the runtime's DB.MembersChanged (nudge test does), or runs a tick in Full mode
// (`nudge run --full`). Events are append-only: nudge never updates or
// deletes them, and neither may anything else for this to hold.
//
// Independently of that, a refused state-rule firing whose sends were all
// capped is not retried while the caps are still full for sure: no send of
// the member left a cap window or failed since the refusal, and (for a rule
// that stops after unanswered sends) no response window of the rule's sends
// to the member closed since. Such a retry would be refused and not
// recorded (see repeats), so skipping it changes no decision.

// evalPlan is how the tick evaluates one rule.
type evalPlan struct {
	hash        string
	wmSeq       int64 // the rule's watermarks (see compiler.Rule)
	wmNow       time.Time
	t0          time.Time // the now of the previous evaluation (valid when continuous)
	continuous  bool      // the previous evaluation had the same definition and an earlier or equal now, and no tick went back in time since
	scoped      bool      // evaluate only the members of the scope
	capBlock    bool      // skip capped retries whose caps are still full
	retryCapped bool      // a scoped evaluation retries every capped refusal (competing rules)
	newDay      bool      // a date condition may have changed since t0: the scope adds the members whose date atoms did (tickform.Delta.DailyAtoms)
	hasState    bool      // rule_state has the rule's row (watermarks updates it)
	hasEval     bool      // rule_evals has the rule's row (recordEvaluations updates it)
	budgetFrom  time.Time // skip the refused members fired since then: the budget is exhausted (02b_budget_skip.go); zero: none
	budgetAfter *string   // with budgetFrom, skip only the members after this one (02b_budget_skip.go's threshold skip)
	budgetLeast float64   // the least cost of a send of the rule, with budgetAfter
	readdFrom   time.Time // retry the refused members fired since then that an earlier evaluation skipped (02b_budget_skip.go); zero: none
	readdAfter  *string   // with readdFrom, only those after this member (the earlier evaluation's threshold skip skipped no other)
	readdUpTo   *string   // with readdFrom, only those up to this member (this evaluation's threshold skip skips the others again)
}

// ruleHash identifies what a rule's incremental evaluation depends on: its
// query, limit, actions and the program's caps.
func ruleHash(r *compiler.Rule, caps []compiler.Cap) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%v\x00%v\x00%d\x00", r.SQL, r.Limit, r.Actions, r.StopAfter)
	for _, c := range caps {
		fmt.Fprintf(h, "%s\x00", policy.CapLabel(c))
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// membersFingerprintSQL identifies the state of the members table: the
// count of recorded changes (imports, the runtime's DB.MembersChanged) and the brand's
// member count. Hashing every row would notice changes made behind nudge's
// back too, but costs a fifth of a second per million members at every
// tick.
const membersFingerprintSQL = `(SELECT value FROM counters WHERE name = 'members_version') || ':' ||
       (SELECT count(*) FROM members WHERE brand = $brand::VARCHAR)`

// plan decides, per rule, how the tick evaluates it, and builds the scope
// (the members to re-evaluate) and the tables the retry check reads.
// previousRun is what the previous ticks left of one rule: its watermarks
// and the record of its latest evaluation (state rules).
type previousRun struct {
	wmSeq         int64
	wmNow         time.Time
	evalNow       sql.NullTime
	hash, members sql.NullString
	budgetFrom    sql.NullTime   // the budget_from of the latest evaluation (02b_budget_skip.go)
	budgetAfter   sql.NullString // and its budget_after
}

// previousRuns reads what the previous ticks left, for every rule and
// journey at once, by name.
func (t *tick) previousRuns(ctx context.Context) (map[string]previousRun, error) {
	prevs := map[string]previousRun{}
	rows, err := t.tx.QueryContext(ctx, `
SELECT s.rule, s.wm_seq, s.wm_now, v.eval_now, v.eval_hash, v.members_sum, v.budget_from, v.budget_after
FROM rule_state s LEFT JOIN rule_evals v USING (rule, brand)
WHERE s.brand = $brand::VARCHAR`, sql.Named("brand", t.brand))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var p previousRun
		if err := rows.Scan(&name, &p.wmSeq, &p.wmNow, &p.evalNow, &p.hash, &p.members, &p.budgetFrom, &p.budgetAfter); err != nil {
			return nil, err
		}
		prevs[name] = p
	}
	return prevs, rows.Err()
}

func (t *tick) plan(ctx context.Context) error {
	fp := t.membersSum
	prevs, err := t.previousRuns(ctx)
	if err != nil {
		return err
	}
	t.prevs = prevs
	t.plans = make([]evalPlan, len(t.prog.Rules))
	var reset []string // state rules evaluated in full
	for i, r := range t.prog.Rules {
		p := &t.plans[i]
		p.hash = ruleHash(r, t.prog.Caps)
		// The trigger watermarks: on a rule's first run, the lookback.
		p.wmSeq, p.wmNow = int64(math.MaxInt64), t.now.Add(-t.lookback)
		sum := sql.NullString{}
		if pv, ok := prevs[r.Name]; ok {
			p.hasState = true
			p.wmSeq, p.wmNow = pv.wmSeq, Naive(pv.wmNow)
			if pv.evalNow.Valid {
				p.hasEval = true
				p.t0 = Naive(pv.evalNow.Time)
				p.continuous = pv.hash.String == p.hash && !p.t0.After(t.now) && p.t0.Equal(p.wmNow)
			}
			sum = pv.members
		}
		if t.mode.has(Full) {
			p.continuous = false
		}
		if r.Trigger {
			// A trigger rule reads only the members of its candidate events.
			p.scoped = r.Tick.ScopedSQL != "" && !t.mode.has(Full)
			continue
		}
		if !p.continuous {
			reset = append(reset, r.Name)
			continue
		}
		// (With a fallback, members whose consent changed may have a
		// channel the caps do not fill: see hasFallback.)
		// A rule whose sends compete for a stock or a budget retries every
		// capped refusal, as an evaluation of every member does: the retry
		// takes its share of the stock and the budget before caps refuse
		// it again (09b_stock_budget.go), so skipping it would let a later
		// member through.
		p.retryCapped = len(t.prog.Caps) > 0 && t.prog.RuleCompetes(r)
		p.capBlock = len(t.prog.Caps) > 0 && (sum.String == fp || !hasFallback(r)) && !p.retryCapped
		d := r.Tick.Delta
		// On a new day a rule whose date conditions the compiler could
		// isolate re-evaluates the members for whom one of them changed;
		// another one re-evaluates everyone.
		p.newDay = d != nil && d.Daily && !sameDate(p.t0, t.now)
		p.scoped = d != nil && r.Tick.ScopedSQL != "" && sum.String == fp && (!p.newDay || len(d.DailyAtoms) > 0)
		if p.scoped && p.newDay {
			// An atom with one value for everyone that changed (Double 11
			// came) changes it for everyone: evaluating them all at once is
			// cheaper than a scope of every member.
			all, err := t.dailyChangedForAll(ctx, d.DailyAtoms, p.t0)
			if err != nil {
				return err
			}
			p.scoped = !all
		}
	}
	if len(reset) > 0 {
		// Refusals recorded under other caps, or later in time, prove
		// nothing about the caps now.
		if _, err := t.exec(ctx, `UPDATE rule_members SET last_capped = false WHERE last_capped AND rule IN (`+quoteStrings(reset)+`) AND brand = `+t.brandSQL()); err != nil {
			return err
		}
	}
	if err := t.planBudgetSkips(ctx, prevs); err != nil {
		return err
	}
	if err := t.retryTables(ctx); err != nil {
		return err
	}
	return t.buildScope(ctx)
}

// dailyChangedForAll reports whether one of the atoms that have one value
// for everyone (not PerMember) has a different value now than at t0.
func (t *tick) dailyChangedForAll(ctx context.Context, atoms []tickform.DailyAtom, t0 time.Time) (bool, error) {
	var changed []string
	for _, a := range atoms {
		if !a.PerMember {
			changed = append(changed, dailyAtomChanged(a))
		}
	}
	if len(changed) == 0 {
		return false, nil
	}
	q := "SELECT " + strings.Join(changed, " OR ") + " FROM " + thenRow("$t0::TIMESTAMP")
	var args []any
	for _, p := range []sql.NamedArg{sql.Named("now", t.now), sql.Named("t0", t0), sql.Named("brand", t.brand)} {
		if strings.Contains(q, "$"+p.Name+"::") {
			args = append(args, p)
		}
	}
	var all bool
	err := t.tx.QueryRowContext(ctx, q, args...).Scan(&all)
	return all, err
}

// dailyAtomChanged is the condition that the date atom a has a different
// value at the instant of the row thenRow than at $now.
func dailyAtomChanged(a tickform.DailyAtom) string {
	return "(" + a.Then + ") IS DISTINCT FROM (" + a.SQL + ")"
}

// thenRow is the one-row table, aliased tickform.ThenRow, whose column ts
// holds the instant at (SQL) that DailyAtom.Then reads.
func thenRow(at string) string {
	return "(SELECT " + at + " AS ts) " + tickform.ThenRow
}

func sameDate(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd
}

// retryHorizon returns the time at or before which a capped refusal is no
// longer blocked, and whether there is one: now minus the longest cap
// window. A refusal at r was capped by a counted send s in (r - maxPer, r]
// (a send in a cap's window, or one allowed before it in the same tick),
// and a counted send stays counted or fails; once now >= r + minPer, s has
// left the shortest window and _nudge_freed holds a send later than
// r - maxPer, so the refusal is not blocked, and r <= now - maxPer is past
// that. Saying so in blocked lets retryTables read the outbox back to the
// oldest refusal after the horizon, not to the oldest one ever retried in
// vain (its member no longer met the condition), which in a long-running
// deployment is its first weeks; the scope then finds the refusals that
// passed the horizon since a rule's previous evaluation by their time
// (buildScope), as the retry tables no longer reach their sends. A cap of
// 0 refuses without any counted send, so a program with one has no
// horizon; nor does a database with unboundedRetry set (the full side of
// TestIncrementalMatchesFull).
func (t *tick) retryHorizon() (time.Time, bool) {
	if t.mode.has(UnboundedRetry) {
		return time.Time{}, false
	}
	for _, c := range t.prog.Caps {
		if c.Count < 1 {
			return time.Time{}, false
		}
	}
	_, maxPer := t.capWindows()
	return t.now.Add(-maxPer), true
}

// capWindows returns the shortest and longest cap period.
func (t *tick) capWindows() (minPer, maxPer time.Duration) { return policy.CapWindows(t.prog.Caps) }

// retryTables builds what the capped-retry check reads: _nudge_freed, per
// member the latest counted send that has left the shortest cap window by
// now, or failed, expired or refused at dispatch (a send counted when
// decided that then expired, or whose member opted out before delivery,
// gives its place back: gaveBackSQL); _nudge_resp, per rule that stops after unanswered sends
// and member, the latest end of a response window that has closed by now.
// Both read the outbox back from the oldest capped refusal that may still
// be blocked: one within the longest cap window (see retryHorizon).
func (t *tick) retryTables(ctx context.Context) error {
	var names, stoppers []string
	for i, r := range t.prog.Rules {
		if t.plans[i].capBlock {
			names = append(names, r.Name)
			if r.StopAfter > 0 {
				stoppers = append(stoppers, r.Name)
			}
		}
	}
	if len(names) == 0 {
		return nil
	}
	var oldest sql.NullTime
	q := `SELECT min(last_fired_at) FROM rule_members WHERE last_capped AND NOT last_effective AND rule IN (` + quoteStrings(names) + `) AND brand = ` + t.brandSQL()
	var args []any
	if h, ok := t.retryHorizon(); ok {
		q += ` AND last_fired_at > $horizon::TIMESTAMP`
		args = append(args, sql.Named("horizon", h))
	}
	if err := t.tx.QueryRowContext(ctx, q, args...).Scan(&oldest); err != nil {
		return err
	}
	t.retryBlock = true
	lo := t.now
	if oldest.Valid {
		lo = Naive(oldest.Time)
	}
	minPer, maxPer := t.capWindows()
	resp := `SELECT CAST(NULL AS VARCHAR) AS rule, CAST(NULL AS VARCHAR) AS member_id, CAST(NULL AS TIMESTAMP) AS ended WHERE false`
	if len(stoppers) > 0 {
		resp = `SELECT rule, member_id, max(coalesce(scheduled_at, fired_at)) + to_microseconds($resp::BIGINT) AS ended
FROM outbox
WHERE fired_at <= $now::TIMESTAMP - to_microseconds($resp::BIGINT)
  AND coalesce(scheduled_at, fired_at) > $lo::TIMESTAMP - to_microseconds($resp::BIGINT)
  AND coalesce(scheduled_at, fired_at) <= $now::TIMESTAMP - to_microseconds($resp::BIGINT)
  AND ` + afterScan(policy.CountedSendSQL("")+" AND "+inStrings("rule", stoppers)+" AND brand = $brand::VARCHAR") + `
GROUP BY rule, member_id`
	}
	// Scans: counted sends in a range of fired_at (the outbox's order,
	// so row groups of recent sends are skipped), and the failed and
	// expired ones, one scan per status (scansPerValue: the scans of the
	// whole longest cap window read member_id only for those few rows). As
	// one scan with the OR of both parts, every row in the window was read.
	gaveBack := scansPerValue("status", policy.Literals(gaveBackStatuses...), func(cond string) string {
		return `  SELECT member_id, fired_at FROM outbox
  WHERE fired_at > $lo::TIMESTAMP - to_microseconds($maxper::BIGINT)
    AND ` + cond + ` AND ` + afterScan(`action = 'send' AND brand = $brand::VARCHAR AND `+gaveBackSQL(""))
	})
	if _, err := t.exec(ctx, `
CREATE OR REPLACE TEMP TABLE _nudge_freed AS
SELECT member_id, max(fired_at) AS latest
FROM (
  SELECT member_id, fired_at FROM outbox
  WHERE fired_at > $lo::TIMESTAMP - to_microseconds($maxper::BIGINT)
    AND fired_at <= $now::TIMESTAMP - to_microseconds($minper::BIGINT)
    AND `+policy.CountedSendSQL("")+` AND brand = $brand::VARCHAR
  UNION ALL
`+gaveBack+`
)
GROUP BY member_id`, t.params(sql.Named("lo", lo), sql.Named("minper", minPer.Microseconds()), sql.Named("maxper", maxPer.Microseconds()))...); err != nil {
		return err
	}
	var respArgs []any
	if len(stoppers) > 0 {
		respArgs = t.params(sql.Named("lo", lo), policy.ResponseArg())
	}
	_, err := t.exec(ctx, `CREATE OR REPLACE TEMP TABLE _nudge_resp AS `+resp, respArgs...)
	return err
}

// gaveBackStatuses are the statuses of a send that was counted when
// decided and is no longer (SPEC §9: one that later ends failed, expired
// or refused at dispatch gives its share back): gaveBackSQL tells which
// rows of them are such sends.
var gaveBackStatuses = []policy.Status{policy.Failed, policy.Expired, policy.NoConsent}

// gaveBackSQL is the condition that an outbox row (columns qualified by
// prefix) of one of gaveBackStatuses gave its share back: failed or
// expired, or no_consent refused at dispatch (the dispatch re-check, for
// an opt-out or a withdrawn consent since the decision). A no_consent
// decided at the tick was never counted; it is told apart by its firing,
// which is not effective when every send of it was refused (a firing with
// another send let through is effective: its no_consent send only makes a
// retry that decides as a full evaluation would).
func gaveBackSQL(prefix string) string {
	return "(" + prefix + "status <> " + policy.NoConsent.SQL() + " OR " + prefix + "effective)"
}
