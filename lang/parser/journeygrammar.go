package parser

import "github.com/alecthomas/participle/v2/lexer"

// This file holds the participle grammar of journeys (SPEC §8); see the
// EBNF in doc.go. The words enter, exit, when, wait, until, else, end and
// winner are matched by text and not reserved: they stay usable as names
// outside journeys.

type pJourney struct {
	Pos     lexer.Position
	EndPos  lexer.Position
	Name    lexer.Token  `parser:"\"journey\" @Ident"`
	Title   *lexer.Token `parser:"@String?"`
	Headers []*pJHeader  `parser:"@@*"`
	Steps   []*pJStep    `parser:"@@* \"end\""`
}

// pJHeader is one header line: `enter on|when COND`, `exit when COND` or
// a rule option.
type pJHeader struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Enter  *lexer.Token `parser:"(  \"enter\" @( \"on\" | \"when\" )"`
	Cond   *pOr         `parser:"   @@"`
	Exit   *pOr         `parser:" | \"exit\" \"when\" @@"`
	Option *pOption     `parser:" | @@ )"`
}

type pJStep struct {
	Pos     lexer.Position
	EndPos  lexer.Position
	Actions []*pAction `parser:"(  @@ ( \"and\" @@ )*"`
	Wait    *pWait     `parser:" | @@"`
	If      *pIf       `parser:" | @@"`
	Split   *pSplit    `parser:" | @@ )"`
}

type pWait struct {
	Until *pUntil    `parser:"\"wait\" ( \"until\" @@"`
	Dur   *pDuration `parser:"        | @@ )"`
}

// pUntil is what follows `wait until`: a timestamp or date, else a
// condition with an optional `for at most DURATION`.
type pUntil struct {
	At     *lexer.Token `parser:"(  @( Timestamp | Date )"`
	Cond   *pOr         `parser:" | @@"`
	AtMost *pDuration   `parser:"   ( \"for\" \"at\" \"most\" @@ )? )"`
}

type pIf struct {
	Cond *pOr      `parser:"\"if\" @@"`
	Then []*pJStep `parser:"@@*"`
	Else *pElse    `parser:"@@? \"end\""`
}

// pElse is `else` and its steps; Pos is the position of `else`.
type pElse struct {
	Pos    lexer.Position
	EndPos lexer.Position
	Steps  []*pJStep `parser:"\"else\" @@*"`
}

type pSplit struct {
	Branches []*pBranch `parser:"\"split\" @@* \"end\""`
}

type pBranch struct {
	Pos     lexer.Position
	EndPos  lexer.Position
	Percent *pNumber    `parser:"@@ \"%\""`
	Name    lexer.Token `parser:"@Ident"`
	Steps   []*pJStep   `parser:"@@*"`
}
