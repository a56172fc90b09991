package policy

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"nudge/compiler"
)

// The money policies of SPEC §9, in the order the tick applies them among
// the send policies: the global control group (first of all), stock and
// budget (after `stop after`, before caps). Within one tick, the sends that
// passed the policies before them compete for what is left of a stock or a
// budget in the order priority (highest first), rule name, member id, due
// time (then the triggering event and the action): a running sum over that
// order allots them, and the first send that does not fit and every one
// after it are refused. Stock and budget are allotted before caps: a send
// capped afterwards has taken its share for this tick only (the share is
// free again at the next tick, as for a send that later fails). Only sends
// recorded pending, scheduled or sent (Counted) use a stock or a budget.

// GlobalHoldoutReason is the reason of a send held out by the global
// control group.
const GlobalHoldoutReason = "global control group"

// GlobalHeldOutSQL is the condition that the member whose id member (SQL)
// names, of the brand brand (SQL), is in the global control group of pct
// percent: md5 of the brand and the member id (and a salt, so that it is
// independent of every rule's holdout hash), mod 10000, below pct*100.
func GlobalHeldOutSQL(brand, member string, pct float64) string {
	return BucketSQL("'nudge-global-holdout' || chr(31) || "+brand+" || chr(31) || "+member) + " < " + num(pct*100)
}

// OutOfStockReason and OverBudgetReason word the refusals.
func OutOfStockReason(content string, count int64) string {
	return fmt.Sprintf("stock %q %d used up", content, count)
}

// OverBudgetReason words a refusal by a budget of amount per period.
func OverBudgetReason(b *compiler.Budget) string {
	return "budget " + num(b.Amount) + " per " + b.Per + " spent"
}

// SendCostSQL is what one send costs (compiler.Program.SendCost) as a SQL
// DECIMAL(18,4), for the columns channel, kind and content qualified by
// prefix ("o." or "").
func SendCostSQL(p *compiler.Program, prefix string) string {
	var b strings.Builder
	b.WriteString("(CAST(0 AS DECIMAL(18,4))")
	if len(p.Costs) > 0 {
		b.WriteString(" + CASE " + prefix + "channel")
		for _, ch := range sortedKeys(p.Costs) {
			b.WriteString(" WHEN " + quote(ch) + " THEN CAST(" + num(p.Costs[ch]) + " AS DECIMAL(18,4))")
		}
		b.WriteString(" ELSE 0 END")
	}
	for _, c := range p.ContentCosts {
		b.WriteString(" + CASE WHEN " + prefix + "kind = " + quote(c.Kind) + " AND " + prefix + "content = " + quote(c.Content) +
			" THEN CAST(" + num(c.Amount) + " AS DECIMAL(18,4)) ELSE 0 END")
	}
	b.WriteString(")")
	return b.String()
}

// BudgetPeriod returns the calendar period of per (day, week from Monday,
// month) that holds now: [start, end).
func BudgetPeriod(per string, now time.Time) (start, end time.Time) {
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())
	switch per {
	case "week":
		back := (int(day.Weekday()) + 6) % 7 // days since Monday
		start = day.AddDate(0, 0, -back)
		return start, start.AddDate(0, 0, 7)
	case "month":
		start = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, now.Location())
		return start, start.AddDate(0, 1, 0)
	}
	return day, day.AddDate(0, 0, 1)
}

// BudgetPeriodSQL is the start of the calendar period per (day, week,
// month) holding the instant at (SQL), as BudgetPeriod computes it.
func BudgetPeriodSQL(per, at string) string {
	return "date_trunc(" + quote(per) + ", " + at + ")"
}

// QuietFor are the quiet hours that apply to a send on channel: its own
// lines (`quiet hours ... for CH`) when it has some, else the plain ones.
func QuietFor(quiet []compiler.Quiet, channel string) []compiler.Quiet {
	var own, plain []compiler.Quiet
	for _, q := range quiet {
		switch q.Channel {
		case channel:
			if channel != "" {
				own = append(own, q)
			} else {
				plain = append(plain, q)
			}
		case "":
			plain = append(plain, q)
		}
	}
	if len(own) > 0 {
		return own
	}
	return plain
}

// QuietPerChannel reports whether some quiet hours are for one channel.
func QuietPerChannel(quiet []compiler.Quiet) bool {
	for _, q := range quiet {
		if q.Channel != "" {
			return true
		}
	}
	return false
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func sortedKeys(m map[string]float64) []string { return slices.Sorted(maps.Keys(m)) }
