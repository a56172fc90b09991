package tick

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"nudge/compiler"
)

// evaluate runs every rule's query into _nudge_cand: the scoped ones in one
// statement (a tick's fixed cost is mostly per statement, and DuckDB runs
// the rules' pipelines side by side), those evaluated over every member one
// statement each; with t.mode.has(PerRule), one statement per rule, so that an error
// names its rule.
//
// A program whose rules read tags other rules write has strata (SPEC §5
// Actions, compiler.Rule.Stratum): the rules of each stratum are evaluated
// in turn, and the tags of their firings applied (stratumTags) before the
// next stratum is evaluated, so that its rules see them. A program with one
// stratum is evaluated at once.
func (t *tick) evaluate(ctx context.Context) error {
	t.candidates = make([]int64, len(t.prog.Rules))
	strata := t.prog.Strata()
	if strata <= 1 {
		return t.evaluateRules(ctx, nil)
	}
	if _, err := t.exec(ctx, `CREATE OR REPLACE TEMP TABLE _nudge_retry (firing_id VARCHAR)`); err != nil {
		return err
	}
	for s := range strata {
		if err := t.evaluateRules(ctx, func(i int) bool { return t.prog.Rules[i].Stratum == s }); err != nil {
			return err
		}
		if err := t.stratumTags(ctx, s); err != nil {
			return fmt.Errorf("tags of stratum %d: %w", s, err)
		}
	}
	return nil
}

// evaluateRules runs the queries of the rules for which in holds (every
// rule when in is nil) into _nudge_cand (see evaluate).
func (t *tick) evaluateRules(ctx context.Context, in func(i int) bool) error {
	base := []any{sql.Named(compiler.ParamNow, t.now), sql.Named(compiler.ParamBrand, t.brand)}
	args := slices.Clone(base) // of the shared statement
	var selects, blocks []string
	for i, r := range t.prog.Rules {
		if in != nil && !in(i) {
			continue
		}
		if t.plans[i].scoped && t.scopeSize[i] == 0 {
			continue // nothing to evaluate (see buildScope)
		}
		wmSeq, wmNow := t.plans[i].wmSeq, t.plans[i].wmNow
		// A rule evaluated over every member is work enough for a
		// statement of its own (and together they would compete for
		// memory); the others are cheap, and run together.
		if t.mode.has(PerRule) || !t.plans[i].scoped {
			n, err := t.exec(ctx, "INSERT INTO _nudge_cand "+candColumns+" "+t.ruleSelect(i, false), append(slices.Clone(base),
				r.Watermarks.Args(wmSeq, wmNow)...)...)
			if err != nil {
				return fmt.Errorf("rule %s (%s:%d): %w", r.Name, r.File, r.Line, err)
			}
			t.candidates[i] = n
			continue
		}
		// Each rule has its own watermark parameters (named by the compiler).
		selects = append(selects, t.ruleSelect(i, true))
		if block := t.blocked(i); block != "" {
			blocks = append(blocks, "(rm.rule = "+quoteString(r.Name)+" AND ("+block+"))")
		}
		args = append(args, r.Watermarks.Args(wmSeq, wmNow)...)
	}
	if t.mode.has(PerRule) || len(selects) == 0 {
		return nil
	}
	// The members each rule may not fire for, computed once for all of
	// them (as a join in every rule's query, the retry tables were hashed
	// once per rule).
	with := ""
	if len(blocks) > 0 {
		with = "WITH " + sharedBlocked + " AS MATERIALIZED (\n  SELECT rm.rule, rm.member_id FROM " + t.blockedFrom(true) +
			"\n  WHERE " + strings.Join(blocks, "\n     OR ") + "\n)\n"
	}
	if _, err := t.exec(ctx, "INSERT INTO _nudge_cand "+candColumns+"\n"+with+strings.Join(selects, "\nUNION ALL\n"), args...); err != nil {
		return errRuleQueries{err}
	}
	var err error
	t.candidates, err = t.rowsPerRule(ctx, "_nudge_cand")
	return err
}

// rowsPerRule counts the rows of a tick table (with a column ri) per rule.
func (t *tick) rowsPerRule(ctx context.Context, table string) ([]int64, error) {
	out := make([]int64, len(t.prog.Rules))
	rows, err := t.tx.QueryContext(ctx, `SELECT ri, count(*) FROM `+table+` GROUP BY ri`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var ri int
		var n int64
		if err := rows.Scan(&ri, &n); err != nil {
			return nil, err
		}
		out[ri] = n
	}
	return out, rows.Err()
}

// candColumns are the columns of _nudge_cand a rule's SELECT fills (the
// instant is the tick's, the column's default).
const candColumns = "(ri, member_id, trigger_seq, due_at, vals, params)"

// errRuleQueries is the failure of the statement evaluating the scoped
// rules together; the runtime runs the tick again rule by rule (PerRule) to name the rule at
// fault.
type errRuleQueries struct{ err error }

func (e errRuleQueries) Error() string { return e.err.Error() }

func (e errRuleQueries) Unwrap() error { return e.err }

// sharedBlocked names the CTE of the statement evaluating the scoped rules
// together that lists, per rule, the members it may not fire for.
const sharedBlocked = "_nudge_blocked"

// ruleSelect is the SELECT of rule i's candidates: its query, with the
// members whose limit has not run out (and the refusals that would be
// refused again) removed before anything is materialised. A state rule
// matches most of its members again at every tick, and almost all of them
// are still within their limit (see blocked and repeats). With shared, the
// SELECT is part of the statement evaluating the scoped rules together,
// which lists those members in the CTE sharedBlocked.
func (t *tick) ruleSelect(i int, shared bool) string {
	r := t.prog.Rules[i]
	vals := "NULL"
	if len(r.Values) > 0 {
		var kv []string
		seen := map[string]int{}
		for _, v := range r.Values {
			label := v.Label
			if label == "" {
				label = v.Column
			}
			if n := seen[label]; n > 0 {
				label = fmt.Sprintf("%s (%d)", label, n+1)
			}
			seen[v.Label]++
			kv = append(kv, quoteString(label), "q."+quoteIdent(v.Column))
		}
		vals = "json_object(" + strings.Join(kv, ", ") + ")"
	}
	body := r.SQL
	switch {
	case t.mode.has(Lanes):
		body = r.LaneSQL
	case t.plans[i].scoped:
		body = r.ScopedSQL
	}
	body = strings.TrimRight(strings.TrimSpace(body), ";")
	limit := ""
	switch block := t.blocked(i); {
	case block == "":
	case shared:
		limit = `ANTI JOIN (SELECT member_id FROM ` + sharedBlocked + ` WHERE rule = ` + quoteString(r.Name) + `) blocked ON blocked.member_id = q.member_id`
	default:
		limit = `ANTI JOIN (
    SELECT rm.member_id FROM ` + t.blockedFrom(t.plans[i].scoped) + `
    WHERE rm.rule = ` + quoteString(r.Name) + ` AND (` + block + `)
) blocked ON blocked.member_id = q.member_id`
	}
	return fmt.Sprintf("SELECT %d, q.member_id, q.trigger_seq, q.due_at, %s, %s FROM (\n%s\n) q\n%s", i, vals, paramsSQL(r), body, limit)
}
