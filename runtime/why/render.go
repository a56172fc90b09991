package why

import (
	"fmt"
	"io"
	"strings"

	"nudge/compiler"
	nrt "nudge/runtime"
	"nudge/runtime/policy"
)

// maxEvents bounds the trigger events printed per rule.
const maxEvents = 10

// effective statuses: a send with one of these goes (or went) out (the
// counted ones), or a tag that was applied.
var sending = func() map[string]bool {
	m := map[string]bool{string(policy.Applied): true}
	for _, s := range policy.Counted {
		m[string(s)] = true
	}
	return m
}()

// verdict words the closing line of a rule's explanation.
func verdict(rep *Report, rr *RuleReport) string {
	if !rep.Exists {
		return fmt.Sprintf("would not fire: there is no member %q in brand %q", rep.Member, rep.Brand)
	}
	if rr.Fires {
		var parts []string
		hasSend, allRefused := false, true
		for _, d := range rr.Decisions {
			parts = append(parts, decisionText(d))
			if d.Action == "send" {
				hasSend = true
				if sending[d.Status] {
					allRefused = false
				}
			}
		}
		allRefused = allRefused && hasSend
		if allRefused {
			return "would fire but send nothing: " + strings.Join(parts, "; ")
		}
		return "would fire: " + strings.Join(parts, "; ")
	}
	if !rr.Cond {
		if rr.Rule.Trigger && len(rr.Rows) == 0 {
			return "would not fire: no trigger event to consider (none due since the rule's last run; a first run looks back over the lookback window)"
		}
		if rr.Rule.Trigger {
			return "would not fire: the condition is false for every trigger event considered"
		}
		if len(rr.Rows) > 0 {
			if f := firstFalse(rr.Exp.Root, rr.Rows[0]); f != "" {
				return "would not fire: the condition is false (" + f + ")"
			}
		}
		return "would not fire: the condition is false"
	}
	for _, p := range rr.Policies {
		if p.Name == "limit" && !p.OK {
			return "would not fire: " + p.Text
		}
	}
	if rr.GaveUp {
		return "would not fire: the condition holds, but the rule already gave up on the member, which has had no event since; the give-up is recorded once"
	}
	if rr.LastRefused && !rr.Rule.Trigger {
		refusal := ""
		if rr.LastRefusal != "" {
			refusal = " (" + rr.LastRefusal + ")"
		}
		return "would not fire: the condition holds, but the previous firing was refused" + refusal + " and this one would be refused again; repeated refusals are not recorded"
	}
	return "would not fire: the condition holds but this firing is already recorded (same now, or the event was already considered)"
}

func decisionText(d nrt.Decision) string {
	var s string
	switch d.Action {
	case "send":
		s = fmt.Sprintf("send %s %q via %s → %s", d.Kind, d.Content, d.Channel, d.Status)
	default:
		s = fmt.Sprintf("%s %q → %s", d.Action, d.Content, d.Status)
	}
	if d.Reason != "" {
		s += " (" + d.Reason + ")"
	}
	return s
}

// firstFalse names the first false atom under a false node.
func firstFalse(n *compiler.Node, row Row) string {
	if row.Bool[n.Verdict] {
		return ""
	}
	if n.Kind == compiler.NodeNot {
		return nodeText(n, row)
	}
	for _, c := range n.Children {
		if f := firstFalse(c, row); f != "" {
			return f
		}
	}
	if n.Kind == compiler.NodeAtom {
		return nodeText(n, row)
	}
	return ""
}

func val(row Row, col string, text bool) string {
	v, ok := row.Text[col]
	if !ok || v == nil {
		return "null"
	}
	if text {
		return fmt.Sprintf("%q", *v)
	}
	return *v
}

// nodeText renders one node without its mark.
func nodeText(n *compiler.Node, row Row) string {
	switch n.Kind {
	case compiler.NodeAnd:
		return "all of"
	case compiler.NodeOr:
		return "any of"
	case compiler.NodeNot:
		return "not"
	case compiler.NodeSegment:
		return "segment " + n.Label
	}
	if n.Op != "" {
		left := n.LeftLabel
		if n.Left != "" {
			left += " = " + val(row, n.Left, n.LeftText)
		}
		right := func(i int) string {
			s := n.RightLabels[i]
			if n.Right[i] != "" {
				s += " = " + val(row, n.Right[i], false)
			}
			return s
		}
		switch n.Op {
		case "between":
			return fmt.Sprintf("%s between %s and %s", left, right(0), right(1))
		case "in", "not in":
			return fmt.Sprintf("%s %s (%s)", left, n.Op, strings.Join(n.RightLabels, ", "))
		case "is null", "is not null":
			return left + " " + n.Op
		}
		return fmt.Sprintf("%s %s %s", left, n.Op, right(0))
	}
	if n.Count != "" {
		return fmt.Sprintf("%s (%s matching)", n.Label, val(row, n.Count, false))
	}
	return n.Label
}

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

func writeNode(w io.Writer, n *compiler.Node, row Row, indent string) {
	text := nodeText(n, row)
	if n.Kind != compiler.NodeAtom {
		text += ":"
	}
	if n.Trigger && n.TypeVerdict != "" && !row.Bool[n.TypeVerdict] {
		fmt.Fprintf(w, "%s%s %s (not a %s event)\n", indent, text, mark(row.Bool[n.Verdict]), n.Event)
		return
	}
	fmt.Fprintf(w, "%s%s %s\n", indent, text, mark(row.Bool[n.Verdict]))
	for _, c := range n.Children {
		writeNode(w, c, row, indent+"  ")
	}
}

// WriteText prints the report: per rule the condition tree with values and
// verdicts, the trigger events considered, the policies and the verdict.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "member %s at %s (brand %s)\n", r.Member, fmtTime(r.Now), r.Brand)
	if !r.Exists {
		fmt.Fprintf(w, "  no member %q in brand %q\n", r.Member, r.Brand)
	}
	for _, rr := range r.Rules {
		rule := rr.Rule
		kind := "state rule"
		if rule.Trigger {
			kind = "trigger rule"
		}
		title := ""
		if rule.Title != "" {
			title = fmt.Sprintf(" %q", rule.Title)
		}
		fmt.Fprintf(w, "\nrule %s%s (%s:%d), %s\n", rule.Name, title, rule.File, rule.Line, kind)
		if r.Exists {
			if rule.Trigger {
				fmt.Fprintf(w, "  trigger events considered: %d\n", len(rr.Rows))
				if len(rr.Recent) > 0 {
					fmt.Fprintln(w, "  the member's latest events of its trigger types:")
					for _, ev := range rr.Recent {
						fmt.Fprintf(w, "    #%d %s at %s: %s\n", ev.Seq, ev.Type, fmtTime(ev.TS), ev.Reason)
					}
				}
				for i, row := range rr.Rows {
					if i == maxEvents {
						fmt.Fprintf(w, "  ... and %d more\n", len(rr.Rows)-maxEvents)
						break
					}
					seq, due := "?", "?"
					if row.TriggerSeq != nil {
						seq = fmt.Sprint(*row.TriggerSeq)
					}
					if row.DueAt != nil {
						due = fmtTime(*row.DueAt)
					}
					fmt.Fprintf(w, "  event #%s due %s:\n", seq, due)
					writeNode(w, rr.Exp.Root, row, "    ")
				}
			} else if len(rr.Rows) > 0 {
				fmt.Fprintln(w, "  condition:")
				writeNode(w, rr.Exp.Root, rr.Rows[0], "    ")
			}
			if len(rr.Policies) > 0 {
				fmt.Fprintln(w, "  policies:")
				for _, p := range rr.Policies {
					fmt.Fprintf(w, "    %s %s\n", p.Text, mark(p.OK))
				}
			}
		}
		fmt.Fprintf(w, "  → %s\n", rr.Verdict)
	}
}
