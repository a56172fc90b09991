package tick

import (
	"context"
	"database/sql"
	"fmt"
)

// writeOutbox inserts the decisions, each with its firing's effective: a
// firing of one action is its decision, whose effective is computed on
// the row; a firing of several actions has its own (_nudge_eff), which an
// UPDATE first copies to its decisions' multi_effective (a program
// without such firings has none to copy). A journey's send got its
// journey, step and variant before (journeyFields). The insert then
// reads _nudge_dec alone: over a join or a union, DuckDB inserts on one
// thread in order (INSERT), over a scan in parallel batches
// (BATCH_INSERT), in a first evaluation a third of the time
// (docs/performance.md). Nothing in the tick updates the outbox rows it
// inserted: an UPDATE of rows a transaction wrote makes DuckDB write all
// of them to the write-ahead log at commit instead of the blocks its
// insert already wrote (docs/performance.md, "An update of the tick's own
// rows"). The firings were deduplicated against the outbox (see fire), so
// a plain INSERT writes each firing once; the table has no key to check
// it against (migration 17).
func (t *tick) writeOutbox(ctx context.Context) error {
	if t.feat.multiAction {
		if _, err := t.exec(ctx, `
UPDATE _nudge_dec SET multi_effective = e.effective
FROM _nudge_eff e
WHERE _nudge_dec.firing_id = e.firing_id AND e.ri IN `+multiActionRules); err != nil {
			return err
		}
	}
	decisions := `SELECT *, coalesce(multi_effective, ` + effectiveSQL("", "") + `) AS effective FROM _nudge_dec`
	_, err := t.exec(ctx, `
INSERT INTO outbox (firing_id, action_index, rule, brand, member_id, dedupe_key, action, kind, content, channel,
                    status, reason, effective, fired_at, due_at, scheduled_at, sent_at, attempts, last_error,
                    idempotency_key, trigger_seq, run_id, vals, params, transactional, expires_at, journey, step, variant)
SELECT d.firing_id, d.action_index, d.rule, $brand::VARCHAR, d.member_id, d.dedupe_key, d.action, d.kind, d.content, d.channel,
       d.status, d.reason, d.effective, d.now, d.due_at, d.scheduled_at, NULL, 0, NULL,
       d.firing_id || '-' || d.action_index, d.trigger_seq, `+t.runIDOf("d.now")+`, d.vals, d.params, d.transactional, d.expires_at,
       d.journey, d.step, d.variant
FROM (`+decisions+`) d`, sql.Named("brand", t.brand), sql.Named("run", t.runID))
	return err
}

// journeyFields gives the journeys' decisions of _nudge_dec their journey,
// step and variant (_nudge_jmeta), before the outbox step writes them and
// in a dry run too, which writes no outbox but returns them (SPEC §8,
// Decisions). (A journey's send is a firing of the journey's pseudo-rule,
// named after the journey, with the trigger_seq journeySends gave it.)
func (t *tick) journeyFields(ctx context.Context) error {
	if t.journeyCands == 0 {
		return nil
	}
	_, err := t.exec(ctx, `
UPDATE _nudge_dec SET journey = m.journey, step = m.step, variant = m.variant
FROM _nudge_jmeta m
WHERE _nudge_dec.rule = m.journey AND _nudge_dec.member_id = m.member_id AND _nudge_dec.trigger_seq = m.trigger_seq`)
	return err
}

// ruleMembers records, per rule and member, the latest firing and the latest
// effective one (what limits and repeated refusals look at). An UPDATE of
// the existing rows and an INSERT of the new ones: DuckDB's ON CONFLICT DO
// UPDATE merges against the whole table, which costs more than both.
func (t *tick) ruleMembers(ctx context.Context) error {
	if _, err := t.exec(ctx, `
CREATE OR REPLACE TEMP TABLE _nudge_rm AS
SELECT rule, member_id, any_value(now) AS now, CASE WHEN bool_or(effective) THEN any_value(now) END AS last_effective_at, bool_or(effective) AS effective,
       NOT bool_or(effective) AND bool_and(capped_only) AS capped,
       NOT bool_or(effective) AND bool_and(no_consent_only) AS no_consent
FROM _nudge_eff
GROUP BY rule, member_id`); err != nil {
		return err
	}
	from, cond := t.updateFrom("_nudge_rm", "n")
	if _, err := t.exec(ctx, `
UPDATE rule_members SET
    last_effective_at = coalesce(n.last_effective_at, rule_members.last_effective_at),
    last_fired_at = n.now,
    last_effective = n.effective,
    last_capped = n.capped,
    last_no_consent = n.no_consent
FROM `+from+`
WHERE `+cond); err != nil {
		return err
	}
	// (In rule order: the table is stored by rule, migration 18, so that
	// a copy of some rules' rows reads their row groups only.)
	_, err := t.exec(ctx, `
INSERT INTO rule_members (rule, member_id, brand, last_effective_at, last_fired_at, last_effective, last_capped, last_no_consent)
SELECT n.rule, n.member_id, $brand::VARCHAR, n.last_effective_at, n.now, n.effective, n.capped, n.no_consent
FROM _nudge_rm n
ANTI JOIN `+t.firingsRM+` rm ON rm.rule = n.rule AND rm.member_id = n.member_id
ORDER BY n.rule, n.member_id`, sql.Named("brand", t.brand))
	return err
}

// ruleMembersOfFirings makes or names the table holding the rule_members
// rows (rule, member_id, last_effective and, when firingsRowsCopied,
// rm_rowid) of every member a rule fired for at this run of the policy
// steps, read before they changed any (the repeated refusals read
// last_effective; 04b_winner.go runs the steps for a winner's sends too):
//   - the scope's copy when every rule that may have fired was scoped
//     (their firings are members of the scope; policies decides);
//   - else, when the scope was built, _nudge_fired_rm: the scope's copy,
//     and the rows of the rules and journeys that fired over members
//     outside the scope, read rule by rule (ruleMembersOf) for the members
//     that fired (_nudge_eff);
//   - else the table's rows of the brand.
func (t *tick) ruleMembersOfFirings(ctx context.Context) (string, error) {
	switch {
	case !t.firedUnscoped:
		return "_nudge_scope_rm", nil
	case !t.firingsRowsCopied():
		return "(SELECT * FROM rule_members WHERE brand = " + t.brandSQL() + ")", nil
	}
	var unscoped []string
	for i, r := range t.prog.Rules {
		if t.candidates[i] > 0 && !t.plans[i].scoped {
			unscoped = append(unscoped, r.Name)
		}
	}
	if t.journeyCands > 0 {
		for _, j := range t.prog.Journeys {
			unscoped = append(unscoped, j.Name)
		}
	}
	if _, err := t.exec(ctx, `CREATE OR REPLACE TEMP TABLE _nudge_fired_rm AS
SELECT rule, member_id, last_effective, rm_rowid FROM _nudge_scope_rm
UNION ALL
`+ruleMembersOf(unscoped, "rm.rule, rm.member_id, rm.last_effective, rm.rowid AS rm_rowid", "_nudge_eff"), sql.Named("brand", t.brand)); err != nil {
		return "", err
	}
	return "_nudge_fired_rm", nil
}

// firingsRowsCopied reports whether a copy of rule_members with the rows'
// rowids (rm_rowid) holds the rows of the firings (ruleMembersOfFirings):
// the scope's copy, or _nudge_fired_rm built from it.
func (t *tick) firingsRowsCopied() bool { return !t.firedUnscoped || t.scopeBuilt }

// updateFrom returns the FROM item and the condition of an UPDATE of
// rule_members from the rows of src (a table or subquery with rule and
// member_id), aliased x. When a copy holds the firings' rows
// (t.firingsRM, firingsRowsCopied), x carries their rowids and the
// condition compares those, which spares a join of the whole table on
// rule and member_id; else it compares those.
func (t *tick) updateFrom(src, x string) (from, cond string) {
	if !t.firingsRowsCopied() {
		return src + " " + x, fmt.Sprintf("rule_members.rule = %[1]s.rule AND rule_members.member_id = %[1]s.member_id AND rule_members.brand = %[2]s", x, t.brandSQL())
	}
	return fmt.Sprintf("(SELECT x.*, s.rm_rowid FROM %s x JOIN %s s ON s.rule = x.rule AND s.member_id = x.member_id) %s", src, t.firingsRM, x),
		"rule_members.rowid = " + x + ".rm_rowid"
}
