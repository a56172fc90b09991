package parser

import (
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/alecthomas/participle/v2/lexer"

	"nudge/lang/diag"
)

// Token types produced by the lexer. Keywords have their own type so that
// `@Ident` in the grammar never matches a reserved word.
const (
	tIdent lexer.TokenType = iota + 1
	tKeyword
	tNumber
	tString
	tDate
	tTimestamp
	tClock
	tPunct
)

// Token classes seen only by participle. Words and operators the grammar
// accepts as a set (units, prepositions, aggregates, comparison, arithmetic
// and logical operators, booleans, least/most, ever/before) reach participle with the class as their
// type (tokenLexer), so the grammar matches a set with one type test
// (@Unit) rather than trying each word as an alternative; a name followed
// by "(" is a Func, so a call and an event name need no lookahead to tell
// apart. The parser's own tokens keep tIdent, tKeyword and tPunct.
const (
	tUnit lexer.TokenType = tPunct + 1 + iota
	tPrep
	tAgg
	tCmp
	tArith
	tLogic
	tBool
	tBound
	tAnchor
	tFunc // a name directly followed by "(": a function call
)

// classes gives the participle class of the words and operators in a set.
var classes = map[string]lexer.TokenType{
	"minute": tUnit, "minutes": tUnit, "hour": tUnit, "hours": tUnit, "day": tUnit, "days": tUnit,
	"week": tUnit, "weeks": tUnit, "month": tUnit, "months": tUnit, "year": tUnit, "years": tUnit,
	"at": tPrep, "of": tPrep, "for": tPrep, "via": tPrep, "from": tPrep, "on": tPrep,
	"count": tAgg, "sum": tAgg, "avg": tAgg, "min": tAgg, "max": tAgg,
	"=": tCmp, "!=": tCmp, "<=": tCmp, ">=": tCmp, "<": tCmp, ">": tCmp,
	"+": tArith, "-": tArith, "*": tArith, "/": tArith,
	"or": tLogic, "and": tLogic,
	"true": tBool, "false": tBool,
	"least": tBound, "most": tBound,
	"ever": tAnchor, "before": tAnchor,
}

// grammarType is the token type participle sees for t, followed by next.
func grammarType(t, next token) lexer.TokenType {
	if t.typ == tIdent && next.typ == tPunct && next.text == "(" {
		return tFunc
	}
	if t.typ == tKeyword || t.typ == tPunct {
		if c, ok := classes[t.text]; ok {
			return c
		}
	}
	return t.typ
}

// symbols names the token types for participle.
var symbols = map[string]lexer.TokenType{
	"EOF":       lexer.EOF,
	"Ident":     tIdent,
	"Keyword":   tKeyword,
	"Number":    tNumber,
	"String":    tString,
	"Date":      tDate,
	"Timestamp": tTimestamp,
	"Clock":     tClock,
	"Punct":     tPunct,
	"Unit":      tUnit,
	"Prep":      tPrep,
	"Agg":       tAgg,
	"Cmp":       tCmp,
	"Arith":     tArith,
	"Logic":     tLogic,
	"Bool":      tBool,
	"Bound":     tBound,
	"Anchor":    tAnchor,
	"Func":      tFunc,
}

// keywords are the reserved words of the language (SPEC §4 and §8).
var keywords = map[string]bool{
	// declarations
	"brand": true, "import": true, "segment": true, "rule": true, "cap": true,
	"quiet": true, "event": true, "member": true,
	// rules
	"if": true, "then": true, "send": true, "via": true, "tag": true, "untag": true,
	"notify": true, "limit": true, "once": true, "per": true, "every": true,
	"priority": true, "holdout": true, "stop": true, "after": true, "unanswered": true,
	"all": true, "to": true,
	// closed loop (lang/ast/loop.go)
	"convert": true, "cost": true,
	// money policies (lang/ast/money.go)
	"budget": true, "stock": true,
	// delivery policies (lang/ast/delivery.go)
	"else": true, "with": true, "expire": true, "transactional": true,
	// conditions
	"or": true, "and": true, "not": true, "in": true, "is": true, "null": true,
	"between": true, "where": true, "at": true, "of": true, "for": true, "from": true,
	"on": true, "least": true, "most": true, "exactly": true, "times": true,
	"last": true, "first": true, "ever": true, "before": true, "followed": true,
	"by": true, "matching": true, "within": true, "tagged": true, "since": true,
	"true": true, "false": true,
	"count": true, "sum": true, "avg": true, "min": true, "max": true,
	// units
	"minute": true, "minutes": true, "hour": true, "hours": true, "day": true,
	"days": true, "week": true, "weeks": true, "month": true, "months": true,
	"year": true, "years": true,
	// reserved for later constructs
	"journey": true, "split": true, "campaign": true, "test": true,
}

// IsKeyword reports whether name is a reserved word of the nudge language.
func IsKeyword(name string) bool { return keywords[name] }

// token is one lexed token with its exact span. Its participle twin (same
// index in the stream) carries the start position and the raw text.
type token struct {
	typ   lexer.TokenType
	text  string // raw source text
	start diag.Pos
	end   diag.Pos
}

// lexResult is the output of lexing one source.
type lexResult struct {
	toks     []token
	comments []comment
	diags    diag.List
	end      diag.Pos // position just past the end of the source
}

type comment struct {
	text       string
	start, end diag.Pos
}

// scanner is a hand-written lexer: it tracks rune columns exactly, reports
// friendly errors and never stops at the first one.
type scanner struct {
	file string
	src  []byte
	text string // src as a string: token texts are substrings of it
	off  int
	line int
	col  int
	out  lexResult
}

func lex(file string, src []byte) lexResult {
	s := &scanner{file: file, src: src, text: string(src), line: 1, col: 1}
	s.out.toks = make([]token, 0, len(src)/5+8)
	s.run()
	s.out.end = s.pos()
	return s.out
}

func (s *scanner) pos() diag.Pos { return diag.Pos{Offset: s.off, Line: s.line, Col: s.col} }

// peekRune returns the rune at byte offset off (relative to the whole source).
func (s *scanner) runeAt(off int) (rune, int) {
	if off >= len(s.src) {
		return -1, 0
	}
	r, n := utf8.DecodeRune(s.src[off:])
	return r, n
}

// advance moves past one rune, keeping line and column.
func (s *scanner) advance() {
	r, n := s.runeAt(s.off)
	if n == 0 {
		return
	}
	s.off += n
	if r == '\n' {
		s.line++
		s.col = 1
	} else {
		s.col++
	}
}

func (s *scanner) errorf(start, end diag.Pos, format string, args ...any) {
	s.out.diags.Errorf(diag.Span{File: s.file, Start: start, End: end}, "syntax", format, args...)
}

func (s *scanner) emit(typ lexer.TokenType, start diag.Pos) {
	s.out.toks = append(s.out.toks, token{typ: typ, text: s.text[start.Offset:s.off], start: start, end: s.pos()})
}

func isIdentStart(r rune) bool { return r == '_' || unicode.IsLetter(r) }
func isIdentPart(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r)
}
func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func (s *scanner) run() {
	for s.off < len(s.src) {
		r, n := s.runeAt(s.off)
		start := s.pos()
		switch {
		case r == ' ' || r == '\t' || r == '\r' || r == '\f':
			s.off++
			s.col++
		case r == '\n':
			s.off++
			s.line++
			s.col = 1
		case r == '\ufeff':
			// A byte-order mark takes no column (editors show none).
			s.off += n
		case r == '#':
			for s.off < len(s.src) && s.src[s.off] != '\n' {
				s.advance()
			}
			text := s.text[start.Offset:s.off]
			if len(text) > 0 && text[len(text)-1] == '\r' {
				text = text[:len(text)-1]
			}
			if !utf8.ValidString(text) {
				s.errorf(start, s.pos(), "invalid UTF-8 encoding in comment; save the file as UTF-8")
			}
			s.out.comments = append(s.out.comments, comment{text: text, start: start, end: s.pos()})
		case isIdentStart(r):
			for s.off < len(s.src) {
				if b := s.src[s.off]; b < utf8.RuneSelf {
					if b == '_' || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || isDigit(b) {
						s.off++
						s.col++
						continue
					}
					break
				}
				r, _ := s.runeAt(s.off)
				if !isIdentPart(r) {
					break
				}
				s.advance()
			}
			typ := tIdent
			if keywords[string(s.src[start.Offset:s.off])] {
				typ = tKeyword
			}
			s.emit(typ, start)
		case r >= '0' && r <= '9':
			s.number(start)
		case r == '"':
			s.str(start)
		default:
			s.punct(start, r, n)
		}
	}
}

// digitsAt returns how many ASCII digits start at off.
func (s *scanner) digitsAt(off int) int {
	n := 0
	for off+n < len(s.src) && isDigit(s.src[off+n]) {
		n++
	}
	return n
}

// clockLenAt returns the byte length of HH:MM[:SS] at off, or 0.
func (s *scanner) clockLenAt(off int) int {
	h := s.digitsAt(off)
	if h < 1 || h > 2 || off+h >= len(s.src) || s.src[off+h] != ':' {
		return 0
	}
	m := s.digitsAt(off + h + 1)
	if m != 2 {
		return 0
	}
	n := h + 3
	if off+n < len(s.src) && s.src[off+n] == ':' && s.digitsAt(off+n+1) == 2 {
		n += 3
	}
	if off+n < len(s.src) && isDigit(s.src[off+n]) {
		return 0
	}
	return n
}

// skipASCII advances n bytes known to be ASCII on one line.
func (s *scanner) skipASCII(n int) {
	s.off += n
	s.col += n
}

func (s *scanner) number(start diag.Pos) {
	off := s.off
	// date: DDDD-DD-DD, optionally followed by blanks and a clock (timestamp)
	if s.digitsAt(off) == 4 && off+4 < len(s.src) && s.src[off+4] == '-' &&
		s.digitsAt(off+5) == 2 && off+7 < len(s.src) && s.src[off+7] == '-' &&
		s.digitsAt(off+8) == 2 && s.digitsAt(off+10) == 0 {
		s.skipASCII(10)
		j := s.off
		for j < len(s.src) && (s.src[j] == ' ' || s.src[j] == '\t') {
			j++
		}
		if j > s.off {
			if n := s.clockLenAt(j); n > 0 {
				s.skipASCII(j - s.off + n)
				s.emit(tTimestamp, start)
				return
			}
		}
		s.emit(tDate, start)
		return
	}
	if n := s.clockLenAt(off); n > 0 {
		s.skipASCII(n)
		s.emit(tClock, start)
		return
	}
	s.skipASCII(s.digitsAt(off))
	if s.off+1 < len(s.src) && s.src[s.off] == '.' && isDigit(s.src[s.off+1]) {
		s.skipASCII(1)
		s.skipASCII(s.digitsAt(s.off))
	}
	s.emit(tNumber, start)
}

func (s *scanner) str(start diag.Pos) {
	s.advance() // opening quote
	badUTF8 := false
	for {
		if s.off >= len(s.src) || s.src[s.off] == '\n' || s.src[s.off] == '\r' {
			s.errorf(start, s.pos(), "unterminated string; add the closing \"")
			s.emit(tString, start)
			return
		}
		c := s.src[s.off]
		if c == '"' {
			s.advance()
			s.emit(tString, start)
			return
		}
		if c == '\\' {
			escStart := s.pos()
			s.advance()
			if s.off >= len(s.src) || s.src[s.off] == '\n' {
				continue
			}
			e, _ := s.runeAt(s.off)
			s.advance()
			switch e {
			case '"', '\\', 'n', 't':
			case 'u':
				ok := true
				for i := 0; i < 4; i++ {
					if s.off >= len(s.src) || !isHex(s.src[s.off]) {
						ok = false
						break
					}
					s.advance()
				}
				if !ok {
					s.errorf(escStart, s.pos(), `invalid escape in string: \u must be followed by 4 hex digits`)
				}
			default:
				s.errorf(escStart, s.pos(), `unknown escape \%c in string; use \", \\, \n, \t or \uXXXX`, e)
			}
			continue
		}
		if r, n := s.runeAt(s.off); r == utf8.RuneError && n == 1 && !badUTF8 {
			badUTF8 = true
			p := s.pos()
			s.advance()
			s.errorf(p, s.pos(), "invalid UTF-8 encoding in string; save the file as UTF-8")
			continue
		}
		s.advance()
	}
}

func isHex(b byte) bool {
	return isDigit(b) || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F')
}

func (s *scanner) punct(start diag.Pos, r rune, n int) {
	two := ""
	if s.off+1 < len(s.src) {
		two = string(s.src[s.off : s.off+2])
	}
	switch two {
	case "!=", "<=", ">=":
		s.skipASCII(2)
		s.emit(tPunct, start)
		return
	case "==":
		s.skipASCII(2)
		s.errorf(start, s.pos(), `unexpected "=="; use "=" to compare`)
		s.out.toks = append(s.out.toks, token{typ: tPunct, text: "=", start: start, end: s.pos()})
		return
	case "<>":
		s.skipASCII(2)
		s.errorf(start, s.pos(), `unexpected "<>"; use "!=" for "not equal"`)
		s.out.toks = append(s.out.toks, token{typ: tPunct, text: "!=", start: start, end: s.pos()})
		return
	case "&&", "||":
		word := map[string]string{"&&": "and", "||": "or"}[two]
		s.skipASCII(2)
		s.errorf(start, s.pos(), "unexpected %q; write %q", two, word)
		s.out.toks = append(s.out.toks, token{typ: tKeyword, text: word, start: start, end: s.pos()})
		return
	}
	switch r {
	case '=', '<', '>', '+', '-', '*', '/', '(', ')', '{', '}', ',', '.', '%':
		s.advance()
		s.emit(tPunct, start)
		return
	}
	s.advance()
	if n == 0 || r == utf8.RuneError {
		s.errorf(start, s.pos(), "invalid UTF-8 encoding")
		return
	}
	msg := fmt.Sprintf("unexpected character %q", string(r))
	switch r {
	case '“', '”', '「', '」', '\'', '‘', '’':
		msg += `; strings use straight double quotes: "..."`
	case '（', '）', '，', '：', '＝', '％':
		msg += "; use the ASCII (half-width) character instead"
	case ';':
		msg += "; nudge does not use semicolons"
	}
	s.errorf(start, s.pos(), "%s", msg)
}
