package compiler

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"nudge/internal/tickform"
	"nudge/lang/ast"
	"nudge/lang/check"
)

// ruleDelta computes the Delta of a state rule's condition, or nil when the
// verdict may change in ways a Delta cannot bound.
func (rc *ruleCompiler) ruleDelta(cond ast.Expr) *tickform.Delta {
	d := &tickform.Delta{}
	ok := true
	seen := map[tickform.Watch]bool{}
	watch := func(event, back string) {
		w := tickform.Watch{Event: event, Back: back}
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
func (rc *ruleCompiler) dailyAtoms(cond ast.Expr) []tickform.DailyAtom {
	total := 0
	rc.walkCond(cond, func(n ast.Node) {
		if rc.isDailyCall(n) {
			total++
		}
	})
	var out []tickform.DailyAtom
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
			rc.now = tickform.ThenRow + ".ts"
			then := rc.cond(e, &scope{member: "m", memberID: "m.member_id"})
			rc.now = now
			out = append(out, tickform.DailyAtom{SQL: q, Then: then, PerMember: perMember})
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
