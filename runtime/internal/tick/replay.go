package tick

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"nudge/internal/tickform"
	"nudge/runtime/policy"
)

// Replaying ticks in rounds.
//
// A simulation runs a tick every simulated hour, and a tick's cost is mostly
// fixed (some thirty statements whatever the data, see docs/design.md). Replay
// gives the decisions of a run of consecutive ticks with a few rounds of
// statements instead, relying on what incremental ticks rely on (02_plan.go), plus one fact:
// members never interact (caps, limits, holdouts, consent and tags are per
// member). Each member's history is then a sequence of ticks of its own, and
// only a tick at which something happened to the member (a decision, or a
// refusal noted in rule_members) changes what later ticks see of it.
//
//   - The pending pairs (member, tick) are the ticks at which the member is in
//     some rule's scope: its events crossing a window edge, its trigger events
//     becoming due (both known for every tick from the events alone), and, from
//     its rule_members rows, a limit running out, a capped refusal whose caps
//     free up (the first tick at which blocked no longer holds), a mixed
//     refusal retried at the next tick. Between two such ticks no verdict of
//     the member can change (the argument of 02_plan.go).
//   - A round evaluates every pending pair at once: the rules' lane form
//     (compiler.Rule.Tick.LaneSQL) over copies of the pairs' members, events and
//     rule_members, each copy carrying its pair's instant, with blocked judged
//     at that instant. For each member the earliest tick with a candidate is
//     exact (nothing happened to the member before it); its candidates there go
//     through the tick's own policy steps (fire ... tags), which read each
//     candidate's instant from its row. The member's later pairs are evaluated
//     again in the next round, against its new state, with the pairs its new
//     rule_members rows add. A member without a candidate is done.
//   - A member whose firings were all capped refusals repeated is settled at
//     once up to the next tick at which anything can change for it
//     (repeatChains).
//
// So a day takes as many rounds as the busiest member has ticks with
// decisions, plus one. The replay covers ticks that a tick would evaluate
// incrementally: every rule continuous since the previous tick, no events
// ingested since, the same date throughout (a new day may re-evaluate
// everyone), every rule with a lane form, one stratum (no rule reads a tag
// another one writes: see tick.evaluate), no event waiting for a member who
// arrived (00_arrivals.go), no journey (a round runs no journey step).
// Replay says ErrNotReplayable
// otherwise, and the caller runs that tick as a tick (Run). The proof is the
// differential test TestReplayMatchesTicks (runtime/simulate).

// ErrNotReplayable: the ticks asked for cannot be replayed in rounds (see
// above); run them with Run.
var ErrNotReplayable = errors.New("replay: these ticks need a tick-by-tick run")

// IsNotReplayable reports whether err says that Replay cannot batch the
// ticks it was given, which must then be run one by one.
func IsNotReplayable(err error) bool { return errors.Is(err, ErrNotReplayable) }

// Result is what Replay says of one replayed tick.
type Result struct {
	RunID int64
	Now   time.Time
	Brand string
	Rules []RuleSummary
}

// Replay runs the ticks at the instants ticks (naive, increasing, all
// after prev, the now of the latest tick run, and on its date) in the
// transaction tx as ticks would run them one after the other, and returns
// one Result per tick (a rule's Candidates are those settled at the tick,
// which a tick, evaluating more members, may count higher). o.Now is
// ignored, and of o.Mode only UnboundedRetry is kept. It returns an error for which IsNotReplayable holds
// when they cannot be replayed (see above); nothing is changed then. The
// caller checked that every rule has a lane form and the program one
// stratum. Replay drops its working tables; the caller commits.
func Replay(ctx context.Context, tx *sql.Tx, o Options, prev time.Time, ticks []time.Time) ([]*Result, error) {
	o.Now, o.Mode = ticks[len(ticks)-1], Lanes|o.Mode&UnboundedRetry
	r := &replayRun{tick: *New(tx, o), prev: prev, ticks: ticks}
	r.instants = ticks
	res, err := r.run(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.dropTemps(ctx, strings.Fields(replayTemps)...); err != nil {
		return nil, err
	}
	return res, nil
}

// maxReplayRounds bounds the rounds of one replay (a member needs one per
// tick with decisions, plus one).
const maxReplayRounds = 500

// replayRun is one Replay: a tick whose candidates come from lanes.
type replayRun struct {
	tick
	prev  time.Time
	ticks []time.Time
	// per tick (index k-1): candidates and repeats per rule, decisions
	// per rule and status, firings per rule
	cands, repeats, firingsK []map[int]int64
	statuses                 []map[int]map[string]int64
	rounds                   int
}

// freedSendSQL is the condition that the outbox row o frees room for a
// capped retry by the instant at (SQL): a counted send older than the
// shortest cap window ($minper), or one that gave its share back
// (gaveBackSQL: what retryTables' _nudge_freed keeps, without its lower
// bound: see laneCopies).
func freedSendSQL(o, at string) string {
	return o + ".action = 'send' AND ((" + o + ".status IN (" + policy.SQLList(gaveBackStatuses...) + ") AND " + gaveBackSQL(o+".") + ") OR (" + o + ".status IN (" + policy.CountedSQL + ") AND " +
		o + ".fired_at <= " + at + " - to_microseconds($minper::BIGINT)))"
}

// repeatChains settles at once the ticks at which a member would only be
// refused again. A member all of whose firings at its tick k were capped
// refusals repeated (not recorded: see repeats) is tried again at every
// later tick, while blocked does not hold, and refused again, until
// something changes: a pending tick of the member (an edge of its events,
// a limit running out), one of its sends leaving a cap window or the
// shortest one, or a response window closing (the caps, blocked's retry
// tables and the unanswered count change only then), or blocked coming to
// hold as the refusal's time moves on. The ticks before that first change
// are repeats of the same refusals: counted as such, with rule_members
// noting the last of them, as ticks would. A busy day otherwise takes a
// round per tick for such members (a send capped behind the day's SMS).
func (r *replayRun) repeatChains(ctx context.Context) error {
	t := &r.tick
	minPer, maxPer := t.capWindows()
	if !t.feat.caps {
		return nil
	}
	var stoppers []string
	for _, rule := range t.prog.Rules {
		if rule.StopAfter > 0 {
			stoppers = append(stoppers, rule.Name)
		}
	}
	stopperCond := "false"
	if len(stoppers) > 0 {
		stopperCond = inStrings("rr.rule", stoppers)
	}
	// With a retry horizon, blocked also needs the refusal within the
	// longest cap window (see blocked).
	horizonCond := "true"
	if _, ok := t.retryHorizon(); ok {
		horizonCond = "k.prev > k.now - to_microseconds($maxper::BIGINT)"
	}
	n := len(r.ticks)
	// A capped send of a rule competing for a stock or a budget took its
	// share at each tick before caps refused it (policy/money.go): such
	// repeats go through the rounds, tick by tick.
	money := ""
	if m := r.moneyRules(); len(m) > 0 {
		money = "\n    AND f.member_id NOT IN (SELECT member_id FROM _nudge_repeat WHERE ri IN (" + strings.Join(m, ", ") + "))"
	}
	if _, err := r.exec(ctx, `CREATE OR REPLACE TEMP TABLE _nudge_chain AS
WITH rep AS (
  SELECT f.member_id, f.k FROM _nudge_first f
  WHERE f.k < $n::INTEGER
    AND f.member_id IN (SELECT member_id FROM _nudge_repeat)
    AND f.member_id NOT IN (SELECT member_id FROM _nudge_dec)
    AND f.member_id NOT IN (SELECT member_id FROM _nudge_repeat WHERE NOT capped_only)`+money+`
), rr AS (
  SELECT DISTINCT x.member_id, x.ri, r.name AS rule FROM _nudge_repeat x JOIN _nudge_rules r USING (ri) WHERE x.member_id IN (SELECT member_id FROM rep)
), pend AS (
  SELECT p.member_id, min(p.k) AS k FROM _nudge_pend p JOIN rep USING (member_id) WHERE p.k > rep.k GROUP BY p.member_id
), expiry AS (
  SELECT rm.member_id, min(k.k) AS k FROM rule_members rm JOIN rep ON rep.member_id = rm.member_id AND rm.brand = `+t.brandSQL()+`
  JOIN _nudge_rules r ON r.name = rm.rule AND r.every_us > 0 AND NOT r.trig
  JOIN _nudge_ticks k ON k.k > rep.k AND rm.last_effective_at > k.prev - to_microseconds(r.every_us) AND rm.last_effective_at <= k.now - to_microseconds(r.every_us)
  GROUP BY rm.member_id
), sends AS (
  SELECT o.member_id, o.action, o.channel, o.fired_at, o.scheduled_at, o.status, o.effective, o.rule
  FROM outbox o WHERE o.action = 'send' AND o.brand = `+t.brandSQL()+` AND o.member_id IN (SELECT member_id FROM rep)
), moments AS (
  SELECT s.member_id, s.fired_at + to_microseconds(c.per_us) AS at FROM sends s JOIN _nudge_caps c ON c.channel IS NULL OR c.channel = s.channel
  UNION ALL SELECT member_id, fired_at + to_microseconds($minper::BIGINT) FROM sends
  UNION ALL SELECT s.member_id, `+policy.AnswerWindowSQL("s")+` + to_microseconds($resp::BIGINT) FROM sends s
), moved AS (
  SELECT m.member_id, min(k.k) AS k FROM moments m JOIN rep USING (member_id) JOIN _nudge_ticks k ON k.k > rep.k AND m.at > k.prev AND m.at <= k.now
  GROUP BY m.member_id
), freed AS (
  SELECT rep.member_id, max(s.fired_at) AS latest FROM rep JOIN _nudge_ticks k ON k.k = rep.k + 1
  JOIN sends s ON s.member_id = rep.member_id AND `+freedSendSQL("s", "k.now")+`
  GROUP BY rep.member_id
), resp AS (
  SELECT rep.member_id, s.rule, max(`+policy.AnswerWindowSQL("s")+`) + to_microseconds($resp::BIGINT) AS ended FROM rep JOIN _nudge_ticks k ON k.k = rep.k + 1
  JOIN sends s ON s.member_id = rep.member_id AND `+policy.ClosedResponseSQL("s", "k.now")+`
  GROUP BY rep.member_id, s.rule
), blocks AS (
  -- the first tick at which blocked holds for one of the refused rules,
  -- the refusal's time being the previous tick
  SELECT rr.member_id, min(k.k) AS k FROM rr JOIN rep USING (member_id) JOIN _nudge_ticks k ON k.k > rep.k
  LEFT JOIN freed f ON f.member_id = rr.member_id
  LEFT JOIN resp g ON g.member_id = rr.member_id AND g.rule = rr.rule
  WHERE (f.latest IS NULL OR f.latest <= k.prev - to_microseconds($maxper::BIGINT))
    AND `+horizonCond+`
    AND (NOT (`+stopperCond+`) OR g.ended IS NULL OR g.ended <= k.prev)
  GROUP BY rr.member_id
)
SELECT rep.member_id, rep.k AS k0,
       least(coalesce(pend.k, $n::INTEGER + 1), coalesce(expiry.k, $n::INTEGER + 1), coalesce(moved.k, $n::INTEGER + 1), coalesce(blocks.k, $n::INTEGER + 1)) AS kc
FROM rep
LEFT JOIN pend USING (member_id) LEFT JOIN expiry USING (member_id) LEFT JOIN moved USING (member_id) LEFT JOIN blocks USING (member_id)`,
		sql.Named("n", n), sql.Named("minper", minPer.Microseconds()), sql.Named("maxper", maxPer.Microseconds()),
		policy.ResponseArg()); err != nil {
		return err
	}
	if _, err := r.exec(ctx, `DELETE FROM _nudge_chain WHERE kc <= k0 + 1`); err != nil {
		return err
	}
	// The repeats of the chains' ticks.
	rows, err := t.tx.QueryContext(ctx, `SELECT k.k, x.ri, count(*) FROM _nudge_chain ch
JOIN (SELECT DISTINCT member_id, ri FROM _nudge_repeat) x USING (member_id)
JOIN _nudge_ticks k ON k.k > ch.k0 AND k.k < ch.kc GROUP BY ALL`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var k, ri int
		var c int64
		if err := rows.Scan(&k, &ri, &c); err != nil {
			rows.Close()
			return err
		}
		r.repeats[k-1][ri] += c
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	// rule_members notes the last repeat; the member goes on from the tick
	// before the change, which is pending.
	_, err = r.exec(ctx, `UPDATE rule_members SET last_fired_at = v.at
FROM (SELECT ch.member_id, r.name AS rule, k.now AS at FROM _nudge_chain ch
      JOIN (SELECT DISTINCT member_id, ri FROM _nudge_repeat) x USING (member_id) JOIN _nudge_rules r USING (ri)
      JOIN _nudge_ticks k ON k.k = ch.kc - 1) v
WHERE rule_members.member_id = v.member_id AND rule_members.rule = v.rule AND rule_members.brand = `+t.brandSQL()+`;
UPDATE _nudge_first SET k = ch.kc - 1 FROM _nudge_chain ch WHERE _nudge_first.member_id = ch.member_id;
UPDATE _nudge_cursor SET k = ch.kc - 1 FROM _nudge_chain ch WHERE _nudge_cursor.member_id = ch.member_id;
INSERT INTO _nudge_pend SELECT member_id, kc FROM _nudge_chain WHERE kc <= $n::INTEGER;`, sql.Named("n", n))
	return err
}

// replayTemps are the working tables of a replay, besides a tick's.
const replayTemps = "_nudge_ticks _nudge_pend _nudge_cursor _nudge_lanes _nudge_lcand _nudge_first _nudge_chain _nudge_defer"

func (r *replayRun) run(ctx context.Context) ([]*Result, error) {
	t := &r.tick
	if err := t.load(ctx); err != nil {
		return nil, err
	}
	if t.waiting > 0 {
		// A waiting event whose member arrived is admitted by the next
		// tick (00_arrivals.go), which Run does.
		var arrived bool
		if err := t.tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM waiting_events w WHERE w.brand = $brand::VARCHAR AND `+arrivedSQL+`)`,
			sql.Named("brand", t.brand)).Scan(&arrived); err != nil {
			return nil, err
		}
		if arrived {
			return nil, ErrNotReplayable
		}
	}
	if ok, err := r.replayable(ctx); err != nil || !ok {
		if err == nil {
			err = ErrNotReplayable
		}
		return nil, err
	}
	n := len(r.ticks)
	r.cands, r.repeats, r.firingsK = make([]map[int]int64, n), make([]map[int]int64, n), make([]map[int]int64, n)
	r.statuses = make([]map[int]map[string]int64, n)
	for k := range n {
		r.cands[k], r.repeats[k], r.firingsK[k] = map[int]int64{}, map[int]int64{}, map[int]int64{}
		r.statuses[k] = map[int]map[string]int64{}
	}
	if err := t.setup(ctx); err != nil {
		return nil, fmt.Errorf("replay (setup): %w", err)
	}
	if err := r.setupTicks(ctx); err != nil {
		return nil, fmt.Errorf("replay (ticks): %w", err)
	}
	if err := r.initialPairs(ctx); err != nil {
		return nil, fmt.Errorf("replay (pending ticks): %w", err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		more, err := r.round(ctx)
		if err != nil {
			return nil, fmt.Errorf("replay (round %d): %w", r.rounds, err)
		}
		if !more {
			break
		}
		if r.rounds++; r.rounds > maxReplayRounds {
			return nil, fmt.Errorf("replay: more than %d rounds", maxReplayRounds)
		}
	}
	// What the last tick leaves: watermarks and evaluation records at its now.
	t.now = r.ticks[n-1]
	t.instants = nil
	if err := t.watermarks(ctx); err != nil {
		return nil, fmt.Errorf("replay (watermarks): %w", err)
	}
	if err := t.recordEvaluations(ctx); err != nil {
		return nil, fmt.Errorf("replay (evaluations): %w", err)
	}
	return r.runLogs(ctx)
}

// replayable checks that every rule would be evaluated incrementally at
// every tick of the replay, and fills the plans the steps read.
func (r *replayRun) replayable(ctx context.Context) (bool, error) {
	t := &r.tick
	prevs, err := t.previousRuns(ctx)
	if err != nil {
		return false, err
	}
	t.plans = make([]evalPlan, len(t.prog.Rules))
	for i, rule := range t.prog.Rules {
		p := &t.plans[i]
		p.hash = ruleHash(rule, t.prog.Caps)
		pv, ok := prevs[rule.Name]
		// Continuous since the previous tick, with no event ingested since.
		if !ok || rule.Tick.LaneSQL == "" || !Naive(pv.wmNow).Equal(r.prev) || pv.wmSeq < t.maxSeq {
			return false, nil
		}
		p.hasState = true
		p.wmSeq, p.wmNow = pv.wmSeq, r.prev
		if rule.Trigger {
			continue
		}
		// (Nor did the previous evaluation skip refusals of an exhausted
		// budget: 02b_budget_skip.go.)
		if !pv.evalNow.Valid || !Naive(pv.evalNow.Time).Equal(r.prev) || pv.hash.String != p.hash || pv.members.String != t.membersSum || rule.Tick.Delta == nil || pv.budgetFrom.Valid {
			return false, nil
		}
		p.hasEval, p.continuous, p.t0 = true, true, r.prev
		// (A rule competing for a stock or a budget retries every capped
		// refusal: plan's retryCapped.)
		p.retryCapped = len(t.prog.Caps) > 0 && t.prog.RuleCompetes(rule)
		p.capBlock = len(t.prog.Caps) > 0 && !p.retryCapped
		t.retryBlock = t.retryBlock || p.capBlock
	}
	return true, nil
}

// setupTicks fills _nudge_ticks: per replayed tick its index k (from 1),
// its now, the previous tick's now and its run id.
func (r *replayRun) setupTicks(ctx context.Context) error {
	var rows []string
	prev := r.prev
	for i, now := range r.ticks {
		rows = append(rows, fmt.Sprintf("(%d, %s, %s, %d)", i+1, timestampSQL(now), timestampSQL(prev), r.runID+int64(i)))
		prev = now
	}
	_, err := r.exec(ctx, `CREATE OR REPLACE TEMP TABLE _nudge_ticks (k INTEGER, now TIMESTAMP, prev TIMESTAMP, run_id BIGINT);
INSERT INTO _nudge_ticks VALUES `+strings.Join(rows, ", ")+`;
CREATE OR REPLACE TEMP TABLE _nudge_pend (member_id VARCHAR, k INTEGER);
CREATE OR REPLACE TEMP TABLE _nudge_cursor (member_id VARCHAR, k INTEGER);`)
	return err
}

// initialPairs fills _nudge_pend with the pairs the events give (window
// edges, trigger events becoming due) and those every member's
// rule_members rows give at the start.
func (r *replayRun) initialPairs(ctx context.Context) error {
	t := &r.tick
	first, last := r.prev, r.ticks[len(r.ticks)-1]
	seen := map[string]bool{}
	var parts []string
	add := func(q string) {
		if !seen[q] {
			seen[q] = true
			parts = append(parts, q)
		}
	}
	for _, rule := range t.prog.Rules {
		if rule.Trigger {
			// Candidate events due in (prev, now] have ts in (prev - lag, now].
			add(fmt.Sprintf(`SELECT e.member_id, k.k FROM events e JOIN _nudge_ticks k ON e.ts > k.prev - to_microseconds(%d) AND e.ts <= k.now
WHERE e.ts > %s AND e.ts <= %s AND %s`, rule.Lag.Microseconds(), timestampSQL(first.Add(-rule.Lag)), timestampSQL(last),
				afterScan("e.brand = $brand::VARCHAR AND e.type IN ("+quoteStrings(rule.Events)+")")))
			continue
		}
		if opt := optOutEvents(rule); len(opt) > 0 {
			// Opt-ins and opt-outs change the consent of the rule's
			// refusals (03_scope.go).
			add(fmt.Sprintf(`SELECT e.member_id, k.k FROM events e JOIN _nudge_ticks k ON e.ts > k.prev AND e.ts <= k.now
WHERE e.ts > %s AND e.ts <= %s AND %s`, timestampSQL(first), timestampSQL(last), afterScan("e.brand = $brand::VARCHAR AND e.type IN ("+quoteStrings(opt)+")")))
		}
		for _, w := range rule.Tick.Delta.Watches {
			which := afterScan("e.brand = $brand::VARCHAR AND e.type = " + quoteString(w.Event))
			if w.Back == "" {
				add(fmt.Sprintf(`SELECT e.member_id, k.k FROM events e JOIN _nudge_ticks k ON e.ts > k.prev AND e.ts <= k.now
WHERE e.ts > %s AND e.ts <= %s AND %s`, timestampSQL(first), timestampSQL(last), which))
				continue
			}
			add(fmt.Sprintf(`SELECT e.member_id, k.k FROM events e JOIN _nudge_ticks k ON e.ts >= k.prev - %[1]s AND e.ts <= k.now - %[1]s
WHERE e.ts >= %[2]s - %[1]s AND e.ts <= %[3]s - %[1]s AND %[4]s`, w.Back, timestampSQL(first), timestampSQL(last), which))
		}
	}
	if len(parts) > 0 {
		if _, err := r.exec(ctx, "INSERT INTO _nudge_pend SELECT DISTINCT * FROM (\n"+strings.Join(parts, "\nUNION ALL\n")+"\n)",
			sql.Named("brand", t.brand)); err != nil {
			return err
		}
	}
	return r.statePairs(ctx, false)
}

// statePairs adds to _nudge_pend the pairs the rule_members rows give: of
// every member at the start (onlyMoved false), or of the members the last
// round moved (_nudge_first: the tick they were last changed at), after
// their cursor.
func (r *replayRun) statePairs(ctx context.Context, onlyMoved bool) error {
	t := &r.tick
	// Members and their cursor: 0 for everyone at the start.
	rm := "(SELECT * FROM rule_members WHERE brand = " + t.brandSQL() + ") rm"
	from := rm + " CROSS JOIN (SELECT 0 AS k) c"
	if onlyMoved {
		from = rm + " JOIN _nudge_first c ON c.member_id = rm.member_id"
	}
	var parts []string
	var capped, retryEvery, stoppers []string
	for _, rule := range t.prog.Rules {
		if rule.Trigger {
			continue
		}
		name := quoteString(rule.Name)
		if rule.Limit != nil && rule.Limit.Every > 0 {
			every := rule.Limit.Every.Microseconds()
			parts = append(parts, fmt.Sprintf(`SELECT rm.member_id, k.k FROM %s JOIN _nudge_ticks k ON k.k > c.k
  AND rm.last_effective_at > k.prev - to_microseconds(%d) AND rm.last_effective_at <= k.now - to_microseconds(%d)
WHERE rm.rule = %s`, from, every, every, name))
		}
		switch {
		case len(t.prog.Caps) > 0 && t.prog.RuleCompetes(rule):
			retryEvery = append(retryEvery, rule.Name)
		case len(t.prog.Caps) > 0:
			capped = append(capped, rule.Name)
			if rule.StopAfter > 0 {
				stoppers = append(stoppers, rule.Name)
			}
		}
	}
	if len(retryEvery) > 0 {
		// A capped refusal of a rule competing for a stock or a budget is
		// retried at the next tick, and at every tick after (plan's
		// retryCapped).
		parts = append(parts, `SELECT rm.member_id, k.k FROM `+from+` JOIN _nudge_ticks k ON k.k = c.k + 1
WHERE NOT rm.last_effective AND rm.last_capped AND rm.rule IN (`+quoteStrings(retryEvery)+`)`)
	}
	// Refused firings neither all capped nor all without consent are tried
	// again at the next tick (03_scope.go's refused part).
	parts = append(parts, `SELECT rm.member_id, k.k FROM `+from+` JOIN _nudge_ticks k ON k.k = c.k + 1
WHERE NOT rm.last_effective AND NOT rm.last_capped AND rm.last_no_consent IS NOT TRUE AND rm.last_fired_at >= k.prev`)
	if len(capped) > 0 {
		// A capped refusal is retried at the first tick at which blocked
		// no longer holds for it (it never holds again until the member's
		// state changes): a counted send of the member left the shortest
		// cap window, or failed, since the longest window before the
		// refusal; a response window of the rule's sends closed since the
		// refusal; or the refusal passed the retry horizon.
		minPer, maxPer := t.capWindows()
		free := []string{"f.latest > rm.last_fired_at - to_microseconds($maxper::BIGINT)"}
		if _, ok := t.retryHorizon(); ok {
			free = append(free, "rm.last_fired_at <= k.now - to_microseconds($maxper::BIGINT)")
		}
		resp := ""
		if len(stoppers) > 0 {
			free = append(free, "("+inStrings("rm.rule", stoppers)+" AND g.ended > rm.last_fired_at)")
			resp = `
LEFT JOIN LATERAL (
  SELECT max(` + policy.AnswerWindowSQL("o") + `) + to_microseconds($resp::BIGINT) AS ended FROM outbox o
  WHERE o.member_id = rm.member_id AND o.brand = ` + t.brandSQL() + ` AND o.rule = rm.rule AND ` + policy.ClosedResponseSQL("o", "k.now") + `
) g ON true`
		}
		q := `SELECT rm.member_id, min(k.k) FROM ` + from + ` JOIN _nudge_ticks k ON k.k > c.k
LEFT JOIN LATERAL (
  SELECT max(o.fired_at) AS latest FROM outbox o
  WHERE o.member_id = rm.member_id AND o.brand = ` + t.brandSQL() + ` AND ` + freedSendSQL("o", "k.now") + `
) f ON true` + resp + `
WHERE NOT rm.last_effective AND rm.last_capped AND rm.rule IN (` + quoteStrings(capped) + `)
  AND (` + strings.Join(free, " OR ") + `)
GROUP BY rm.member_id, rm.rule`
		args := []any{sql.Named("maxper", maxPer.Microseconds()), sql.Named("minper", minPer.Microseconds())}
		if len(stoppers) > 0 {
			args = append(args, policy.ResponseArg())
		}
		if _, err := r.exec(ctx, "INSERT INTO _nudge_pend "+q, args...); err != nil {
			return err
		}
	}
	_, err := r.exec(ctx, "INSERT INTO _nudge_pend SELECT DISTINCT * FROM (\n"+strings.Join(parts, "\nUNION ALL\n")+"\n)")
	return err
}

// round evaluates every pending pair, runs the policies of each member's
// earliest candidates, and updates the pending pairs; it reports whether
// there was anything to evaluate.
func (r *replayRun) round(ctx context.Context) (bool, error) {
	t := &r.tick
	var lanes int64
	if _, err := r.exec(ctx, `CREATE OR REPLACE TEMP TABLE _nudge_lanes AS
SELECT p.member_id || '~' || p.k AS lane, p.member_id, p.k, k.now, k.prev
FROM (SELECT DISTINCT member_id, k FROM _nudge_pend) p JOIN _nudge_ticks k USING (k)`); err != nil {
		return false, err
	}
	if err := t.tx.QueryRowContext(ctx, `SELECT count(*) FROM _nudge_lanes`).Scan(&lanes); err != nil {
		return false, err
	}
	if lanes == 0 {
		return false, nil
	}
	if err := r.laneCopies(ctx); err != nil {
		return false, err
	}
	if err := r.evaluateLanes(ctx); err != nil {
		return false, err
	}
	// Each member's earliest tick with candidates, and its candidates there;
	// members deferred to a later round (_nudge_defer, see moneyRules)
	// keep their pending pairs.
	defer_ := `CREATE OR REPLACE TEMP TABLE _nudge_defer AS SELECT CAST(NULL AS VARCHAR) AS member_id WHERE false;`
	if money := r.moneyRules(); len(money) > 0 {
		defer_ = `CREATE OR REPLACE TEMP TABLE _nudge_defer AS
SELECT DISTINCT f.member_id FROM _nudge_first f
JOIN _nudge_lanes l ON l.member_id = f.member_id AND l.k = f.k
JOIN _nudge_lcand c ON c.member_id = l.lane
WHERE f.k > (SELECT min(k) FROM _nudge_first) AND c.ri IN (` + strings.Join(money, ", ") + `);
DELETE FROM _nudge_first WHERE member_id IN (SELECT member_id FROM _nudge_defer);`
	}
	if _, err := r.exec(ctx, `CREATE OR REPLACE TEMP TABLE _nudge_first AS
SELECT l.member_id, min(l.k) AS k FROM _nudge_lcand c JOIN _nudge_lanes l ON l.lane = c.member_id GROUP BY l.member_id;
`+defer_+`
DELETE FROM _nudge_cand;
INSERT INTO _nudge_cand (ri, member_id, trigger_seq, due_at, vals, params, now)
SELECT c.ri, l.member_id, c.trigger_seq, c.due_at, c.vals, c.params, l.now
FROM _nudge_lcand c JOIN _nudge_lanes l ON l.lane = c.member_id JOIN _nudge_first f ON f.member_id = l.member_id AND f.k = l.k;
DELETE FROM _nudge_pend WHERE member_id IN (SELECT member_id FROM _nudge_lanes) AND member_id NOT IN (SELECT member_id FROM _nudge_first)
    AND member_id NOT IN (SELECT member_id FROM _nudge_defer);
DELETE FROM _nudge_pend p USING _nudge_first f WHERE p.member_id = f.member_id AND p.k <= f.k;
DELETE FROM _nudge_cursor WHERE member_id IN (SELECT member_id FROM _nudge_first);
INSERT INTO _nudge_cursor SELECT member_id, k FROM _nudge_first;`); err != nil {
		return false, err
	}
	if err := r.policiesOfRound(ctx); err != nil {
		return false, err
	}
	if t.firings > 0 {
		if err := r.repeatChains(ctx); err != nil {
			return false, fmt.Errorf("repeated refusals: %w", err)
		}
	}
	if err := r.statePairs(ctx, true); err != nil {
		return false, err
	}
	return true, nil
}

// moneyRules are the indexes (as SQL) of the rules whose sends compete
// for a stock or a budget (SPEC §9): a rule with a budget, or one sending
// a content with a stock. A tick settles them in the order priority, rule
// name, member id, across members, which a round keeps: it settles such a
// rule's candidates only at the earliest tick any member has candidates
// at (every candidate at that tick is in the round, and every later one
// of any member is at a later tick), and defers a member whose earliest
// candidates include one at a later tick to the next round, its pending
// pairs kept. The others are settled as before: they do not compete
// across members.
func (r *replayRun) moneyRules() []string {
	var out []string
	for i, rule := range r.prog.Rules {
		if r.prog.RuleCompetes(rule) {
			out = append(out, fmt.Sprint(i))
		}
	}
	return out
}

// laneCopies fills the scope's copies for the lanes: the lanes' members,
// events (of the types the rules read from the copy, with the columns they
// read) and rule_members rows, each row once per lane of its member with
// member_id replaced by the lane and the lane's instant in tickform.LaneNow;
// and the retry tables per lane.
func (r *replayRun) laneCopies(ctx context.Context) error {
	t := &r.tick
	reads := map[string][]string{}
	for _, rule := range t.prog.Rules {
		for e, cols := range rule.Tick.ScopeEventReads {
			reads[e] = append(reads[e], cols...)
		}
	}
	types := slices.Sorted(maps.Keys(reads))
	var all []string
	for _, cols := range reads {
		all = append(all, cols...)
	}
	ecols := scopeColumns(t.eventCols, "", "e.", append([]string{"seq", "brand", "type", "ts"}, all...)...)
	typeFilter := " AND false"
	if len(types) > 0 {
		typeFilter = " AND e.type IN (" + quoteStrings(types) + ")"
	}
	now := "l.now AS " + tickform.LaneNow
	stmts := []string{
		`CREATE OR REPLACE TEMP TABLE ` + tickform.ScopeMembers + ` AS
SELECT m.* REPLACE (l.lane AS member_id), ` + now + ` FROM members m JOIN _nudge_lanes l ON l.member_id = m.member_id WHERE m.brand = $brand::VARCHAR`,
		`CREATE OR REPLACE TEMP TABLE ` + tickform.ScopeEvents + ` AS
SELECT l.lane AS member_id, ` + strings.Join(ecols, ", ") + `, ` + now + ` FROM events e JOIN _nudge_lanes l ON l.member_id = e.member_id
WHERE e.brand = $brand::VARCHAR` + typeFilter,
		`CREATE OR REPLACE TEMP TABLE _nudge_scope_rm AS
SELECT rm.* REPLACE (l.lane AS member_id), ` + now + ` FROM rule_members rm JOIN _nudge_lanes l ON l.member_id = rm.member_id WHERE rm.brand = $brand::VARCHAR`,
	}
	for _, q := range stmts {
		if _, err := r.exec(ctx, q, sql.Named("brand", t.brand)); err != nil {
			return err
		}
	}
	if !t.retryBlock {
		return nil
	}
	// The retry tables (02_plan.go's retryTables) per lane, at its
	// instant and without the lower bound, which changes no verdict of
	// blocked (a send before it is before every refusal's longest window).
	minPer, _ := t.capWindows()
	var stoppers []string
	for _, rule := range t.prog.Rules {
		if rule.StopAfter > 0 && !rule.Trigger {
			stoppers = append(stoppers, rule.Name)
		}
	}
	if _, err := r.exec(ctx, `CREATE OR REPLACE TEMP TABLE _nudge_freed AS
SELECT l.lane AS member_id, max(o.fired_at) AS latest
FROM outbox o JOIN _nudge_lanes l ON l.member_id = o.member_id
WHERE o.brand = `+t.brandSQL()+` AND `+freedSendSQL("o", "l.now")+`
GROUP BY l.lane`, sql.Named("minper", minPer.Microseconds())); err != nil {
		return err
	}
	resp := `SELECT CAST(NULL AS VARCHAR) AS rule, CAST(NULL AS VARCHAR) AS member_id, CAST(NULL AS TIMESTAMP) AS ended WHERE false`
	var args []any
	if len(stoppers) > 0 {
		resp = `SELECT o.rule, l.lane AS member_id, max(` + policy.AnswerWindowSQL("o") + `) + to_microseconds($resp::BIGINT) AS ended
FROM outbox o JOIN _nudge_lanes l ON l.member_id = o.member_id
WHERE o.rule IN (` + quoteStrings(stoppers) + `) AND o.brand = ` + t.brandSQL() + ` AND ` + policy.ClosedResponseSQL("o", "l.now") + `
GROUP BY o.rule, l.lane`
		args = append(args, policy.ResponseArg())
	}
	_, err := r.exec(ctx, `CREATE OR REPLACE TEMP TABLE _nudge_resp AS `+resp, args...)
	return err
}

// evaluateLanes runs every rule's lane form over the copies into
// _nudge_lcand (member_id holding the lane), less the lanes blocked at
// their instant.
func (r *replayRun) evaluateLanes(ctx context.Context) error {
	t := &r.tick
	if _, err := r.exec(ctx, `CREATE OR REPLACE TEMP TABLE _nudge_lcand (ri INTEGER, member_id VARCHAR, trigger_seq BIGINT, due_at TIMESTAMP, vals JSON, params JSON)`); err != nil {
		return err
	}
	rules := make([]int, len(t.prog.Rules))
	for i := range rules {
		rules[i] = i
	}
	noArgs := func(int) []any { return nil }
	fams, rest := t.families(rules, noArgs)
	return t.evaluateBatches(ctx, "_nudge_lcand", fams, rest, []any{sql.Named("brand", t.brand)}, noArgs, true)
}

// policiesOfRound runs the tick's policy steps over the round's candidates
// (_nudge_cand, real member ids, each at its instant) and counts what they
// did per tick.
func (r *replayRun) policiesOfRound(ctx context.Context) error {
	t := &r.tick
	// The instants of this round's candidates, and their count per tick.
	rows, err := t.tx.QueryContext(ctx, `SELECT now, ri, count(*) FROM _nudge_cand GROUP BY ALL ORDER BY now`)
	if err != nil {
		return err
	}
	index := map[time.Time]int{}
	for i, now := range r.ticks {
		index[now] = i
	}
	t.instants = nil
	t.candidates = make([]int64, len(t.prog.Rules))
	for rows.Next() {
		var now time.Time
		var ri int
		var n int64
		if err := rows.Scan(&now, &ri, &n); err != nil {
			rows.Close()
			return err
		}
		now = Naive(now)
		if len(t.instants) == 0 || !t.instants[len(t.instants)-1].Equal(now) {
			t.instants = append(t.instants, now)
		}
		r.cands[index[now]][ri] += n
		t.candidates[ri] += n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(t.instants) == 0 {
		return nil
	}
	for _, s := range t.policySteps() {
		if s.firings && t.firings == 0 {
			continue // as a tick: these steps read the firings
		}
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	if t.firings == 0 {
		return nil
	}
	// What the round did, per tick (the grouping sets ((now, ri, status),
	// (now, ri)) as two plain aggregates, see summaries).
	rows, err = t.tx.QueryContext(ctx, `SELECT now, ri, NULL, count(*) FROM _nudge_repeat GROUP BY ALL
UNION ALL
SELECT now, ri, coalesce(status, '?firings'), CASE WHEN status IS NULL THEN count(DISTINCT firing_id) ELSE count(*) END
FROM _nudge_dec GROUP BY now, ri, status
UNION ALL
SELECT now, ri, '?firings', count(DISTINCT firing_id) FROM _nudge_dec GROUP BY now, ri`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var now time.Time
		var ri int
		var status sql.NullString
		var n int64
		if err := rows.Scan(&now, &ri, &status, &n); err != nil {
			return err
		}
		k := index[Naive(now)]
		switch {
		case !status.Valid:
			r.repeats[k][ri] += n
		case status.String == "?firings":
			r.firingsK[k][ri] += n
		default:
			if r.statuses[k][ri] == nil {
				r.statuses[k][ri] = map[string]int64{}
			}
			r.statuses[k][ri][status.String] += n
		}
	}
	return rows.Err()
}

// runLogs writes a run log row per replayed tick and returns their results.
func (r *replayRun) runLogs(ctx context.Context) ([]*Result, error) {
	t := &r.tick
	var out []*Result
	var values []string
	finished := Naive(time.Now())
	for k, now := range r.ticks {
		res := &Result{RunID: t.runID + int64(k), Now: now, Brand: t.brand}
		statuses := map[string]int64{}
		var cands, firings, decisions int64
		for i, rule := range t.prog.Rules {
			s := RuleSummary{Rule: rule.Name, Trigger: rule.Trigger, Candidates: r.cands[k][i], Firings: r.firingsK[k][i],
				Repeats: r.repeats[k][i], Statuses: map[string]int64{}, Incremental: !rule.Trigger}
			for st, n := range r.statuses[k][i] {
				s.Statuses[st] = n
				statuses[st] += n
				decisions += n
			}
			cands += s.Candidates
			firings += s.Firings
			res.Rules = append(res.Rules, s)
		}
		js, _ := json.Marshal(statuses) // sorted keys: deterministic
		values = append(values, fmt.Sprintf("(%d, %s, $brand::VARCHAR, %s, %s, %d, %d, %d, %d, %s::JSON)", res.RunID, timestampSQL(now),
			timestampSQL(t.started), timestampSQL(finished), len(t.prog.Rules), cands, firings, decisions, quoteString(string(js))))
		out = append(out, res)
	}
	_, err := r.exec(ctx, `INSERT INTO runs (id, now, brand, started_at, finished_at, rules, candidates, firings, decisions, statuses) VALUES `+
		strings.Join(values, ",\n"), sql.Named("brand", t.brand))
	return out, err
}
