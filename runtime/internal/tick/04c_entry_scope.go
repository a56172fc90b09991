package tick

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
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
// alone. It evaluates it over every member (the entry rule's query) when
// the previous entry did not cover every member it had to: on the
// journey's first tick, in Full mode or a replay's lanes, when the entry
// rule has no Delta, when its condition or limit changed (entryHash), when
// the members changed, when time went back, and on a new day when a date
// atom with one value for everyone changed or the atoms could not be
// isolated. What the entry saw is recorded in rule_evals under the
// journey's name (recordEntry).

// Names of the journey entry's copies of its scope's members and events,
// which its scoped form reads in place of tickform.ScopeMembers and
// tickform.ScopeEvents (the rules' copies, which the policy steps still
// read).
const (
	entryScopeMembers = "_nudge_jscope_members"
	entryScopeEvents  = "_nudge_jscope_events"
)

// noEntrySQL is an entry query that gives no member.
const noEntrySQL = "SELECT NULL::VARCHAR AS member_id, NULL::BIGINT AS trigger_seq, NULL::TIMESTAMP AS due_at WHERE false"

// entryHash identifies what the incremental entry of journey j depends
// on: its entry condition and its re-entry limit.
func entryHash(j *compiler.Journey) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%v\x00", j.Enter.SQL, j.Limit)
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// enterWhenSQL is the query of the entry candidates of the `enter when`
// journey k at this tick: the entry rule's query over every member, or
// its scoped form over the members whose entry may have changed since
// the previous tick's (see the top of the file), whose rows it copies.
func (t *tick) enterWhenSQL(ctx context.Context, k int) (string, error) {
	j := t.prog.Journeys[k]
	r := j.Enter
	d := r.Tick.Delta
	if t.mode.has(Full) || t.mode.has(Lanes) || d == nil || r.Tick.ScopedSQL == "" {
		return r.SQL, nil
	}
	var wmSeq sql.NullInt64
	var wmNow, evalNow sql.NullTime
	var hash, sum sql.NullString
	err := t.tx.QueryRowContext(ctx, `
SELECT s.wm_seq, s.wm_now, v.eval_now, v.eval_hash, v.members_sum
FROM rule_state s JOIN rule_evals v USING (rule, brand)
WHERE s.rule = $rule::VARCHAR AND s.brand = $brand::VARCHAR`, sql.Named("rule", j.Name), sql.Named("brand", t.brand)).Scan(&wmSeq, &wmNow, &evalNow, &hash, &sum)
	switch {
	case err == sql.ErrNoRows:
		return r.SQL, nil
	case err != nil:
		return "", err
	}
	if !wmSeq.Valid || !wmNow.Valid || !evalNow.Valid {
		return r.SQL, nil
	}
	t0 := Naive(evalNow.Time)
	if hash.String != entryHash(j) || sum.String != t.membersSum || t0.After(t.now) || !t0.Equal(Naive(wmNow.Time)) {
		return r.SQL, nil
	}
	var parts []string
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
			return r.SQL, nil
		}
		all, err := t.dailyChangedForAll(ctx, d.DailyAtoms, t0)
		if err != nil || all {
			return r.SQL, err
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
			"SELECT member_id FROM _nudge_jdec WHERE journey = "+name+" AND action IN ('exit', 'complete')",
			"SELECT member_id FROM journey_instances WHERE brand = $brand::VARCHAR AND journey = "+name+
				" AND entered_at > "+then+" - "+every+" AND entered_at <= $now::TIMESTAMP - "+every)
	}
	if len(parts) == 0 {
		return noEntrySQL, nil
	}
	return t.entryScope(ctx, k, parts)
}

// entryScope copies the rows of the members the queries parts give (their
// member_id) into the entry's scope tables and returns the entry rule's
// scoped form over them.
func (t *tick) entryScope(ctx context.Context, k int, parts []string) (string, error) {
	r := t.prog.Journeys[k].Enter
	if _, err := t.exec(ctx, `
CREATE OR REPLACE TEMP TABLE _nudge_jscope AS
SELECT DISTINCT member_id FROM (
`+strings.Join(parts, "\nUNION ALL\n")+`
)`, usedArgs(strings.Join(parts, " "), t.params())...); err != nil {
		return "", err
	}
	if none, err := t.empty(ctx, "_nudge_jscope"); err != nil || none {
		return noEntrySQL, err
	}
	const inScope = " AND member_id IN (SELECT member_id FROM _nudge_jscope)"
	brand := sql.Named("brand", t.brand)
	// Of members, the columns the scoped form reads (scopeColumns).
	mcols := scopeColumns(t.memberCols, r.Tick.ScopedSQL, "", "member_id", "brand")
	if _, err := t.exec(ctx, `CREATE OR REPLACE TEMP TABLE `+entryScopeMembers+` AS
SELECT `+strings.Join(mcols, ", ")+` FROM members WHERE brand = $brand::VARCHAR`+inScope, brand); err != nil {
		return "", err
	}
	// Of events, the types the scoped form reads and the columns it reads
	// of them, one scan per type on clustered events (which then reads the
	// row groups of that type only).
	types := slices.Sorted(maps.Keys(r.Tick.ScopeEventReads))
	var all []string
	for _, cols := range r.Tick.ScopeEventReads {
		all = append(all, cols...)
	}
	ecols := strings.Join(scopeColumns(t.eventCols, "", "", append([]string{"member_id", "brand", "type", "ts", "seq"}, all...)...), ", ")
	q := `SELECT ` + ecols + ` FROM events WHERE false`
	switch {
	case len(types) == 0:
	case t.clustered():
		var scans []string
		for _, e := range types {
			scans = append(scans, `SELECT `+ecols+` FROM events WHERE brand = $brand::VARCHAR AND type = `+quoteString(e)+inScope)
		}
		q = strings.Join(scans, "\nUNION ALL\n")
	default:
		q = `SELECT ` + ecols + ` FROM events WHERE brand = $brand::VARCHAR AND type IN (` + quoteStrings(types) + `)` + inScope
	}
	var args []any
	if strings.Contains(q, "$brand") {
		args = append(args, brand)
	}
	if _, err := t.exec(ctx, `CREATE OR REPLACE TEMP TABLE `+entryScopeEvents+` AS
`+q, args...); err != nil {
		return "", err
	}
	return strings.NewReplacer(tickform.ScopeMembers, entryScopeMembers, tickform.ScopeEvents, entryScopeEvents).Replace(r.Tick.ScopedSQL), nil
}

// enterOnSQL is the query of the entry candidates of the `enter on`
// journey k at this tick, whose entry watermarks are wmSeq and wmNow:
// the entry rule's query, over the rows of the members of its candidate
// events alone (as a trigger rule's, 03_scope.go: events ingested since
// the previous tick, and older ones due since) when it has a scoped form
// and the journey ran before; over every member otherwise.
func (t *tick) enterOnSQL(ctx context.Context, k int, wmSeq int64, wmNow time.Time, ran bool) (string, error) {
	r := t.prog.Journeys[k].Enter
	if !ran || t.mode.has(Full) || t.mode.has(Lanes) || r.Tick.ScopedSQL == "" || len(r.Events) == 0 {
		return r.SQL, nil
	}
	types := t.ofBrandAndType("type IN (" + quoteStrings(r.Events) + ")")
	return t.entryScope(ctx, k, []string{
		fmt.Sprintf("SELECT member_id FROM events WHERE seq > %d AND %s", wmSeq, types),
		"SELECT member_id " + t.dueSinceFrom(r, wmSeq, wmNow),
	})
}

// recordEntry notes what the entry of the `enter when` journey k saw at
// this tick (its now, entryHash and the members' fingerprint) in
// rule_evals, for the next tick's enterWhenSQL.
func (t *tick) recordEntry(ctx context.Context, k int) error {
	j := t.prog.Journeys[k]
	if j.EnterOn {
		return nil
	}
	_, err := t.exec(ctx, `
INSERT INTO rule_evals (rule, brand, eval_now, eval_hash, members_sum)
VALUES ($rule::VARCHAR, $brand::VARCHAR, $now::TIMESTAMP, $hash::VARCHAR, $sum::VARCHAR)
ON CONFLICT (rule, brand) DO UPDATE SET eval_now = excluded.eval_now, eval_hash = excluded.eval_hash, members_sum = excluded.members_sum`,
		t.params(sql.Named("rule", j.Name), sql.Named("hash", entryHash(j)), sql.Named("sum", t.membersSum))...)
	return err
}
