package parser

import (
	"strconv"

	"github.com/alecthomas/participle/v2/lexer"

	"nudge/lang/ast"
)

// This file holds the journey expectations of test blocks (SPEC §8):
// `expect JOURNEY enters|sends|exits|completes` followed by qualifiers in
// any order. The verbs and the words step and variant are matched by text,
// as the other step words are. A send's kind and content follow `sends`
// directly; the lookahead keeps a following step (`tick`, `expect`, `now`)
// from being read as a kind.

type pJExpect struct {
	Pos     lexer.Position
	EndPos  lexer.Position
	Verb    string       `parser:"@( \"enters\" | \"sends\" | \"exits\" | \"completes\" )"`
	Kind    *lexer.Token `parser:"( (?! \"tick\" | \"expect\" | \"now\" ) @Ident"`
	Content *lexer.Token `parser:"  @String )?"`
	Quals   []*pJQual    `parser:"@@*"`
}

// pJQual is one qualifier of a journey expectation.
type pJQual struct {
	For     *lexer.Token `parser:"  \"for\" @String"`
	Via     *lexer.Token `parser:"| \"via\" @Ident"`
	Step    *lexer.Token `parser:"| \"at\" \"step\" @Number"`
	Variant *lexer.Token `parser:"| \"in\" \"variant\" @Ident"`
	Status  *lexer.Token `parser:"| \"with\" \"status\" @Ident"`
}

// journeyVerbs maps a journey expectation's verb to its decision action.
var journeyVerbs = map[string]string{"enters": "enter", "sends": "send", "exits": "exit", "completes": "complete"}

// journeyExpect fills out from a parsed journey expectation.
func (c *converter) journeyExpect(out *ast.ExpectStep, e *pExpectStep) {
	j := e.Journey
	out.Kind, out.Rule = ast.ExpectJourney, c.ident(*e.Rule)
	je := &ast.JourneyExpect{Span: c.sp(j.Pos, j.EndPos), Action: journeyVerbs[j.Verb]}
	if j.Kind != nil {
		je.SendKind, je.Content = c.ident(*j.Kind), c.str(*j.Content)
	}
	for _, q := range j.Quals {
		switch {
		case q.For != nil:
			out.Member = c.str(*q.For)
		case q.Via != nil:
			out.Via = c.ident(*q.Via)
		case q.Step != nil:
			v, _ := strconv.ParseFloat(q.Step.Value, 64)
			je.Step = &ast.NumberLit{Span: ast.Span{Span: c.tokSpan(*q.Step)}, Text: q.Step.Value, Value: v}
		case q.Variant != nil:
			je.Variant = c.ident(*q.Variant)
		case q.Status != nil:
			out.Status = c.ident(*q.Status)
		}
	}
	out.Journey = je
}
