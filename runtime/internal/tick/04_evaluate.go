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
// next stratum is evaluated, so that its rules see them. The journeys come
// after the last stratum: when one reads or writes tags, the last
// stratum's tags are applied before them too (features.stratumTags). Otherwise a program with
// one stratum is evaluated at once.
func (t *tick) evaluate(ctx context.Context) error {
	t.candidates = make([]int64, len(t.prog.Rules))
	strata := t.prog.Strata()
	if !t.feat.stratumTags {
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
	var shared, full []int // the rules evaluated over their scope, and over every member
	for i := range t.prog.Rules {
		if in != nil && !in(i) {
			continue
		}
		if t.plans[i].scoped && t.scopeSize[i] == 0 {
			continue // nothing to evaluate (see buildScope)
		}
		if t.mode.has(PerRule) || !t.plans[i].scoped {
			full = append(full, i)
		} else {
			shared = append(shared, i)
		}
	}
	own := func(i int) []any { return t.prog.Rules[i].Watermarks.Args(t.plans[i].wmSeq, t.plans[i].wmNow) }
	// A rule evaluated over every member is work enough for a statement
	// of its own on a large base (and together they would compete for
	// memory); on a small one, a few run together (fullBatch). A family
	// (04d_rule_families.go) is one statement whatever the base: it
	// reads the events its rules read once, where its rules one by one
	// read them each.
	batched := len(shared) > 0
	if fams, rest := t.families(full, own); len(fams) > 0 {
		if err := t.evaluateBatches(ctx, "_nudge_cand", fams, nil, base, own, false); err != nil {
			return errRuleQueries{err}
		}
		full, batched = rest, true
	}
	for _, batch := range batches(full, t.fullBatch()) {
		var selects []string
		args := slices.Clone(base)
		for _, i := range batch {
			selects = append(selects, t.ruleSelect(i))
			args = append(args, own(i)...)
		}
		n, err := t.exec(ctx, "INSERT INTO _nudge_cand "+candColumns+" "+strings.Join(selects, "\nUNION ALL\n"), args...)
		if err != nil {
			if len(batch) == 1 {
				r := t.prog.Rules[batch[0]]
				return fmt.Errorf("rule %s (%s:%d): %w", r.Name, r.File, r.Line, err)
			}
			return errRuleQueries{err}
		}
		if len(batch) == 1 {
			t.candidates[batch[0]] = n
		}
	}
	if len(shared) > 0 {
		fams, rest := t.families(shared, own)
		if err := t.evaluateBatches(ctx, "_nudge_cand", fams, rest, base, own, true); err != nil {
			return errRuleQueries{err}
		}
	}
	if !batched && !slices.ContainsFunc(batches(full, t.fullBatch()), func(b []int) bool { return len(b) > 1 }) {
		return nil
	}
	var err error
	t.candidates, err = t.rowsPerRule(ctx, "_nudge_cand")
	return err
}

// ruleBatch is the most rules one statement evaluates together. A tick's
// fixed cost is mostly per statement, and DuckDB runs the rules'
// pipelines side by side; but planning a statement costs more than
// linearly in its size, and a statement being planned does not notice
// that its context was cancelled (docs/performance.md, "Many rules").
const ruleBatch = 8

// fullBatchRows bounds the member rows a statement of rules evaluated
// over every member reads together (see fullBatch).
const fullBatchRows = 1 << 20

// fullBatch is how many rules evaluated over every member one statement
// evaluates: one on a large base, up to ruleBatch on a small one.
func (t *tick) fullBatch() int {
	if t.mode.has(PerRule) {
		return 1
	}
	return int(max(1, min(int64(ruleBatch), fullBatchRows/max(t.memberCount(), 1))))
}

// memberCount is how many members the brand has (from the members'
// fingerprint read when the tick began); 1 when it cannot tell.
func (t *tick) memberCount() int64 {
	members := int64(1)
	if _, n, ok := strings.Cut(t.membersSum, ":"); ok {
		fmt.Sscan(n, &members)
	}
	return members
}

// batches cuts rules into runs of at most n.
func batches(rules []int, n int) [][]int {
	var out [][]int
	for len(rules) > 0 {
		k := min(n, len(rules))
		out = append(out, rules[:k])
		rules = rules[k:]
	}
	return out
}

// evaluateBatches inserts into table the candidates of the families fams
// (families), a statement each, and of the rules (in program order)
// evaluated together, ruleBatch rules a statement: each
// rule's query (ruleQuery) with args and its own args(i), less the members
// it may not fire for (blocked), which a statement lists first for all of
// the rules at once into the table sharedBlocked, ordered by rule so that
// each batch reads the row groups of its rules only. scoped says whether
// the rules are evaluated over the scope (blockedFrom).
func (t *tick) evaluateBatches(ctx context.Context, table string, fams []ruleFamily, rules []int, args []any, own func(i int) []any, scoped bool) error {
	// The rules whose blocked conditions have the same text are one group.
	groupOf := map[string]int{}
	var conds []string
	names := jsonRows{param: "blocked_rules", columns: []string{"rule VARCHAR", "ri INTEGER", "g INTEGER"}}
	for _, i := range append(familyRules(fams), rules...) {
		block := t.blocked(i)
		if block == "" {
			continue
		}
		g, ok := groupOf[block]
		if !ok {
			g = len(conds)
			groupOf[block] = g
			conds = append(conds, fmt.Sprintf("(b.g = %d AND (%s))", g, block))
		}
		names.add(t.prog.Rules[i].Name, i, g)
	}
	blocked := len(names.rows) > 0
	if blocked {
		where := strings.Join(conds, "\n   OR ")
		q := "CREATE OR REPLACE TEMP TABLE " + sharedBlocked + " AS\nSELECT b.ri, rm.member_id FROM " + t.blockedFrom(scoped, where) +
			"\n    JOIN " + names.sql() + " b ON b.rule = rm.rule" +
			"\nWHERE " + where + "\nORDER BY b.ri"
		if _, err := t.exec(ctx, q, append(usedArgs(q, args), names.arg())...); err != nil {
			return err
		}
	}
	antiBlocked := func(lo, hi int) string {
		if !blocked {
			return ""
		}
		return fmt.Sprintf("\nANTI JOIN (SELECT ri, member_id FROM %s WHERE ri BETWEEN %d AND %d) b ON b.ri = c.ri AND b.member_id = c.member_id",
			sharedBlocked, lo, hi)
	}
	for _, f := range fams {
		body, values := f.query()
		q := "INSERT INTO " + table + " " + candColumns + "\nSELECT c.* FROM (\n" + body + "\n) c" + candColumns + antiBlocked(f.rules[0], f.rules[len(f.rules)-1])
		if _, err := t.exec(ctx, q, append(usedArgs(q, args), values)...); err != nil {
			return err
		}
	}
	for _, batch := range batches(rules, ruleBatch) {
		var selects []string
		bargs := slices.Clone(args)
		for _, i := range batch {
			selects = append(selects, t.ruleQuery(i))
			bargs = append(bargs, own(i)...)
		}
		q := "INSERT INTO " + table + " " + candColumns + "\nSELECT c.* FROM (\n" + strings.Join(selects, "\nUNION ALL\n") + "\n) c" + candColumns + antiBlocked(batch[0], batch[len(batch)-1])
		if _, err := t.exec(ctx, q, usedArgs(q, bargs)...); err != nil {
			return err
		}
	}
	return nil
}

// usedArgs are the named parameters of args that the statement q reads
// ($name), DuckDB refusing the others.
func usedArgs(q string, args []any) []any {
	var out []any
	for _, a := range args {
		if n, ok := a.(sql.NamedArg); !ok || strings.Contains(q, "$"+n.Name) {
			out = append(out, a)
		}
	}
	return out
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

// sharedBlocked names the table that lists, per rule (ri) evaluated in
// batches (evaluateBatches), the members it may not fire for.
const sharedBlocked = "_nudge_blocked"

// ruleSelect is the SELECT of rule i's candidates: its query (ruleQuery),
// with the members whose limit has not run out (and the refusals that
// would be refused again) removed before anything is materialised. A state
// rule matches most of its members again at every tick, and almost all of
// them are still within their limit (see blocked and repeats). (A batch
// of rules evaluated together removes them at once: evaluateBatches.)
func (t *tick) ruleSelect(i int) string {
	r := t.prog.Rules[i]
	limit := ""
	switch block := t.blocked(i); {
	case block == "":
	default:
		limit = `ANTI JOIN (
    SELECT rm.member_id FROM ` + t.blockedFrom(t.plans[i].scoped, block) + `
    WHERE rm.rule = ` + quoteString(r.Name) + ` AND (` + block + `)
) blocked ON blocked.member_id = q.member_id`
	}
	return t.ruleQuery(i) + "\n" + limit
}

// ruleQuery is the SELECT of rule i's candidates as its query gives them
// (ri, member_id, trigger_seq, due_at, vals, params), limits aside.
func (t *tick) ruleQuery(i int) string { return t.ruleQueryAs(i, fmt.Sprint(i), "") }

// ruleQueryAs is ruleQuery with the rule's index given as the SQL ri, and
// from written before the rule's query in the FROM clause (a family's
// table: 04d_rule_families.go).
func (t *tick) ruleQueryAs(i int, ri, from string) string {
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
		body = r.Tick.LaneSQL
	case t.plans[i].scoped:
		body = r.Tick.ScopedSQL
	}
	body = strings.TrimRight(strings.TrimSpace(body), ";")
	return fmt.Sprintf("SELECT %s, q.member_id, q.trigger_seq, q.due_at, %s, %s FROM %s(\n%s\n) q", ri, vals, paramsSQL(r), from, body)
}
