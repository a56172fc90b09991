// Package parser owns the nudge lexer and grammar (SPEC §3–4): it turns
// source text into a lang/ast tree with exact spans and reports syntax
// errors (code "syntax") in words a marketer understands.
//
// Entry points: ParseFile for a whole .nudge file and ParseCondition for a
// standalone condition (the REPL). Neither panics on any input.
//
// How it works: a hand-written scanner (lexer.go) lexes the whole file once
// (rune columns, byte offsets, comments collected for the formatter,
// lexical errors such as unterminated strings reported without stopping).
// The token stream is split into declaration chunks at top-level keywords
// (brand, import, segment, rule, cap, cost, quiet, event, `member {`, test,
// journey and the reserved split, campaign; `split` inside a journey stays
// in the journey), so every syntax error
// of a file is reported at once and a chunk that fails becomes an
// *ast.BadDecl. Each chunk is parsed by participle with the grammar of
// grammar.go and testgrammar.go (struct tags), then converted to lang/ast
// by convert.go. Participle reads the file's tokens through one lexer
// (tokenLexer), with word sets such as units and operators given token
// classes of their own so the grammar matches them in one step; a chunk
// that does not parse there exactly is parsed again alone, ending with
// EOF. When participle rejects a chunk, errors.go words its error from the
// token it stopped at, the tokens before it and what the grammar wanted
// there; grammar names never reach users.
//
// The grammar, in EBNF. `{ }` repeats, `[ ]` is optional, quoted words are
// keywords, reserved (see IsKeyword) except the step words of test blocks.
// Tokens: IDENT (letters, digits and _,
// not starting with a digit), STRING ("..." with \" \\ \n \t \uXXXX),
// NUMBER (123, 1.5), DATE (2024-11-11), TIMESTAMP (2024-11-11 10:00[:00]),
// CLOCK (22:00[:00]). A comment runs from # to the end of the line.
//
//	file      = { decl } ;
//	decl      = brand | import | segment | rule | cap | cost | quiet
//	          | event | member | test | stock | holdout | journey ;
//	brand     = "brand" STRING ;
//	import    = "import" STRING ;
//	segment   = "segment" IDENT [ STRING ] "=" cond ;
//	rule      = "rule" IDENT [ STRING ] "if" cond "then" action { "and" action }
//	            { option } ;
//	action    = "send" IDENT STRING "via" IDENT { "else" IDENT } [ params ]
//	          | "send" "winner"
//	          | ( "tag" | "untag" | "notify" ) STRING ;
//	params    = "with" param { "," param } ;
//	param     = IDENT "=" ( "member" "." IDENT | IDENT | literal ) ;
//	option    = "limit" "once" "per" "member" [ "every" duration ]
//	          | "priority" number
//	          | "holdout" number "%"
//	          | "stop" "after" number "unanswered"
//	          | "convert" "on" eventref "within" duration
//	          | "budget" number "per" UNIT
//	          | "expire" "after" duration
//	          | "transactional" ;
//	cap       = "cap" ( IDENT | "all" ) "to" number "per" ( duration | UNIT ) ;
//	cost      = "cost" IDENT [ STRING ] number ;
//	quiet     = "quiet" "hours" CLOCK "to" CLOCK [ "for" IDENT ] ;
//	stock     = "stock" STRING number ;
//	holdout   = "holdout" number "%" "of" "members" ;
//	event     = "event" IDENT "{" { field } "}" ;
//	member    = "member" "{" { field } "}" ;
//	field     = IDENT IDENT [ "," ] ;
//
//	journey   = "journey" IDENT [ STRING ] { jheader } { jstep } "end" ;
//	jheader   = "enter" ( "on" | "when" ) cond
//	          | "exit" "when" cond
//	          | option ;
//	jstep     = action { "and" action }
//	          | "wait" duration
//	          | "wait" "until" ( TIMESTAMP | DATE )
//	          | "wait" "until" cond [ "for" "at" "most" duration ]
//	          | "if" cond { jstep } [ "else" { jstep } ] "end"
//	          | "split" { branch } "end" ;
//	branch    = number "%" IDENT { jstep } ;
//
//	cond      = and { "or" and } ;
//	and       = unary { "and" unary } ;
//	unary     = "not" unary | compare ;
//	compare   = sum [ CMP sum
//	                | "between" sum "and" sum
//	                | [ "not" ] "in" "(" literal { "," literal } ")"
//	                | "is" [ "not" ] "null" ] ;
//	sum       = term { ( "+" | "-" ) term } ;
//	term      = factor { ( "*" | "/" ) factor } ;
//	factor    = eventatom
//	          | IDENT "(" [ cond { "," cond } ] ")"
//	          | "(" cond ")"
//	          | "member" "." IDENT
//	          | AGG "(" IDENT [ "." IDENT ] { filter } [ window ] ")"
//	          | "days" "since" ( "last" | "first" ) eventref
//	          | "tagged" STRING
//	          | literal ;
//	eventatom = eventref [ followed ] [ "matching" IDENT ] [ quant ] [ window ] ;
//	followed  = "not" "followed" "by" eventref [ "matching" IDENT ]
//	            "within" duration ;
//	eventref  = IDENT { filter } ;
//	filter    = PREP IDENT literal | "where" cond ;
//	quant     = ( "at" "least" | "at" "most" | "exactly" ) number "times" ;
//	window    = "in" "last" duration | "ever" | "before" ;
//	literal   = number [ UNIT ] | STRING | TIMESTAMP | DATE | "true" | "false" ;
//	duration  = number UNIT ;
//	number    = [ "-" ] NUMBER ;
//
//	test      = "test" STRING { step } ;
//	step      = "now" ( TIMESTAMP | DATE )
//	          | "member" STRING [ with ]
//	          | STRING IDENT [ "at" ( TIMESTAMP | DATE ) | duration "ago" ] [ with ]
//	          | "tick" [ "at" ( TIMESTAMP | DATE ) | duration "later" ]
//	          | "expect" expect ;
//	expect    = STRING [ "not" ] "tagged" STRING
//	          | IDENT ( "fires" [ "for" STRING ] [ "with" "status" IDENT ]
//	                  | "does" "not" ( "fire" | "enter" | "send" | "exit" | "complete" ) [ "for" STRING ]
//	                  | ( "enters" | "sends" [ IDENT STRING ] | "exits" | "completes" ) { jqual } ) ;
//	jqual     = "for" STRING | "via" IDENT | "at" "step" NUMBER | "in" "variant" IDENT
//	          | "with" "status" IDENT ;
//	with      = "with" IDENT literal { "," IDENT literal } ;
//
//	CMP       = "=" | "!=" | "<" | "<=" | ">" | ">=" ;
//	AGG       = "count" | "sum" | "avg" | "min" | "max" ;
//	PREP      = "at" | "of" | "for" | "via" | "from" | "on" ;
//	UNIT      = "minute" | "minutes" | "hour" | "hours" | "day" | "days"
//	          | "week" | "weeks" | "month" | "months" | "year" | "years" ;
//
// Grammar decisions the SPEC leaves open:
//
//   - A bare name (`recent_visitor`, `paid`) is an *ast.Ident: the parser
//     cannot tell a segment from a windowless event; lang/check decides (a
//     bare event name is a trigger atom). An event name followed by a filter,
//     quantifier or window is an *ast.EventAtom.
//   - `where` takes a full condition, as in SPEC §4 (`"where" cond`), so it
//     extends over following `and`/`or`; it ends at a quantifier, window,
//     `not followed by`, `)` or `then`. Parenthesise to stop it earlier:
//     `(purchased where amount > 10) or queued`.
//   - Operands of comparisons, `between` and arithmetic are value
//     expressions, so in `x between 1 and 2 and y` the first `and` belongs
//     to between; in a rule, `and` after `then` separates actions.
//   - A "not followed by" atom takes no quantifier or window: the grammar
//     reads them and the converter reports them.
//   - A number directly preceded by "-" is a negative literal (`> -5`).
//   - Words are reserved as keywords wherever the grammar uses them,
//     including duration units and aggregate names (see IsKeyword). The
//     word campaign is reserved for a later declaration and rejected, as
//     is split outside a journey.
//   - Journeys (SPEC §8): the words enter, exit, when, wait, until, end
//     and winner are matched by text and stay usable as names outside
//     journeys (`send winner` is the one exception: a send kind cannot be
//     called winner; else is a keyword, of `via A else B`). A journey's header lines come before its steps; the
//     parser keeps every `enter` and `exit` line and lang/check reports
//     extra ones. `matching F` after an event atom parses anywhere and
//     lang/check accepts it only inside a journey entered on an event.
//     `wait until` followed by a timestamp or date is a calendar wait; any
//     other `wait until` takes a condition.
//   - Numbers, dates and clocks are only checked for shape here; ranges
//     (month 13, 25:00) are lang/check's job.
//   - A `test` block (for `nudge test`, in *_test.nudge files) ends at the
//     next top-level keyword. Its step words (now, tick, expect, with, ago,
//     later, fires, does, fire, status, nothing) are matched by text and
//     stay usable as names; `expect nothing fires` means the tick fired no
//     rule at all. Syntax errors inside a block show the form of the step
//     they are in (explainTest).
//   - Participle tries alternatives in order with one token of lookahead:
//     an optional part or alternative that fails after consuming two or
//     more tokens is an error, not a backtrack.
package parser
