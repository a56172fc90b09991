package simulate

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"nudge/runtime/policy"
)

// statusColumns are the statuses a tick decides, shown as columns: what
// goes out, the refusals in the order the tick applies them, and tags;
// moneyColumns, the refusals of the money policies, come after the
// repeats (added later, they keep the earlier columns where they were).
var statusColumns = func() []string {
	cols := []string{string(policy.Pending), string(policy.Scheduled)}
	for _, s := range policy.Refusals {
		if !slices.Contains(moneyColumns, string(s)) {
			cols = append(cols, string(s))
		}
	}
	return append(cols, string(policy.Applied))
}()

var moneyColumns = []string{string(policy.OutOfStock), string(policy.OverBudget)}

// WriteText writes the result as tables: per day and rule, then per rule.
func (r *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	state := "simulated"
	if r.Interrupted {
		state = "interrupted after"
	}
	fmt.Fprintf(&b, "%s %d of %d ticks from %s to %s every %s for brand %s in %s\n",
		state, r.Steps, r.Total, r.From.Format(tsLayout), r.To.Format(tsLayout), r.Step, r.Brand, r.Elapsed.Round(time.Millisecond))
	b.WriteString("nothing was dispatched; the database's own outbox and state were not touched\n\n")
	// (A program of journeys alone has only their table, as `run`'s summary.)
	rules := len(r.Rules) > 0 || len(r.Journeys) == 0
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	if rules {
		fmt.Fprintf(tw, "day\trule\tfirings\t%s\trepeats\t%s\t\n", strings.Join(statusColumns, "\t"), strings.Join(moneyColumns, "\t"))
	}
	for _, d := range r.Days { // (none without rules)
		fmt.Fprintf(tw, "%s\t%s\t%d\t", d.Day, d.Rule, d.Firings)
		for _, st := range statusColumns {
			fmt.Fprintf(tw, "%d\t", d.Statuses[st])
		}
		fmt.Fprintf(tw, "%d\t", d.Repeats)
		for _, st := range moneyColumns {
			fmt.Fprintf(tw, "%d\t", d.Statuses[st])
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	if rules && len(r.Days) == 0 {
		b.WriteString("(no rule fired)\n")
	}
	if rules {
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "members hit by several rules: %d over the period", r.OverlapTotal)
	if len(r.Overlap) > 0 {
		var days []string
		for d := range r.Overlap {
			days = append(days, d)
		}
		sort.Strings(days)
		maxDay := days[0]
		for _, d := range days {
			if r.Overlap[d] > r.Overlap[maxDay] {
				maxDay = d
			}
		}
		fmt.Fprintf(&b, "; on one day: at most %d (%s)", r.Overlap[maxDay], maxDay)
	}
	fmt.Fprintf(&b, "\ntotal cost of the sends: %.2f\n", r.Cost)
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	if rules {
		b.WriteString("\n")
		fmt.Fprintf(tw, "rule\tfirings\tsends\tcapped\trepeats\tcost\ttargeted\tbought anyway\tbaseline\tconversion\t\n")
	}
	for _, t := range r.Rules {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.2f\t%d\t%d\t%.1f%%\t%s\t\n", t.Rule, t.Firings, t.Sends, t.Capped, t.Repeats, t.Cost,
			t.Targeted, t.BoughtAnyway, 100*t.BaselineRate, t.Conversion)
	}
	tw.Flush()
	if len(r.Journeys) > 0 {
		b.WriteString("\n")
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "journey\tentered\texited\tcompleted\tsends\tcapped\trefused\tcost\t\n")
		for _, j := range r.Journeys {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%.2f\t\n", j.Journey, j.Entered, j.Exited, j.Completed, j.Sends, j.Capped, j.Refused, j.Cost)
		}
		tw.Flush()
	}
	b.WriteString("\ncapped: sends refused by a cap; repeats: refusals (cap or consent) not recorded again because the\n" +
		"previous tick refused the same member; bought anyway: targeted members who converted within the rule's\n" +
		"window although nothing was sent (the baseline the rule must beat).\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the result as one indented JSON object.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		From, To    string
		Step        string
		Steps       int
		Total       int
		Interrupted bool
		Brand       string
		Days        []Day
		Rules       []RuleTotal
		Journeys    []JourneyTotal `json:",omitempty"`
		Overlap     map[string]int64
		OverlapAll  int64 `json:"OverlapTotal"`
		Cost        float64
		ElapsedMS   int64
	}{r.From.Format(tsLayout), r.To.Format(tsLayout), r.Step.String(), r.Steps, r.Total, r.Interrupted, r.Brand,
		r.Days, r.Rules, r.Journeys, r.Overlap, r.OverlapTotal, r.Cost, r.Elapsed.Milliseconds()})
}
