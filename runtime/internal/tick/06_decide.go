package tick

import (
	"context"
	"strings"

	"nudge/internal/tickform"
	"nudge/runtime/policy"
)

// policies expands firings into one decision per action and applies the
// policies that need no ordering: tags are applied, notifies pending, and a
// send is held_out, no_consent or gave_up, in that order, or left open
// (status NULL) for caps and quiet hours.
func (t *tick) policies(ctx context.Context) error {
	// Whether a rule that may have fired (one with candidates) was
	// evaluated over every member: the scope's copies of members and
	// events then miss some of its members.
	t.firedUnscoped = !t.scopeBuilt || t.journeyCands > 0
	for i := range t.prog.Rules {
		if t.candidates[i] > 0 && !t.plans[i].scoped {
			t.firedUnscoped = true
		}
	}
	unanswered, err := t.unanswered(ctx)
	if err != nil {
		return err
	}
	// The consent of the members a scoped rule fired for is in the scope's
	// copy of members (which always has the consent columns). Otherwise
	// the members' rows are those of the members that fired: the semi join
	// costs less than the join of the whole table with the decisions' wide
	// rows, unless many fired (docs/performance.md, "Two more cuts").
	many := t.firedUnscoped && t.firings > fewFirings && t.firings*manyFiringsShare >= t.memberCount()
	members := tickform.ScopeMembers
	switch {
	case many:
		members = "members"
	case t.firedUnscoped:
		members = "(SELECT * FROM members WHERE brand = " + t.brandSQL() + " AND member_id IN (SELECT member_id FROM _nudge_fire))"
	}
	// A send gets the status of the first refusal whose condition holds
	// (refusals), or stays open (NULL) for caps and quiet hours.
	var status, reason strings.Builder
	for _, p := range t.refusals() {
		status.WriteString("\n            WHEN " + p.when + " THEN " + p.status.SQL())
		reason.WriteString("\n            WHEN " + p.when + " THEN " + p.reason)
	}
	// again: a gave_up send of a firing whose rule already gave up on the
	// member since the member's last event; repeats drops it (recorded once).
	q := `
CREATE OR REPLACE TEMP TABLE _nudge_dec AS
WITH optouts AS (` + t.optOuts() + `)
SELECT * EXCLUDE (u_again), coalesce(status = ` + policy.GaveUp.SQL() + ` AND u_again, false) AS again FROM (
SELECT f.ri, f.name AS rule, f.member_id, f.trigger_seq, f.due_at, f.vals, f.dedupe_key, f.firing_id, f.now,
       a.ai AS action_index, a.verb AS action, a.kind, a.content, ` + t.channelSQL() + ` AS channel, r.priority,
       ` + t.consentingSQL() + ` AS ok_channels, f.params, r.transactional AND a.verb = 'send' AS transactional, ` + expiresAtSQL + ` AS expires_at,
       CASE WHEN a.verb IN ('tag', 'untag') THEN ` + policy.Applied.SQL() + `
            WHEN a.verb = 'notify' THEN ` + policy.Pending.SQL() + status.String() + `
       END AS status,
       CASE WHEN a.verb NOT IN ('send') THEN NULL` + reason.String() + `
       END AS reason,
       CAST(NULL AS TIMESTAMP) AS scheduled_at,
       false AS capped,
       CAST(NULL AS BOOLEAN) AS multi_effective,
       CAST(NULL AS VARCHAR) AS journey, CAST(NULL AS INTEGER) AS step, CAST(NULL AS VARCHAR) AS variant,
       coalesce(u.again, false) AS u_again
FROM _nudge_fire f
JOIN _nudge_actions a ON a.ri = f.ri
JOIN _nudge_rules r ON r.ri = f.ri
LEFT JOIN ` + members + ` m ON m.member_id = f.member_id AND m.brand = ` + t.brandSQL() + `
LEFT JOIN ` + unanswered + ` u ON u.ri = f.ri AND u.member_id = f.member_id
LEFT JOIN optouts o ON o.member_id = f.member_id AND o.now = f.now)`
	if many {
		// Many firings (a first evaluation fires for much of the base):
		// members, not the firings, is the table to hash (buildRight).
		_, err = t.buildRight(ctx, q)
		return err
	}
	_, err = t.exec(ctx, q)
	return err
}

// manyFiringsShare: policies hashes the members rather than the firings
// when the firings are at least a manyFiringsShare-th of the brand's
// members. A firing's row is several times as wide as the member's
// consent, and hashing its columns, to read them back out for every
// decision, costs as many times more per row
// (docs/performance.md, "First evaluation, fourth pass").
const manyFiringsShare = 4

// buildRight runs the statement q (without parameters) with DuckDB
// hashing the right side of each of its joins, as written. DuckDB puts
// the side it estimates smaller on the build side, but it estimates the
// tick's working tables, written in the tick's transaction, at no rows:
// a join of the firings with the members would hash the firings' wide
// rows, whatever their number. The optimizer is restored after the
// statement, whether it succeeded or not.
func (t *tick) buildRight(ctx context.Context, q string) (int64, error) {
	if _, err := t.exec(ctx, `SET disabled_optimizers = 'build_side_probe_side'`); err != nil {
		return 0, err
	}
	n, err := t.exec(ctx, q)
	// The connection outlives the transaction (it goes back to the pool):
	// restore its optimizer even when ctx is done or the statement failed.
	if _, rerr := t.tx.ExecContext(context.WithoutCancel(ctx), `RESET disabled_optimizers`); rerr != nil && err == nil {
		err = rerr
	}
	return n, err
}

// refusal is a policy that refuses a send at the tick (policies): its
// status, its condition over the decision's firing f, action a, rule r
// (_nudge_rules), member m and unanswered count u, and its reason.
type refusal struct {
	status       policy.Status
	when, reason string
}

// refusals are the policies that refuse a send before caps, in the order
// of policy.Refusals, each in its file: the global control group, holdout,
// consent, unanswered.
func (t *tick) refusals() []refusal {
	return []refusal{t.globalHoldout(), t.holdout(), t.consentRefusal(), t.unansweredRefusal()}
}
