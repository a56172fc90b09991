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
// up to the due time, not the tick's now, and running a winner only once
// the tick has decided every send due before it (winnerRound), keeps the
// pick independent of the tick schedule: a late tick ranks what punctual
// ones would have.

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
                ELSE count(s.member_id) FILTER (WHERE `+conv.SendConvertedSQL(t.brandSQL(), "s.member_id", "s.sent_due", "s.at_due")+`) / count(s.member_id) END AS rate
    FROM wt JOIN opt USING (pc)
    LEFT JOIN sends s ON s.pc = opt.pc AND s.at_due = wt.due_at AND s.wi = opt.wi
    GROUP BY opt.pc, wt.due_at, opt.wi, opt.branch
)
SELECT r.pc, r.due_at, first(r.wi ORDER BY r.rate DESC, r.wi) AS wi, `+vals.String()+` AS vals
FROM r GROUP BY r.pc, r.due_at`, t.params()...)
	return err
}

// pcList is the SQL list of the node numbers pcs.
func pcList(pcs []int) string {
	q := make([]string, len(pcs))
	for i, pc := range pcs {
		q[i] = fmt.Sprint(pc)
	}
	return strings.Join(q, ", ")
}

// winnerRound runs, once, the `send winner` nodes of journey k that are
// due and have nothing left before them (the order of work of
// runJourney, SPEC §8 Instants): an instance waits at a winner due at W
// while an entering event at or before W may still start an instance (an
// enter on candidate covered only by an instance waiting at a winner due
// by then), or while an instance waiting at another winner due before W
// may go on to a send that W's winner counts. The sends of this tick
// that the winners count are decided first (decideWinnerSends). It
// reports whether a winner ran.
func (t *tick) winnerRound(ctx context.Context, k int, e *journeyEntry) (bool, error) {
	j := t.prog.Journeys[k]
	pcs := winnerNodes(j)
	if len(pcs) == 0 {
		return false, nil
	}
	keep := "pc IN (" + pcList(pcs) + ")"
	if j.EnterOn {
		keep += `
    AND due_at <= coalesce((SELECT min(c.entered_at) FROM _nudge_jcands c
        WHERE NOT EXISTS (SELECT 1 FROM journey_instances x
                          WHERE x.brand = $brand::VARCHAR AND x.journey = ` + quoteString(j.Name) + ` AND x.member_id = c.member_id AND (` + e.stuck + `))),
        'infinity'::TIMESTAMP)`
	}
	return t.advanceRounds(ctx, k, "", keep, func(ctx context.Context) (bool, error) {
		if feeds := winnerFeeds(j); feeds != "" {
			if _, err := t.exec(ctx, `DELETE FROM _nudge_jat x WHERE EXISTS (SELECT 1 FROM _nudge_jat y WHERE y.due_at < x.due_at AND (`+feeds+`))`); err != nil {
				return false, err
			}
		}
		return true, t.decideWinnerSends(ctx, k)
	})
}

// winnerFeeds is the condition (SQL over _nudge_jat x and y) that an
// instance y at one winner node may still make a send that the winner
// node of x counts: that winner's options have a send step after y's
// node (journeys run forward); "" when the journey has one winner node.
func winnerFeeds(j *compiler.Journey) string {
	pcs := winnerNodes(j)
	var pairs []string
	for _, to := range pcs {
		last := -1
		for _, pc := range optionNodes(j, to) {
			last = max(last, pc)
		}
		for _, from := range pcs {
			if from != to && last > from {
				pairs = append(pairs, fmt.Sprintf("y.pc = %d AND x.pc = %d", from, to))
			}
		}
	}
	return strings.Join(pairs, " OR ")
}

// optionNodes are the pcs of the send steps whose sends the winner node
// pc of journey j counts: its options' first send steps.
func optionNodes(j *compiler.Journey, pc int) []int {
	lines := map[int]bool{}
	for _, w := range j.Nodes[pc].Winners {
		lines[w.Line] = true
	}
	var out []int
	for p, n := range j.Nodes {
		if n.Kind == compiler.StepActions && lines[n.Line] {
			out = append(out, p)
		}
	}
	return out
}

// decideWinnerSends decides, before the winners of journey k rank them,
// the sends this tick made that they count (decideJourneySends).
func (t *tick) decideWinnerSends(ctx context.Context, k int) error {
	j := t.prog.Journeys[k]
	counted := map[int]bool{}
	for _, pc := range winnerNodes(j) {
		for _, p := range optionNodes(j, pc) {
			counted[p] = true
		}
	}
	return t.decideJourneySends(ctx, k, counted)
}

// decideJourneySends decides the journey k's sends this tick made that are
// due at or before the latest due time of the instances of _nudge_jat
// (about to run a step that reads the journey's sends in the outbox: a
// winner, or a send of a journey that stops after unanswered sends), when
// one of them is a send of a node of counted (pcs): the policy steps run
// over those candidates alone and write them to the outbox, with their
// journey, step and variant, as a tick at that time would have, so that
// the step reads them. The tick's other candidates wait for its own policy
// steps; journeyDecisions adds these decisions back to the tick's
// (_nudge_jdone, _nudge_jfired).
func (t *tick) decideJourneySends(ctx context.Context, k int, counted map[int]bool) error {
	var mine, options []string
	for node, ri := range t.journeyRI {
		if node.journey != k {
			continue
		}
		mine = append(mine, fmt.Sprint(ri))
		if counted[node.pc] {
			options = append(options, fmt.Sprint(ri))
		}
	}
	if len(options) == 0 {
		return nil
	}
	upTo := "(SELECT max(due_at) FROM _nudge_jat)"
	var n int64
	if err := t.tx.QueryRowContext(ctx, `SELECT count(*) FROM _nudge_cand WHERE ri IN (`+strings.Join(options, ", ")+`) AND due_at <= `+upTo).Scan(&n); err != nil || n == 0 {
		return err
	}
	these := "ri IN (" + strings.Join(mine, ", ") + ") AND due_at <= " + upTo
	if err := t.execEach(ctx, nil,
		`CREATE OR REPLACE TEMP TABLE _nudge_jlater AS SELECT * FROM _nudge_cand WHERE NOT (`+these+`)`,
		`DELETE FROM _nudge_cand WHERE NOT (`+these+`)`); err != nil {
		return err
	}
	if err := t.tx.QueryRowContext(ctx, `SELECT count(*) FROM _nudge_jmeta`).Scan(&t.journeyCands); err != nil {
		return err
	}
	// Every step, a dry run's included: the winners read the outbox, and
	// a dry run's transaction is rolled back.
	for _, s := range t.policySteps() {
		if s.firings && t.firings == 0 {
			continue
		}
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	// (The journeys' tags were applied as their steps ran: journeyTags.)
	t.winnersDecided = true
	return t.execEach(ctx, nil,
		`CREATE TEMP TABLE IF NOT EXISTS _nudge_jdone AS SELECT * FROM _nudge_dec WHERE false`,
		`INSERT INTO _nudge_jdone SELECT * FROM _nudge_dec`,
		`CREATE TEMP TABLE IF NOT EXISTS _nudge_jfired AS SELECT * FROM _nudge_fire WHERE false`,
		`INSERT INTO _nudge_jfired SELECT * FROM _nudge_fire`,
		`DELETE FROM _nudge_cand`,
		`INSERT INTO _nudge_cand SELECT * FROM _nudge_jlater`,
		`DROP TABLE _nudge_jlater`)
}
