package parser

import (
	"github.com/alecthomas/participle/v2/lexer"

	"nudge/lang/ast"
)

// journey converts a journey's parse tree (journeygrammar.go).
func (c *converter) journey(p *pJourney) *ast.JourneyDecl {
	out := &ast.JourneyDecl{Span: c.sp(p.Pos, p.EndPos), Name: c.ident(p.Name)}
	if p.Title != nil {
		out.Title = c.str(*p.Title)
	}
	for _, h := range p.Headers {
		s := c.sp(h.Pos, h.EndPos)
		switch {
		case h.Enter != nil:
			out.Enters = append(out.Enters, &ast.EnterClause{Span: s, On: h.Enter.Value == "on", Cond: c.or(h.Cond)})
		case h.Exit != nil:
			out.Exits = append(out.Exits, &ast.ExitClause{Span: s, Cond: c.or(h.Exit)})
		case h.Option != nil:
			if o := c.option(h.Option); o != nil {
				out.Options = append(out.Options, o)
			}
		}
	}
	out.Steps = c.jsteps(p.Steps)
	return out
}

func (c *converter) jsteps(ps []*pJStep) []ast.Step {
	var out []ast.Step
	for _, p := range ps {
		if s := c.jstep(p); s != nil {
			out = append(out, s)
		}
	}
	return out
}

func (c *converter) jstep(p *pJStep) ast.Step {
	s := c.sp(p.Pos, p.EndPos)
	switch {
	case len(p.Actions) > 0:
		out := &ast.ActionStep{Span: s}
		for _, a := range p.Actions {
			out.Actions = append(out.Actions, c.action(a))
		}
		return out
	case p.Wait != nil && p.Wait.Dur != nil:
		return &ast.WaitStep{Span: s, Dur: c.duration(p.Wait.Dur)}
	case p.Wait != nil && p.Wait.Until != nil:
		u := p.Wait.Until
		out := &ast.WaitUntilStep{Span: s}
		if u.At != nil {
			out.At = c.date(*u.At)
			return out
		}
		out.Cond = c.or(u.Cond)
		if u.AtMost != nil {
			out.AtMost = c.duration(u.AtMost)
		}
		return out
	case p.If != nil:
		out := &ast.IfStep{Span: s, Cond: c.or(p.If.Cond), Then: c.jsteps(p.If.Then)}
		if e := p.If.Else; e != nil {
			out.Else = c.jsteps(e.Steps)
			out.ElseAt = &ast.Span{Span: c.tokSpan(lexer.Token{Value: "else", Pos: e.Pos})}
		}
		return out
	case p.Split != nil:
		out := &ast.SplitStep{Span: s}
		for _, b := range p.Split.Branches {
			out.Branches = append(out.Branches, &ast.Branch{Span: c.sp(b.Pos, b.EndPos), Percent: c.number(b.Percent), Name: c.ident(b.Name), Steps: c.jsteps(b.Steps)})
		}
		return out
	}
	return nil
}
