package policy

import (
	"fmt"
	"time"

	"nudge/compiler"
)

// Quiet hours (SPEC §5, policy 6): a send decided in quiet hours is
// scheduled for the end of the quiet period; the delivery re-check sends
// nothing while now is in quiet hours.

// QuietEnd reports whether now falls in a quiet period, the first period
// of quiet (in program order) that covers it, and when the quiet ends.
// Periods are [From, To) in minutes after midnight and may wrap midnight
// (22:00 to 08:00). Overlapping periods chain: the send waits until no
// period covers it.
func QuietEnd(now time.Time, quiet []compiler.Quiet) (time.Time, compiler.Quiet, bool) {
	var first compiler.Quiet
	found := false
	t := now
	for range len(quiet) + 1 {
		moved := false
		for _, q := range quiet {
			if end, ok := quietPeriodEnd(t, q); ok && end.After(t) {
				if !found {
					first, found = q, true
				}
				t, moved = end, true
			}
		}
		if !moved {
			break
		}
	}
	return t, first, found
}

func quietPeriodEnd(t time.Time, q compiler.Quiet) (time.Time, bool) {
	if q.From == q.To {
		return time.Time{}, false
	}
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
	m := t.Hour()*60 + t.Minute()
	at := func(d time.Time, min int) time.Time { return d.Add(time.Duration(min) * time.Minute) }
	if q.From < q.To {
		if m >= q.From && m < q.To {
			return at(day, q.To), true
		}
		return time.Time{}, false
	}
	switch {
	case m >= q.From:
		return at(day.AddDate(0, 0, 1), q.To), true
	case m < q.To:
		return at(day, q.To), true
	}
	return time.Time{}, false
}

// QuietPeriod renders a quiet period as "22:00-08:00".
func QuietPeriod(q compiler.Quiet) string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", q.From/60, q.From%60, q.To/60, q.To%60)
}

// QuietReason is the reason of a send scheduled for the end of q.
func QuietReason(q compiler.Quiet) string { return "quiet hours " + QuietPeriod(q) }

// Settle is the status of a send the other policies let through at now:
// scheduled at the end of the quiet hours (with their reason) when now
// falls in them, else pending.
func Settle(now time.Time, quiet []compiler.Quiet) (status Status, reason string, at time.Time, scheduled bool) {
	if end, q, ok := QuietEnd(now, quiet); ok {
		return Scheduled, QuietReason(q), end, true
	}
	return Pending, "", time.Time{}, false
}
