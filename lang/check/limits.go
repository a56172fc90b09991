package check

import (
	"strconv"
	"strings"

	"nudge/lang/ast"
)

// The limits of what a rule file may say, so that every program the checker
// accepts compiles and runs: texts that DuckDB can hold, numbers that keep
// their digits, durations that fit a time.Duration and a SQL INTERVAL, and
// conditions shallow enough for DuckDB's expression depth (1000 by
// default, which the compiled SQL reaches at well over 500 levels of a
// condition) and quick to prepare.
const (
	// MaxDepth is how deep a condition may nest, counting every operator
	// (not, and, or, comparisons, arithmetic, between, in, is null), event
	// atom, filter and aggregate as one level, a chain of one and or or as
	// one level, parentheses as none, and a segment as the levels of its
	// condition (the compiler inlines it).
	MaxDepth = 100
	// MaxChain is how many conditions one chain of and or of or may join:
	// DuckDB refuses a chain of 1,000 event atoms ("Max expression depth
	// limit of 1000 exceeded").
	MaxChain = 500
	// MaxTriggerAtoms is how many trigger events (windowless events, `not
	// followed by`) a rule or a journey's entry may have: each is a
	// branch of one UNION of candidates, and DuckDB refuses 1,000 of them
	// (its expression depth), segments included.
	MaxTriggerAtoms = 500
	// MaxSize is how large a condition may be with its segments written
	// out in full, as the compiler inlines them, counting every event,
	// filter, comparison, operator, value and window as one part: a
	// segment used twice in each of a few segments used twice (`segment
	// s2 = s1 or s1`) doubles at every step, and 22 such steps compiled
	// to 386 MB of SQL while check passed in an instant.
	MaxSize = 20000
	// MaxJourneySteps is how many steps a journey may have, nested ones
	// included: a tick runs the steps due for an instance one round (a few
	// statements) each, so a catch-up through a journey of thousands of
	// steps ran for minutes (100 steps of send and wait: 3.4 s on three
	// members).
	MaxJourneySteps = 200
	// MaxDigits is how many digits a number may have before the decimal
	// point, and again after it (a float64 keeps 15 significant digits).
	MaxDigits = 15
	// MaxDurationYears is the longest duration, in years of 365 days.
	MaxDurationYears = 100
	// maxDurationMinutes is MaxDurationYears in minutes: far inside the
	// range of time.Duration (about 292 years) and of DuckDB's INTERVAL.
	maxDurationMinutes = MaxDurationYears * 365 * 24 * 60
)

// checkLimits is the pass that reports texts holding NUL, numbers with too
// many digits and conditions nested too deep, in the user's files.
// (Durations are checked with the rest of a duration, in duration.)
func (c *checker) checkLimits() {
	depth := &depths{newMeasure(c)}
	size := c.sizer()
	// measured reports a condition (of a rule, a segment or a journey)
	// too deep or too large.
	measured := func(cond ast.Expr) {
		depth.report(cond)
		size.report(cond)
	}
	var visit func(n ast.Node) bool
	visit = func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.BinaryExpr:
			if n.Op == ast.And || n.Op == ast.Or {
				// A chain is measured once, at its top: its operands are
				// visited, not the and/or nodes inside it.
				operands := ast.Chain(n, n.Op)
				if len(operands) > MaxChain {
					op := map[ast.BinaryOp]string{ast.And: "and", ast.Or: "or"}[n.Op]
					c.errorf(n, CodeTooDeep, "this chain joins %d conditions with %s; a chain may join at most %d: for a list of values use in (\"A\", \"B\", ...), or split the chain into segments", len(operands), op, MaxChain)
				}
				for _, o := range operands {
					ast.Inspect(o, visit)
				}
				return false
			}
		case *ast.StringLit:
			if strings.IndexByte(n.Value, 0) >= 0 {
				c.errorf(n, CodeNULCharacter, "a text cannot hold the NUL character (\\u0000)")
			}
		case *ast.NumberLit:
			if whole, frac := digits(n.Text); whole > MaxDigits || frac > MaxDigits {
				c.errorf(n, CodeNumberTooLarge, "number %s has too many digits: a number may have at most %d digits before the decimal point and %d after it", shorten(n.Text), MaxDigits, MaxDigits)
			}
		case *ast.SegmentDecl:
			measured(n.Cond)
		case *ast.RuleDecl:
			measured(n.Cond)
		case *ast.EnterClause:
			measured(n.Cond)
		case *ast.ExitClause:
			measured(n.Cond)
		case *ast.WaitUntilStep:
			measured(n.Cond)
		case *ast.IfStep:
			measured(n.Cond)
		case *ast.ConvertOption:
			if n.Event != nil {
				for _, f := range n.Event.Filters {
					if w, ok := f.(*ast.WhereFilter); ok {
						measured(w.Cond)
					}
				}
			}
		}
		return true
	}
	for _, f := range c.files {
		ast.Inspect(f, visit)
	}
}

// digits counts the digits of a number's text before and after its point.
func digits(text string) (whole, frac int) {
	text = strings.TrimLeft(text, "-+ ")
	w, f, _ := strings.Cut(text, ".")
	return len(strings.TrimLeft(w, "0")), len(f)
}

// shorten abbreviates a long literal for a message.
func shorten(s string) string {
	if len(s) <= 24 {
		return s
	}
	return s[:10] + "…" + s[len(s)-10:] + " (" + strconv.Itoa(len(s)) + " characters)"
}

// durationTooLong reports whether n units of unit exceed MaxDurationYears.
func durationTooLong(n float64, unit ast.Unit) bool {
	return n*float64(unitMinutes(int(unit))) > maxDurationMinutes
}

// depths computes how deep conditions nest (see MaxDepth), with segments
// inlined.
type depths struct {
	measure
}

// measure is what depths and sizes share: a value per node, memoised,
// with the segments being measured (a segment counts as its condition).
type measure struct {
	c       *checker
	memo    map[ast.Node]int
	segBusy map[*ast.SegmentDecl]bool // segments being measured (a cycle is reported elsewhere)
}

func newMeasure(c *checker) measure {
	return measure{c: c, memo: map[ast.Node]int{}, segBusy: map[*ast.SegmentDecl]bool{}}
}

// of returns the depth of n.
func (d *depths) of(n ast.Node) int {
	if n == nil {
		return 0
	}
	if v, ok := d.memo[n]; ok {
		return v
	}
	var v int
	switch x := n.(type) {
	case *ast.ParenExpr:
		v = d.of(x.X)
	case *ast.Ident:
		v = 1
		if seg := d.segment(x); seg != nil {
			v = d.of(seg.Cond)
			d.segBusy[seg] = false
		}
	default:
		m := 0
		for _, ch := range levelChildren(n) {
			m = max(m, d.of(ch))
		}
		v = 1 + m
	}
	d.memo[n] = v
	return v
}

// triggerAtomsLimit reports a rule (or a journey's entry) with more than
// MaxTriggerAtoms trigger events, at the first one past the limit.
func (c *checker) triggerAtomsLimit(atoms []ast.Expr) {
	if len(atoms) > MaxTriggerAtoms {
		c.errorf(atoms[MaxTriggerAtoms], CodeTooDeep, "this condition has %d trigger events (windowless events and `not followed by`, segments included); it may have at most %d: for a list of values use in (\"A\", \"B\", ...) in one event's filter, or split it into several rules", len(atoms), MaxTriggerAtoms)
	}
}

// levelChildren returns the nodes one level below n: its children, but of
// a chain of one logical operator (a or b or c, parentheses included) its
// operands, since the compiler writes a chain as one flat SQL AND or OR
// (a marketer's hundred stores joined by or are one level, not a hundred).
func levelChildren(n ast.Node) []ast.Node {
	b, ok := n.(*ast.BinaryExpr)
	if !ok || (b.Op != ast.And && b.Op != ast.Or) {
		return children(n)
	}
	var out []ast.Node
	for _, o := range ast.Chain(b, b.Op) {
		out = append(out, o)
	}
	return out
}

// segment returns the segment an identifier names, nil if none or if it is
// already being measured.
func (m *measure) segment(id *ast.Ident) *ast.SegmentDecl {
	ref := m.c.info.Refs[id]
	if ref == nil || ref.Kind != RefSegment || ref.Segment == nil || m.segBusy[ref.Segment] {
		return nil
	}
	m.segBusy[ref.Segment] = true
	return ref.Segment
}

// report adds an error at the first place where cond goes deeper than
// MaxDepth, following its deepest path; a segment that is too deep by itself
// is reported at its own declaration only.
func (d *depths) report(cond ast.Expr) {
	total := d.of(cond)
	if total <= MaxDepth {
		return
	}
	var n ast.Node = cond
	level := 0
	for {
		switch x := n.(type) {
		case *ast.ParenExpr:
			n = x.X
			continue
		case *ast.Ident:
			ref := d.c.info.Refs[x]
			if ref != nil && ref.Kind == RefSegment && ref.Segment != nil {
				if d.of(ref.Segment.Cond) > MaxDepth {
					return // reported at the segment
				}
				d.c.errorf(x, CodeTooDeep, "segment %s nests %d levels deep, which makes this condition %d levels deep; a condition may nest at most %d (every not, comparison, arithmetic operator, event and filter is a level, a chain of and or of or is one, and a segment counts as its whole condition): simplify it",
					x.Name, d.of(ref.Segment.Cond), total, MaxDepth)
				return
			}
		}
		level++
		if level > MaxDepth {
			d.c.errorf(n, CodeTooDeep, "this condition nests %d levels deep; a condition may nest at most %d (every not, comparison, arithmetic operator, event and filter is a level, a chain of and or of or is one, and a segment counts as its whole condition): simplify it",
				total, MaxDepth)
			return
		}
		var next ast.Node
		best := -1
		for _, ch := range levelChildren(n) {
			if v := d.of(ch); v > best {
				next, best = ch, v
			}
		}
		if next == nil {
			return
		}
		n = next
	}
}

// children returns the direct children of n.
func children(n ast.Node) []ast.Node {
	var out []ast.Node
	ast.Inspect(n, func(c ast.Node) bool {
		if c == n {
			return true
		}
		out = append(out, c)
		return false
	})
	return out
}

// sizes computes how large conditions are with segments inlined (see
// MaxSize), saturating just past MaxSize so that a doubling chain of
// segments cannot overflow.
type sizes struct {
	measure
}

// sizer returns the checker's sizes, made at the first use (after the
// names are resolved: a size reads the references).
func (c *checker) sizer() *sizes {
	if c.sizes == nil {
		c.sizes = &sizes{newMeasure(c)}
	}
	return c.sizes
}

// oversize reports whether n, with its segments inlined, is larger than
// MaxSize: too large to inline (the limits pass reports it).
func (c *checker) oversize(n ast.Node) bool { return c.sizer().of(n) > MaxSize }

// of returns the size of n, at most MaxSize+1.
func (z *sizes) of(n ast.Node) int {
	if n == nil {
		return 0
	}
	if v, ok := z.memo[n]; ok {
		return v
	}
	v := 1
	switch x := n.(type) {
	case *ast.ParenExpr:
		v = z.of(x.X)
	case *ast.Ident:
		if seg := z.segment(x); seg != nil {
			v = z.of(seg.Cond)
			z.segBusy[seg] = false
		}
	default:
		for _, ch := range children(n) {
			v = min(v+z.of(ch), MaxSize+1)
		}
	}
	z.memo[n] = v
	return v
}

// report adds an error at cond when it is larger than MaxSize, naming its
// largest segment; a condition that uses a segment too large by itself is
// not reported (the segment is, at its own declaration).
func (z *sizes) report(cond ast.Expr) {
	if cond == nil || z.of(cond) <= MaxSize {
		return
	}
	var largest *ast.Ident
	tooLarge := false
	ast.Inspect(cond, func(n ast.Node) bool {
		id, ok := n.(*ast.Ident)
		if !ok {
			return true
		}
		ref := z.c.info.Refs[id]
		if ref == nil || ref.Kind != RefSegment || ref.Segment == nil {
			return true
		}
		v := z.of(ref.Segment.Cond)
		if v > MaxSize {
			tooLarge = true
		}
		if largest == nil || v > z.of(z.c.info.Refs[largest].Segment.Cond) {
			largest = id
		}
		return true
	})
	if tooLarge {
		return
	}
	if largest == nil {
		z.c.errorf(cond, CodeTooLarge, "this condition has more than %d parts (events, filters, comparisons, values); simplify it or split it into several rules", MaxSize)
		return
	}
	z.c.errorf(cond, CodeTooLarge, "this condition has more than %d parts (events, filters, comparisons, values) once its segments are written out in full, as they are run (segment %s alone has %d, and each use of a segment counts it again); a condition may have at most %d: use each segment once, or split the condition into several rules",
		MaxSize, largest.Name, z.of(z.c.info.Refs[largest].Segment.Cond), MaxSize)
}
