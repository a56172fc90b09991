package tick

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"nudge/compiler"
	"nudge/internal/tickform"
	"slices"
	"strings"
	"time"
)

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
	var daily []string
	// The scoped rules, and per rule what the parts of the scope that read
	// rule_members compare (a join rather than a condition per rule, which
	// every row evaluated in turn): t0 (NULL for trigger rules), the
	// limit's period (NULL without one), whether its capped refusals
	// may be retried (capped: those whose caps may have room; retry_capped:
	// all); and the budget skip's bounds (02b_budget_skip.go).
	scoped := jsonRows{param: "scoped", columns: []string{"rule VARCHAR", "ri INTEGER", "t0 TIMESTAMP", "every_us BIGINT", "capped BOOLEAN", "retry_capped BOOLEAN", "readd_from TIMESTAMP", "readd_after VARCHAR", "readd_up_to VARCHAR"}}
	fresh := jsonRows{param: "fresh", columns: []string{"ri INTEGER", "type VARCHAR", "wm_seq BIGINT"}}
	var expiry, refused, capped, retryCapped, pastHorizon, readd bool
	var budgetSkips []string                 // per rule, the refusals its exhausted budget skips (budgetBlocked)
	expiryLo, expiryHi := t.now, time.Time{} // the range of all expiry windows
	refusedLo := t.now                       // the earliest t0 of the refused part
	var copied scopeCopy                     // what the scoped rules read from the scope's copy
	for i, r := range t.prog.Rules {
		p := t.plans[i]
		if !p.scoped {
			continue
		}
		from, err := t.candidatesFrom(ctx, r, p.wmSeq, p.wmNow)
		if err != nil {
			return err
		}
		copied.addReads(r.Tick, from)
		for _, e := range r.Events {
			// Events ingested since the rule's previous run.
			fresh.add(i, e, p.wmSeq)
		}
		if len(r.Events) > 0 {
			minSeq = min(minSeq, p.wmSeq)
		}
		for _, e := range optOutEvents(r) {
			// Opt-ins and opt-outs change the consent of a state rule's
			// refusals (policy.OptOutsSQL).
			fresh.add(i, e, p.wmSeq)
			minSeq = min(minSeq, p.wmSeq)
		}
		if r.Trigger {
			// The members of the rule's candidates: events ingested since
			// its previous run (above), and older ones due since.
			// (An event is due at or after its ts: one due by now has ts <= now.)
			addPart(t.dueSinceFrom(r, p.wmSeq, p.wmNow), i)
			scoped.add(r.Name, i, nil, nil, false, false, nil, nil, nil)
			continue
		}
		g, ok := groups[p.t0]
		if !ok {
			g = len(groups)
			groups[p.t0] = g
			args = append(args, sql.Named(fmt.Sprintf("t0_%d", g), p.t0))
		}
		t0 := fmt.Sprintf("$t0_%d::TIMESTAMP", g)
		if opt := optOutEvents(r); len(opt) > 0 {
			addPart(fmt.Sprintf("FROM events WHERE ts > %s AND ts <= $now::TIMESTAMP AND %s", t0, t.ofBrandAndType("type IN ("+quoteStrings(opt)+")")), i)
		}
		// Events that crossed a window edge.
		for _, w := range r.Tick.Delta.Watches {
			addPart(t.windowEdgeFrom(w, t0), i)
		}
		// Members whose date conditions changed since t0 (on a new day).
		if p.newDay {
			// (The atoms with one value for everyone did not change: plan.)
			if changed := perMemberDailyChanged(r.Tick.Delta.DailyAtoms); len(changed) > 0 {
				daily = append(daily, fmt.Sprintf("SELECT m.member_id, %d AS ri FROM members m, %s WHERE m.brand = $brand::VARCHAR AND (%s)",
					i, thenRow(t0), strings.Join(changed, " OR ")))
			}
		}
		// Limits that ran out.
		var every any
		if r.Limit != nil && r.Limit.Every > 0 {
			every = r.Limit.Every.Microseconds()
			// (The bounds of all rules' windows are literals, table
			// filters on a timestamp that spare the join on most rows.)
			expiryLo = earliest(expiryLo, p.t0.Add(-r.Limit.Every))
			expiryHi = latest(expiryHi, t.now.Add(-r.Limit.Every))
			expiry = true
		}
		// Refused firings that may not be refused again: capped ones whose
		// caps may have room (blocked says exactly), and the others.
		if p.capBlock {
			capped = true
			// Capped refusals that passed the retry horizon since t0 are
			// no longer blocked, whatever the retry tables (which read
			// back to the horizon only) say.
			_, pastHorizon = t.retryHorizon()
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
		refused = true
		// Refusals an earlier evaluation skipped for an exhausted budget
		// that this one does not skip.
		readd = readd || !p.readdFrom.IsZero()
		if cond := t.budgetBlocked(i); cond != "" {
			budgetSkips = append(budgetSkips, fmt.Sprintf("WHEN %d THEN %s", i, cond))
		}
		retryCapped = retryCapped || p.retryCapped
		scoped.add(r.Name, i, p.t0.Format(timestampLayout), every, p.capBlock, p.retryCapped, nullTime(p.readdFrom), p.readdAfter, p.readdUpTo)
	}
	if len(scoped.rows) == 0 {
		return nil
	}
	t.scopeBuilt = true
	var parts []string
	if len(fresh.rows) > 0 {
		// Members with events ingested since, of a type a rule reads.
		args = append(args, sql.Named("minseq", minSeq), fresh.arg())
		parts = append(parts, `SELECT e.member_id, f.ri FROM events e JOIN `+fresh.sql()+` f
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
	// The rule_members parts join the scoped rules by name (s.ri is
	// their index).
	if expiry || capped || retryCapped || refused || readd {
		args = append(args, scoped.arg())
	}
	if expiry {
		parts = append(parts, "SELECT rm.member_id, s.ri FROM rule_members rm JOIN "+scoped.sql()+" s ON s.rule = rm.rule WHERE last_effective_at > "+timestampSQL(expiryLo)+
			" AND last_effective_at <= "+timestampSQL(expiryHi)+" AND "+afterScan("rm.brand = $brand::VARCHAR")+
			"\n  AND rm.last_effective_at > s.t0 - to_microseconds(s.every_us) AND rm.last_effective_at <= $now::TIMESTAMP - to_microseconds(s.every_us)")
	}
	if capped || retryCapped {
		// Capped refusals whose caps may have room again: a superset
		// (blocked says exactly which), cheaper to find than the exact
		// set; and every capped refusal of a rule that competes for a
		// stock or a budget (plan's retryCapped). One scan for both.
		mayHaveRoom := "false"
		if capped {
			past := ""
			if pastHorizon {
				h, _ := t.retryHorizon()
				_, maxPer := t.capWindows()
				past = fmt.Sprintf("\n       OR (rm.last_fired_at <= %s AND rm.last_fired_at > s.t0 - to_microseconds(%d))", timestampSQL(h), maxPer.Microseconds())
			}
			mayHaveRoom = "rm.member_id IN (SELECT member_id FROM _nudge_freed) OR rm.member_id IN (SELECT member_id FROM _nudge_resp)" + past
		}
		parts = append(parts, `SELECT rm.member_id, s.ri FROM rule_members rm JOIN `+scoped.sql()+` s ON s.rule = rm.rule AND (s.capped OR s.retry_capped)
WHERE NOT rm.last_effective AND rm.last_capped AND rm.brand = $brand::VARCHAR
  AND (s.retry_capped OR `+mayHaveRoom+`)`)
	}
	// (Less, in the parts of refusals, those the rule's exhausted budget
	// skips.)
	skipped := ""
	if len(budgetSkips) > 0 {
		skipped = "\n  AND NOT coalesce(CASE s.ri " + strings.Join(budgetSkips, " ") + " END, false)"
	}
	if refused {
		parts = append(parts, `SELECT rm.member_id, s.ri FROM rule_members rm JOIN `+scoped.sql()+` s ON s.rule = rm.rule
WHERE NOT rm.last_effective AND NOT rm.last_capped AND rm.last_no_consent IS NOT TRUE AND rm.last_fired_at >= `+timestampSQL(refusedLo)+` AND `+afterScan("rm.brand = $brand::VARCHAR")+`
  AND rm.last_fired_at >= s.t0`+skipped)
	}
	if readd {
		parts = append(parts, `SELECT rm.member_id, s.ri FROM rule_members rm JOIN `+scoped.sql()+` s ON s.rule = rm.rule
WHERE NOT rm.last_effective AND rm.last_fired_at >= s.readd_from AND rm.last_fired_at < s.t0 AND (s.readd_after IS NULL OR rm.member_id > s.readd_after)
  AND (s.readd_up_to IS NULL OR rm.member_id <= s.readd_up_to)
  AND `+afterScan("rm.brand = $brand::VARCHAR")+skipped)
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
	var read strings.Builder // what the scoped rules read
	for i, r := range t.prog.Rules {
		if t.plans[i].scoped {
			read.WriteString(r.Tick.ScopedSQL)
			read.WriteString(t.blocked(i))
		}
	}
	// (policies reads the consent of the members scoped rules fire for.)
	always := []string{"member_id", "brand"}
	for _, ch := range t.consent {
		always = append(always, "consent_"+ch)
	}
	// (The compiler lists the event types the scoped rules read from the
	// copy and the columns they read of them, leaving out those only
	// candidates are of or read: candidates come from the events table.
	// When no scoped rule reads the copy, it stays empty, and the
	// unanswered-sends check reads the events table.)
	copied.scope, copied.in, copied.read, copied.always = tickform.RuleScope, "_nudge_scope", read.String(), always
	// The journeys' entries read the same copy, made once for the
	// members of both scopes: one scan of members and one of each type of
	// events instead of two (entryScope). Each side then also evaluates
	// members of the other's scope, which changes nothing: over a member
	// whose verdict (or entry) cannot have changed since the previous
	// evaluation, a scoped form gives what the query over every member
	// gives, as it does for the members another rule's scope brings (a
	// scoped rule reads every member of the copy). The copy of
	// rule_members below holds the rows of all of them, for the limits of
	// the rules (blocked).
	if t.feat.journeys {
		if err := t.narrowJourneys(ctx); err != nil {
			return err
		}
		need, err := t.entryScope(ctx, &copied)
		if err != nil {
			return fmt.Errorf("journey entry: %w", err)
		}
		if need {
			copied.in = "(SELECT member_id FROM _nudge_scope UNION ALL SELECT member_id FROM _nudge_jscope)"
		}
	}
	if t.scopeAllTypes, err = t.copyScope(ctx, copied); err != nil {
		return err
	}
	// (rm_rowid lets the tick's updates of these rows find them without
	// joining the whole table on rule and member_id: rows keep their rowid
	// within the transaction, and the tick deletes none. The copy holds the
	// brand's rows only (another brand may use the same member ids and rule
	// names); nothing reads its brand and last_no_consent: leaving them out
	// spares decoding a string of every row of the table. It holds the rows
	// of the scoped rules only (scopedRuleNames), read rule by rule when
	// they are few: ruleMembersOf.)
	_, err = t.exec(ctx, `CREATE OR REPLACE TEMP TABLE _nudge_scope_rm AS
`+ruleMembersOf(t.scopedRuleNames(), "rm.* EXCLUDE (brand, last_no_consent), rm.rowid AS rm_rowid", copied.in), sql.Named("brand", t.brand))
	return err
}

// ruleMembersOf is the query of the rows of rule_members (rm) of the
// brand ($brand) of the rules names and the members of the table in,
// with the columns cols: a scan per rule when they are few (the table is
// stored by rule, migration 18, and DuckDB skips the row groups of other
// rules for a rule's equality, but only those outside the list's range
// for an IN list).
func ruleMembersOf(names []string, cols, in string) string {
	var rmReads []string
	if len(names) <= maxRuleScans {
		for _, name := range names {
			rmReads = append(rmReads, "rm.rule = "+quoteString(name))
		}
	} else {
		rmReads = append(rmReads, inStrings("rm.rule", names))
	}
	for i, rule := range rmReads {
		rmReads[i] = `SELECT ` + cols + ` FROM rule_members rm
WHERE rm.brand = $brand::VARCHAR AND ` + rule + ` AND rm.member_id IN (SELECT member_id FROM ` + in + `)`
	}
	if len(rmReads) == 0 {
		return `SELECT ` + cols + ` FROM rule_members rm WHERE false`
	}
	return strings.Join(rmReads, "\nUNION ALL\n")
}

// maxRuleScans is the most scoped rules whose rows buildScope reads from
// rule_members one scan each.
const maxRuleScans = 8

// scopedRuleNames are the names of the rules evaluated over the scope.
// The scope's copy of rule_members (_nudge_scope_rm) holds their rows
// only: it is read for the blocked conditions of scoped rules
// (blockedFrom), and for the rows of the rules that fired when every rule
// that may have fired was scoped (ruleMembersOfFirings, updateFrom); the
// rows of the other rules, most of the table's on a large base, are not
// read.
func (t *tick) scopedRuleNames() []string {
	var names []string
	for i, r := range t.prog.Rules {
		if t.plans[i].scoped {
			names = append(names, r.Name)
		}
	}
	return names
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

// scopeColumns lists, in table order, the columns of a table a tick may
// read from its scope copy: the given ones, and those whose name appears,
// qualified, in read. For members, read is the scoped queries and the
// blocked conditions, which read the consent columns (the compiler
// qualifies every column it reads: m."city"); for events the compiler
// lists them (compiler.Rule.Tick.ScopeEventReads) and read is empty. Copying
// fewer columns of every row makes the scope several times cheaper.
func scopeColumns(cols []string, read, prefix string, always ...string) []string {
	var out []string
	for _, c := range cols {
		if slices.Contains(always, c) || strings.Contains(read, "."+c) || strings.Contains(read, "."+quoteIdent(c)) {
			out = append(out, prefix+quoteIdent(c))
		}
	}
	return out
}

// dueSinceFrom is the FROM clause of the trigger rule r's events ingested
// up to its previous run (watermarks wmSeq and wmNow) that fell due since:
// an event is due at or after its ts, so one due by now has ts <= now.
func (t *tick) dueSinceFrom(r *compiler.Rule, wmSeq int64, wmNow time.Time) string {
	return fmt.Sprintf("FROM events WHERE seq <= %d AND ts > %s AND ts <= $now::TIMESTAMP AND %s",
		wmSeq, timestampSQL(wmNow.Add(-r.Lag)), t.ofBrandAndType("type IN ("+quoteStrings(r.Events)+")"))
}

// windowEdgeFrom is the FROM clause of the events of watch w whose window
// edge was crossed between the instant t0 (an SQL expression) and now.
func (t *tick) windowEdgeFrom(w tickform.Watch, t0 string) string {
	which := t.ofBrandAndType("type = " + quoteString(w.Event))
	if w.Back != "" {
		return fmt.Sprintf("FROM events WHERE ts >= %s - %s AND ts <= $now::TIMESTAMP - %s AND %s", t0, w.Back, w.Back, which)
	}
	return fmt.Sprintf("FROM events WHERE ts > %s AND ts <= $now::TIMESTAMP AND %s", t0, which)
}

// perMemberDailyChanged is, for each date atom of atoms whose value
// differs per member, the condition that it changed since the row thenRow.
func perMemberDailyChanged(atoms []tickform.DailyAtom) []string {
	var changed []string
	for _, a := range atoms {
		if a.PerMember {
			changed = append(changed, dailyAtomChanged(a))
		}
	}
	return changed
}
