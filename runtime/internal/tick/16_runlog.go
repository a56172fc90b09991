package tick

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// runLog writes the tick's row of the run log.
func (t *tick) runLog(ctx context.Context) error {
	var cands int64
	for _, n := range t.candidates {
		cands += n
	}
	// The outbox rows of this run are _nudge_dec's (repeats were removed).
	var err error
	if t.summary, err = t.summaries(ctx, t.tx, "_nudge_dec", 0); err != nil {
		return err
	}
	statuses := map[string]int64{}
	for _, s := range t.summary {
		for st, n := range s.Statuses {
			statuses[st] += n
		}
	}
	if t.mode.has(DryRun) {
		return nil // no row in runs
	}
	js, _ := json.Marshal(statuses) // sorted keys: deterministic
	_, err = t.exec(ctx, `
INSERT INTO runs (id, now, brand, started_at, finished_at, rules, candidates, firings, decisions, statuses)
SELECT $run::BIGINT, $now::TIMESTAMP, $brand::VARCHAR, $started::TIMESTAMP, $finished::TIMESTAMP, $rules::INTEGER, $cands::BIGINT,
       (SELECT count(*) FROM _nudge_fire), (SELECT count(*) FROM _nudge_dec), $statuses::JSON`,
		t.params(sql.Named("run", t.runID), sql.Named("started", t.started), sql.Named("finished", Naive(time.Now())),
			sql.Named("rules", len(t.prog.Rules)), sql.Named("cands", cands), sql.Named("statuses", string(js)))...)
	return err
}

// summaries counts decisions per rule and status from table (the tick's
// _nudge_dec, or the outbox rows of runID).
func (t *tick) summaries(ctx context.Context, q queryer, table string, runID int64) ([]RuleSummary, error) {
	out := make([]RuleSummary, len(t.prog.Rules))
	idx := map[string]int{}
	for i, r := range t.prog.Rules {
		out[i] = RuleSummary{Rule: r.Name, Trigger: r.Trigger, Candidates: t.candidates[i], Repeats: t.repeated[i],
			Statuses: map[string]int64{}, Incremental: t.plans[i].scoped}
		idx[r.Name] = i
	}
	where := ""
	if table == "outbox" {
		where = fmt.Sprintf("WHERE run_id = %d", runID)
	}
	// Per rule and status the decisions, and per rule (status NULL) the
	// firings: a firing of a rule of one action is one decision, so only
	// the rules of several actions count distinct firing ids.
	rows, err := q.QueryContext(ctx, fmt.Sprintf(`SELECT rule, status, count(*) FROM %[1]s %[2]s GROUP BY rule, status
UNION ALL
SELECT rule, NULL, %[3]s FROM %[1]s %[2]s GROUP BY rule`, table, where, t.firingsCountSQL()))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var rule string
		var status sql.NullString
		var n int64
		if err := rows.Scan(&rule, &status, &n); err != nil {
			return nil, err
		}
		i, ok := idx[rule]
		switch {
		case !ok:
		case status.Valid:
			out[i].Statuses[status.String] = n
		default:
			out[i].Firings = n
		}
	}
	return out, rows.Err()
}

// firingsCountSQL is the aggregate counting the firings among a rule's
// decisions (rows with rule and firing_id): one row each for the rules of
// one action, the distinct firing ids for those of several.
func (t *tick) firingsCountSQL() string {
	var multi []string
	for _, r := range t.prog.Rules {
		if len(r.Actions) > 1 {
			multi = append(multi, r.Name)
		}
	}
	if len(multi) == 0 {
		return "count(*)"
	}
	in := inStrings("rule", multi)
	return "count(*) FILTER (WHERE NOT " + in + ") + count(DISTINCT firing_id) FILTER (WHERE " + in + ")"
}

// RuleSummary counts what one rule did in a tick.
type RuleSummary struct {
	Rule       string
	Trigger    bool
	Candidates int64            // rows of the rule's query its limit allowed, less repeated consent refusals
	Firings    int64            // firings recorded
	Repeats    int64            // refusals not recorded again (see the outbox docs)
	Statuses   map[string]int64 // decisions by status (after dispatch)
	// Incremental: the state rule was evaluated only for the members whose
	// verdict may have changed since its previous run (see 02_plan.go).
	Incremental bool
}

// StepTiming is the duration of one step of a tick ("evaluate rules",
// "caps", ..., "commit", "dispatch").
type StepTiming struct {
	Step string
	Took time.Duration
}
