package parser

import (
	"nudge/lang/ast"
)

// This file is the fast path for `test` blocks: the hand-written twin of
// the grammar in testgrammar.go, building the same trees.

// isText reports whether t is the identifier s (the unreserved words of test
// blocks: now, tick, expect, with, ...).
func isText(t token, s string) bool { return t.typ == tIdent && t.text == s }

func (p *fastParser) expectText(s string) token {
	if !isText(p.peek(), s) {
		p.fail()
	}
	return p.next()
}

func (p *fastParser) test() *ast.TestDecl {
	start := p.next() // "test"
	d := &ast.TestDecl{Name: p.str(), Steps: []ast.TestStep{}}
	for {
		s := p.step()
		if s == nil {
			break
		}
		d.Steps = append(d.Steps, s)
	}
	d.Span = p.spanFrom(start)
	return d
}

// step parses one test step, or returns nil when the next token starts none.
func (p *fastParser) step() ast.TestStep {
	start := p.peek()
	switch {
	case isText(start, "now"):
		p.next()
		t := p.peek()
		if t.typ != tTimestamp && t.typ != tDate {
			p.fail()
		}
		p.next()
		return &ast.NowStep{Span: p.spanFrom(start), At: p.dateOf(t)}
	case p.is("member"):
		p.next()
		s := &ast.MemberStep{ID: p.str()}
		s.Fields = p.with()
		s.Span = p.spanFrom(start)
		return s
	case start.typ == tString:
		s := &ast.EventStep{Member: p.str(), Event: p.ident()}
		switch {
		case p.is("at"):
			p.next()
			t := p.peek()
			if t.typ != tTimestamp && t.typ != tDate {
				p.fail()
			}
			p.next()
			s.At = p.dateOf(t)
		case p.startsNumber(p.i):
			s.Ago = p.duration()
			p.expectText("ago")
		}
		s.Fields = p.with()
		s.Span = p.spanFrom(start)
		return s
	case isText(start, "tick"):
		p.next()
		s := &ast.TickStep{}
		switch {
		case p.is("at"):
			p.next()
			t := p.peek()
			if t.typ != tTimestamp && t.typ != tDate {
				p.fail()
			}
			p.next()
			s.At = p.dateOf(t)
		case p.startsNumber(p.i):
			s.Later = p.duration()
			p.expectText("later")
		}
		s.Span = p.spanFrom(start)
		return s
	case isText(start, "expect"):
		p.next()
		return p.expectation(start)
	}
	return nil
}

func (p *fastParser) expectation(start token) *ast.ExpectStep {
	s := &ast.ExpectStep{}
	if p.peek().typ == tString {
		s.Member = p.str()
		s.Kind = ast.ExpectTagged
		if p.is("not") {
			p.next()
			s.Kind = ast.ExpectNotTagged
		}
		p.expect("tagged")
		s.Tag = p.str()
		s.Span = p.spanFrom(start)
		return s
	}
	rule := p.ident()
	switch {
	case isText(p.peek(), "fires"):
		p.next()
		if p.is("for") {
			p.next()
			s.Member = p.str()
		}
		if isText(p.peek(), "with") {
			p.next()
			p.expectText("status")
			s.Status = p.ident()
		}
		s.Kind, s.Rule = ast.ExpectFires, rule
		if rule.Name == "nothing" && s.Member == nil && s.Status == nil {
			s.Kind, s.Rule = ast.ExpectNothing, nil
		}
	case isText(p.peek(), "does"):
		p.next()
		p.expect("not")
		p.expectText("fire")
		if p.is("for") {
			p.next()
			s.Member = p.str()
		}
		s.Kind, s.Rule = ast.ExpectNoFire, rule
	default:
		p.fail()
	}
	s.Span = p.spanFrom(start)
	return s
}

// with parses an optional `with FIELD VALUE {, FIELD VALUE}`.
func (p *fastParser) with() []*ast.FieldValue {
	out := []*ast.FieldValue{}
	if !isText(p.peek(), "with") {
		return out
	}
	p.next()
	for {
		name := p.ident()
		v := p.literal()
		out = append(out, &ast.FieldValue{Span: ast.Span{Span: join(name.Span.Span, v.Pos())}, Name: name, Value: v})
		if !p.is(",") {
			return out
		}
		p.next()
	}
}
