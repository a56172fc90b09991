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
		b.WriteString(explainRule(r, p.Strata() > 1))
	}
	for _, j := range p.Journeys {
		if rule != "" && j.Name != rule {
			continue
		}
		ok = true
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString(explainJourney(j))
	}
	return b.String(), ok || rule == ""
}

// ExplainRule renders one rule: its header comment, the columns its values
// stand for, and its SQL terminated by a semicolon.
func ExplainRule(r *Rule) string { return explainRule(r, false) }

// explainRule renders one rule; with strata, also the rule's stratum and
// the rules whose tags it waits for (a program with one stratum shows
// none).
func explainRule(r *Rule, strata bool) string {
	var b strings.Builder
	kind := "state"
	if r.Trigger {
		kind = "trigger"
	}
	fmt.Fprintf(&b, "-- %s\n", commentSQL(fmt.Sprintf("rule %s (%s)  %s:%d", r.Name, kind, r.File, r.Line)))
	if r.Title != "" {
		fmt.Fprintf(&b, "-- %s\n", commentSQL(r.Title))
	}
	if strata {
		fmt.Fprintf(&b, "-- stratum %d", r.Stratum)
		if len(r.After) > 0 {
			fmt.Fprintf(&b, ": after %s (reads their tags)", strings.Join(r.After, ", "))
		}
		b.WriteString("\n")
	}
	for _, v := range r.Values {
		fmt.Fprintf(&b, "--   %s = %s\n", v.Column, commentSQL(v.Label))
	}
	if !r.Trigger {
		b.WriteString("-- " + commentSQL(r.Tick.Delta.String()) + "\n")
	}
	b.WriteString(r.SQL)
	b.WriteString(";\n")
	return b.String()
}
