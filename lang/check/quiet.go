package check

import (
	"fmt"
	"strings"
)

// CodeQuietAllDay: the quiet hours that apply to a channel leave no minute
// of the day free. The runtime schedules a send decided in quiet hours for
// the end of the quiet period, chaining overlapping periods
// (runtime/policy.QuietEnd); when the periods cover the whole day the chain
// never ends and the send would wait forever.
const CodeQuietAllDay = "quiet-all-day"

// checkQuietCoverage reports, per channel, quiet hours covering the whole
// day. A channel's own lines (`quiet hours ... for CH`) replace the plain
// lines for it (SPEC §9), so each group is judged on its own: the plain
// lines, then each channel's lines in order of first appearance.
func (c *checker) checkQuietCoverage() {
	var order []string
	groups := map[string][]*Quiet{}
	for _, q := range c.info.Quiet {
		if _, ok := groups[q.Channel]; !ok {
			order = append(order, q.Channel)
		}
		groups[q.Channel] = append(groups[q.Channel], q)
	}
	for _, ch := range order {
		qs := groups[ch]
		var day [24 * 60]bool
		var used []*Quiet
		for _, q := range qs {
			if q.From == q.To { // empty (warned about on its own)
				continue
			}
			used = append(used, q)
			for m := q.From; m != q.To; m = (m + 1) % (24 * 60) {
				day[m] = true
			}
		}
		free := false
		for _, quiet := range day {
			if !quiet {
				free = true
				break
			}
		}
		if free || len(used) == 0 {
			continue
		}
		first := used[0].Decl
		var lines []string
		for _, q := range used {
			d := q.Decl
			lines = append(lines, fmt.Sprintf("%s (%02d:%02d to %02d:%02d)", where(d.Pos(), first.Pos()), d.From.Hour, d.From.Minute, d.To.Hour, d.To.Minute))
		}
		which := "the quiet hours"
		whose := "a send on a channel without its own `quiet hours ... for CH` lines"
		if ch != "" {
			which = fmt.Sprintf("the quiet hours for %s", ch)
			whose = "a send via " + ch
		}
		c.errorf(first, CodeQuietAllDay, "%s on %s cover the whole day: %s would wait for their end forever and never be dispatched; leave some time of day out of quiet hours",
			which, joinAnd(lines), whose)
	}
}

// joinAnd joins items as "a", "a and b", "a, b and c".
func joinAnd(items []string) string {
	if len(items) <= 1 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}
