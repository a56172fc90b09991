package runtime

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"nudge/compiler"
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
//     window edge between t0 and now (compiler.Delta);
//   - members whose `limit ... every D` ran out between t0 and now;
//   - members whose latest firing was refused and who are not refused again
//     for sure (retries, see blocked).
//
// Everyone is re-evaluated when the rule has no Delta, when its query,
// limit, actions or the caps changed, when a tick ran at an earlier now
// (time went backwards), when the brand's members changed, and, for conditions on
// the date (birthday_in, age, days_since of a date), when the date changed.
// Members change through Import; whoever changes them otherwise calls
// DB.MembersChanged (nudge test does), or runs a tick with EvaluateAll
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
	hash       string
	wmSeq      int64 // the rule's watermarks (see compiler.Rule)
	wmNow      time.Time
	t0         time.Time // the now of the previous evaluation (valid when continuous)
	continuous bool      // the previous evaluation had the same definition and an earlier or equal now, and no tick went back in time since
	scoped     bool      // evaluate only the members of the scope
	capBlock   bool      // skip capped retries whose caps are still full
	newDay     bool      // a date condition may have changed since t0: the scope adds the members whose date atoms did (compiler.Delta.DailyAtoms)
	hasState   bool      // rule_state has the rule's row (watermarks updates it)
	hasEval    bool      // rule_evals has the rule's row (recordEvaluations updates it)
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
// count of recorded changes (imports, DB.MembersChanged) and the brand's
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
}

// previousRuns reads what the previous ticks left, for every rule at once,
// by rule name.
func (t *tick) previousRuns(ctx context.Context) (map[string]previousRun, error) {
	prevs := map[string]previousRun{}
	rows, err := t.tx.QueryContext(ctx, `
SELECT s.rule, s.wm_seq, s.wm_now, v.eval_now, v.eval_hash, v.members_sum
FROM rule_state s LEFT JOIN rule_evals v USING (rule, brand)
WHERE s.brand = $brand::VARCHAR`, sql.Named("brand", t.brand))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var p previousRun
		if err := rows.Scan(&name, &p.wmSeq, &p.wmNow, &p.evalNow, &p.hash, &p.members); err != nil {
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
			p.wmSeq, p.wmNow = pv.wmSeq, naive(pv.wmNow)
			if pv.evalNow.Valid {
				p.hasEval = true
				p.t0 = naive(pv.evalNow.Time)
				p.continuous = pv.hash.String == p.hash && !p.t0.After(t.now) && p.t0.Equal(p.wmNow)
			}
			sum = pv.members
		}
		if t.evaluateAll {
			p.continuous = false
		}
		if r.Trigger {
			// A trigger rule reads only the members of its candidate events.
			p.scoped = r.ScopedSQL != "" && !t.evaluateAll
			continue
		}
		if !p.continuous {
			reset = append(reset, r.Name)
			continue
		}
		p.capBlock = len(t.prog.Caps) > 0
		d := r.Delta
		// On a new day a rule whose date conditions the compiler could
		// isolate re-evaluates the members for whom one of them changed;
		// another one re-evaluates everyone.
		p.newDay = d != nil && d.Daily && !sameDate(p.t0, t.now)
		p.scoped = d != nil && r.ScopedSQL != "" && sum.String == fp && (!p.newDay || len(d.DailyAtoms) > 0)
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
	if err := t.retryTables(ctx); err != nil {
		return err
	}
	return t.buildScope(ctx)
}

// dailyChangedForAll reports whether one of the atoms that have one value
// for everyone (not PerMember) has a different value now than at t0.
func (t *tick) dailyChangedForAll(ctx context.Context, atoms []compiler.DailyAtom, t0 time.Time) (bool, error) {
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
func dailyAtomChanged(a compiler.DailyAtom) string {
	return "(" + a.Then + ") IS DISTINCT FROM (" + a.SQL + ")"
}

// thenRow is the one-row table, aliased compiler.ThenRow, whose column ts
// holds the instant at (SQL) that DailyAtom.Then reads.
func thenRow(at string) string {
	return "(SELECT " + at + " AS ts) " + compiler.ThenRow
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
// horizon; nor does a database with unboundedRetry set (tests).
func (t *tick) retryHorizon() (time.Time, bool) {
	if t.unboundedRetry {
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
// now, or failed; _nudge_resp, per rule that stops after unanswered sends
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
		lo = naive(oldest.Time)
	}
	minPer, maxPer := t.capWindows()
	resp := `SELECT CAST(NULL AS VARCHAR) AS rule, CAST(NULL AS VARCHAR) AS member_id, CAST(NULL AS TIMESTAMP) AS ended WHERE false`
	if len(stoppers) > 0 {
		resp = `SELECT rule, member_id, max(coalesce(scheduled_at, fired_at)) + to_microseconds($resp::BIGINT) AS ended
FROM outbox
WHERE fired_at <= $now::TIMESTAMP - to_microseconds($resp::BIGINT)
  AND coalesce(scheduled_at, fired_at) > $lo::TIMESTAMP - to_microseconds($resp::BIGINT)
  AND coalesce(scheduled_at, fired_at) <= $now::TIMESTAMP - to_microseconds($resp::BIGINT)
  AND ` + afterScan(policy.CountedSendSQL("")+" AND rule IN ("+quoteStrings(stoppers)+") AND brand = $brand::VARCHAR") + `
GROUP BY rule, member_id`
	}
	// Two scans: counted sends in a range of fired_at (the outbox's order,
	// so row groups of recent sends are skipped), and failed ones (a table
	// filter on status). As one scan with the OR, every row in the longest
	// cap window was read: 30 to 40 ms instead of 5 after a full tick on
	// 1M members.
	if _, err := t.exec(ctx, `
CREATE OR REPLACE TEMP TABLE _nudge_freed AS
SELECT member_id, max(fired_at) AS latest
FROM (
  SELECT member_id, fired_at FROM outbox
  WHERE fired_at > $lo::TIMESTAMP - to_microseconds($maxper::BIGINT)
    AND fired_at <= $now::TIMESTAMP - to_microseconds($minper::BIGINT)
    AND `+afterScan(policy.CountedSendSQL("")+` AND brand = $brand::VARCHAR`)+`
  UNION ALL
  SELECT member_id, fired_at FROM outbox
  WHERE fired_at > $lo::TIMESTAMP - to_microseconds($maxper::BIGINT)
    AND status = `+policy.Failed.SQL()+` AND `+afterScan(`action = 'send' AND brand = $brand::VARCHAR`)+`
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

// blockedFrom is the FROM clause the blocked predicate reads: rule_members
// rm with the member m and the retry tables f and g; with scoped, the rows
// of the scope's members only.
func (t *tick) blockedFrom(scoped bool) string {
	from := "(SELECT * FROM rule_members WHERE brand = " + t.brandSQL() + ") rm LEFT JOIN members m ON m.member_id = rm.member_id AND m.brand = " + t.brandSQL()
	if scoped {
		from = "_nudge_scope_rm rm LEFT JOIN " + compiler.ScopeMembers + " m ON m.member_id = rm.member_id"
	}
	if t.retryBlock {
		from += `
    LEFT JOIN _nudge_freed f ON f.member_id = rm.member_id
    LEFT JOIN _nudge_resp g ON g.rule = rm.rule AND g.member_id = rm.member_id`
	}
	return from
}

// blocked returns the condition, over blockedFrom, under which rule i may
// not fire for member rm.member_id at this tick, or "" when it always may:
// the limit has not run out; or (state rules) the latest firing was refused
// and would be refused again: no consent on any channel it sends on, or
// all its sends capped and the caps still full for sure.
func (t *tick) blocked(i int) string {
	r := t.prog.Rules[i]
	var block []string
	if r.Limit != nil || !r.Trigger {
		every := int64(0)
		if r.Limit != nil {
			every = r.Limit.Every.Microseconds()
		}
		cond := "rm.last_effective_at IS NOT NULL"
		if every > 0 {
			cond += fmt.Sprintf(" AND rm.last_effective_at > %s - to_microseconds(%d)", t.blockedNow(), every)
		}
		block = append(block, "("+cond+")")
	}
	if !r.Trigger {
		if noConsent := policy.NoConsentOnAnySQL(t.consent, r); noConsent != "" {
			block = append(block, "(NOT rm.last_effective AND "+noConsent+")")
		}
		if t.plans[i].capBlock {
			_, maxPer := t.capWindows()
			cond := fmt.Sprintf(`NOT rm.last_effective AND rm.last_capped
         AND (f.latest IS NULL OR f.latest <= rm.last_fired_at - to_microseconds(%d))`, maxPer.Microseconds())
			if _, ok := t.retryHorizon(); ok {
				cond += fmt.Sprintf("\n         AND rm.last_fired_at > %s - to_microseconds(%d)", t.blockedNow(), maxPer.Microseconds())
			}
			if r.StopAfter > 0 {
				cond += "\n         AND (g.ended IS NULL OR g.ended <= rm.last_fired_at)"
			}
			block = append(block, "("+cond+")")
		}
	}
	return strings.Join(block, "\n         OR ")
}

// blockedNow is the instant blocked judges at: the tick's, or in a
// replay's lanes each lane's (its copy of rule_members carries it).
func (t *tick) blockedNow() string {
	if t.laneForm {
		return "rm." + compiler.LaneNow
	}
	return "$now::TIMESTAMP"
}

// buildScope fills _nudge_scope with the members each scoped rule must
// re-evaluate (member_id, ri), and _nudge_scope_members and
// _nudge_scope_events with the rows of all of them. Each part is its own
// scan so that DuckDB can skip row groups by the min and max of seq and ts
// (events are mostly stored in time order); a part several rules share is
// scanned once. A scoped rule with no member of its own is not evaluated
// (see evaluate): its evaluation over its own members, which gives the
// firings of a full one, would return nothing.
func (t *tick) buildScope(ctx context.Context) error {
	args := t.params()
	minSeq := int64(math.MaxInt64)
	groups := map[time.Time]int{}   // t0 -> parameter index
	var eventParts []string         // scans of events, in order
	partRules := map[string][]int{} // scan -> the rules it serves
	addPart := func(q string, i int) {
		if _, ok := partRules[q]; !ok {
			eventParts = append(eventParts, q)
		}
		partRules[q] = append(partRules[q], i)
	}
	var fresh, ruleIndex, expiry, refused, capped, pastHorizon, daily []string
	expiryLo, expiryHi := t.now, time.Time{} // the range of all expiry windows
	refusedLo := t.now                       // the earliest t0 of the refused part
	reads := map[string][]string{}           // event type -> the columns the scoped rules read of it from the scope's copy
	for i, r := range t.prog.Rules {
		p := t.plans[i]
		if !p.scoped {
			continue
		}
		ruleIndex = append(ruleIndex, fmt.Sprintf("WHEN %s THEN %d", quoteString(r.Name), i))
		for e, cols := range r.ScopeEventReads {
			reads[e] = append(reads[e], cols...)
		}
		for _, e := range r.Events {
			// Events ingested since the rule's previous run.
			fresh = append(fresh, fmt.Sprintf("(%d, %s, %d)", i, quoteString(e), p.wmSeq))
		}
		if len(r.Events) > 0 {
			minSeq = min(minSeq, p.wmSeq)
		}
		if r.Trigger {
			// The members of the rule's candidates: events ingested since
			// its previous run (above), and older ones due since.
			// (An event is due at or after its ts: one due by now has ts <= now.)
			addPart(fmt.Sprintf("FROM events WHERE seq <= %d AND ts > %s AND ts <= $now::TIMESTAMP AND %s",
				p.wmSeq, timestampSQL(p.wmNow.Add(-r.Lag)), t.ofBrandAndType("type IN ("+quoteStrings(r.Events)+")")), i)
			continue
		}
		g, ok := groups[p.t0]
		if !ok {
			g = len(groups)
			groups[p.t0] = g
			args = append(args, sql.Named(fmt.Sprintf("t0_%d", g), p.t0))
		}
		t0 := fmt.Sprintf("$t0_%d::TIMESTAMP", g)
		name := quoteString(r.Name)
		// Events that crossed a window edge.
		for _, w := range r.Delta.Watches {
			which := t.ofBrandAndType("type = " + quoteString(w.Event))
			q := fmt.Sprintf("FROM events WHERE ts > %s AND ts <= $now::TIMESTAMP AND %s", t0, which)
			if w.Back != "" {
				q = fmt.Sprintf("FROM events WHERE ts >= %s - %s AND ts <= $now::TIMESTAMP - %s AND %s", t0, w.Back, w.Back, which)
			}
			addPart(q, i)
		}
		// Members whose date conditions changed since t0 (on a new day).
		if p.newDay {
			var changed []string
			for _, a := range r.Delta.DailyAtoms {
				if a.PerMember { // the others did not change (plan)
					changed = append(changed, dailyAtomChanged(a))
				}
			}
			if len(changed) > 0 {
				daily = append(daily, fmt.Sprintf("SELECT m.member_id, %d AS ri FROM members m, %s WHERE m.brand = $brand::VARCHAR AND (%s)",
					i, thenRow(t0), strings.Join(changed, " OR ")))
			}
		}
		// Limits that ran out.
		if r.Limit != nil && r.Limit.Every > 0 {
			every := r.Limit.Every.Microseconds()
			// (t0 is a parameter; the bounds of all rules' windows are
			// literals, table filters on a timestamp that spare the OR of
			// string comparisons on most rows.)
			expiryLo = earliest(expiryLo, p.t0.Add(-r.Limit.Every))
			expiryHi = latest(expiryHi, t.now.Add(-r.Limit.Every))
			expiry = append(expiry, fmt.Sprintf("(rule = %s AND last_effective_at > %s - to_microseconds(%d) AND last_effective_at <= $now::TIMESTAMP - to_microseconds(%d))",
				name, t0, every, every))
		}
		// Refused firings that may not be refused again: capped ones whose
		// caps may have room (blocked says exactly), and the others.
		if p.capBlock {
			capped = append(capped, r.Name)
			// Capped refusals that passed the retry horizon since t0 are
			// no longer blocked, whatever the retry tables (which read
			// back to the horizon only) say.
			if _, ok := t.retryHorizon(); ok {
				_, maxPer := t.capWindows()
				pastHorizon = append(pastHorizon, fmt.Sprintf("(rm.rule = %s AND rm.last_fired_at > %s - to_microseconds(%d))", name, t0, maxPer.Microseconds()))
			}
		}
		// A refused firing that is not blocked was retried, and refused
		// again, at the previous evaluation (which noted it in
		// last_fired_at) unless its condition was false then; it can only
		// have become true again through the parts above.
		// (Capped ones are the part above: this part has NOT last_capped.)
		// Members refused for want of consent on every channel would be
		// refused again: consent changes only with the members, and a
		// change of the members re-evaluates everyone (rule_members notes
		// such refusals; leaving them in is correct but, after a tick that
		// refused many, costs seconds, and reading their consent from the
		// members table costs a scan of it).
		refusedLo = earliest(refusedLo, p.t0)
		refused = append(refused, "(rm.rule = "+name+" AND rm.last_fired_at >= "+t0+")")
	}
	if len(ruleIndex) == 0 {
		return nil
	}
	t.scoped = true
	types := slices.Sorted(maps.Keys(reads))
	var parts []string
	if len(fresh) > 0 {
		// Members with events ingested since, of a type a rule reads.
		args = append(args, sql.Named("minseq", minSeq))
		parts = append(parts, `SELECT e.member_id, f.ri FROM events e JOIN (VALUES `+strings.Join(fresh, ", ")+`) f(ri, type, wm_seq)
  ON f.type = e.type AND e.seq > f.wm_seq
WHERE e.seq > $minseq::BIGINT AND `+afterScan("e.brand = $brand::VARCHAR"))
	}
	for _, q := range eventParts {
		ris := partRules[q]
		ri := fmt.Sprint(ris[0])
		if len(ris) > 1 {
			ri = "unnest(" + strings.ReplaceAll(fmt.Sprint(ris), " ", ", ") + ")"
		}
		parts = append(parts, "SELECT member_id, "+ri+" AS ri "+q)
	}
	parts = append(parts, daily...)
	// The rule_members parts name rules; ri is their index.
	ri := "CASE rm.rule " + strings.Join(ruleIndex, " ") + " END"
	if len(expiry) > 0 {
		parts = append(parts, "SELECT rm.member_id, "+ri+" AS ri FROM rule_members rm WHERE last_effective_at > "+timestampSQL(expiryLo)+
			" AND last_effective_at <= "+timestampSQL(expiryHi)+" AND "+afterScan("rm.brand = $brand::VARCHAR AND ("+strings.Join(expiry, "\n   OR ")+")"))
	}
	if len(capped) > 0 {
		// Capped refusals whose caps may have room again: a superset
		// (blocked says exactly which), cheaper to find than the exact set.
		past := ""
		if len(pastHorizon) > 0 {
			h, _ := t.retryHorizon()
			past = "\n       OR (rm.last_fired_at <= " + timestampSQL(h) + " AND (" + strings.Join(pastHorizon, " OR ") + "))"
		}
		parts = append(parts, `SELECT rm.member_id, `+ri+` AS ri FROM rule_members rm
WHERE NOT rm.last_effective AND rm.last_capped AND rm.rule IN (`+quoteStrings(capped)+`) AND rm.brand = $brand::VARCHAR
  AND (rm.member_id IN (SELECT member_id FROM _nudge_freed) OR rm.member_id IN (SELECT member_id FROM _nudge_resp)`+past+`)`)
	}
	if len(refused) > 0 {
		parts = append(parts, `SELECT rm.member_id, `+ri+` AS ri FROM rule_members rm
WHERE NOT rm.last_effective AND NOT rm.last_capped AND rm.last_no_consent IS NOT TRUE AND rm.last_fired_at >= `+timestampSQL(refusedLo)+` AND `+afterScan("rm.brand = $brand::VARCHAR AND ("+strings.Join(refused, "\n   OR ")+")"))
	}
	if len(parts) == 0 {
		parts = append(parts, "SELECT CAST(NULL AS VARCHAR) AS member_id, CAST(NULL AS INTEGER) AS ri WHERE false")
	}
	if _, err := t.exec(ctx, `
CREATE OR REPLACE TEMP TABLE _nudge_scope AS
SELECT DISTINCT member_id, ri FROM (
`+strings.Join(parts, "\nUNION ALL\n")+`
)`, args...); err != nil {
		return err
	}
	var err error
	if t.scopeSize, err = t.rowsPerRule(ctx, "_nudge_scope"); err != nil {
		return err
	}
	brand := sql.Named("brand", t.brand)
	var read strings.Builder // what the scoped rules read
	for i, r := range t.prog.Rules {
		if t.plans[i].scoped {
			read.WriteString(r.ScopedSQL)
			read.WriteString(t.blocked(i))
		}
	}
	// (policies reads the consent of the members scoped rules fire for.)
	always := []string{"member_id", "brand"}
	for _, ch := range t.consent {
		always = append(always, "consent_"+ch)
	}
	mcols := scopeColumns(t.memberCols, read.String(), "m.", always...)
	if _, err := t.exec(ctx, `CREATE OR REPLACE TEMP TABLE `+compiler.ScopeMembers+` AS
SELECT `+strings.Join(mcols, ", ")+` FROM members m WHERE m.brand = $brand::VARCHAR AND m.member_id IN (SELECT member_id FROM _nudge_scope)`, brand); err != nil {
		return err
	}
	// (rm_rowid lets the tick's updates of these rows find them without
	// joining the whole table on rule and member_id: rows keep their rowid
	// within the transaction, and the tick deletes none. The copy holds the
	// brand's rows only (another brand may use the same member ids and rule
	// names); nothing reads its brand and last_no_consent: leaving them out
	// spares decoding a string of every row of the table.)
	if _, err := t.exec(ctx, `CREATE OR REPLACE TEMP TABLE _nudge_scope_rm AS
SELECT rm.* EXCLUDE (brand, last_no_consent), rm.rowid AS rm_rowid FROM rule_members rm WHERE rm.brand = $brand::VARCHAR AND rm.member_id IN (SELECT member_id FROM _nudge_scope)`, brand); err != nil {
		return err
	}
	// Of events, the types the scoped rules read from the copy and the
	// columns they read of them (the compiler lists both, leaving out
	// those only candidates are of or read: candidates come from the
	// events table). brand is the same in every row: a constant costs no
	// decoding.
	columns := func(extra ...string) []string {
		cols := scopeColumns(t.eventCols, "", "", append([]string{"member_id", "brand", "type", "ts", "seq"}, extra...)...)
		for i, c := range cols {
			if c == quoteIdent("brand") {
				cols[i] = "$brand::VARCHAR AS " + c
			}
		}
		return cols
	}
	const scopeFilter = ` AND member_id IN (SELECT member_id FROM _nudge_scope)`
	var q string
	switch {
	case t.clustered() && len(types) > 0:
		// One scan per type, which reads the row groups of that type
		// only, and decodes only the columns read of it (the union fills
		// the others with NULL). On a million members, copying every
		// type in ingest order took 475 ms; the types read, with every
		// column read of any, 190 ms; a scan per type, about 165 ms.
		var parts []string
		for _, e := range types {
			parts = append(parts, `SELECT `+strings.Join(columns(reads[e]...), ", ")+` FROM events WHERE brand = $brand::VARCHAR AND type = `+quoteString(e)+scopeFilter)
		}
		q = strings.Join(parts, "\nUNION ALL BY NAME\n")
	default:
		// In ingest order a filter on a few types saves more than it
		// costs; on many, the IN list becomes a join over every event of
		// the brand and costs more than copying the events of the other
		// types (and so does a scan per type).
		var all []string
		for _, cols := range reads {
			all = append(all, cols...)
		}
		typeFilter := ""
		switch {
		case len(types) == 0:
			typeFilter = " AND false"
		case len(types) <= 2:
			typeFilter = " AND type IN (" + quoteStrings(types) + ")"
		}
		t.scopeAllTypes = typeFilter == ""
		q = `SELECT ` + strings.Join(columns(all...), ", ") + ` FROM events WHERE brand = $brand::VARCHAR` + typeFilter + scopeFilter
	}
	_, err = t.exec(ctx, `CREATE OR REPLACE TEMP TABLE `+compiler.ScopeEvents+` AS
`+q, brand)
	return err
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// afterScan wraps conditions on low-cardinality strings (brand, type) so
// that DuckDB evaluates them on the rows the scan's other filters (ts, seq,
// which also skip row groups by their min and max) let through, instead of
// on every row of the row groups scanned: as plain conjuncts they become
// table filters, applied first, which made a one-hour window over a row
// group four times slower.
func afterScan(cond string) string {
	return "(" + cond + ") IS TRUE"
}

// ofBrandAndType is the condition that an event is of the tick's brand and
// of the types typeCond admits, for a scan that also has a range on seq or
// ts. On events in ingest order, where every row group holds every type, it
// is evaluated after the range (afterScan). On clustered events
// (cluster.go) the type is a table filter, which skips the row groups of
// other types; the brand is not: as a table filter too it made a one-hour
// window of one type on 100,000 members 5.5-6 ms instead of 1.7-2.2 (on a
// million, no difference). (Either way such a window costs more than in
// ingest order, 1-1.8 ms, where the range alone finds its row group: the
// cost of clustering, which the copy of the scope's events repays.)
func (t *tick) ofBrandAndType(typeCond string) string {
	if t.clustered() {
		return typeCond + " AND " + afterScan("brand = $brand::VARCHAR")
	}
	return afterScan("brand = $brand::VARCHAR AND " + typeCond)
}

func quoteStrings(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = quoteString(x)
	}
	return strings.Join(q, ", ")
}

// scopeColumns lists, in table order, the columns of a table a tick may
// read from its scope copy: the given ones, and those whose name appears,
// qualified, in read. For members, read is the scoped queries and the
// blocked conditions, which read the consent columns (the compiler
// qualifies every column it reads: m."city"); for events the compiler
// lists them (compiler.Rule.ScopeEventReads) and read is empty. Copying
// fewer columns of every row makes the scope several times cheaper.
func scopeColumns(cols []column, read, prefix string, always ...string) []string {
	var out []string
	for _, c := range cols {
		if slices.Contains(always, c.name) || strings.Contains(read, "."+c.name) || strings.Contains(read, "."+quoteIdent(c.name)) {
			out = append(out, prefix+quoteIdent(c.name))
		}
	}
	return out
}

// timestampSQL renders t as a TIMESTAMP literal.
func timestampSQL(t time.Time) string {
	return "TIMESTAMP '" + t.Format("2006-01-02 15:04:05.999999") + "'"
}

// recordEvaluations notes, per state rule, what this tick's evaluation saw:
// an UPDATE of the rules the plan saw a row for and an upsert of the others
// (DuckDB's ON CONFLICT costs twice an UPDATE even on a table of a few rows,
// and the upsert is left for a rule's first evaluations).
func (t *tick) recordEvaluations(ctx context.Context) error {
	var known, added []string
	for i, r := range t.prog.Rules {
		switch {
		case r.Trigger:
		case t.plans[i].hasEval:
			known = append(known, fmt.Sprintf("(%s, %s)", quoteString(r.Name), quoteString(t.plans[i].hash)))
		default:
			added = append(added, fmt.Sprintf("(%s, $brand::VARCHAR, $now::TIMESTAMP, %s, $sum::VARCHAR)", quoteString(r.Name), quoteString(t.plans[i].hash)))
		}
	}
	args := t.params(sql.Named("sum", t.membersSum))
	if len(known) > 0 {
		if _, err := t.exec(ctx, `
UPDATE rule_evals SET eval_now = $now::TIMESTAMP, eval_hash = v.hash, members_sum = $sum::VARCHAR
FROM (VALUES `+strings.Join(known, ", ")+`) v(rule, hash)
WHERE rule_evals.brand = $brand::VARCHAR AND rule_evals.rule = v.rule`, args...); err != nil {
			return err
		}
	}
	if len(added) > 0 {
		if _, err := t.exec(ctx, `
INSERT INTO rule_evals (rule, brand, eval_now, eval_hash, members_sum) VALUES `+strings.Join(added, ", ")+`
ON CONFLICT (rule, brand) DO UPDATE SET eval_now = excluded.eval_now, eval_hash = excluded.eval_hash, members_sum = excluded.members_sum`, args...); err != nil {
			return err
		}
	}
	return nil
}
