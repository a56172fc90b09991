package ruletest

import (
	"encoding/json"
	"fmt"
	"strings"

	"nudge/lang/ast"
	nrt "nudge/runtime"
)

// deliveryMatches reports whether decision d took the channel and carries
// the parameters expectation s names (SPEC §9; both optional). A string
// parameter matches a string literal; a number, a number literal of the
// same value; NULL, nothing but an absent expectation.
func deliveryMatches(s *ast.ExpectStep, d nrt.Decision) bool {
	if s.Via != nil && d.Channel != s.Via.Name {
		return false
	}
	if len(s.Params) == 0 {
		return true
	}
	var got map[string]any
	if err := json.Unmarshal(d.Params, &got); err != nil {
		return false
	}
	for _, p := range s.Params {
		v, ok := got[p.Name.Name]
		if !ok {
			return false
		}
		switch lit := p.Value.(type) {
		case *ast.StringLit:
			if str, ok := v.(string); !ok || str != lit.Value {
				return false
			}
		case *ast.NumberLit:
			if n, ok := v.(float64); !ok || n != lit.Value {
				return false
			}
		case *ast.BoolLit:
			if b, ok := v.(bool); !ok || b != lit.Value {
				return false
			}
		default:
			if fmt.Sprint(v) != paramLiteral(p.Value) {
				return false
			}
		}
	}
	return true
}

// paramsText renders the `params NAME VALUE, ...` of an expectation.
func paramsText(ps []*ast.FieldValue) string {
	if len(ps) == 0 {
		return ""
	}
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = p.Name.Name + " " + paramLiteral(p.Value)
	}
	return " params " + strings.Join(parts, ", ")
}

// paramLiteral is a literal of an expectation as written.
func paramLiteral(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.StringLit:
		return fmt.Sprintf("%q", e.Value)
	case *ast.NumberLit:
		return e.Text
	case *ast.BoolLit:
		return fmt.Sprint(e.Value)
	case *ast.DateLit:
		return e.Text
	}
	return "?"
}
