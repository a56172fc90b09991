package tick

import (
	"context"

	"nudge/runtime/policy"
)

// repeats settles which firings are effective and drops repeated refusals.
// A firing whose sends were all capped or had no consent is not effective:
// it does not use up the rule's limit, so a state rule tries again at every
// tick. Recording the same refusal at every tick would grow the outbox by a
// row per refused member per tick, so a state-rule firing that is refused
// right after a refused firing of the same rule and member is not recorded
// again (it is counted in RuleSummary.Repeats). Trigger firings are always
// recorded: each is a distinct event.
func (t *tick) repeats(ctx context.Context) error {
	// (A program whose every rule and step has one action has a decision
	// per firing: its rows need not be split by the number of actions.)
	q := `SELECT firing_id, ri, rule, member_id, now,
       ` + firingEffects("") + `
FROM _nudge_dec`
	if t.feat.multiAction {
		q = `WITH multi AS ` + multiActionRules + `
` + q + ` WHERE ri NOT IN (SELECT ri FROM multi)
UNION ALL
SELECT firing_id, any_value(ri) AS ri, any_value(rule) AS rule, any_value(member_id) AS member_id, any_value(now) AS now,
       ` + firingEffects("agg") + `
FROM _nudge_dec WHERE ri IN (SELECT ri FROM multi) GROUP BY firing_id`
	}
	if _, err := t.exec(ctx, "CREATE OR REPLACE TEMP TABLE _nudge_eff AS\n"+q); err != nil {
		return err
	}
	// The rule_members rows of the members scoped rules fired for are in
	// the scope's copy (taken in plan; the tick changes rule_members only
	// after this step), which is much smaller than the table.
	var err error
	if t.firingsRM, err = t.ruleMembersOfFirings(ctx); err != nil {
		return err
	}
	if _, err := t.exec(ctx, `
CREATE OR REPLACE TEMP TABLE _nudge_repeat AS
SELECT e.firing_id, e.ri, e.now, e.member_id, e.capped_only FROM _nudge_eff e
JOIN _nudge_rules r ON r.ri = e.ri AND NOT r.trig
JOIN `+t.firingsRM+` rm ON rm.rule = e.rule AND rm.member_id = e.member_id AND NOT rm.last_effective
WHERE NOT e.effective
UNION ALL
SELECT e.firing_id, e.ri, e.now, e.member_id, false FROM _nudge_eff e WHERE e.gave_up_again`); err != nil {
		return err
	}
	if t.repeated, err = t.rowsPerRule(ctx, "_nudge_repeat"); err != nil {
		return err
	}
	var n int64
	for _, k := range t.repeated {
		n += k
	}
	if n == 0 {
		// Nothing repeated: only the sends given up on again go.
		_, err = t.exec(ctx, `DELETE FROM _nudge_dec WHERE again`)
		return err
	}
	// A repeated refusal is not recorded in the outbox, but rule_members
	// notes it: when its sends were all capped, it is the latest evidence
	// that the caps were full (see blocked). A firing given up on again
	// (its sends gave_up while the rule already gave up on the member since
	// the member's last event, see StopAfterSQL) is not recorded either: the
	// give-up is recorded once. It uses up the rule's limit as the give-up
	// did, so the rule tries again when the limit runs out, as often as it
	// did before, and an evaluation of only the members whose verdict may
	// have changed (02_plan.go) sees the same firings.
	if t.mode.has(DryRun) {
		// rule_members is not written: only the decisions matter.
		_, err = t.exec(ctx, `DELETE FROM _nudge_dec WHERE again OR firing_id IN (SELECT firing_id FROM _nudge_repeat)`)
		return err
	}
	from, cond := t.updateFrom("(SELECT * FROM _nudge_eff WHERE firing_id IN (SELECT firing_id FROM _nudge_repeat))", "e")
	if _, err := t.exec(ctx, `
UPDATE rule_members SET last_fired_at = e.now, last_capped = e.capped_only, last_no_consent = e.no_consent_only,
    last_effective = e.effective,
    last_effective_at = CASE WHEN e.effective THEN e.now ELSE rule_members.last_effective_at END
FROM `+from+`
WHERE `+cond); err != nil {
		return err
	}
	// The sends given up on again of the firings that are recorded for
	// their other actions are not recorded either.
	_, err = t.exec(ctx, `
DELETE FROM _nudge_dec WHERE again OR firing_id IN (SELECT firing_id FROM _nudge_repeat);
DELETE FROM _nudge_eff WHERE firing_id IN (SELECT firing_id FROM _nudge_repeat);
DELETE FROM _nudge_fire WHERE firing_id IN (SELECT firing_id FROM _nudge_repeat);`)
	return err
}

// firingEffects are the columns of _nudge_eff saying what a firing's
// decisions came to: effective, capped_only, no_consent_only and
// gave_up_again. With agg, aggregates over the firing's decisions;
// without, the same expressions over its one decision (a rule of one
// action), which spares grouping every decision by its firing id.
func firingEffects(agg string) string {
	or, and := "", ""
	if agg != "" {
		or, and = "bool_or", "bool_and"
	}
	return effectiveSQL(or, and) + ` AS effective,
       ` + or + `(action = 'send') AND ` + and + `(action <> 'send' OR status = ` + policy.Capped.SQL() + `) AS capped_only,
       ` + or + `(action = 'send') AND ` + and + `(action <> 'send' OR status = ` + policy.NoConsent.SQL() + `) AS no_consent_only,
       ` + and + `(action = 'send' AND again) AS gave_up_again`
}

// effectiveSQL is whether a firing uses up its rule's limit: some send
// that was not refused as ineffective (policy.Ineffective), or no send at
// all. or and and are the aggregates over its decisions (bool_or,
// bool_and), or "" over its one decision.
func effectiveSQL(or, and string) string {
	return `NOT (` + or + `(action = 'send') AND ` + and + `(action <> 'send' OR status IN (` + policy.SQLList(policy.Ineffective...) + `)))`
}

// multiActionRules selects the ri of the rules (and journey steps) of
// several actions, whose firings are several decisions.
const multiActionRules = `(SELECT ri FROM _nudge_actions GROUP BY ri HAVING count(*) > 1)`
