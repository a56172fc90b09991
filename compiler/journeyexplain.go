package compiler

import (
	"fmt"
	"nudge/internal/tickform"
	"strings"
)

// explainJourney renders a journey for `nudge explain`: its entry query,
// its exit condition and the condition of each if and wait-until step,
// each headed by a comment naming it and its source line.
func explainJourney(j *Journey) string {
	var b strings.Builder
	kind := "enter when"
	if j.EnterOn {
		kind = "enter on"
	}
	fmt.Fprintf(&b, "-- %s\n", commentSQL(fmt.Sprintf("journey %s (%s)  %s:%d", j.Name, kind, j.File, j.Line)))
	if j.Title != "" {
		fmt.Fprintf(&b, "-- %s\n", commentSQL(j.Title))
	}
	b.WriteString("-- entry\n" + j.Enter.SQL + ";\n")
	cond := func(what, sql string) {
		fmt.Fprintf(&b, "-- %s: a condition over the instance %s (member_id, entered_at, entry_seq, due_at: the instant) and its member m\n",
			commentSQL(what), tickform.JourneyRow)
		b.WriteString("SELECT " + sql + ";\n")
	}
	if j.Exit != "" {
		cond("exit when", j.Exit)
	}
	for _, n := range j.Nodes {
		switch n.Kind {
		case StepIf:
			cond(fmt.Sprintf("if, line %d", n.Line), n.Cond)
		case StepWaitUntil:
			cond(fmt.Sprintf("wait until, line %d", n.Line), n.Cond)
		}
	}
	return b.String()
}
