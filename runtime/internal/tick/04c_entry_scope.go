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
)

// This file evaluates a journey's entry over the members whose entry may
// have changed since the previous tick, as the rules are (02_plan.go,
// 03_scope.go), over copies of their rows. An `enter on` entry is a
// trigger rule's query: its scope is the members of its candidate events
// (enterOnSQL). An `enter when` entry is incremental as a state rule's
// evaluation is (enterWhenSQL). The entry's
// condition is a state rule's query (compiler.Journey.Enter); at a tick a
// member enters when it holds and no instance of theirs blocks the entry
// (one active, or, for the re-entry limit, one entered within its period;
// once ever without a period). After the entry at t0 every member for whom
// the condition held then entered or was blocked. At a later now the
// entry can only differ for a member when:
//
//   - the condition's verdict may have changed: the entry rule's
//     tickform.Delta names those members (events ingested since, events
//     that crossed a window edge, date atoms that changed on a new day), as
//     it does for a state rule; or
//   - the block may have lifted (a limit with a period): an instance of the
//     member ended since the entry at t0 (by this tick before its entry,
//     or at t0 or later: a tick's `send winner` passes may end an instance
//     after its entry), or one entered in (t0 - period, now - period] left
//     the limit's period.
//
// The tick then evaluates the condition's scoped form over those members
// (with those of the tick's other journeys' entries: one copy of their
// rows serves every journey, see entryScopes; over a member whose entry
// did not change, the scoped form gives what the entry over every member
// gives, so the extra members change nothing). It evaluates it over every member (the entry rule's query) when
// the previous entry did not cover every member it had to: on the
// journey's first tick, in Full mode or a replay's lanes, when the entry
// rule has no Delta, when its condition or limit changed (entryHash), when
// the members changed, when time went back, and on a new day when a date
// atom with one value for everyone changed or the atoms could not be
// isolated. What the entry saw is recorded in rule_evals under the
// journey's name (recordEntries).

// noEntrySQL is an entry query that gives no member.
const noEntrySQL = "SELECT NULL::VARCHAR AS member_id, NULL::BIGINT AS trigger_seq, NULL::TIMESTAMP AS due_at WHERE false"

// entryHash identifies what the incremental entry of journey j depends
// on: its entry condition and its re-entry limit.
func entryHash(j *compiler.Journey) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%v\x00", j.Enter.SQL, j.Limit)
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// enterWhenSQL is how the tick evaluates the entry of the `enter when`
// journey k: the entry rule's query over every member (query), or its
// scoped form over the members whose entry may have changed since the
// previous tick's (see the top of the file), which the queries parts give
// (their member_id); neither when no member's entry can have changed
// (query noEntrySQL).
func (t *tick) enterWhenSQL(ctx context.Context, k int) (query string, parts []string, err error) {
	j := t.prog.Journeys[k]
	r := j.Enter
	d := r.Tick.Delta
	if t.mode.has(Full) || t.mode.has(Lanes) || d == nil || r.Tick.ScopedSQL == "" {
		return r.SQL, nil, nil
	}
	var wmSeq sql.NullInt64
	var wmNow, evalNow sql.NullTime
	var hash, sum sql.NullString
	err = t.tx.QueryRowContext(ctx, `
SELECT s.wm_seq, s.wm_now, v.eval_now, v.eval_hash, v.members_sum
FROM rule_state s JOIN rule_evals v USING (rule, brand)
WHERE s.rule = $rule::VARCHAR AND s.brand = $brand::VARCHAR`, sql.Named("rule", j.Name), sql.Named("brand", t.brand)).Scan(&wmSeq, &wmNow, &evalNow, &hash, &sum)
	switch {
	case err == sql.ErrNoRows:
		return r.SQL, nil, nil
	case err != nil:
		return "", nil, err
	}
	if !wmSeq.Valid || !wmNow.Valid || !evalNow.Valid {
		return r.SQL, nil, nil
	}
	t0 := Naive(evalNow.Time)
	if hash.String != entryHash(j) || sum.String != t.membersSum || t0.After(t.now) || !t0.Equal(Naive(wmNow.Time)) {
		return r.SQL, nil, nil
	}
	if len(r.Events) > 0 {
		// Members with events ingested since the previous tick.
		parts = append(parts, fmt.Sprintf("SELECT member_id FROM events WHERE seq > %d AND %s",
			wmSeq.Int64, t.ofBrandAndType("type IN ("+quoteStrings(r.Events)+")")))
	}
	then := timestampSQL(t0)
	for _, w := range d.Watches {
		// Events that crossed a window edge.
		parts = append(parts, "SELECT member_id "+t.windowEdgeFrom(w, then))
	}
	if d.Daily && !sameDate(t0, t.now) {
		// Members whose date conditions changed since t0.
		if len(d.DailyAtoms) == 0 {
			return r.SQL, nil, nil
		}
		all, err := t.dailyChangedForAll(ctx, d.DailyAtoms, t0)
		if err != nil || all {
			return r.SQL, nil, err
		}
		if changed := perMemberDailyChanged(d.DailyAtoms); len(changed) > 0 {
			parts = append(parts, fmt.Sprintf("SELECT m.member_id FROM members m, %s WHERE m.brand = $brand::VARCHAR AND (%s)", thenRow(then), strings.Join(changed, " OR ")))
		}
	}
	if j.Limit != nil && j.Limit.Every > 0 {
		// Blocks that may have lifted: instances that ended since the
		// entry at t0, this tick's included, and instances that left the
		// limit's period.
		name := quoteString(j.Name)
		every := fmt.Sprintf("to_microseconds(%d)", j.Limit.Every.Microseconds())
		parts = append(parts,
			"SELECT member_id FROM outbox WHERE fired_at >= "+then+" AND "+afterScan("brand = $brand::VARCHAR AND rule = "+name+" AND action IN ('exit', 'complete')"),
			// (This tick's ends before the entry: those of the instances
			// the tick touches, see narrowJourney.)
			"SELECT member_id FROM journey_instances WHERE brand = $brand::VARCHAR AND journey = "+name+" AND status = 'active' AND ("+t.journeyScope[k]+")",
			"SELECT member_id FROM journey_instances WHERE brand = $brand::VARCHAR AND journey = "+name+
				" AND entered_at > "+then+" - "+every+" AND entered_at <= $now::TIMESTAMP - "+every)
	}
	if len(parts) == 0 {
		return noEntrySQL, nil, nil
	}
	return "", parts, nil
}

// entryScopes sets entrySQL, the query of each journey's entry
// candidates at this tick (see entryCandidates): the entry rule's query
// over every member, or its scoped form over one copy of the rows of the
// members whose entry may have changed in any of the journeys
// (enterWhenSQL, enterOnSQL), which the tick makes once, before the
// journeys run. (What a journey's entry reads does not change while the
// others run; an end of one of its instances that may lift a block is
// foreseen by its scope, see enterWhenSQL.) When the rules have a scope,
// the plan step has done this already, with the rules' copy (buildScope).
func (t *tick) entryScopes(ctx context.Context) error {
	if t.entrySQL != nil {
		return nil // done by the plan step (buildScope)
	}
	copied := scopeCopy{scope: tickform.JourneyScope, in: "_nudge_jscope", always: []string{"member_id", "brand"}}
	need, err := t.entryScope(ctx, &copied)
	if err != nil || !need {
		return err
	}
	_, err = t.copyScope(ctx, copied)
	return err
}

// entryScope sets entrySQL (see entryScopes) and fills _nudge_jscope with
// the members whose entry may have changed in a journey whose entry is
// evaluated over them. It reports whether their rows must be copied, and
// adds what the scoped entries read to copied (its read and reads): they
// read its tables (copied.scope; tickform.Scope.Over rewrites them when
// they are not the journeys' own).
func (t *tick) entryScope(ctx context.Context, copied *scopeCopy) (need bool, err error) {
	t.entrySQL, t.entryArgs = map[int]string{}, map[int][]any{}
	var scoped []int
	var all []string
	for k, j := range t.prog.Journeys {
		var query string
		var parts []string
		var err error
		if j.EnterOn {
			wmSeq, wmNow, ran := t.enterOnWatermarks(k)
			t.entryArgs[k] = j.Enter.Watermarks.Args(wmSeq, wmNow)
			query, parts = t.enterOnSQL(k, wmSeq, wmNow, ran)
		} else if query, parts, err = t.enterWhenSQL(ctx, k); err != nil {
			return false, fmt.Errorf("journey %s: %w", j.Name, err)
		}
		t.entrySQL[k] = query
		if len(parts) > 0 {
			scoped = append(scoped, k)
			all = append(all, parts...)
		}
	}
	if len(scoped) == 0 {
		return false, nil
	}
	q := strings.Join(all, "\nUNION ALL\n")
	n, err := t.create(ctx, `
CREATE OR REPLACE TEMP TABLE _nudge_jscope AS
SELECT DISTINCT member_id FROM (
`+q+`
)`, usedArgs(q, t.params())...)
	if err != nil {
		return false, err
	}
	if n == 0 {
		for _, k := range scoped {
			t.entrySQL[k] = noEntrySQL
		}
		return false, nil
	}
	for _, k := range scoped {
		r := t.prog.Journeys[k].Enter
		t.entrySQL[k] = tickform.JourneyScope.Over(r.Tick.ScopedSQL, copied.scope)
		copied.read += t.entrySQL[k]
		copied.addReads(r.Tick, "")
	}
	return true, nil
}

// enterOnWatermarks is the entry watermarks of the `enter on` journey k:
// the events its previous ticks considered (ran: it ran before), as the
// plan step read them.
func (t *tick) enterOnWatermarks(k int) (wmSeq int64, wmNow time.Time, ran bool) {
	if prev, ok := t.prevs[t.prog.Journeys[k].Name]; ok {
		return prev.wmSeq, Naive(prev.wmNow), true
	}
	return int64(math.MaxInt64), t.now.Add(-t.lookback), false
}

// enterOnSQL is how the tick evaluates the entry of the `enter on`
// journey k, whose entry watermarks are wmSeq and wmNow: the entry rule's
// query over every member (query) when it has no scoped form or the
// journey did not run before; otherwise its scoped form over the members
// of its candidate events (parts, as a trigger rule's, 03_scope.go:
// events ingested since the previous tick, and older ones due since).
func (t *tick) enterOnSQL(k int, wmSeq int64, wmNow time.Time, ran bool) (query string, parts []string) {
	r := t.prog.Journeys[k].Enter
	if !ran || t.mode.has(Full) || t.mode.has(Lanes) || r.Tick.ScopedSQL == "" || len(r.Events) == 0 {
		return r.SQL, nil
	}
	types := t.ofBrandAndType("type IN (" + quoteStrings(r.Events) + ")")
	return "", []string{
		fmt.Sprintf("SELECT member_id FROM events WHERE seq > %d AND %s", wmSeq, types),
		"SELECT member_id " + t.dueSinceFrom(r, wmSeq, wmNow),
	}
}

// recordEntries notes what the entry of each `enter when` journey saw at
// this tick (its now, entryHash and the members' fingerprint) in
// rule_evals, under the journey's name, for the next tick's enterWhenSQL.
func (t *tick) recordEntries(ctx context.Context) error {
	seen := jsonRows{param: "entries", columns: []string{"name VARCHAR", "hash VARCHAR"}}
	for _, j := range t.prog.Journeys {
		if !j.EnterOn {
			seen.add(j.Name, entryHash(j))
		}
	}
	if len(seen.rows) == 0 {
		return nil
	}
	_, err := t.exec(ctx, `
INSERT INTO rule_evals (rule, brand, eval_now, eval_hash, members_sum)
SELECT name, $brand::VARCHAR, $now::TIMESTAMP, hash, $sum::VARCHAR FROM `+seen.sql()+`
ON CONFLICT (rule, brand) DO UPDATE SET eval_now = excluded.eval_now, eval_hash = excluded.eval_hash, members_sum = excluded.members_sum`,
		t.params(seen.arg(), sql.Named("sum", t.membersSum))...)
	return err
}
