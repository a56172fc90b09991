package compiler

import (
	"fmt"
	"strings"
)

// Explain renders the SQL of the program's rules for `nudge explain`: per
// rule a header comment naming the rule, its kind and its place, then its
// query. With rule set, only that rule is shown; ok is false when no rule has
// that name.
func Explain(p *Program, rule string) (text string, ok bool) {
	var b strings.Builder
	for _, r := range p.Rules {
		if rule != "" && r.Name != rule {
			continue
		}
		ok = true
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString(ExplainRule(r))
	}
	return b.String(), ok || rule == ""
}

// ExplainRule renders one rule: its header comment, the columns its values
// stand for, and its SQL terminated by a semicolon.
func ExplainRule(r *Rule) string {
	var b strings.Builder
	kind := "state"
	if r.Trigger {
		kind = "trigger"
	}
	fmt.Fprintf(&b, "-- %s\n", commentSQL(fmt.Sprintf("rule %s (%s)  %s:%d", r.Name, kind, r.File, r.Line)))
	if r.Title != "" {
		fmt.Fprintf(&b, "-- %s\n", commentSQL(r.Title))
	}
	for _, v := range r.Values {
		fmt.Fprintf(&b, "--   %s = %s\n", v.Column, commentSQL(v.Label))
	}
	if !r.Trigger {
		b.WriteString("-- " + commentSQL(r.Delta.String()) + "\n")
	}
	b.WriteString(r.SQL)
	b.WriteString(";\n")
	return b.String()
}
