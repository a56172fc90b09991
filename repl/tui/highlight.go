package tui

import (
	"strings"
	"unicode"

	"nudge/lang/parser"
)

// TODO(repl): lang/parser exports no token API (only IsKeyword). When it
// does (a Tokens or Lex function over its scanner), classify its tokens here
// instead of re-lexing, so the highlighter can never disagree with the
// parser. Until then this is a small hand-written lexer that only has to be
// good enough for colours and never rejects input; keywords come from
// parser.IsKeyword so the reserved words cannot drift.

// tokenClass is what a highlighted piece of input is.
type tokenClass int

const (
	tokPlain tokenClass = iota
	tokKeyword
	tokString
	tokNumber
	tokComment
	tokOperator
	tokCommand // :run, \sql
	tokField   // member.x
	tokEvent   // an event type name
	tokSegment // a segment name
)

// token is a run of runes [start, end) of one line with one class.
type token struct {
	start, end int
	class      tokenClass
}

// isKeyword reports whether word reads as a keyword: a reserved word of the
// language or a field type of an event/member declaration.
func isKeyword(word string) bool {
	switch word {
	case "text", "number", "bool", "date", "timestamp":
		return true
	}
	return parser.IsKeyword(word)
}

// sqlKeywords are highlighted after `\sql`.
var sqlKeywords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`select from where group by order having limit
		offset join left right inner outer full cross on as and or not in is null
		like ilike between case when then else end distinct count sum avg min max
		with union all except intersect asc desc describe show tables summarize
		true false cast interval exists over partition qualify using`) {
		m[w] = true
	}
	return m
}()

// names are the program's event types and segments, coloured apart from
// other identifiers.
type names struct {
	events, segments map[string]bool
}

// lexLine splits one line of input into tokens for colouring. sql selects
// SQL keywords instead of nudge ones. Positions are rune indexes.
func lexLine(line []rune, sql bool, first bool, nm names) []token {
	kw := isKeyword
	if sql {
		kw = func(w string) bool { return sqlKeywords[strings.ToLower(w)] }
	}
	var toks []token
	i := 0
	n := len(line)
	// A REPL command at the start of the input: `:run`, `\sql`.
	if first {
		j := 0
		for j < n && line[j] == ' ' {
			j++
		}
		if j < n && (line[j] == ':' || line[j] == '\\') {
			k := j + 1
			for k < n && isWordRune(line[k]) {
				k++
			}
			if k > j+1 {
				toks = append(toks, token{j, k, tokCommand})
				i = k
			}
		}
	}
	for i < n {
		r := line[i]
		switch {
		case r == '#' && !sql, r == '-' && sql && i+1 < n && line[i+1] == '-':
			toks = append(toks, token{i, n, tokComment})
			i = n
		case r == '"' || (sql && r == '\''):
			j := i + 1
			for j < n && line[j] != r {
				if line[j] == '\\' && j+1 < n {
					j++
				}
				j++
			}
			if j < n {
				j++
			}
			toks = append(toks, token{i, j, tokString})
			i = j
		case unicode.IsDigit(r):
			j := i + 1
			for j < n && (unicode.IsDigit(line[j]) || line[j] == '.' || line[j] == ':' ||
				(line[j] == '-' && j+1 < n && unicode.IsDigit(line[j+1]))) {
				j++
			}
			toks = append(toks, token{i, j, tokNumber})
			i = j
		case isWordRune(r):
			j := i + 1
			for j < n && isWordRune(line[j]) {
				j++
			}
			word := string(line[i:j])
			switch {
			case kw(word):
				// member.x: `member` is a keyword, x a member field.
				if word == "member" && j+1 < n && line[j] == '.' && isWordRune(line[j+1]) {
					k := j + 1
					for k < n && isWordRune(line[k]) {
						k++
					}
					toks = append(toks, token{i, j, tokKeyword}, token{j, j + 1, tokOperator}, token{j + 1, k, tokField})
					j = k
					break
				}
				toks = append(toks, token{i, j, tokKeyword})
			case !sql && nm.events[word]:
				toks = append(toks, token{i, j, tokEvent})
			case !sql && nm.segments[word]:
				toks = append(toks, token{i, j, tokSegment})
			default:
				toks = append(toks, token{i, j, tokPlain})
			}
			i = j
		case strings.ContainsRune("=<>!+-*/%(),.", r):
			toks = append(toks, token{i, i + 1, tokOperator})
			i++
		default:
			toks = append(toks, token{i, i + 1, tokPlain})
			i++
		}
	}
	return toks
}

func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}
