package runtime

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"nudge/compiler"
)

// Incremental evaluation of state rules.
//
// SPEC §5 evaluates a state rule over every member at every run. A tick
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
// (time went backwards), when the brand's members changed (any column of
// any row: a fingerprint of the table is compared), and, for conditions on
// the date (birthday_in, age, days_since of a date), when the date changed.
// Events are append-only: nudge never updates or deletes them, and neither
// may anything else for this to hold.
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
	t0         time.Time // the now of the previous evaluation (valid when continuous)
	wmSeq      int64     // the rule's events watermark (when continuous)
	continuous bool      // the previous evaluation had the same definition and an earlier or equal now, and no tick went back in time since
	scoped     bool      // evaluate only the members of the scope
	capBlock   bool      // skip capped retries whose caps are still full
}

// ruleHash identifies what a rule's incremental evaluation depends on: its
// query, limit, actions and the program's caps.
func ruleHash(r *compiler.Rule, caps []compiler.Cap) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%v\x00%v\x00%d\x00", r.SQL, r.Limit, r.Actions, r.StopAfter)
	for _, c := range caps {
		fmt.Fprintf(h, "%s\x00", capLabel(c))
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// membersFingerprint sums a hash of every row of the brand's members: any
// change to the table (insert, update, delete) changes it.
func membersFingerprint(ctx context.Context, q queryer, brand string) (string, error) {
	var s string
	err := q.QueryRowContext(ctx, `SELECT count(*) || ':' || coalesce(sum(hash(m)), 0) FROM members m WHERE brand = $brand::VARCHAR`,
		sql.Named("brand", brand)).Scan(&s)
	return s, err
}

// plan decides, per rule, how the tick evaluates it, and builds the scope
// (the members to re-evaluate) and the tables the retry check reads.
func (t *tick) plan(ctx context.Context) error {
	fp, err := membersFingerprint(ctx, t.tx, t.brand)
	if err != nil {
		return err
	}
	t.membersSum = fp
	t.plans = make([]evalPlan, len(t.prog.Rules))
	for i, r := range t.prog.Rules {
		p := &t.plans[i]
		p.hash = ruleHash(r, t.prog.Caps)
		if r.Trigger {
			continue
		}
		var wmSeq sql.NullInt64
		var wmNow, evalNow sql.NullTime
		var hash, sum sql.NullString
		err := t.tx.QueryRowContext(ctx, `
SELECT s.wm_seq, s.wm_now, v.eval_now, v.eval_hash, v.members_sum
FROM rule_state s JOIN rule_evals v USING (rule, brand)
WHERE s.rule = $rule::VARCHAR AND s.brand = $brand::VARCHAR`,
			sql.Named("rule", r.Name), sql.Named("brand", t.brand)).Scan(&wmSeq, &wmNow, &evalNow, &hash, &sum)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		default:
			t0 := naive(evalNow.Time)
			p.continuous = hash.String == p.hash && !t0.After(t.now) && t0.Equal(naive(wmNow.Time))
			p.t0, p.wmSeq = t0, wmSeq.Int64
		}
		if t.evaluateAll {
			p.continuous = false
		}
		if !p.continuous {
			// Refusals recorded under other caps, or later in time, prove
			// nothing about the caps now.
			if _, err := t.exec(ctx, `UPDATE rule_members SET last_capped = false WHERE rule = $rule::VARCHAR AND last_capped`,
				sql.Named("rule", r.Name)); err != nil {
				return err
			}
			continue
		}
		p.capBlock = len(t.prog.Caps) > 0
		d := r.Delta
		p.scoped = d != nil && sum.String == fp && !(d.Daily && !sameDate(p.t0, t.now))
	}
	if err := t.retryTables(ctx); err != nil {
		return err
	}
	return t.buildScope(ctx)
}

func sameDate(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd
}

// capWindows returns the shortest and longest cap period.
func (t *tick) capWindows() (minPer, maxPer time.Duration) {
	minPer = time.Duration(math.MaxInt64)
	for _, c := range t.prog.Caps {
		minPer = min(minPer, c.Per)
		maxPer = max(maxPer, c.Per)
	}
	return minPer, maxPer
}

// retryTables builds what the capped-retry check reads: _nudge_freed, per
// member the latest counted send that has left the shortest cap window by
// now, or failed; _nudge_resp, per rule that stops after unanswered sends
// and member, the latest end of a response window that has closed by now.
func (t *tick) retryTables(ctx context.Context) error {
	var names []string
	var stoppers []string
	for i, r := range t.prog.Rules {
		if t.plans[i].capBlock {
			names = append(names, quoteString(r.Name))
			if r.StopAfter > 0 {
				stoppers = append(stoppers, quoteString(r.Name))
			}
		}
	}
	if len(names) == 0 {
		return nil
	}
	var oldest sql.NullTime
	if err := t.tx.QueryRowContext(ctx, `SELECT min(last_fired_at) FROM rule_members WHERE last_capped AND NOT last_effective AND rule IN (`+
		strings.Join(names, ", ")+`)`).Scan(&oldest); err != nil {
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
WHERE action = 'send' AND status IN ('pending', 'scheduled', 'sent') AND rule IN (` + strings.Join(stoppers, ", ") + `)
  AND coalesce(scheduled_at, fired_at) > $lo::TIMESTAMP - to_microseconds($resp::BIGINT)
  AND coalesce(scheduled_at, fired_at) <= $now::TIMESTAMP - to_microseconds($resp::BIGINT)
GROUP BY rule, member_id`
	}
	args := t.params(sql.Named("lo", lo), sql.Named("minper", minPer.Microseconds()), sql.Named("maxper", maxPer.Microseconds()),
		sql.Named("resp", responseWindow.Microseconds()))
	if _, err := t.exec(ctx, `
CREATE OR REPLACE TEMP TABLE _nudge_freed AS
SELECT member_id, max(fired_at) AS latest
FROM outbox
WHERE action = 'send' AND fired_at > $lo::TIMESTAMP - to_microseconds($maxper::BIGINT)
  AND ((status IN ('pending', 'scheduled', 'sent') AND fired_at <= $now::TIMESTAMP - to_microseconds($minper::BIGINT))
       OR status = 'failed')
GROUP BY member_id`, args[:5]...); err != nil {
		return err
	}
	if len(stoppers) == 0 {
		args = nil
	}
	_, err := t.exec(ctx, `CREATE OR REPLACE TEMP TABLE _nudge_resp AS `+resp, args...)
	return err
}

// blockedFrom is the FROM clause the blocked predicate reads: rule_members
// rm with the member m and the retry tables f and g.
func (t *tick) blockedFrom() string {
	from := "rule_members rm LEFT JOIN members m ON m.member_id = rm.member_id"
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
			cond += fmt.Sprintf(" AND rm.last_effective_at > $now::TIMESTAMP - to_microseconds(%d)", every)
		}
		block = append(block, "("+cond+")")
	}
	if !r.Trigger {
		if noConsent := t.noConsent(r); noConsent != "" {
			block = append(block, "(NOT rm.last_effective AND "+noConsent+")")
		}
		if t.plans[i].capBlock {
			_, maxPer := t.capWindows()
			cond := fmt.Sprintf(`NOT rm.last_effective AND rm.last_capped
         AND (f.latest IS NULL OR f.latest <= rm.last_fired_at - to_microseconds(%d))`, maxPer.Microseconds())
			if r.StopAfter > 0 {
				cond += "\n         AND (g.ended IS NULL OR g.ended <= rm.last_fired_at)"
			}
			block = append(block, "("+cond+")")
		}
	}
	return strings.Join(block, "\n         OR ")
}

// buildScope fills _nudge_scope with the members the scoped rules must
// re-evaluate, and _nudge_scope_members and _nudge_scope_events with their
// rows.
func (t *tick) buildScope(ctx context.Context) error {
	var parts []string
	args := t.params()
	minSeq := int64(math.MaxInt64)
	groups := map[time.Time]int{} // t0 -> parameter index
	watches := map[int][]string{}
	var rm []string
	for i, r := range t.prog.Rules {
		p := t.plans[i]
		if !p.scoped {
			continue
		}
		minSeq = min(minSeq, p.wmSeq)
		g, ok := groups[p.t0]
		if !ok {
			g = len(groups)
			groups[p.t0] = g
			args = append(args, sql.Named(fmt.Sprintf("t0_%d", g), p.t0))
		}
		t0 := fmt.Sprintf("$t0_%d::TIMESTAMP", g)
		for _, w := range r.Delta.Watches {
			cond := fmt.Sprintf("(type = %s AND ts > %s AND ts <= $now::TIMESTAMP)", quoteString(w.Event), t0)
			if w.Back != "" {
				cond = fmt.Sprintf("(type = %s AND ts >= %s - %s AND ts <= $now::TIMESTAMP - %s)", quoteString(w.Event), t0, w.Back, w.Back)
			}
			if !contains(watches[g], cond) {
				watches[g] = append(watches[g], cond)
			}
		}
		// Limits that ran out, and retries that are not blocked.
		var when []string
		if r.Limit != nil && r.Limit.Every > 0 {
			every := r.Limit.Every.Microseconds()
			when = append(when, fmt.Sprintf("(rm.last_effective_at > %s - to_microseconds(%d) AND rm.last_effective_at <= $now::TIMESTAMP - to_microseconds(%d))", t0, every, every))
		}
		retry := "NOT rm.last_effective"
		if b := t.blocked(i); b != "" {
			retry += " AND NOT (" + b + ")"
		}
		when = append(when, "("+retry+")")
		rm = append(rm, fmt.Sprintf("(rm.rule = %s AND (%s))", quoteString(r.Name), strings.Join(when, " OR ")))
	}
	if len(groups) == 0 {
		return nil
	}
	t.scoped = true
	args = append(args, sql.Named("minseq", minSeq))
	parts = append(parts, `SELECT member_id FROM events WHERE brand = $brand::VARCHAR AND seq > $minseq::BIGINT`)
	for g := range len(groups) {
		if len(watches[g]) > 0 {
			parts = append(parts, "SELECT member_id FROM events WHERE brand = $brand::VARCHAR AND ("+strings.Join(watches[g], "\n    OR ")+")")
		}
	}
	parts = append(parts, "SELECT rm.member_id FROM "+t.blockedFrom()+"\nWHERE "+strings.Join(rm, "\n   OR "))
	if _, err := t.exec(ctx, `
CREATE OR REPLACE TEMP TABLE _nudge_scope AS
SELECT DISTINCT member_id FROM (
`+strings.Join(parts, "\nUNION ALL\n")+`
)`, args...); err != nil {
		return err
	}
	brand := sql.Named("brand", t.brand)
	if _, err := t.exec(ctx, `CREATE OR REPLACE TEMP TABLE `+compiler.ScopeMembers+` AS
SELECT * FROM members WHERE brand = $brand::VARCHAR AND member_id IN (SELECT member_id FROM _nudge_scope)`, brand); err != nil {
		return err
	}
	_, err := t.exec(ctx, `CREATE OR REPLACE TEMP TABLE `+compiler.ScopeEvents+` AS
SELECT * FROM events WHERE brand = $brand::VARCHAR AND member_id IN (SELECT member_id FROM _nudge_scope)`, brand)
	return err
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// recordEvaluations notes, per rule, what this tick's evaluation saw.
func (t *tick) recordEvaluations(ctx context.Context) error {
	var rows []string
	for i, r := range t.prog.Rules {
		if r.Trigger {
			continue
		}
		rows = append(rows, fmt.Sprintf("(%s, $brand::VARCHAR, $now::TIMESTAMP, %s, $sum::VARCHAR)", quoteString(r.Name), quoteString(t.plans[i].hash)))
	}
	if len(rows) == 0 {
		return nil
	}
	_, err := t.exec(ctx, `
INSERT INTO rule_evals (rule, brand, eval_now, eval_hash, members_sum) VALUES `+strings.Join(rows, ", ")+`
ON CONFLICT (rule, brand) DO UPDATE SET eval_now = excluded.eval_now, eval_hash = excluded.eval_hash, members_sum = excluded.members_sum`,
		t.params(sql.Named("sum", t.membersSum))...)
	return err
}
