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
// scanner (lexer.go: exact rune columns, friendly errors, comments kept for
// the formatter) and hands participle the finished tokens of one
// declaration at a time (see tokenLexer); Lex serves participle's
// ParseString and friends, which nudge does not use.
type lexDef struct{}

func (lexDef) Symbols() map[string]lexer.TokenType { return symbols }

func (lexDef) Lex(filename string, r io.Reader) (lexer.Lexer, error) {
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	toks := lex(filename, src).toks
	return newTokenLexer(filename, toks), nil
}

// tokenLexer hands participle the tokens toks (as participle tokens, see
// grammarType), then EOF just past the last one for ever.
type tokenLexer struct {
	file string
	toks []token
	eof  lexer.Token
}

func newTokenLexer(file string, toks []token) *tokenLexer {
	end := diag.Pos{Offset: 0, Line: 1, Col: 1}
	if len(toks) > 0 {
		end = toks[len(toks)-1].end
	}
	return &tokenLexer{file: file, toks: toks, eof: lexer.EOFToken(lexPos(file, end))}
}

func (l *tokenLexer) Next() (lexer.Token, error) {
	if len(l.toks) == 0 {
		return l.eof, nil
	}
	t := l.toks[0]
	l.toks = l.toks[1:]
	var next token
	if len(l.toks) > 0 {
		next = l.toks[0]
	}
	return lexer.Token{Type: grammarType(t, next), Value: t.text, Pos: lexPos(l.file, t.start)}, nil
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
	stockParser   = participle.MustBuild[pStock](parserOptions...)
	holdoutParser = participle.MustBuild[pHoldout](parserOptions...)
	journeyParser = participle.MustBuild[pJourney](parserOptions...)
	condParser    = participle.MustBuild[pOr](parserOptions...)
)

// parseTree parses one declaration whose first token is the keyword kw,
// with the production for that keyword (cheaper than trying every
// declaration form in turn).
func parseTree(kw string, lex *lexer.PeekingLexer, opts ...participle.ParseOption) (d *pDecl, err error) {
	d = &pDecl{}
	switch kw {
	case "brand":
		d.Brand, err = brandParser.ParseFromLexer(lex, opts...)
	case "import":
		d.Import, err = importParser.ParseFromLexer(lex, opts...)
	case "segment":
		d.Segment, err = segmentParser.ParseFromLexer(lex, opts...)
	case "rule":
		d.Rule, err = ruleParser.ParseFromLexer(lex, opts...)
	case "cap":
		d.Cap, err = capParser.ParseFromLexer(lex, opts...)
	case "quiet":
		d.Quiet, err = quietParser.ParseFromLexer(lex, opts...)
	case "event":
		d.Event, err = eventParser.ParseFromLexer(lex, opts...)
	case "test":
		d.Test, err = testParser.ParseFromLexer(lex, opts...)
	case "cost":
		d.Cost, err = costParser.ParseFromLexer(lex, opts...)
	case "stock":
		d.Stock, err = stockParser.ParseFromLexer(lex, opts...)
	case "holdout":
		d.Holdout, err = holdoutParser.ParseFromLexer(lex, opts...)
	case "journey":
		d.Journey, err = journeyParser.ParseFromLexer(lex, opts...)
	default:
		d.Member, err = memberParser.ParseFromLexer(lex, opts...)
	}
	return d, err
}

func lexPos(file string, p diag.Pos) lexer.Position {
	return lexer.Position{Filename: file, Offset: p.Offset, Line: p.Line, Column: p.Col}
}

// appendEOF appends an EOF sentinel token at the end of the last token (or
// at from when toks is empty) to toks, in place when it has room.
func appendEOF(toks []token, from diag.Pos) []token {
	end := from
	if len(toks) > 0 {
		end = toks[len(toks)-1].end
	}
	return append(toks, token{typ: lexer.EOF, start: end, end: end})
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
	"quiet": true, "event": true, "cost": true, "stock": true,
	"journey": true, "split": true, "campaign": true, "test": true,
}

var reserved = map[string]bool{"split": true, "campaign": true, "test": true}

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
	if t.text == "holdout" {
		// `holdout P% of members` (the global control group), not the
		// rule option `holdout P%`
		return i+3 < len(toks) && toks[i+2].text == "%" && toks[i+3].text == "of"
	}
	return t.text == "member" && i+1 < len(toks) && toks[i+1].text == "{" && toks[i+1].typ == tPunct
}

// inJourney reports whether token j, the word `split` at the start of a
// line, belongs to the journey declaration that starts at token i.
func inJourney(toks []token, i, j int) bool {
	return toks[i].text == "journey" && toks[i].typ == tKeyword && toks[j].text == "split"
}

// ParseFile parses one .nudge source. It never panics and always returns a
// non-nil file: a declaration that fails to parse becomes an *ast.BadDecl and
// parsing resumes at the next top-level keyword, so all syntax errors of the
// file are reported at once (code "syntax").
func ParseFile(filename string, src []byte) (f *ast.File, diags diag.List) {
	return parseFile(filename, src, true)
}

// parseFile is ParseFile; with inFile false every declaration is parsed in
// a lexer of its own (the reference the file lexer must match).
func parseFile(filename string, src []byte, inFile bool) (f *ast.File, diags diag.List) {
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
	all := appendEOF(res.toks, diag.Pos{Line: 1, Col: 1})
	toks := all[:len(all)-1]
	var whole *fileLexer
	if inFile {
		whole, _ = newFileLexer(filename, toks)
	}
	for i := 0; i < len(toks); {
		j := i + 1
		for j < len(toks) && (!startsDecl(toks, j) || inJourney(toks, i, j)) {
			j++
		}
		f.Decls = append(f.Decls, parseDecl(filename, all, whole, i, j, &diags))
		i = j
	}
	return f, diags
}

// fileLexer holds one participle lexer over a whole file, so that each
// declaration of a valid file is parsed without a lexer of its own.
type fileLexer struct {
	lex   *lexer.PeekingLexer
	start lexer.Checkpoint
}

func newFileLexer(file string, toks []token) (*fileLexer, error) {
	lex, err := lexer.Upgrade(newTokenLexer(file, toks))
	if err != nil {
		return nil, err
	}
	return &fileLexer{lex: lex, start: lex.MakeCheckpoint()}, nil
}

// seek moves the lexer to token i of the file.
func (l *fileLexer) seek(i int) {
	if l.lex.Cursor() > i {
		l.lex.LoadCheckpoint(l.start)
	}
	for l.lex.Cursor() < i {
		l.lex.Next()
	}
}

// parseWhole parses the declaration of tokens i to j in the file's lexer;
// ok is false unless it parses and ends exactly at token j. Where it is
// false, parsing the declaration alone (ending with EOF) decides and words
// the error: a declaration parses the same either way, since participle
// looks at most one token past the end of what it accepts.
func (l *fileLexer) parseWhole(kw string, i, j int) (tree *pDecl, ok bool) {
	l.seek(i)
	tree, err := parseTree(kw, l.lex, participle.AllowTrailing(true))
	return tree, err == nil && l.lex.Cursor() == j
}

// parseDecl parses the top-level declaration made of tokens i to j of a
// file; all holds the file's tokens and an EOF sentinel, whole (if not
// nil) a participle lexer over them.
func parseDecl(file string, all []token, whole *fileLexer, i, j int, diags *diag.List) ast.Decl {
	chunk := all[i:j]
	bad := &ast.BadDecl{Span: ast.Span{Span: diag.Span{File: file, Start: chunk[0].start, End: chunk[len(chunk)-1].end}}}
	first := chunk[0]
	if !startsDecl(chunk, 0) {
		diags.Errorf(diag.Span{File: file, Start: first.start, End: first.end}, "syntax",
			"unexpected %s; expected a declaration (rule, segment, event, member, cap, cost, quiet hours, brand, import or test)", describe(first, "input"))
		return bad
	}
	if first.text == "split" {
		diags.Errorf(diag.Span{File: file, Start: first.start, End: first.end}, "syntax",
			"`split` is a step of a journey: put it between `journey NAME` and its `end`")
		return bad
	}
	if reserved[first.text] && first.text != "test" {
		diags.Errorf(diag.Span{File: file, Start: first.start, End: first.end}, "syntax",
			"%q is reserved for a future version of nudge", first.text)
		return bad
	}
	if whole != nil {
		if tree, ok := whole.parseWhole(first.text, i, j); ok {
			c := &converter{file: file, toks: all, diags: diags}
			return c.decl(tree)
		}
	}
	lex, err := lexer.Upgrade(newTokenLexer(file, chunk))
	if err == nil {
		var tree *pDecl
		if tree, err = parseTree(first.text, lex); err == nil {
			c := &converter{file: file, toks: all, diags: diags}
			return c.decl(tree)
		}
	}
	reportParseError(file, withEOF(chunk, first.start), err, diags)
	return bad
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
	lex, err := lexer.Upgrade(newTokenLexer(filename, res.toks))
	if err == nil {
		var tree *pOr
		if tree, err = condParser.ParseFromLexer(lex); err == nil {
			c := &converter{file: filename, toks: toks, diags: &diags}
			return c.or(tree), diags
		}
	}
	reportParseError(filename, toks, err, &diags)
	return &ast.BadExpr{Span: ast.Span{Span: whole}}, diags
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
