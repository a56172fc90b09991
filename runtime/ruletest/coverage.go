package ruletest

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"nudge/compiler"
	"nudge/lang/ast"
	"nudge/lang/check"
	nrt "nudge/runtime"
	"nudge/runtime/why"
)

// Coverage records which rules an expectation named and which branches of
// each rule's condition (each `or` alternative, each atom, including the
// filters of trigger events) were true for some member at some tick. It is
// measured with the compiler's explanation queries (compiler.Why), run
// before each tick against the test's database.
type Coverage struct {
	mu       sync.Mutex // guards seen and tested (tests may run in parallel)
	prog     *compiler.Program
	exps     []*compiler.Explanation
	branches map[string][]branch // by rule
	seen     map[string]bool     // rule \x00 verdict column
	tested   map[string]bool
}

type branch struct {
	node *compiler.Node
	kind string // "or alternative" or "atom"
}

func newCoverage(info *check.Info, prog *compiler.Program) (*Coverage, error) {
	exps, diags := compiler.Why(info)
	if diags.HasErrors() {
		return nil, fmt.Errorf("coverage: %v", diags)
	}
	c := &Coverage{prog: prog, exps: exps, branches: map[string][]branch{}, seen: map[string]bool{}, tested: map[string]bool{}}
	for _, e := range exps {
		var walk func(n *compiler.Node, inOr bool)
		walk = func(n *compiler.Node, inOr bool) {
			switch {
			case inOr:
				c.branches[e.Rule] = append(c.branches[e.Rule], branch{n, "or alternative"})
			case n.Kind == compiler.NodeAtom:
				c.branches[e.Rule] = append(c.branches[e.Rule], branch{n, "atom"})
			}
			for _, ch := range n.Children {
				walk(ch, n.Kind == compiler.NodeOr)
			}
		}
		walk(e.Root, false)
	}
	return c, nil
}

// noteTest records the rules the expectations of t name.
func (c *Coverage) noteTest(t *ast.TestDecl) {
	for _, s := range t.Steps {
		if e, ok := s.(*ast.ExpectStep); ok && e.Rule != nil {
			c.mu.Lock()
			c.tested[e.Rule.Name] = true
			c.mu.Unlock()
		}
	}
}

// observe evaluates the explanation query of every rule with a branch not
// yet seen true at now and marks the branches that hold for some member.
func (c *Coverage) observe(ctx context.Context, db *nrt.DB, brand string, now time.Time, lookback time.Duration) error {
	for _, e := range c.exps {
		if c.covered(e.Rule) {
			continue
		}
		rows, err := why.Rows(ctx, db, e, brand, now, lookback)
		if err != nil {
			return fmt.Errorf("rule %s: %w", e.Rule, err)
		}
		c.mu.Lock()
		for _, rs := range rows {
			for _, r := range rs {
				for _, b := range c.branches[e.Rule] {
					if r.Bool[b.node.Verdict] {
						c.seen[e.Rule+"\x00"+b.node.Verdict] = true
					}
				}
			}
		}
		c.mu.Unlock()
	}
	return nil
}

// covered reports whether every branch of the rule has been seen true.
func (c *Coverage) covered(rule string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.branches[rule] {
		if !c.seen[rule+"\x00"+b.node.Verdict] {
			return false
		}
	}
	return true
}

// CoverageReport lists what the tests did not cover.
type CoverageReport struct {
	Rules     int            `json:"rules"`
	Untested  []UntestedRule `json:"untested_rules"`
	NeverTrue []Branch       `json:"never_true"`
}

// UntestedRule is a rule no expectation names.
type UntestedRule struct {
	Rule string `json:"rule"`
	File string `json:"file"`
	Line int    `json:"line"`
}

// Branch is a branch of a rule's condition that was never true.
type Branch struct {
	Rule  string `json:"rule"`
	Kind  string `json:"kind"` // "or alternative" or "atom"
	Label string `json:"label"`
	File  string `json:"file"`
	Line  int    `json:"line"`
	Col   int    `json:"col"`
}

// Report summarises the coverage.
func (c *Coverage) Report() *CoverageReport {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := &CoverageReport{Rules: len(c.prog.Rules), Untested: []UntestedRule{}, NeverTrue: []Branch{}}
	for _, rule := range c.prog.Rules {
		if !c.tested[rule.Name] {
			r.Untested = append(r.Untested, UntestedRule{rule.Name, rule.File, rule.Line})
		}
		done := map[string]bool{}
		for _, b := range c.branches[rule.Name] {
			col := b.node.Verdict
			if c.seen[rule.Name+"\x00"+col] || done[col] {
				continue
			}
			done[col] = true
			s := b.node.Span
			r.NeverTrue = append(r.NeverTrue, Branch{rule.Name, b.kind, b.node.Label, s.File, s.Start.Line, s.Start.Col})
		}
	}
	return r
}

// WriteText prints the report.
func (r *CoverageReport) WriteText(w io.Writer) {
	fmt.Fprintf(w, "coverage: %d rule(s), %d without a test, %d branch(es) never true\n", r.Rules, len(r.Untested), len(r.NeverTrue))
	for _, u := range r.Untested {
		fmt.Fprintf(w, "  %s:%d: rule %s has no test\n", u.File, u.Line, u.Rule)
	}
	for _, b := range r.NeverTrue {
		fmt.Fprintf(w, "  %s:%d:%d: rule %s: %s %q was never true\n", b.File, b.Line, b.Col, b.Rule, b.Kind, b.Label)
	}
}
