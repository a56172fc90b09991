package parser

import (
	"github.com/alecthomas/participle/v2/lexer"

	"nudge/lang/ast"
	"nudge/lang/diag"
)

// pParam is one `NAME = VALUE` of a send's `with` (lang/ast/delivery.go):
// VALUE is a field of the triggering event, `member.NAME` or a literal.
type pParam struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Name   lexer.Token  `parser:"@Ident \"=\""`
	Member *lexer.Token `parser:"(  \"member\" \".\" @Ident"`
	Field  *lexer.Token `parser:" | @Ident"`
	Value  *pLiteral    `parser:" | @@ )"`
}

// param converts one `NAME = VALUE` of a send's `with`.
func (c *converter) param(p *pParam) *ast.Param {
	out := &ast.Param{Span: c.sp(p.Pos, p.EndPos), Name: c.ident(p.Name)}
	switch {
	case p.Member != nil:
		i := c.index(p.Member.Pos.Offset) - 2 // the "member" token
		s := diag.Span{File: c.file, Start: c.toks[i].start, End: c.toks[i+2].end}
		out.Value = &ast.MemberField{Span: ast.Span{Span: s}, Field: c.ident(*p.Member)}
	case p.Field != nil:
		out.Value = c.ident(*p.Field)
	default:
		out.Value = c.literal(p.Value)
	}
	return out
}

// pExpParams is the `params NAME VALUE, ...` of a test's `expect R fires`:
// the `with` parameters a send carries.
type pExpParams struct {
	Fields []*pFieldValue `parser:"\"params\" @@ ( \",\" @@ )*"`
}

// pFallback is one `else CHANNEL` of a send's fallback (a struct: participle
// keeps only the last of repeated captures into a []lexer.Token). In a
// journey, a send may end an if step's branch: the `else` of the if,
// followed by a step word (wait, split, end), is not a fallback.
type pFallback struct {
	Channel lexer.Token `parser:"\"else\" (?! \"wait\" | \"split\" | \"end\") @Ident"`
}
