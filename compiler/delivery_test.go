package compiler

import (
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"nudge/lang/ast"
	"nudge/lang/check"
)

// The `with` parameters of a send (SPEC §9) in the property test: the rule
// query's columns p0, p1, ... against the reference evaluator's values of
// the same expressions (a field of the triggering event, a member field, a
// literal), both rendered by paramText.

// params generates the `with` of a send: fields every event type has (the
// built-in columns) for a trigger rule, member fields and literals.
func (g *gen) params(trigger bool) string {
	if !g.chance(0.5) {
		return ""
	}
	pool := []string{`city = member.city`, `vip = member.vip_level`, `k = "x"`, `n = 3`}
	if trigger {
		pool = append(pool, `store = store`, `amt = amount`, `oid = order_id`, `tsv = ts`)
	}
	n := 1 + g.rng.IntN(3)
	var out []string
	used := map[string]bool{}
	for range n {
		p := g.pick(pool...)
		if used[p] {
			continue
		}
		used[p] = true
		out = append(out, p)
	}
	return " with " + strings.Join(out, ", ")
}

// paramsKey renders the parameter columns (p0, p1, ...) of one row of a
// rule query as a suffix of its firing key, "" when there are none.
func paramsKey(cols []string, vals []any) string {
	var parts []string
	for i, c := range cols {
		if len(c) < 2 || c[0] != 'p' || strings.Trim(c[1:], "0123456789") != "" {
			continue
		}
		parts = append(parts, paramText(*(vals[i].(*any))))
	}
	if len(parts) == 0 {
		return ""
	}
	return "{" + strings.Join(parts, "|") + "}"
}

// paramText renders a value scanned from DuckDB.
func paramText(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case string:
		return fmt.Sprintf("%q", v)
	case float64:
		return formatFloat(v)
	case float32:
		return formatFloat(float64(v))
	case int32:
		return formatFloat(float64(v))
	case int64:
		return formatFloat(float64(v))
	case *big.Int:
		f, _ := new(big.Float).SetInt(v).Float64()
		return formatFloat(f)
	case duckdb.Decimal:
		return formatFloat(v.Float64())
	case time.Time:
		return v.UTC().Format("2006-01-02T15:04:05")
	case bool:
		return fmt.Sprint(v)
	}
	return fmt.Sprintf("%T:%v", v, v)
}

// params renders the reference values of rule r's parameters in ctx, as
// paramsKey does the query's.
func (w *refWorld) params(r *check.Rule, ctx refCtx) string {
	var parts []string
	for _, a := range r.Decl.Actions {
		for _, p := range a.Params {
			var v refVal
			switch x := p.Value.(type) {
			case *ast.Ident:
				et := w.info.Events[ctx.cand.Type]
				v = w.field(ctx.cand, et, x.Name)
			case *ast.MemberField:
				v = w.memberField(ctx.m, x.Field.Name)
			default:
				v = w.value(x, ctx)
			}
			parts = append(parts, refText(v))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "{" + strings.Join(parts, "|") + "}"
}

// refText renders a reference value as paramText does.
func refText(v refVal) string {
	if v.null {
		return "NULL"
	}
	switch v.kind {
	case 'n':
		return formatFloat(v.n)
	case 's':
		return fmt.Sprintf("%q", v.s)
	case 't':
		return v.t.UTC().Format("2006-01-02T15:04:05")
	case 'b':
		return fmt.Sprint(v.b)
	}
	return "?"
}
