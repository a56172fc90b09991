package tick

import (
	"context"

	"nudge/internal/tickform"
	"nudge/runtime/policy"
)

// unansweredRefusal is the third refusal of a send (policies): the rule
// stops after N unanswered sends and the member's unanswered sends u.n
// (unanswered) reached N, so the send is gave_up.
func (t *tick) unansweredRefusal() refusal {
	return refusal{policy.GaveUp, "r.stop_after > 0 AND coalesce(u.n, 0) >= r.stop_after", policy.GaveUpReasonSQL("u.n")}
}

// unanswered returns the table of the unanswered sends of the firings'
// members (ri, member_id, n, again: policy.StopAfterSQL), which the
// statement of policies reads as u. Unanswered sends are only counted when
// a rule that stops after them fires (the count reads the member's
// events): into the table _nudge_unanswered, by a statement of its own, so
// that the joins of policies are all with narrow tables (see buildRight).
func (t *tick) unanswered(ctx context.Context) (string, error) {
	none := `(SELECT CAST(NULL AS INTEGER) AS ri, CAST(NULL AS VARCHAR) AS member_id, CAST(0 AS BIGINT) AS n, false AS again WHERE false)`
	if !t.feat.stopAfter {
		return none, nil // no rule stops after unanswered sends
	}
	var stoppers int64
	if err := t.tx.QueryRowContext(ctx, `SELECT count(*) FROM _nudge_fire f JOIN _nudge_rules r ON r.ri = f.ri AND r.stop_after > 0`).Scan(&stoppers); err != nil {
		return "", err
	}
	if stoppers == 0 {
		return none, nil
	}
	// Of the rules that may have fired (those with candidates): the
	// stopping ones, and whether one was evaluated over every member.
	var stopping []string
	unscopedStopping := false
	for i, r := range t.prog.Rules {
		if t.candidates[i] == 0 || r.StopAfter == 0 {
			continue
		}
		stopping = append(stopping, r.Name)
		unscopedStopping = unscopedStopping || !t.plans[i].scoped
	}
	// The histories of the members a scoped rule fired for are in the
	// scope's copy of events when it holds every type (any event is a
	// response); it is much smaller than the events table.
	events := "events"
	if t.scopeAllTypes && !unscopedStopping {
		events = tickform.ScopeEvents
	}
	q := policy.StopAfterSQL(`SELECT f.ri, f.name AS rule, f.member_id, f.now FROM _nudge_fire f JOIN _nudge_rules r ON r.ri = f.ri AND r.stop_after > 0`,
		events, stopping)
	if _, err := t.exec(ctx, `CREATE OR REPLACE TEMP TABLE `+unansweredTable+` AS`+q, policy.StopAfterArgs(t.brand, t.hi())...); err != nil {
		return "", err
	}
	return unansweredTable, nil
}

// unansweredTable is the table of the unanswered sends of the firings'
// members (unanswered).
const unansweredTable = "_nudge_unanswered"
