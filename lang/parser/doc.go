// Package parser owns the nudge lexer and grammar (SPEC §3–4): it turns
// source text into a lang/ast tree with exact spans and reports syntax
// errors (code "syntax") in words a marketer understands.
//
// Entry points: ParseFile for a whole .nudge file and ParseCondition for a
// standalone condition (the REPL). Neither panics on any input.
//
// How it works: a hand-written scanner lexes the whole file once (rune
// columns, byte offsets, comments collected for the formatter, lexical
// errors such as unterminated strings reported without stopping). The token
// stream is split into declaration chunks at top-level keywords (brand,
// import, segment, rule, cap, quiet, event, `member {`, and the reserved
// journey, split, campaign, budget, test), so every syntax error of a file
// is reported at once and a chunk that fails becomes an *ast.BadDecl.
//
// The grammar is the participle grammar in grammar.go (converted to lang/ast
// by convert.go). Because participle costs microseconds per token, each
// chunk is first parsed by fast.go, a hand-written predictive parser for
// exactly that grammar which builds the same tree with the same spans; when
// it rejects a chunk, the chunk is parsed again with participle, whose error
// errors.go rewrites in plain words (grammar names never reach users).
// TestFastPathMatchesParticiple and FuzzFastPath check that the two agree on
// what they accept and on the trees they build.
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
//   - A number directly preceded by "-" is a negative literal (`> -5`).
//   - Words are reserved as keywords wherever the grammar uses them,
//     including duration units and aggregate names (see IsKeyword).
//   - Numbers, dates and clocks are only checked for shape here; ranges
//     (month 13, 25:00) are lang/check's job.
//   - `test` blocks (for `nudge test`, in *_test.nudge files) have their
//     own small grammar, in testgrammar.go (participle) and fasttest.go
//     (fast path); a block ends at the next top-level keyword. Its step
//     words (now, tick, expect, with, ago, later, fires, ...) are matched by
//     text and stay usable as names; syntax errors inside a block show the
//     form of the step they are in (explainTest). The other reserved words
//     (journey, split, campaign, budget) are still rejected.
package parser
