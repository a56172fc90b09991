package policy

import (
	"fmt"
	"time"
)

// Limits (SPEC §5): `limit once per member [every D]` lets a rule fire for
// a member again only when its latest effective firing (rule_members'
// last_effective_at) is at least D old; a state rule without a limit fires
// once per member ever, a trigger rule without one once per event. Dedupe
// (a firing is (rule, member, dedupe key), not twice) is the tick's.

// LimitBlockedSQL is the condition that a rule limited to once per member
// every `every` (0: ever) may not fire for the member whose rule_members
// row is rm at the instant now (SQL).
func LimitBlockedSQL(every time.Duration, now string) string {
	cond := "rm.last_effective_at IS NOT NULL"
	if us := every.Microseconds(); us > 0 {
		cond += fmt.Sprintf(" AND rm.last_effective_at > %s - to_microseconds(%d)", now, us)
	}
	return cond
}

// LimitAllows is LimitBlockedSQL's verdict for a member whose latest
// effective firing was at last (ok false: never).
func LimitAllows(last time.Time, ok bool, every time.Duration, now time.Time) bool {
	switch {
	case !ok:
		return true
	case every <= 0:
		return false
	}
	return !last.After(now.Add(-every))
}
