package policy

import (
	"fmt"
	"time"

	"nudge/compiler"
)

// Caps (SPEC §5, policy 5): `cap CH N per D` allows a member at most N
// counted sends (status Counted) on the channel (every channel for `cap
// all`) fired in (now - D, now]. The tick decides them by fired_at; the
// delivery re-check counts what each sink received.

// CountedSendSQL is the condition that an outbox row is a send that
// counts toward caps; prefix qualifies its columns ("o." or "").
func CountedSendSQL(prefix string) string {
	return prefix + "action = 'send' AND " + prefix + "status IN (" + CountedSQL + ")"
}

// CapLabel names a cap as reasons show it: "cap sms 1 per 1d".
func CapLabel(c compiler.Cap) string {
	return fmt.Sprintf("cap %s %d per %s", CapChannel(c), c.Count, FmtDuration(c.Per))
}

// CapChannel is the channel a cap covers, "all" for every channel.
func CapChannel(c compiler.Cap) string {
	if c.Channel == "" {
		return "all"
	}
	return c.Channel
}

// CapWindows returns the shortest and longest period of caps.
func CapWindows(caps []compiler.Cap) (minPer, maxPer time.Duration) {
	minPer = time.Duration(1<<63 - 1)
	for _, c := range caps {
		minPer = min(minPer, c.Per)
		maxPer = max(maxPer, c.Per)
	}
	return minPer, maxPer
}

// FmtDuration renders d in the largest whole unit (7d, 12h, 30m), as the
// language writes durations.
func FmtDuration(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}
