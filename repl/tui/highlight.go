package tui

import (
	"strings"
	"unicode"
)

// TODO(repl): lang/parser exports no token API yet. When it does (a Tokens
// or Lex function over the participle lexer), classify its tokens here
// instead of re-lexing, so the highlighter can never disagree with the
// parser. Until then this is a small hand-written lexer that only has to be
// good enough for colours: it never rejects input.

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
)

// token is a run of runes [start, end) of one line with one class.
type token struct {
	start, end int
	class      tokenClass
}

// keywords are the reserved words of SPEC §4 and §8 plus the duration units
// and field types, which read as keywords to a marketer.
var keywords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`brand import segment rule if then and or not
		send via tag untag notify limit once per member every priority holdout stop
		after unanswered cap to all quiet hours event in last ever before at least
		most times exactly followed by matching within between is null tagged
		count sum avg min max days since first where of for from on
		true false journey split campaign budget test
		minute minutes hour hours day days week weeks month months year years
		text number bool date timestamp`) {
		m[w] = true
	}
	return m
}()

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

// lexLine splits one line of input into tokens for colouring. sql selects
// SQL keywords instead of nudge ones. Positions are rune indexes.
func lexLine(line []rune, sql bool, first bool) []token {
	kw := keywords
	if sql {
		kw = sqlKeywords
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
			case kw[strings.ToLower(word)] && (sql || word == strings.ToLower(word)):
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
