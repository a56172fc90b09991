package compiler

import (
	"strconv"
	"strings"
	"time"

	"nudge/lang/ast"
	"nudge/lang/check"
	"nudge/lang/diag"
)

// This file compiles explanation queries for `nudge why`, `nudge test
// --coverage` and the REPL's :why. An explanation query is the rule's own
// query (same candidate events, same aggregates, same SQL for every atom)
// without the final WHERE, with one extra column per node of the condition
// tree: its verdict and the values it compared. It never evaluates in Go.

// ParamMember is the explanation queries' extra parameter (VARCHAR): the one
// member to explain, or NULL for every member of the brand.
const ParamMember = "member"

// memberSQL is the member parameter as SQL.
const memberSQL = "$" + ParamMember + "::VARCHAR"

// Explanation is the explanation query of one rule.
//
// The query takes the rule query's parameters (its watermarks named alike)
// plus ParamMember and returns,
// for a state rule one row per member, for a trigger rule one row per
// candidate event (due and not considered by an earlier run, exactly the
// events the rule query would consider), with the columns
//
//	member_id, trigger_seq, due_at   -- as in Rule
//	v0, v1, ...                      -- Values, as in Rule (as VARCHAR)
//	fires                            -- BOOLEAN: the rule's whole condition (its WHERE)
//	n0, n1, ...                      -- the Verdict and value columns of the nodes of Root
//
// Value columns are cast to VARCHAR; verdicts are BOOLEAN and never NULL.
type Explanation struct {
	Rule    string
	Trigger bool
	SQL     string
	// Watermarks names the query's watermark parameters, as its rule's.
	Watermarks Watermarks
	Values     []Value
	Root       *Node
}

// NodeKind is the kind of a Node.
type NodeKind int

// Node kinds.
const (
	NodeAnd     NodeKind = iota // every child must hold
	NodeOr                      // some child must hold (each child is one alternative)
	NodeNot                     // the child must not hold
	NodeSegment                 // a segment reference; the child is its condition
	NodeAtom                    // a comparison, event test, tag test or function
)

// Node is one node of a rule's condition tree.
type Node struct {
	Kind  NodeKind
	Label string    // source text, e.g. `days since last purchased > 90`
	Span  diag.Span // where it is written (in a segment's file for a segment's parts)
	// Verdict is the column holding whether the node holds (BOOLEAN).
	Verdict string
	// For comparisons: Op is the operator as written ("=", ">", "between",
	// "in", "not in", "is null", "is not null"), Left the column of the left
	// operand's value ("" when it is a literal) and LeftLabel its text;
	// Right the columns of the right operands ("" for literals) with
	// RightLabels their texts.
	Op          string
	Left        string
	LeftLabel   string
	LeftText    bool // the left operand is text (print its value quoted)
	Right       []string
	RightLabels []string
	// Count is, for an event test with a window or quantifier, the column
	// counting the matching events ("" otherwise).
	Count string
	// Trigger marks a trigger atom: it holds for a row when the row's
	// candidate event is one it fires for. Its children are its filters.
	// In a rule with several trigger atoms, TypeVerdict is the column
	// saying whether the candidate is of this atom's event type (and due
	// for it), and Event names that type.
	Trigger     bool
	TypeVerdict string
	Event       string
	// Within is, for a not-followed-by atom, how long after its event the
	// atom becomes due (months count 30 days, years 365).
	Within   time.Duration
	Children []*Node
}

// Why compiles the explanation query of every rule of info. Rules that do
// not compile are left out and reported, as by Compile.
func Why(info *check.Info) ([]*Explanation, diag.List) {
	var diags diag.List
	var out []*Explanation
	for i, r := range info.Rules {
		if e := whyRule(info, r, watermarksOf(i), &diags); e != nil {
			out = append(out, e)
		}
	}
	return out, diags
}

// whyBuilder collects the node columns of one explanation query.
type whyBuilder struct {
	rc    *ruleCompiler
	cols  []string
	inSeg map[*ast.SegmentDecl]bool
}

func (b *whyBuilder) col(sql string, asText bool) string {
	name := "n" + strconv.Itoa(len(b.cols))
	if asText {
		sql = "CAST(" + sql + " AS VARCHAR)"
	}
	b.cols = append(b.cols, sql+" AS "+name)
	return name
}

func whyRule(info *check.Info, r *check.Rule, wm Watermarks, diags *diag.List) *Explanation {
	d := r.Decl
	before := len(*diags)
	rc := newRuleCompiler(info, diags)
	rc.wm = wm
	e := &Explanation{Rule: d.Name.Name, Trigger: r.Trigger, Watermarks: wm}
	memberIs := func(col string) string { return "(" + memberSQL + " IS NULL OR " + col + " = " + memberSQL + ")" }
	var (
		ctes  []cte
		s     *scope
		q     = &selectStmt{}
		alias string
	)
	if r.Trigger {
		atoms := rc.triggerAtoms(r)
		if len(atoms) == 0 {
			return nil
		}
		rc.restrictStats = true
		ctes = append(ctes, rc.candidateCTEs(atoms, memberIs("e.member_id"))...)
		s = &scope{member: "m", memberID: "c.member_id", cand: "c", top: true}
		q.from = "cand c"
		q.joins = []string{"JOIN members m ON m.member_id = c.member_id AND m.brand = " + brandSQL}
		q.cols = []string{"c.member_id", "c.seq AS trigger_seq", "c.due_at"}
		q.orderBy = []string{"c.member_id", "c.due_at", "c.seq"}
		alias = "c"
	} else {
		rc.restrictStats = true
		ctes = append(ctes, cte{name: "cand", comment: "the members explained",
			body: "SELECT member_id FROM members WHERE brand = " + brandSQL + " AND " + memberIs("member_id")})
		s = &scope{member: "m", memberID: "m.member_id", top: true}
		q.from = "members m"
		q.where = []string{"m.brand = " + brandSQL, memberIs("m.member_id")}
		q.cols = []string{"m.member_id", "NULL::BIGINT AS trigger_seq", "NULL::TIMESTAMP AS due_at"}
		q.orderBy = []string{"m.member_id"}
		alias = "m"
	}
	b := &whyBuilder{rc: rc, inSeg: map[*ast.SegmentDecl]bool{}}
	e.Root = b.node(d.Cond, s)
	fires := boolAnd(rc.conjuncts(d.Cond, s)...)
	vals := rc.values(d.Cond, s)
	e.Values = vals.values
	for i, c := range vals.cols {
		col := vals.values[i].Column
		q.cols = append(q.cols, "CAST("+strings.TrimSuffix(c, " AS "+col)+" AS VARCHAR) AS "+col)
	}
	q.cols = append(q.cols, fires+" AS fires")
	q.cols = append(q.cols, b.cols...)
	q.with = append(ctes, rc.statsCTEs()...)
	q.joins = append(q.joins, rc.statsJoins(alias)...)
	for _, dg := range (*diags)[before:] {
		if dg.Severity == diag.Error {
			return nil
		}
	}
	e.SQL = q.String()
	return e
}

// node builds the explanation node of e in scope s.
func (b *whyBuilder) node(e ast.Expr, s *scope) *Node {
	rc := b.rc
	switch x := e.(type) {
	case *ast.ParenExpr:
		return b.node(x.X, s)
	case *ast.BinaryExpr:
		if x.Op == ast.And || x.Op == ast.Or {
			n := &Node{Kind: NodeAnd, Label: label(x), Span: x.Span.Span}
			if x.Op == ast.Or {
				n.Kind = NodeOr
			}
			for _, o := range ast.Chain(x, x.Op) {
				n.Children = append(n.Children, b.node(o, s))
			}
			n.Verdict = b.col(rc.cond(x, s), false)
			return n
		}
	case *ast.NotExpr:
		n := &Node{Kind: NodeNot, Label: label(x), Span: x.Span.Span}
		n.Children = []*Node{b.node(x.X, s)}
		n.Verdict = b.col(rc.cond(x, s), false)
		return n
	case *ast.Ident:
		if !rc.isBareEvent(x) {
			if seg := rc.segment(x, s); seg != nil {
				return b.segment(x, seg, s)
			}
		}
	case *ast.EventAtom:
		if seg := rc.atomSegment(x); seg != nil {
			return b.segment(x, seg, s)
		}
	}
	return b.atom(e, s)
}

func (b *whyBuilder) segment(at ast.Expr, seg *ast.SegmentDecl, s *scope) *Node {
	n := &Node{Kind: NodeSegment, Label: seg.Name.Name, Span: at.Pos()}
	if seg.Title != nil {
		n.Label += " (" + seg.Title.Value + ")"
	}
	if !b.inSeg[seg] {
		b.inSeg[seg] = true
		n.Children = []*Node{b.node(seg.Cond, s)}
		delete(b.inSeg, seg)
	}
	n.Verdict = b.col(b.rc.cond(at, s), false)
	return n
}

// operand returns the column of a value operand, or "" for a literal.
func (b *whyBuilder) operand(x ast.Expr, s *scope) string {
	switch x.(type) {
	case *ast.NumberLit, *ast.StringLit, *ast.BoolLit, *ast.DateLit, *ast.DurationLit:
		return ""
	}
	return b.col(b.rc.value(x, s), true)
}

func (b *whyBuilder) atom(e ast.Expr, s *scope) *Node {
	rc := b.rc
	n := &Node{Kind: NodeAtom, Label: label(e), Span: e.Pos()}
	switch x := e.(type) {
	case *ast.BinaryExpr:
		switch x.Op {
		case ast.Eq, ast.Ne, ast.Lt, ast.Le, ast.Gt, ast.Ge:
			n.Op = x.Op.String()
			n.Left, n.LeftLabel = b.operand(x.X, s), label(x.X)
			n.LeftText = rc.info.Types[x.X] == check.Text
			n.Right, n.RightLabels = []string{b.operand(x.Y, s)}, []string{label(x.Y)}
		}
	case *ast.BetweenExpr:
		n.Op = "between"
		n.Left, n.LeftLabel = b.operand(x.X, s), label(x.X)
		n.Right = []string{b.operand(x.Lo, s), b.operand(x.Hi, s)}
		n.RightLabels = []string{label(x.Lo), label(x.Hi)}
	case *ast.InExpr:
		n.Op = "in"
		if x.Not {
			n.Op = "not in"
		}
		n.Left, n.LeftLabel = b.operand(x.X, s), label(x.X)
		n.LeftText = rc.info.Types[x.X] == check.Text
		for _, it := range x.List {
			n.Right = append(n.Right, "")
			n.RightLabels = append(n.RightLabels, label(it))
		}
	case *ast.IsNullExpr:
		n.Op = "is null"
		if x.Not {
			n.Op = "is not null"
		}
		n.Left, n.LeftLabel = b.operand(x.X, s), label(x.X)
	case *ast.EventAtom:
		if x.IsTrigger() {
			b.trigger(n, x.Ref, s)
		} else if x.Window == nil || x.Window.Kind != ast.Before || s.cand != "" {
			n.Count = b.col(rc.aggregate(aggCount, x.Ref, nil, x.Window, s), true)
		}
	case *ast.FollowedAtom:
		b.trigger(n, x.First, s)
		n.Within = rc.durationOf(x.Within)
		if s.cand != "" {
			if _, ok := rc.atomIndex[x]; ok {
				lbl := "not followed by " + label(x.Second)
				if x.Matching != nil {
					lbl += " matching " + x.Matching.Name
				}
				lbl += " within " + label(x.Within)
				c := &Node{Kind: NodeAtom, Label: lbl, Span: x.Second.Span.Span}
				c.Verdict = b.col(rc.notFollowed(x, rc.eventType(x.First), s), false)
				n.Children = append(n.Children, c)
			}
		}
	case *ast.Ident:
		if rc.isBareEvent(x) {
			b.trigger(n, triggerRef(x), s)
		}
	}
	n.Verdict = b.col(rc.cond(e, s), false)
	return n
}

// trigger fills in a trigger atom's filters, evaluated on the candidate.
func (b *whyBuilder) trigger(n *Node, ref *ast.EventRef, s *scope) {
	n.Trigger = true
	if s.cand == "" {
		return
	}
	rc := b.rc
	et := rc.eventType(ref)
	n.Event = eventName(et, ref)
	if rc.nAtoms > 1 {
		n.TypeVerdict = b.col(s.cand+".type = "+rc.quoteText(n.Event), false)
	}
	inner := &scope{ev: s.cand, evType: et, member: s.member, memberID: s.memberID, cand: s.cand, top: true}
	for _, p := range filterParts(ref.Filters) {
		switch p := p.(type) {
		case *ast.PrepFilter:
			c := &Node{Kind: NodeAtom, Label: p.Field.Name + " = " + label(p.Value), Span: p.Span.Span, Op: "="}
			c.Left, c.LeftLabel = b.col(rc.value(p.Field, inner), true), ref.Event.Name+"."+p.Field.Name
			if f := et.Fields[p.Field.Name]; f != nil {
				c.LeftText = f.Type == check.Text
			}
			c.Right, c.RightLabels = []string{""}, []string{label(p.Value)}
			c.Verdict = b.col(rc.filterPart(p, inner), false)
			n.Children = append(n.Children, c)
		case ast.Expr:
			n.Children = append(n.Children, b.node(p, inner))
		}
	}
}
