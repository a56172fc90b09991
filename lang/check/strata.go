package check

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"nudge/lang/ast"
)

// This file orders the rules of a program in strata by the tags they read
// and write (SPEC §5 Actions): within one tick, a rule that reads a tag
// (`tagged "x"`, also through segments) that other rules write (`tag "x"`,
// `untag "x"`) is evaluated after them and sees their tags, as in a
// stratified Datalog program. Rules that read each other's tags in a cycle
// cannot be ordered: that is the error tag-cycle.
//
// Decisions the SPEC leaves open:
//   - A rule that reads a tag it writes itself is not ordered after itself:
//     its condition sees the tags as they are at the start of its stratum
//     (before any rule of that stratum applied its tags in this tick), so
//     `if not tagged "x" then tag "x"` fires once and then never again.
//   - A rule's stratum is the length of the longest chain of writers before
//     it (0 when it reads no tag another rule writes), so every rule runs as
//     early as it can and a program without such reads has one stratum.
//   - Tags written by nobody in the program (imported, or left by rules since
//     removed) order nothing.

// CodeTagCycle is the code of the error for rules that read each other's
// tags in a cycle.
const CodeTagCycle = "tag-cycle" // rules read each other's tags in a cycle: no order of evaluation exists

// tagEdge is one reason a rule comes after another: it reads a tag the
// other writes.
type tagEdge struct {
	writer *Rule
	tag    string
}

// stratify computes every rule's tag reads, its stratum and the rules it
// comes after, and reports cycles.
func (c *checker) stratify() {
	c.journeyTagReads()
	rules := c.info.Rules
	writers := map[string][]*Rule{} // tag -> the rules writing it, in source order
	for _, r := range rules {
		seen := map[string]bool{}
		for _, a := range r.Decl.Actions {
			if a == nil || a.Value == nil || (a.Kind != ast.Tag && a.Kind != ast.Untag) || seen[a.Value.Value] {
				continue
			}
			seen[a.Value.Value] = true
			writers[a.Value.Value] = append(writers[a.Value.Value], r)
		}
	}
	if len(writers) == 0 {
		return // nothing orders anything: one stratum
	}
	segReads := map[*ast.SegmentDecl][]string{}
	edges := map[*Rule][]tagEdge{} // reader -> what it comes after
	for _, r := range rules {
		for _, tag := range c.tagReads(r.Decl.Cond, segReads, map[*ast.SegmentDecl]bool{}) {
			for _, w := range writers[tag] {
				if w != r {
					edges[r] = append(edges[r], tagEdge{w, tag})
				}
			}
		}
	}
	if len(edges) == 0 {
		return
	}
	order := map[*Rule]int{}
	for i, r := range rules {
		order[r] = i
	}
	for _, r := range rules {
		seen := map[*Rule]bool{}
		for _, e := range edges[r] {
			if !seen[e.writer] {
				seen[e.writer] = true
				r.After = append(r.After, e.writer)
			}
		}
		sort.Slice(r.After, func(i, j int) bool { return order[r.After[i]] < order[r.After[j]] })
	}
	// Longest path by depth-first search; a rule met again while on the
	// stack closes a cycle, reported once per cycle (by its set of rules).
	const (
		unvisited = iota
		onStack
		done
	)
	state := map[*Rule]int{}
	var stack []tagEdge // the path: each rule with the tag that led to it
	reported := map[string]bool{}
	var visit func(r *Rule, via tagEdge)
	visit = func(r *Rule, via tagEdge) {
		state[r] = onStack
		stack = append(stack, tagEdge{r, via.tag})
		for _, e := range edges[r] {
			switch state[e.writer] {
			case unvisited:
				visit(e.writer, e)
			case onStack:
				c.reportTagCycle(stack, e, reported)
			}
			if s := e.writer.Stratum + 1; s > r.Stratum {
				r.Stratum = s
			}
		}
		stack = stack[:len(stack)-1]
		state[r] = done
	}
	for _, r := range rules {
		if state[r] == unvisited {
			visit(r, tagEdge{})
		}
	}
}

// journeyTagReads sets every journey's ReadsTags. Journeys are not
// strata: the tick runs them after every stratum of the rules, so a
// journey sees the tags the rules applied in the tick, and its steps see
// the tags its earlier steps applied; a rule sees a journey's tags at the
// next tick (docs/decisions.md, "Tags within a tick: journeys").
func (c *checker) journeyTagReads() {
	segReads := map[*ast.SegmentDecl][]string{}
	reads := func(e ast.Expr) bool {
		return len(c.tagReads(e, segReads, map[*ast.SegmentDecl]bool{})) > 0
	}
	for _, j := range c.info.Journeys {
		d := j.Decl
		if d == nil {
			continue
		}
		var conds []ast.Expr // the entries', the exits', the ifs' and the wait untils'
		for _, e := range d.Enters {
			if e != nil {
				conds = append(conds, e.Cond)
			}
		}
		for _, e := range d.Exits {
			if e != nil {
				conds = append(conds, e.Cond)
			}
		}
		forSteps(d.Steps, func(s ast.Step) {
			switch x := s.(type) {
			case *ast.IfStep:
				conds = append(conds, x.Cond)
			case *ast.WaitUntilStep:
				if x.Cond != nil {
					conds = append(conds, x.Cond)
				}
			}
		})
		j.ReadsTags = slices.ContainsFunc(conds, reads)
	}
}

// reportTagCycle reports the cycle that closes when the last rule of stack
// reads e.tag, written by e.writer, which is on the stack: at the rule of
// the cycle that comes first in the source, naming every rule and tag of it.
func (c *checker) reportTagCycle(stack []tagEdge, e tagEdge, reported map[string]bool) {
	start := len(stack) - 1
	for stack[start].writer != e.writer {
		start--
	}
	// The cycle as reader -> tag -> writer steps: stack[i] reads the tag
	// that led to stack[i+1], and the last one reads e.tag of stack[start].
	type step struct {
		reader, writer *Rule
		tag            string
	}
	var steps []step
	for i := start; i < len(stack); i++ {
		next, tag := e.writer, e.tag
		if i+1 < len(stack) {
			next, tag = stack[i+1].writer, stack[i+1].tag
		}
		steps = append(steps, step{stack[i].writer, next, tag})
	}
	// Start at the rule declared first, so that the message does not depend
	// on where the search entered the cycle.
	first := 0
	for i, s := range steps {
		if s.reader.Decl.Pos().Start.Offset < steps[first].reader.Decl.Pos().Start.Offset &&
			s.reader.Decl.Pos().File == steps[first].reader.Decl.Pos().File {
			first = i
		}
	}
	steps = append(steps[first:], steps[:first]...)
	var names []string
	for _, s := range steps {
		names = append(names, name(s.reader.Decl.Name))
	}
	key := strings.Join(sortedCopy(names), "\x00")
	if reported[key] {
		return
	}
	reported[key] = true
	var parts []string
	for _, s := range steps {
		parts = append(parts, fmt.Sprintf("%s reads %q, which %s writes", name(s.reader.Decl.Name), s.tag, name(s.writer.Decl.Name)))
	}
	r := steps[0].reader
	at := ast.Node(r.Decl)
	if r.Decl.Name != nil {
		at = r.Decl.Name
	}
	c.errorf(at, CodeTagCycle, "rules %s read each other's tags in a cycle (%s): a rule that reads a tag is evaluated after the rules that write it, so no order exists; use different tags",
		strings.Join(names, " -> ")+" -> "+names[0], strings.Join(parts, "; "))
}

// sortedCopy returns the strings sorted, leaving s as it is.
func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// tagReads returns the tags a condition tests with `tagged`, through the
// segments it names too (segReads memoises segments, inlining guards
// against segment cycles, which checkSegments reports).
func (c *checker) tagReads(cond ast.Expr, segReads map[*ast.SegmentDecl][]string, inlining map[*ast.SegmentDecl]bool) []string {
	if cond == nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	add := func(tag string) {
		if !seen[tag] {
			seen[tag] = true
			out = append(out, tag)
		}
	}
	// Names that are never conditions: event types, fields, functions.
	notCond := map[*ast.Ident]bool{}
	ast.Inspect(cond, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.EventRef:
			notCond[x.Event] = true
		case *ast.PrepFilter:
			notCond[x.Field] = true
		case *ast.MemberField:
			notCond[x.Field] = true
		case *ast.CallExpr:
			notCond[x.Func] = true
		case *ast.AggExpr:
			notCond[x.Field] = true
		case *ast.FollowedAtom:
			notCond[x.Matching] = true
		}
		return true
	})
	ast.Inspect(cond, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.TaggedExpr:
			if x.Tag != nil {
				add(x.Tag.Value)
			}
		case *ast.Ident:
			if x == nil || notCond[x] {
				return false
			}
			seg := c.segmentOf(x)
			if seg == nil || inlining[seg] {
				return true
			}
			reads, ok := segReads[seg]
			if !ok {
				inlining[seg] = true
				reads = c.tagReads(seg.Cond, segReads, inlining)
				delete(inlining, seg)
				segReads[seg] = reads
			}
			for _, t := range reads {
				add(t)
			}
		}
		return true
	})
	return out
}

// segmentOf returns the segment an identifier used as a condition names,
// nil when it names none. A name no reference resolved may still be a
// segment (inside a filter the compiler reads it as one when no field has
// the name), so the segments' names are the fallback, as in the compiler.
func (c *checker) segmentOf(id *ast.Ident) *ast.SegmentDecl {
	if ref := c.info.Refs[id]; ref != nil {
		if ref.Kind == RefSegment {
			return ref.Segment
		}
		return nil
	}
	return c.info.Segments[id.Name]
}
