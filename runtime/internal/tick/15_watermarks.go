package tick

import (
	"context"
	"database/sql"
)

// watermarks records, per rule, the highest seq and the now this tick saw:
// an UPDATE of the rules the plan saw a row for and an upsert of the others
// (see recordEvaluations).
func (t *tick) watermarks(ctx context.Context) error {
	known := jsonRows{param: "rules", columns: []string{"rule VARCHAR"}}
	added := jsonRows{param: "rules", columns: known.columns}
	for i, r := range t.prog.Rules {
		if t.plans[i].hasState {
			known.add(r.Name)
		} else {
			added.add(r.Name)
		}
	}
	if len(known.rows) > 0 {
		if _, err := t.exec(ctx, `
UPDATE rule_state SET
    wm_seq = greatest(wm_seq, $seq::BIGINT),
    wm_now = greatest(wm_now, $now::TIMESTAMP),
    last_run_at = $now::TIMESTAMP
WHERE brand = $brand::VARCHAR AND rule IN (SELECT rule FROM `+known.sql()+`)`, t.params(sql.Named("seq", t.maxSeq), known.arg())...); err != nil {
			return err
		}
	}
	if len(added.rows) > 0 {
		if _, err := t.exec(ctx, `
INSERT INTO rule_state (rule, brand, wm_seq, wm_now, first_run_at, last_run_at)
SELECT rule, $brand::VARCHAR, $seq::BIGINT, $now::TIMESTAMP, $now::TIMESTAMP, $now::TIMESTAMP FROM `+added.sql()+`
ON CONFLICT (rule, brand) DO UPDATE SET
    wm_seq = greatest(rule_state.wm_seq, excluded.wm_seq),
    wm_now = greatest(rule_state.wm_now, excluded.wm_now),
    last_run_at = excluded.last_run_at`, t.params(sql.Named("seq", t.maxSeq), added.arg())...); err != nil {
			return err
		}
	}
	return nil
}

// recordEvaluations notes, per state rule, what this tick's evaluation saw:
// an UPDATE of the rules the plan saw a row for and an upsert of the others
// (DuckDB's ON CONFLICT costs twice an UPDATE even on a table of a few rows,
// and the upsert is left for a rule's first evaluations).
func (t *tick) recordEvaluations(ctx context.Context) error {
	known := jsonRows{param: "rules", columns: []string{"rule VARCHAR", "hash VARCHAR", "budget_from TIMESTAMP", "budget_after VARCHAR"}}
	added := jsonRows{param: "rules", columns: known.columns}
	for i, r := range t.prog.Rules {
		switch {
		case r.Trigger:
		case t.plans[i].hasEval:
			known.add(r.Name, t.plans[i].hash, nullTime(t.plans[i].budgetFrom), t.plans[i].budgetAfter)
		default:
			added.add(r.Name, t.plans[i].hash, nullTime(t.plans[i].budgetFrom), t.plans[i].budgetAfter)
		}
	}
	if len(known.rows) > 0 {
		if _, err := t.exec(ctx, `
UPDATE rule_evals SET eval_now = $now::TIMESTAMP, eval_hash = v.hash, members_sum = $sum::VARCHAR, budget_from = v.budget_from, budget_after = v.budget_after
FROM `+known.sql()+` v
WHERE rule_evals.brand = $brand::VARCHAR AND rule_evals.rule = v.rule`, t.params(sql.Named("sum", t.membersSum), known.arg())...); err != nil {
			return err
		}
	}
	if len(added.rows) > 0 {
		if _, err := t.exec(ctx, `
INSERT INTO rule_evals (rule, brand, eval_now, eval_hash, members_sum, budget_from, budget_after) SELECT rule, $brand::VARCHAR, $now::TIMESTAMP, hash, $sum::VARCHAR, budget_from, budget_after FROM `+added.sql()+`
ON CONFLICT (rule, brand) DO UPDATE SET eval_now = excluded.eval_now, eval_hash = excluded.eval_hash, members_sum = excluded.members_sum, budget_from = excluded.budget_from, budget_after = excluded.budget_after`, t.params(sql.Named("sum", t.membersSum), added.arg())...); err != nil {
			return err
		}
	}
	return nil
}
