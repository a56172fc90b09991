package parser

import (
	"fmt"

	"github.com/alecthomas/participle/v2/lexer"

	"nudge/lang/ast"
	"nudge/lang/diag"
)

// This file holds the participle grammar of `test` blocks (for `nudge test`,
// in *_test.nudge files; EBNF in the package doc) and its conversion to
// lang/ast. The words now, tick, expect, with, ago, later, fires, does,
// fire, status and nothing are not reserved: they are matched by text where
// the grammar expects them, so rules and fields may still use them as
// names. `expect nothing fires` (the rule name "nothing", no member, no
// status) means that the tick fired no rule at all.

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
	Via       *lexer.Token `parser:"               ( \"via\" @Ident )?"`
	Status    *lexer.Token `parser:"               ( \"with\" \"status\" @Ident )?"`
	Params    *pExpParams  `parser:"               @@?"`
	Journey   *pJExpect    `parser:"             | @@"`
	NoFire    bool         `parser:"             | @\"does\" \"not\""`
	NoVerb    string       `parser:"               @( \"fire\" | \"enter\" | \"send\" | \"exit\" | \"complete\" )"`
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
		case e.Journey != nil:
			c.journeyExpect(out, e)
		case e.NoFire:
			out.Kind, out.Rule = ast.ExpectNoFire, c.ident(*e.Rule)
			if e.NoVerb != "fire" {
				out.Kind, out.Journey = ast.ExpectNoJourney, &ast.JourneyExpect{Span: sp, Action: e.NoVerb}
			}
			if e.NoFireFor != nil {
				out.Member = c.str(*e.NoFireFor)
			}
		case e.Rule.Value == "nothing" && e.For == nil && e.Status == nil && e.Via == nil && e.Params == nil:
			out.Kind = ast.ExpectNothing
		default:
			out.Kind, out.Rule = ast.ExpectFires, c.ident(*e.Rule)
			if e.For != nil {
				out.Member = c.str(*e.For)
			}
			if e.Status != nil {
				out.Status = c.ident(*e.Status)
			}
			if e.Via != nil {
				out.Via = c.ident(*e.Via)
			}
			if e.Params != nil {
				out.Params = c.fieldValues(e.Params.Fields)
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

// stepForms says, per leading word of a test step, what the step looks like.
var stepForms = map[string]string{
	"now":    `now 2024-11-11 10:00`,
	"member": `member "ID" [with FIELD VALUE, ...]`,
	"event":  `"ID" EVENT [at 2024-11-11 09:00 | 2 hours ago] [with FIELD VALUE, ...]`,
	"tick":   `tick [at 2024-11-11 12:00 | 2 hours later]`,
	"expect": `expect RULE fires [for "ID"] [with status STATUS], expect RULE does not fire [for "ID"], expect nothing fires, expect "ID" [not] tagged "TAG", expect JOURNEY enters|sends [KIND "CONTENT"]|exits|completes [for "ID"] [via CHANNEL] [at step LINE] [in variant NAME] [with status STATUS], or expect JOURNEY does not enter|send|exit|complete [for "ID"]`,
}

// explainTest words a syntax error inside a test block: it names the
// offending token and shows the form of the step it is in.
func explainTest(file string, toks []token, i int) (diag.Span, string) {
	if i >= len(toks) {
		i = len(toks) - 1
	}
	t := toks[i]
	span := diag.Span{File: file, Start: t.start, End: t.end}
	if t.typ == lexer.EOF && i > 0 {
		span = diag.Span{File: file, Start: toks[i-1].end, End: toks[i-1].end}
	}
	if i == 1 {
		return span, fmt.Sprintf("unexpected %s; expected the test's name in double quotes after \"test\"", describe(t, "test"))
	}
	// the step holding token i starts at the last step word before it
	form := ""
	for j := i; j >= 2 && form == ""; j-- {
		u := toks[j]
		switch {
		case u.typ == tIdent && (u.text == "now" || u.text == "tick" || u.text == "expect"):
			form = stepForms[u.text]
		case isWord(u, "member"):
			form = stepForms["member"]
		case u.typ == tString && (j == 2 || toks[j-1].end.Line < u.start.Line):
			form = stepForms["event"]
		}
		if j < i && toks[j].end.Line < t.start.Line {
			break // the step word must be on the line of the error or before it on the same step
		}
	}
	if form == "" || (i > 0 && toks[i-1].end.Line < t.start.Line && t.typ != lexer.EOF) {
		return span, fmt.Sprintf("unexpected %s in a test; expected a step: now, member, an event (\"ID\" EVENT ...), tick or expect", describe(t, "test"))
	}
	return span, fmt.Sprintf("unexpected %s in this test step; expected %s", describe(t, "test"), form)
}
