package runtime

import (
	"fmt"
	"time"
)

// timestampLayouts are the forms SPEC §7 accepts for --now and every other
// timestamp a user types (flags, the REPL's :now). Times are naive local
// times in the data's zone, so they are parsed as UTC wall-clock values and
// stored without zone conversion.
var timestampLayouts = []string{
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02",
}

// ParseTimestamp reads a timestamp in one of the SPEC §7 forms
// (2024-11-11T12:00:00, 2024-11-11 12:00:00, 2024-11-11 12:00, 2024-11-11).
func ParseTimestamp(s string) (time.Time, error) {
	for _, layout := range timestampLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot read %q as a timestamp; use 2024-11-11T12:00:00, 2024-11-11 12:00:00, 2024-11-11 12:00 or 2024-11-11", s)
}
