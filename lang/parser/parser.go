package parser

import (
	"errors"
	"io"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"

	"nudge/lang/ast"
	"nudge/lang/diag"
)

// lexDef is the participle lexer definition. nudge lexes with its own
// scanner (exact rune columns, friendly errors) and hands participle the
// finished token slice, so Lex is never used for parsing.
type lexDef struct{}

func (lexDef) Symbols() map[string]lexer.TokenType { return symbols }

func (lexDef) Lex(filename string, r io.Reader) (lexer.Lexer, error) {
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	res := lex(filename, src)
	return &sliceLexer{toks: toLexerTokens(filename, res.toks)}, nil
}

// sliceLexer replays a token slice that ends with EOF.
type sliceLexer struct {
	toks []lexer.Token
	i    int
}

func (l *sliceLexer) Next() (lexer.Token, error) {
	t := l.toks[l.i]
	if l.i < len(l.toks)-1 {
		l.i++
	}
	return t, nil
}

// Parsers are immutable once built and safe for concurrent use.
var (
	parserOptions = []participle.Option{
		participle.Lexer(lexDef{}),
		participle.UseLookahead(1),
	}
	brandParser   = participle.MustBuild[pBrand](parserOptions...)
	importParser  = participle.MustBuild[pImport](parserOptions...)
	segmentParser = participle.MustBuild[pSegment](parserOptions...)
	ruleParser    = participle.MustBuild[pRule](parserOptions...)
	capParser     = participle.MustBuild[pCap](parserOptions...)
	quietParser   = participle.MustBuild[pQuiet](parserOptions...)
	eventParser   = participle.MustBuild[pEvent](parserOptions...)
	memberParser  = participle.MustBuild[pMember](parserOptions...)
	testParser    = participle.MustBuild[pTest](parserOptions...)
	costParser    = participle.MustBuild[pCost](parserOptions...)
	condParser    = participle.MustBuild[pOr](parserOptions...)
)

// parseTree parses one declaration whose first token is the keyword kw,
// with the production for that keyword (cheaper than trying every
// declaration form in turn).
func parseTree(kw string, lex *lexer.PeekingLexer) (d *pDecl, err error) {
	d = &pDecl{}
	switch kw {
	case "brand":
		d.Brand, err = brandParser.ParseFromLexer(lex)
	case "import":
		d.Import, err = importParser.ParseFromLexer(lex)
	case "segment":
		d.Segment, err = segmentParser.ParseFromLexer(lex)
	case "rule":
		d.Rule, err = ruleParser.ParseFromLexer(lex)
	case "cap":
		d.Cap, err = capParser.ParseFromLexer(lex)
	case "quiet":
		d.Quiet, err = quietParser.ParseFromLexer(lex)
	case "event":
		d.Event, err = eventParser.ParseFromLexer(lex)
	case "test":
		d.Test, err = testParser.ParseFromLexer(lex)
	case "cost":
		d.Cost, err = costParser.ParseFromLexer(lex)
	default:
		d.Member, err = memberParser.ParseFromLexer(lex)
	}
	return d, err
}

// toLexerTokens converts tokens to participle tokens and appends the EOF
// sentinel at the end of the last token. toks must be non-empty or the
// sentinel is placed at the start of the file.
func toLexerTokens(file string, toks []token) []lexer.Token {
	out := make([]lexer.Token, 0, len(toks)+1)
	for _, t := range toks {
		out = append(out, lexer.Token{Type: t.typ, Value: t.text, Pos: lexPos(file, t.start)})
	}
	end := diag.Pos{Offset: 0, Line: 1, Col: 1}
	if len(toks) > 0 {
		end = toks[len(toks)-1].end
	}
	return append(out, lexer.EOFToken(lexPos(file, end)))
}

func lexPos(file string, p diag.Pos) lexer.Position {
	return lexer.Position{Filename: file, Offset: p.Offset, Line: p.Line, Column: p.Col}
}

// withEOF returns toks followed by an EOF sentinel token at the end of the
// last token (or at from when toks is empty).
func withEOF(toks []token, from diag.Pos) []token {
	end := from
	if len(toks) > 0 {
		end = toks[len(toks)-1].end
	}
	out := make([]token, len(toks), len(toks)+1)
	copy(out, toks)
	return append(out, token{typ: lexer.EOF, start: end, end: end})
}

// topLevel are the keywords that start a declaration; `member` only counts
// when followed by "{", the reserved words only at the start of a line.
var topLevel = map[string]bool{
	"brand": true, "import": true, "segment": true, "rule": true, "cap": true,
	"quiet": true, "event": true, "cost": true,
	"journey": true, "split": true, "campaign": true, "budget": true, "test": true,
}

var reserved = map[string]bool{"journey": true, "split": true, "campaign": true, "budget": true, "test": true}

func startsDecl(toks []token, i int) bool {
	t := toks[i]
	if t.typ != tKeyword {
		return false
	}
	if reserved[t.text] {
		// words reserved for later declarations start one only at the
		// beginning of a line, so `segment test = ...` reads as a misuse
		return i == 0 || toks[i-1].end.Line < t.start.Line
	}
	if topLevel[t.text] {
		return true
	}
	return t.text == "member" && i+1 < len(toks) && toks[i+1].text == "{" && toks[i+1].typ == tPunct
}

// ParseFile parses one .nudge source. It never panics and always returns a
// non-nil file: a declaration that fails to parse becomes an *ast.BadDecl and
// parsing resumes at the next top-level keyword, so all syntax errors of the
// file are reported at once (code "syntax").
func ParseFile(filename string, src []byte) (f *ast.File, diags diag.List) {
	res := lex(filename, src)
	diags = res.diags
	f = &ast.File{Name: filename}
	f.Span = ast.Span{Span: diag.Span{File: filename, Start: diag.Pos{Line: 1, Col: 1}, End: res.end}}
	for _, c := range res.comments {
		f.Comments = append(f.Comments, &ast.Comment{Span: ast.Span{Span: diag.Span{File: filename, Start: c.start, End: c.end}}, Text: c.text})
	}
	defer func() {
		if r := recover(); r != nil {
			diags.Errorf(f.Span.Span, "syntax", "internal error in the parser: %v", r)
		}
		diags = diags.Dedup()
	}()
	toks := res.toks
	for i := 0; i < len(toks); {
		j := i + 1
		for j < len(toks) && !startsDecl(toks, j) {
			j++
		}
		f.Decls = append(f.Decls, parseDecl(filename, toks[i:j], &diags))
		i = j
	}
	return f, diags
}

// parseDecl parses one top-level declaration chunk.
func parseDecl(file string, chunk []token, diags *diag.List) ast.Decl {
	bad := &ast.BadDecl{Span: ast.Span{Span: diag.Span{File: file, Start: chunk[0].start, End: chunk[len(chunk)-1].end}}}
	first := chunk[0]
	if !startsDecl(chunk, 0) {
		diags.Errorf(diag.Span{File: file, Start: first.start, End: first.end}, "syntax",
			"unexpected %s; expected a declaration (rule, segment, event, member, cap, cost, quiet hours, brand, import or test)", describe(first, "input"))
		return bad
	}
	if reserved[first.text] && first.text != "test" {
		diags.Errorf(diag.Span{File: file, Start: first.start, End: first.end}, "syntax",
			"%q is reserved for a future version of nudge", first.text)
		return bad
	}
	if d, ds, ok := parseFast(file, chunk); ok {
		*diags = append(*diags, ds...)
		return d
	}
	d, ds, ok := parseSlow(file, withEOF(chunk, chunk[0].start))
	*diags = append(*diags, ds...)
	if !ok {
		return bad
	}
	return d
}

// parseSlow parses one declaration chunk (ending with EOF) with the
// participle grammar and converts it; when it fails, ds holds the syntax
// error in friendly words.
func parseSlow(file string, toks []token) (d ast.Decl, ds diag.List, ok bool) {
	lex, err := lexer.Upgrade(&sliceLexer{toks: toLexerTokens(file, toks[:len(toks)-1])})
	if err == nil {
		var tree *pDecl
		tree, err = parseTree(toks[0].text, lex)
		if err == nil {
			c := &converter{file: file, toks: toks, diags: &ds}
			return c.decl(tree), ds, true
		}
	}
	reportParseError(file, toks, err, &ds)
	return nil, ds, false
}

// ParseCondition parses a standalone condition, as typed at the REPL.
func ParseCondition(filename string, src []byte) (x ast.Expr, diags diag.List) {
	res := lex(filename, src)
	diags = res.diags
	toks := withEOF(res.toks, diag.Pos{Line: 1, Col: 1})
	whole := diag.Span{File: filename, Start: toks[0].start, End: toks[len(toks)-1].end}
	defer func() {
		if r := recover(); r != nil {
			diags.Errorf(whole, "syntax", "internal error in the parser: %v", r)
			x = &ast.BadExpr{Span: ast.Span{Span: whole}}
		}
		diags = diags.Dedup()
	}()
	if len(res.toks) == 0 {
		diags.Errorf(whole, "syntax", "expected a condition")
		return &ast.BadExpr{Span: ast.Span{Span: whole}}, diags
	}
	if x, ds, ok := parseFastCond(filename, res.toks); ok {
		return x, append(diags, ds...)
	}
	x, ds, ok := parseSlowCond(filename, toks)
	diags = append(diags, ds...)
	if !ok {
		return &ast.BadExpr{Span: ast.Span{Span: whole}}, diags
	}
	return x, diags
}

// parseSlowCond is parseSlow for a standalone condition.
func parseSlowCond(file string, toks []token) (x ast.Expr, ds diag.List, ok bool) {
	lex, err := lexer.Upgrade(&sliceLexer{toks: toLexerTokens(file, toks[:len(toks)-1])})
	if err == nil {
		var tree *pOr
		tree, err = condParser.ParseFromLexer(lex)
		if err == nil {
			c := &converter{file: file, toks: toks, diags: &ds}
			return c.or(tree), ds, true
		}
	}
	reportParseError(file, toks, err, &ds)
	return nil, ds, false
}

// reportParseError turns a participle error into one friendly diagnostic.
func reportParseError(file string, toks []token, err error, diags *diag.List) {
	var perr participle.Error
	if !errors.As(err, &perr) {
		diags.Errorf(diag.Span{File: file, Start: toks[0].start, End: toks[len(toks)-1].end}, "syntax", "cannot parse this declaration")
		return
	}
	c := &converter{file: file, toks: toks}
	i := c.index(perr.Position().Offset)
	span, msg := explain(file, toks, i, perr)
	diags.Errorf(span, "syntax", "%s", msg)
}
