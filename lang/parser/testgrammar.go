package parser

import (
	"github.com/alecthomas/participle/v2/lexer"

	"nudge/lang/ast"
)

// This file holds the participle grammar of `test` blocks (for `nudge test`,
// in *_test.nudge files) and its conversion to lang/ast; fasttest.go is its
// hand-written twin. The words now, tick, expect, with, ago, later, fires,
// does, fire, status and nothing are not reserved: they are matched by text
// where the grammar expects them, so rules and fields may still use them as
// names.
//
//	test    = "test" STRING {step} ;
//	step    = "now" (TIMESTAMP|DATE)
//	        | "member" STRING [with]
//	        | STRING IDENT ["at" (TIMESTAMP|DATE) | duration "ago"] [with]
//	        | "tick" ["at" (TIMESTAMP|DATE) | duration "later"]
//	        | "expect" expect ;
//	with    = "with" IDENT literal {"," IDENT literal} ;
//	expect  = STRING ["not"] "tagged" STRING
//	        | IDENT ( "fires" ["for" STRING] ["with" "status" IDENT]
//	                | "does" "not" "fire" ["for" STRING] ) ;
//
// `expect nothing fires` (the rule name "nothing", no member, no status)
// means that the tick fired no rule at all.

type pTest struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Name   lexer.Token `parser:"\"test\" @String"`
	Steps  []*pStep    `parser:"@@*"`
}

type pStep struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Now    *lexer.Token `parser:"  \"now\" @( Timestamp | Date )"`
	Member *pMemberStep `parser:"| @@"`
	Event  *pEventStep  `parser:"| @@"`
	Tick   *pTickStep   `parser:"| @@"`
	Expect *pExpectStep `parser:"| @@"`
}

type pMemberStep struct {
	Pos    lexer.Position
	EndPos lexer.Position
	ID     lexer.Token    `parser:"\"member\" @String"`
	Fields []*pFieldValue `parser:"( \"with\" @@ ( \",\" @@ )* )?"`
}

type pEventStep struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Member lexer.Token    `parser:"@String"`
	Event  lexer.Token    `parser:"@Ident"`
	At     *lexer.Token   `parser:"(  \"at\" @( Timestamp | Date )"`
	Ago    *pDuration     `parser:" | @@ \"ago\" )?"`
	Fields []*pFieldValue `parser:"( \"with\" @@ ( \",\" @@ )* )?"`
}

type pFieldValue struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Name   lexer.Token `parser:"@Ident"`
	Value  *pLiteral   `parser:"@@"`
}

type pTickStep struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Tick   bool         `parser:"@\"tick\""`
	At     *lexer.Token `parser:"(  \"at\" @( Timestamp | Date )"`
	Later  *pDuration   `parser:" | @@ \"later\" )?"`
}

type pExpectStep struct {
	Pos       lexer.Position
	EndPos    lexer.Position
	Member    *lexer.Token `parser:"\"expect\" (  @String"`
	Not       bool         `parser:"             @\"not\"?"`
	Tag       *lexer.Token `parser:"             \"tagged\" @String"`
	Rule      *lexer.Token `parser:"          | @Ident"`
	Fires     bool         `parser:"            (  @\"fires\""`
	For       *lexer.Token `parser:"               ( \"for\" @String )?"`
	Status    *lexer.Token `parser:"               ( \"with\" \"status\" @Ident )?"`
	NoFire    bool         `parser:"             | @\"does\" \"not\" \"fire\""`
	NoFireFor *lexer.Token `parser:"               ( \"for\" @String )? ) )"`
}

func (c *converter) test(t *pTest) *ast.TestDecl {
	out := &ast.TestDecl{Span: c.sp(t.Pos, t.EndPos), Name: c.str(t.Name), Steps: []ast.TestStep{}}
	for _, s := range t.Steps {
		out.Steps = append(out.Steps, c.step(s))
	}
	return out
}

func (c *converter) step(s *pStep) ast.TestStep {
	sp := c.sp(s.Pos, s.EndPos)
	switch {
	case s.Now != nil:
		return &ast.NowStep{Span: sp, At: c.date(*s.Now)}
	case s.Member != nil:
		return &ast.MemberStep{Span: sp, ID: c.str(s.Member.ID), Fields: c.fieldValues(s.Member.Fields)}
	case s.Event != nil:
		e := s.Event
		out := &ast.EventStep{Span: sp, Member: c.str(e.Member), Event: c.ident(e.Event), Fields: c.fieldValues(e.Fields)}
		if e.At != nil {
			out.At = c.date(*e.At)
		}
		if e.Ago != nil {
			out.Ago = c.duration(e.Ago)
		}
		return out
	case s.Tick != nil:
		out := &ast.TickStep{Span: sp}
		if s.Tick.At != nil {
			out.At = c.date(*s.Tick.At)
		}
		if s.Tick.Later != nil {
			out.Later = c.duration(s.Tick.Later)
		}
		return out
	default:
		e := s.Expect
		out := &ast.ExpectStep{Span: sp}
		switch {
		case e.Tag != nil:
			out.Kind, out.Member, out.Tag = ast.ExpectTagged, c.str(*e.Member), c.str(*e.Tag)
			if e.Not {
				out.Kind = ast.ExpectNotTagged
			}
		case e.NoFire:
			out.Kind, out.Rule = ast.ExpectNoFire, c.ident(*e.Rule)
			if e.NoFireFor != nil {
				out.Member = c.str(*e.NoFireFor)
			}
		case e.Rule.Value == "nothing" && e.For == nil && e.Status == nil:
			out.Kind = ast.ExpectNothing
		default:
			out.Kind, out.Rule = ast.ExpectFires, c.ident(*e.Rule)
			if e.For != nil {
				out.Member = c.str(*e.For)
			}
			if e.Status != nil {
				out.Status = c.ident(*e.Status)
			}
		}
		return out
	}
}

func (c *converter) fieldValues(fs []*pFieldValue) []*ast.FieldValue {
	out := []*ast.FieldValue{}
	for _, f := range fs {
		out = append(out, &ast.FieldValue{Span: c.sp(f.Pos, f.EndPos), Name: c.ident(f.Name), Value: c.literal(f.Value)})
	}
	return out
}
