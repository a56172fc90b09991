package parser

import (
	"github.com/alecthomas/participle/v2/lexer"
)

// This file holds the participle grammar of nudge as parse tree structs
// (the language's EBNF is in the package doc; test blocks are in
// testgrammar.go); convert.go turns a parse tree into lang/ast with exact
// spans. A struct whose span the converter needs records Pos (its first
// token) and EndPos (the token after its last one); the converter maps
// EndPos back to the end of the last token. Sets of words and operators are matched by their token class
// (@Unit, @Cmp; see classes in lexer.go).

// pDecl holds one declaration. ParseFile knows the declaration kind from its
// first keyword and runs that production's parser directly (see parseTree),
// which is cheaper than letting participle try each alternative.
type pDecl struct {
	Pos     lexer.Position
	EndPos  lexer.Position
	Brand   *pBrand   `parser:"  @@"`
	Import  *pImport  `parser:"| @@"`
	Segment *pSegment `parser:"| @@"`
	Rule    *pRule    `parser:"| @@"`
	Cap     *pCap     `parser:"| @@"`
	Quiet   *pQuiet   `parser:"| @@"`
	Event   *pEvent   `parser:"| @@"`
	Member  *pMember  `parser:"| @@"`
	Test    *pTest    `parser:"| @@"`
	Cost    *pCost    `parser:"| @@"`
	Stock   *pStock   `parser:"| @@"`
	Holdout *pHoldout `parser:"| @@"`
	Journey *pJourney `parser:"| @@"`
}

type pBrand struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Name   lexer.Token `parser:"\"brand\" @String"`
}

type pImport struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Path   lexer.Token `parser:"\"import\" @String"`
}

type pSegment struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Name   lexer.Token  `parser:"\"segment\" @Ident"`
	Title  *lexer.Token `parser:"@String?"`
	Cond   *pOr         `parser:"\"=\" @@"`
}

type pRule struct {
	Pos     lexer.Position
	EndPos  lexer.Position
	Name    lexer.Token  `parser:"\"rule\" @Ident"`
	Title   *lexer.Token `parser:"@String?"`
	Cond    *pOr         `parser:"\"if\" @@"`
	Actions []*pAction   `parser:"\"then\" @@ ( \"and\" @@ )*"`
	Options []*pOption   `parser:"@@*"`
}

type pAction struct {
	Pos     lexer.Position
	EndPos  lexer.Position
	Send    bool         `parser:"(  @\"send\""`
	Winner  bool         `parser:"   ( @\"winner\""`
	Kind    *lexer.Token `parser:"   | @Ident"`
	Content *lexer.Token `parser:"     @String"`
	Channel *lexer.Token `parser:"     \"via\" @Ident"`

	// fallback channels and template parameters (grammar_delivery.go)
	Else []*pFallback `parser:"     @@*"`
	With []*pParam    `parser:"     ( \"with\" @@ ( \",\" @@ )* )? )"`

	Verb  *lexer.Token `parser:" | @( \"tag\" | \"untag\" | \"notify\" )"`
	Value *lexer.Token `parser:"   @String )"`
}

type pOption struct {
	Pos      lexer.Position
	EndPos   lexer.Position
	Limit    *pLimit   `parser:"  @@"`
	Priority *pNumber  `parser:"| \"priority\" @@"`
	Holdout  *pNumber  `parser:"| \"holdout\" @@ \"%\""`
	Stop     *pNumber  `parser:"| \"stop\" \"after\" @@ \"unanswered\""`
	Convert  *pConvert `parser:"| @@"`
	Budget   *pBudget  `parser:"| @@"`

	// delivery options (grammar_delivery.go)
	Expire   *pDuration `parser:"| \"expire\" \"after\" @@"`
	Transact bool       `parser:"| @\"transactional\""`
}

// pConvert is `convert on EVENT {filter} within DURATION` (lang/ast/loop.go).
type pConvert struct {
	Ref    *pEventRef `parser:"\"convert\" \"on\" @@"`
	Within *pDuration `parser:"\"within\" @@"`
}

// pCost is `cost CHANNEL NUMBER` or `cost KIND "CONTENT" NUMBER`
// (lang/ast/loop.go).
type pCost struct {
	Pos     lexer.Position
	EndPos  lexer.Position
	Channel lexer.Token  `parser:"\"cost\" @Ident"`
	Content *lexer.Token `parser:"@String?"`
	Amount  *pNumber     `parser:"@@"`
}

// pBudget is the rule option `budget NUMBER per UNIT` (lang/ast/money.go).
type pBudget struct {
	Amount *pNumber    `parser:"\"budget\" @@"`
	Per    lexer.Token `parser:"\"per\" @Unit"`
}

// pStock is `stock "CONTENT" NUMBER` (lang/ast/money.go).
type pStock struct {
	Pos     lexer.Position
	EndPos  lexer.Position
	Content lexer.Token `parser:"\"stock\" @String"`
	Count   *pNumber    `parser:"@@"`
}

// pHoldout is `holdout NUMBER % of members`, the global control group
// (lang/ast/money.go).
type pHoldout struct {
	Pos     lexer.Position
	EndPos  lexer.Position
	Percent *pNumber `parser:"\"holdout\" @@ \"%\" \"of\" \"members\""`
}

type pLimit struct {
	Once  bool       `parser:"@\"limit\" \"once\" \"per\" \"member\""`
	Every *pDuration `parser:"( \"every\" @@ )?"`
}

type pCap struct {
	Pos     lexer.Position
	EndPos  lexer.Position
	Channel *lexer.Token `parser:"\"cap\" ( @Ident"`
	All     bool         `parser:"      | @\"all\" )"`
	Count   *pNumber     `parser:"\"to\" @@ \"per\""`
	Per     *pDuration   `parser:"( @@"`
	Unit    *lexer.Token `parser:"| @Unit )"`
}

type pQuiet struct {
	Pos     lexer.Position
	EndPos  lexer.Position
	From    lexer.Token  `parser:"\"quiet\" \"hours\" @Clock"`
	To      lexer.Token  `parser:"\"to\" @Clock"`
	Channel *lexer.Token `parser:"( \"for\" @Ident )?"`
}

type pEvent struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Name   lexer.Token `parser:"\"event\" @Ident"`
	Fields []*pField   `parser:"\"{\" @@* \"}\""`
}

type pMember struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Fields []*pField `parser:"\"member\" \"{\" @@* \"}\""`
}

type pField struct {
	Name lexer.Token `parser:"@Ident"`
	Type lexer.Token `parser:"@Ident \",\"?"`
}

// ---- conditions and expressions ----

// pOr is a chain of conditions joined by "or" and "and", and pSum a chain
// of values joined by arithmetic operators: one level each keeps the parse
// shallow, and the converter applies precedence ("and" before "or", "*"
// and "/" before "+" and "-"; all left-associative). Ops[i] joins Ys[i] to
// what precedes it; its token is the one just before Ys[i].
type pOr struct {
	X   *pCompare   `parser:"@@"`
	Ops []string    `parser:"( @Logic"`
	Ys  []*pCompare `parser:"  @@ )*"`
}

// pCompare is a comparison preceded by any number of "not"s (the first
// tokens of the comparison, so Not only counts them). Its left operand is
// a pSum spelled out (X, XOps, XYs), one struct less per condition.
type pCompare struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Not    []string   `parser:"@\"not\"*"`
	X      *pFactor   `parser:"@@"`
	XOps   []string   `parser:"( @Arith"`
	XYs    []*pFactor `parser:"  @@ )*"`

	Op *lexer.Token `parser:"( @Cmp"`
	Y  *pSum        `parser:"  @@"`

	Between bool  `parser:"| @\"between\""`
	Lo      *pSum `parser:"  @@"`
	Hi      *pSum `parser:"  \"and\" @@"`

	NotIn   bool        `parser:"| @\"not\" \"in\""`
	NotList []*pLiteral `parser:"  \"(\" @@ ( \",\" @@ )* \")\""`
	In      bool        `parser:"| @\"in\""`
	List    []*pLiteral `parser:"  \"(\" @@ ( \",\" @@ )* \")\""`

	Is     bool `parser:"| @\"is\""`
	IsNot  bool `parser:"  @\"not\"?"`
	IsNull bool `parser:"  @\"null\" )?"`
}

type pSum struct {
	X   *pFactor   `parser:"@@"`
	Ops []string   `parser:"( @Arith"`
	Ys  []*pFactor `parser:"  @@ )*"`
}

// pFactor tries the most frequent form, an event or segment name, first.
// Literal comes last so that, when nothing matches, participle reports that
// it wanted a value.
type pFactor struct {
	Pos       lexer.Position
	EndPos    lexer.Position
	Event     *pEventAtom  `parser:"  @@"`
	Call      *pCall       `parser:"| @@"`
	Paren     *pOr         `parser:"| \"(\" @@ \")\""`
	Member    *lexer.Token `parser:"| \"member\" \".\" @Ident"`
	Agg       *pAgg        `parser:"| @@"`
	DaysSince *pDaysSince  `parser:"| @@"`
	Tagged    *lexer.Token `parser:"| \"tagged\" @String"`
	Literal   *pLiteral    `parser:"| @@"`
}

type pCall struct {
	Func lexer.Token `parser:"@Func \"(\""`
	Args []*pOr      `parser:"( @@ ( \",\" @@ )* )? \")\""`
}

type pAgg struct {
	Func   lexer.Token  `parser:"@Agg \"(\""`
	Event  lexer.Token  `parser:"@Ident"`
	Field  *lexer.Token `parser:"( \".\" @Ident )?"`
	Filter []*pFilter   `parser:"@@*"`
	Window *pWindow     `parser:"@@? \")\""`
}

type pDaysSince struct {
	Which lexer.Token `parser:"\"days\" \"since\" @( \"last\" | \"first\" )"`
	Ref   *pEventRef  `parser:"@@"`
}

type pEventRef struct {
	Pos     lexer.Position
	EndPos  lexer.Position
	Event   lexer.Token `parser:"@Ident"`
	Filters []*pFilter  `parser:"@@*"`
}

// pEventAtom also matches a bare identifier (no filters, quantifier or
// window); the converter turns that into an *ast.Ident.
type pEventAtom struct {
	Pos      lexer.Position
	EndPos   lexer.Position
	Event    lexer.Token  `parser:"@Ident"`
	Filters  []*pFilter   `parser:"@@*"`
	Followed *pFollowed   `parser:"( \"not\" \"followed\" \"by\" @@ )?"`
	Matching *lexer.Token `parser:"( \"matching\" @Ident )?"`
	Quant    *pQuant      `parser:"@@?"`
	Window   *pWindow     `parser:"@@?"`
}

// pFollowed is the tail of `A not followed by B [matching F] within D`
// after "by".
type pFollowed struct {
	Second   *pEventRef   `parser:"@@"`
	Matching *lexer.Token `parser:"( \"matching\" @Ident )?"`
	Within   *pDuration   `parser:"\"within\" @@"`
}

type pFilter struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Prep   *lexer.Token `parser:"(  @Prep"`
	Field  *lexer.Token `parser:"   @Ident"`
	Value  *pLiteral    `parser:"   @@"`
	Where  *pOr         `parser:"| \"where\" @@ )"`
}

type pQuant struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Which  string   `parser:"( \"at\" @Bound | @\"exactly\" )"`
	N      *pNumber `parser:"@@ \"times\""`
}

type pWindow struct {
	Pos    lexer.Position
	EndPos lexer.Position
	InLast *pDuration `parser:"( \"in\" \"last\" @@"`
	Anchor string     `parser:"| @Anchor )"`
}

// pLiteral is a literal; a number followed by a unit is a duration.
type pLiteral struct {
	Pos       lexer.Position
	EndPos    lexer.Position
	Number    *pNumber     `parser:"  @@"`
	Unit      *lexer.Token `parser:"  @Unit?"`
	String    *lexer.Token `parser:"| @String"`
	Timestamp *lexer.Token `parser:"| @Timestamp"`
	Date      *lexer.Token `parser:"| @Date"`
	Bool      *lexer.Token `parser:"| @Bool"`
}

type pDuration struct {
	Pos    lexer.Position
	EndPos lexer.Position
	N      *pNumber    `parser:"@@"`
	Unit   lexer.Token `parser:"@Unit"`
}

type pNumber struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Neg    bool        `parser:"@\"-\"?"`
	Tok    lexer.Token `parser:"@Number"`
}
