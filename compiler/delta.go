package compiler

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"nudge/lang/ast"
	"nudge/lang/check"
)

// Delta bounds how the verdict of a state rule can change between two runs,
// so that the runtime can re-evaluate only the members whose verdict may
// have changed instead of every member (SPEC §5 evaluates a state rule over
// all members at every run; the firings are the same, see runtime's
// incremental evaluation).
//
// Between a run at t0 and a run at t1 a member's verdict can only change
// when one of these happened:
//   - the member's row changed (an import of members): the runtime
//     re-evaluates everyone;
//   - an event of the member was ingested after the run at t0 (events.seq
//     above the watermark);
//   - an event of a watched type entered or left a window as time passed:
//     its ts lies in [t0 - Back, t1 - Back] for one of Watches;
//   - the date changed (Daily) and the condition calls a function of the
//     date (birthday_in, age, days_since of a date): the runtime
//     re-evaluates everyone.
//
// A rule whose verdict can change in other ways (tags, percentiles and RFM
// scores that depend on other members, hours_since, `days since` compared
// with anything but a number) has no Delta.
type Delta struct {
	// Watches are the event types and offsets whose events, when their ts
	// crossed a window edge between two runs, may change the verdict.
	Watches []Watch
	// Daily is set when the verdict also depends on the date of now.
	Daily bool
	// DailyAtoms, when Daily is set, are the atoms of the condition that
	// call a function of the date, compiled over the members row m: each
	// reads only the member's row, constants and $now. Between runs on
	// different dates the date can change the verdict only of members for
	// whom one of them changed (the runtime compares them at both runs).
	// Empty when some such call sits in an atom that also reads events or
	// tags (or in a segment): the runtime then re-evaluates everyone.
	DailyAtoms []DailyAtom
}

// DailyAtom is one atom of a condition that calls a function of the date.
type DailyAtom struct {
	SQL string // over the members row m, with $now
	// Then is SQL at the earlier instant ThenRow.ts instead of $now (the
	// runtime compares the two).
	Then string
	// PerMember is set when the atom reads the member's row; otherwise it
	// has one value for everyone (days_since(2024-11-11) = 0), and when
	// that changes, everyone is re-evaluated.
	PerMember bool
}

// Watch is one window edge: events of type Event whose ts lies in
// [t0 - Back, t1 - Back] may have changed a verdict between runs at t0 and
// t1 (Back "" is no offset: events that became due).
type Watch struct {
	Event string
	Back  string // SQL interval such as "INTERVAL 3 MONTH", or ""
}

// ruleDelta computes the Delta of a state rule's condition, or nil when the
// verdict may change in ways a Delta cannot bound.
func (rc *ruleCompiler) ruleDelta(cond ast.Expr) *Delta {
	d := &Delta{}
	ok := true
	seen := map[Watch]bool{}
	watch := func(event, back string) {
		w := Watch{Event: event, Back: back}
		if !seen[w] {
			seen[w] = true
			d.Watches = append(d.Watches, w)
		}
	}
	// days since ... compared with numbers: the verdict flips only when the
	// whole number of days crosses one of the thresholds.
	thresholds := map[*ast.DaysSinceExpr][]float64{}
	rc.walkCond(cond, func(n ast.Node) {
		switch x := n.(type) {
		case *ast.BinaryExpr:
			switch x.Op {
			case ast.Eq, ast.Ne, ast.Lt, ast.Le, ast.Gt, ast.Ge:
				if ds, num := daysSinceAndNumber(x.X, x.Y); ds != nil {
					thresholds[ds] = append(thresholds[ds], num)
				} else if ds, num := daysSinceAndNumber(x.Y, x.X); ds != nil {
					thresholds[ds] = append(thresholds[ds], num)
				}
			}
		case *ast.BetweenExpr:
			ds, lo := daysSinceAndNumber(x.X, x.Lo)
			if hiDS, hi := daysSinceAndNumber(x.X, x.Hi); ds != nil && hiDS != nil {
				thresholds[ds] = append(thresholds[ds], lo, hi)
			}
		}
	})
	rc.walkCond(cond, func(n ast.Node) {
		switch x := n.(type) {
		case *ast.EventAtom:
			if rc.atomSegment(x) != nil {
				return
			}
			if x.IsTrigger() {
				ok = false
				return
			}
			rc.watchWindow(x.Ref, x.Window, watch, &ok)
		case *ast.AggExpr:
			rc.watchWindow(x.Ref, x.Window, watch, &ok)
		case *ast.DaysSinceExpr:
			ts, found := thresholds[x]
			if !found {
				ok = false
				return
			}
			name := eventName(rc.eventType(x.Ref), x.Ref)
			watch(name, "") // a new latest (or first) event became due
			for _, k := range dayCrossings(ts) {
				watch(name, fmt.Sprintf("INTERVAL %d DAY", k))
			}
		case *ast.CallExpr:
			var fn *check.Function
			if r := rc.info.Refs[x.Func]; r != nil {
				fn = r.Func
			}
			switch {
			case fn == nil:
				ok = false
			case fn.Clock == check.ClockDaily:
				d.Daily = true
			case fn.Clock == check.ClockDailyForDates:
				for _, a := range x.Args {
					if rc.info.Types[a] != check.Date {
						ok = false
					}
				}
				d.Daily = true
			case fn.Clock != check.ClockNone:
				ok = false
			}
		case *ast.TaggedExpr, *ast.FollowedAtom:
			ok = false
		case *ast.Ident:
			if rc.isBareEvent(x) {
				ok = false
			}
			// A name no reference resolved may still be read as a segment
			// inside a filter (see segment): walkCond does not enter it.
			if rc.info.Refs[x] == nil && rc.info.Segments[x.Name] != nil {
				ok = false
			}
		}
	})
	if !ok {
		return nil
	}
	if d.Daily {
		d.DailyAtoms = rc.dailyAtoms(cond)
	}
	sort.Slice(d.Watches, func(i, j int) bool {
		if d.Watches[i].Event != d.Watches[j].Event {
			return d.Watches[i].Event < d.Watches[j].Event
		}
		return d.Watches[i].Back < d.Watches[j].Back
	})
	return d
}

// isDailyCall reports whether n calls a function whose result changes with
// the date of now (ruleDelta has checked the arguments of the ones that
// are daily only for dates).
func (rc *ruleCompiler) isDailyCall(n ast.Node) bool {
	x, ok := n.(*ast.CallExpr)
	if !ok {
		return false
	}
	r := rc.info.Refs[x.Func]
	return r != nil && r.Func != nil && (r.Func.Clock == check.ClockDaily || r.Func.Clock == check.ClockDailyForDates)
}

// dailyAtoms compiles the atoms of cond (the operands of its and, or and
// not) that call a function of the date, over the members row m, or
// returns nil when one of them also reads anything but the member's row
// and constants, or a call sits inside a segment the condition names.
func (rc *ruleCompiler) dailyAtoms(cond ast.Expr) []DailyAtom {
	total := 0
	rc.walkCond(cond, func(n ast.Node) {
		if rc.isDailyCall(n) {
			total++
		}
	})
	var out []DailyAtom
	found, ok := 0, true
	seen := map[string]bool{}
	var atoms func(e ast.Expr)
	atoms = func(e ast.Expr) {
		switch x := e.(type) {
		case *ast.ParenExpr:
			atoms(x.X)
			return
		case *ast.NotExpr:
			atoms(x.X)
			return
		case *ast.BinaryExpr:
			if x.Op == ast.And || x.Op == ast.Or {
				atoms(x.X)
				atoms(x.Y)
				return
			}
		}
		calls, memberOnly, perMember := 0, true, false
		ast.Inspect(e, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.MemberField:
				perMember = true
				return false
			case *ast.CallExpr:
				if rc.isDailyCall(x) {
					calls++
				}
				if r := rc.info.Refs[x.Func]; r != nil && r.Func != nil && strings.Contains(r.Func.SQL, "{member}") {
					perMember = true
				}
				for _, a := range x.Args {
					ast.Inspect(a, func(n ast.Node) bool {
						if _, ok := n.(*ast.MemberField); ok {
							perMember = true
						}
						return true
					})
				}
				// (A daily call nested in the arguments is not counted: the
				// count then falls short and everyone is re-evaluated.)
			}
			return rc.memberOnlyNode(n, &memberOnly)
		})
		if calls == 0 {
			return
		}
		found += calls
		if !memberOnly {
			ok = false
			return
		}
		q := rc.cond(e, &scope{member: "m", memberID: "m.member_id"})
		if !seen[q] {
			seen[q] = true
			now := rc.now
			rc.now = ThenRow + ".ts"
			then := rc.cond(e, &scope{member: "m", memberID: "m.member_id"})
			rc.now = now
			out = append(out, DailyAtom{SQL: q, Then: then, PerMember: perMember})
		}
	}
	atoms(cond)
	if !ok || found != total {
		return nil
	}
	return out
}

// memberOnlyNode clears *ok when n reads events, tags or a segment (only
// the member's row and constants are allowed), and says whether to look
// inside n.
func (rc *ruleCompiler) memberOnlyNode(n ast.Node, ok *bool) bool {
	switch x := n.(type) {
	case *ast.MemberField:
		return false
	case *ast.CallExpr:
		if !rc.isDailyCall(x) {
			if r := rc.info.Refs[x.Func]; r == nil || r.Func == nil || r.Func.Clock != check.ClockNone {
				*ok = false
			}
		}
		for _, a := range x.Args {
			ast.Inspect(a, func(n ast.Node) bool { return rc.memberOnlyNode(n, ok) })
		}
		return false
	case *ast.EventAtom, *ast.FollowedAtom, *ast.AggExpr, *ast.DaysSinceExpr, *ast.TaggedExpr, *ast.EventRef, *ast.Ident, *ast.BadExpr:
		*ok = false
		return false
	}
	return true
}

// watchWindow adds the window edges of events matching ref in win: events
// that became due, and for `in last D` events that left the window.
func (rc *ruleCompiler) watchWindow(ref *ast.EventRef, win *ast.Window, watch func(event, back string), ok *bool) {
	name := eventName(rc.eventType(ref), ref)
	watch(name, "")
	if win == nil {
		return
	}
	switch win.Kind {
	case ast.InLast:
		watch(name, rc.interval(win.Dur))
	case ast.Before:
		*ok = false
	}
}

// daysSinceAndNumber returns ds and the number when a is a days-since
// expression and b a number literal (through parentheses); ds nil otherwise.
func daysSinceAndNumber(a, b ast.Expr) (*ast.DaysSinceExpr, float64) {
	ds, ok := ast.Unparen(a).(*ast.DaysSinceExpr)
	n, isNum := ast.Unparen(b).(*ast.NumberLit)
	if !ok || !isNum {
		return nil, 0
	}
	return ds, n.Value
}

// dayCrossings returns the whole numbers of days k at which a comparison of
// a whole number of days with one of the thresholds can change its result:
// the value reaches k when now passes the event's ts + k days. A comparison
// with c changes between floor(c) and floor(c) + 1, or at ceil(c).
func dayCrossings(thresholds []float64) []int64 {
	set := map[int64]bool{}
	for _, c := range thresholds {
		for _, k := range []float64{math.Floor(c), math.Floor(c) + 1, math.Ceil(c), math.Ceil(c) + 1} {
			if k >= 0 && k < 1e6 {
				set[int64(k)] = true
			}
		}
	}
	out := make([]int64, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// String describes the delta on one line for `nudge explain`: which members
// a run re-evaluates.
func (d *Delta) String() string {
	if d == nil {
		return "every run re-evaluates every member"
	}
	var parts []string
	for _, w := range d.Watches {
		if w.Back == "" {
			parts = append(parts, w.Event+" due")
		} else {
			parts = append(parts, w.Event+" "+strings.ToLower(strings.TrimPrefix(w.Back, "INTERVAL "))+" ago")
		}
	}
	s := "re-evaluates members with new events"
	if len(parts) > 0 {
		s += " or events " + strings.Join(parts, ", ")
	}
	switch {
	case d.Daily && len(d.DailyAtoms) > 0:
		s += "; on a new day, members whose date conditions changed"
	case d.Daily:
		s += "; everyone on a new day"
	}
	return s
}
