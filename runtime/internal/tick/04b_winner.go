package tick

import (
	"context"
	"fmt"
	"strings"

	"nudge/compiler"
	"nudge/runtime/policy"
)

// This file decides `send winner` (SPEC §8, Winner), part of the journeys
// step (04a_journeys.go). For each winner node and each due time of the
// instances due at it, every option (another branch of the split that
// sends) gets its conversion rate so far: among the journey's sends of
// that branch's first send step recorded pending, scheduled or sent with a
// due time at or before the winner's, the share whose member converted
// (the journey's `convert on` event after the send, within its window, and
// at or before the winner's due time). The winner is the option with the
// highest rate, ties (no sends at all included: rate 0) to the first in
// source order; it is a best-so-far pick, not a significance test. Counting
// up to the due time, not the tick's now, keeps the pick independent of the
// tick schedule as far as the history of sends allows.

// winnerNodes are the pcs of journey j's `send winner` nodes that have
// something to send.
func winnerNodes(j *compiler.Journey) []int {
	var out []int
	for pc, n := range j.Nodes {
		if n.Kind == compiler.StepWinner && len(n.Winners) > 0 {
			out = append(out, pc)
		}
	}
	return out
}

// journeyWinners fills _nudge_jwin (pc, due_at, wi, vals) for the
// instances of _nudge_jat due at a winner node of journey k: the option
// chosen and, in vals, the winner's branch and every option's rate.
func (t *tick) journeyWinners(ctx context.Context, k int) error {
	j := t.prog.Journeys[k]
	pcs := winnerNodes(j)
	var opts []string
	var vals strings.Builder
	vals.WriteString("CASE r.pc")
	for _, pc := range pcs {
		n := j.Nodes[pc]
		kv := []string{"'winner'", "first(r.branch ORDER BY r.rate DESC, r.wi)"}
		for wi, w := range n.Winners {
			opts = append(opts, fmt.Sprintf("(%d, %d, %s, %d)", pc, wi, quoteString(w.Branch), w.Line))
			kv = append(kv, quoteString("rate "+w.Branch), fmt.Sprintf("round(max(r.rate) FILTER (WHERE r.wi = %d), 4)", wi))
		}
		fmt.Fprintf(&vals, " WHEN %d THEN json_object(%s)", pc, strings.Join(kv, ", "))
	}
	vals.WriteString(" END")
	conv := j.Convert
	if conv == nil {
		conv = compiler.DefaultConversion()
	}
	filter := ""
	if conv.FilterSQL != "" {
		filter = " AND (" + conv.FilterSQL + ")"
	}
	cv, cm := compiler.ConversionAlias, compiler.ConversionMemberAlias
	pcList := strings.Trim(strings.Join(strings.Fields(fmt.Sprint(pcs)), ", "), "[]")
	_, err := t.exec(ctx, `
CREATE OR REPLACE TEMP TABLE _nudge_jwin AS
WITH wt AS (SELECT DISTINCT pc, due_at FROM _nudge_jat WHERE pc IN (`+pcList+`)),
opt AS (SELECT * FROM (VALUES `+strings.Join(opts, ", ")+`) v(pc, wi, branch, line)),
sends AS (
    SELECT wt.pc, wt.due_at AS at_due, opt.wi, o.member_id, o.due_at AS sent_due
    FROM wt JOIN opt USING (pc)
    JOIN outbox o ON o.brand = `+t.brandSQL()+` AND o.journey = `+quoteString(j.Name)+` AND o.step = opt.line
        AND `+policy.CountedSendSQL("o.")+` AND o.due_at <= wt.due_at
),
r AS (
    SELECT opt.pc, wt.due_at, opt.wi, opt.branch,
           CASE WHEN count(s.member_id) = 0 THEN 0.0
                ELSE count(s.member_id) FILTER (WHERE EXISTS (
                    SELECT 1 FROM events `+cv+` LEFT JOIN members `+cm+` ON `+cm+`.brand = `+cv+`.brand AND `+cm+`.member_id = `+cv+`.member_id
                    WHERE `+cv+`.brand = `+t.brandSQL()+` AND `+cv+`.member_id = s.member_id AND `+cv+`.type = `+quoteString(conv.EventType)+`
                      AND `+cv+`.ts > s.sent_due AND `+cv+`.ts <= s.sent_due + to_microseconds(`+fmt.Sprint(conv.Within.Microseconds())+`)
                      AND `+cv+`.ts <= s.at_due`+filter+`)) / count(s.member_id) END AS rate
    FROM wt JOIN opt USING (pc)
    LEFT JOIN sends s ON s.pc = opt.pc AND s.at_due = wt.due_at AND s.wi = opt.wi
    GROUP BY opt.pc, wt.due_at, opt.wi, opt.branch
)
SELECT r.pc, r.due_at, first(r.wi ORDER BY r.rate DESC, r.wi) AS wi, `+vals.String()+` AS vals
FROM r GROUP BY r.pc, r.due_at`, t.params()...)
	return err
}
