package parser

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"

	"nudge/lang/diag"
)

// This file turns participle's errors into messages written for marketers.
// Participle reports the token it could not use and, in EBNF, what it
// wanted there: a keyword ("then"), a token class (<ident>) or a grammar
// struct (PAction). explain names that in plain words, using the preceding
// tokens as context, and never shows grammar names.

// grammarName is participle's name for the grammar struct of v in EBNF
// and errors (the type name with a capital), so that the tables below
// follow a renamed struct.
func grammarName(v any) string {
	n := reflect.TypeOf(v).Name()
	return strings.ToUpper(n[:1]) + n[1:]
}

// tokenName is participle's name for a token type in errors: "<ident>".
func tokenName(typ lexer.TokenType) string {
	for name, t := range symbols {
		if t == typ {
			return "<" + strings.ToLower(name) + ">"
		}
	}
	panic("parser: token type without a symbol")
}

// What participle wanted, by kind of phrase.
var (
	wantValue = map[string]bool{tokenName(tNumber): true, grammarName(pLiteral{}): true,
		grammarName(pSum{}): true, grammarName(pFactor{}): true, grammarName(pEventAtom{}): true,
		grammarName(pNumber{}): true, grammarName(pDuration{}): true}
	wantCond     = map[string]bool{grammarName(pOr{}): true, grammarName(pCompare{}): true}
	wantAction   = grammarName(pAction{})
	wantEventRef = map[string]bool{grammarName(pEventRef{}): true, grammarName(pFollowed{}): true}
	wantField    = grammarName(pField{})
	wantIdent    = tokenName(tIdent)
	wantString   = tokenName(tString)
	wantClock    = tokenName(tClock)
	wantUnit     = tokenName(tUnit)
)

// describe names a token for a message: `"then"`, `string "x"`, `end of rule`.
func describe(t token, what string) string {
	if t.typ == lexer.EOF {
		return "end of " + what
	}
	text := t.text
	if r := []rune(text); len(r) > 30 {
		text = string(r[:30]) + "..."
	}
	if t.typ == tString {
		return "string " + text
	}
	return fmt.Sprintf("%q", text)
}

// declWhat names the construct a chunk is, for "end of ..." messages.
func declWhat(toks []token) string {
	if len(toks) == 0 || toks[0].typ != tKeyword {
		return "input"
	}
	switch toks[0].text {
	case "rule", "segment":
		return toks[0].text
	case "event", "member":
		return toks[0].text + " declaration"
	case "cap", "cost", "stock":
		return toks[0].text
	case "holdout":
		return "global control group"
	case "quiet":
		return "quiet hours"
	}
	return "input"
}

// expected extracts the first element participle expected, e.g. `"then"`,
// `<ident>`, `PAction` or a parenthesised group, from its message.
func expected(perr participle.Error) string {
	msg := perr.Message()
	i := strings.Index(msg, "(expected ")
	if i < 0 {
		return ""
	}
	e := strings.TrimSuffix(msg[i+len("(expected "):], ")")
	switch {
	case strings.HasPrefix(e, `"`):
		if j := strings.Index(e[1:], `"`); j >= 0 {
			return e[:j+2]
		}
	case strings.HasPrefix(e, "<"):
		if j := strings.Index(e, ">"); j >= 0 {
			return e[:j+1]
		}
	case strings.HasPrefix(e, "("):
		depth := 0
		for j, r := range e {
			switch r {
			case '(':
				depth++
			case ')':
				depth--
				if depth == 0 {
					return e[:j+1]
				}
			}
		}
	}
	if j := strings.IndexAny(e, " ?*+("); j >= 0 {
		return e[:j]
	}
	return e
}

// isWord reports whether t is the keyword or punctuation s.
func isWord(t token, s string) bool {
	return (t.typ == tKeyword || t.typ == tPunct) && t.text == s
}

var prepWords = map[string]bool{"at": true, "of": true, "for": true, "via": true, "from": true, "on": true}

// inActions reports whether token i of a rule chunk comes after its "then".
func inActions(toks []token, i int) bool {
	for j := 0; j < i && j < len(toks); j++ {
		if toks[j].typ == tKeyword && toks[j].text == "then" {
			return true
		}
	}
	return false
}

// explain builds the span and message for a parse error at token i.
func explain(file string, toks []token, i int, perr participle.Error) (diag.Span, string) {
	if len(toks) > 0 && isWord(toks[0], "test") {
		return explainTest(file, toks, i)
	}
	want := expected(perr)
	what := declWhat(toks)
	// `then A and <not an action>`: participle stops at "and"; point past it.
	if want == "" && i+1 < len(toks) && toks[i].typ == tKeyword && toks[i].text == "and" && what == "rule" && inActions(toks, i) {
		i++
		want = wantAction
	}
	// `{ name }`: participle gives up on the field and wants "}".
	if want == `"}"` && toks[i].typ == tIdent && (i+1 >= len(toks) || toks[i+1].typ != tIdent) {
		f := toks[i]
		return diag.Span{File: file, Start: f.end, End: f.end},
			fmt.Sprintf("expected a type (text, number, bool, date or timestamp) after field %q", f.text)
	}
	t := toks[i]
	var prev token
	if i > 0 {
		prev = toks[i-1]
	}
	span := diag.Span{File: file, Start: t.start, End: t.end}
	// At the end of the input, or when the offending token is on a later
	// line, the problem is what is missing after the previous token: point
	// just past it.
	missing := i > 0 && (t.typ == lexer.EOF || t.start.Line > prev.end.Line)
	if missing {
		span = diag.Span{File: file, Start: prev.end, End: prev.end}
	}
	after := ""
	if i > 0 {
		after = fmt.Sprintf(" after %q", prev.text)
		if prev.typ == tString {
			after = " after " + prev.text
		}
	}
	var exp string
	switch {
	case strings.HasPrefix(want, "(") && strings.Contains(want, wantIdent):
		exp = expectName(toks, i, prev, after)
	case strings.HasPrefix(want, "(") && !strings.Contains(want, wantUnit):
		exp = alternatives(want) + after
	case strings.Contains(want, wantUnit):
		exp = "a duration unit (minutes, hours, days, weeks, months, years)" + after
		if prev.typ == tNumber {
			exp = "a duration unit (minutes, hours, days, weeks, months, years) after " + prev.text
		}
	case wantValue[want]:
		exp = expectValue(toks, i, prev, after)
	case wantCond[want]:
		exp = "a condition" + after
	case want == wantIdent:
		exp = expectName(toks, i, prev, after)
		if t.typ == tKeyword {
			exp += fmt.Sprintf(" (%q is a reserved word)", t.text)
		}
	case want == wantString:
		exp = expectString(toks, i, prev, after)
	case want == wantClock:
		exp = "a time of day such as 22:00" + after
	case want == wantAction:
		exp = "an action (send, tag, untag or notify)" + after
	case wantEventRef[want]:
		exp = "an event type" + after
	case want == wantField:
		exp = `a field ("name type")` + after
	case strings.HasPrefix(want, `"`):
		exp = expectKeyword(want, toks, i, prev, after)
	case want == "":
		switch what {
		case "rule":
			if inActions(toks, i) {
				exp = `"and" and another action, an option (limit, priority, holdout, stop after) or a new declaration`
			} else {
				exp = `"then" after the condition`
			}
		case "segment":
			exp = `"and", "or" or a new declaration after the condition`
		case "input":
			exp = `"and", "or" or the end of the condition`
		default:
			exp = "a new declaration (rule, segment, event, member, cap, quiet hours, brand or import)"
		}
	default:
		exp = "something else" + after
	}
	if missing {
		return span, "expected " + exp
	}
	return span, "unexpected " + describe(t, what) + "; expected " + exp
}

// alternatives lists the quoted words of a participle group such as
// ("last" | "first") as `"last" or "first"`.
func alternatives(group string) string {
	var words []string
	for _, part := range strings.Split(strings.Trim(group, "()"), "|") {
		if w := strings.TrimSpace(part); strings.HasPrefix(w, `"`) {
			words = append(words, w)
		}
	}
	switch len(words) {
	case 0:
		return "something else"
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// inList reports whether token i is inside the parenthesised list of an
// `in (...)` test.
func inList(toks []token, i int) bool {
	for j := i - 1; j > 0; j-- {
		t := toks[j]
		switch {
		case t.typ == tPunct && t.text == "(":
			return toks[j-1].typ == tKeyword && toks[j-1].text == "in"
		case t.typ == tPunct && (t.text == "," || t.text == "-"),
			t.typ == tString, t.typ == tNumber, t.typ == tDate, t.typ == tTimestamp,
			t.typ == tKeyword && (t.text == "true" || t.text == "false"):
			// still inside a literal list
		default:
			return false
		}
	}
	return false
}

// isCondStart reports whether a condition is expected after token p.
func isCondStart(toks []token, i int, p token) bool {
	switch p.text {
	case "if", "where", "or", "not", "(":
		return p.typ != tString
	case "and":
		// `between X and Y` wants a value; other "and"s join conditions.
		for j := i - 2; j >= 0; j-- {
			switch toks[j].text {
			case "between":
				return false
			case "and", "or", "if", "where", "=", "then":
				return true
			}
		}
		return true
	case "=":
		// the "=" of `segment NAME ["Title"] =`
		return len(toks) > 0 && toks[0].text == "segment" && (i == 3 || i == 4)
	}
	return false
}

func expectValue(toks []token, i int, p token, after string) string {
	if p.typ == tKeyword || p.typ == tPunct {
		switch p.text {
		case "to", "priority", "holdout", "after", "least", "most", "exactly":
			return "a number" + after
		case "last", "every", "within":
			return "a duration such as 7 days" + after
		case "per":
			return "a unit or a duration (day, 30 days...)" + after
		}
	}
	if (p.text == "(" || p.text == ",") && p.typ == tPunct && inList(toks, i) {
		return "a value (a string, number, date or true/false)" + after
	}
	if isCondStart(toks, i, p) {
		return "a condition" + after
	}
	if i >= 2 && p.typ == tIdent && prepWords[toks[i-2].text] {
		return fmt.Sprintf("a value to compare %s with, such as \"A\"", p.text)
	}
	return "a value (a number, string, date, field or aggregate)" + after
}

func expectName(toks []token, i int, p token, after string) string {
	switch p.text {
	case "rule":
		return "a rule name" + after
	case "segment":
		return "a segment name" + after
	case "event":
		return "an event type name" + after
	case "send":
		return `a message kind (e.g. coupon, voucher, reminder)` + after
	case "via":
		if i >= 2 && toks[i-2].typ == tString {
			return "a channel (e.g. sms, email, app_push, wechat, phone)" + after
		}
		return "a field name" + after
	case ".":
		return `a field name after "."`
	case "matching":
		return "a field name" + after
	case "cap":
		return `a channel or "all"` + after
	case "cost":
		return "a channel (e.g. sms, email, app_push, wechat, phone)" + after
	case "(", "last", "first", "by":
		return "an event type" + after
	case "{", ",":
		return "a field name" + after
	}
	if prepWords[p.text] {
		return "a field name" + after
	}
	if p.typ == tIdent {
		return "a type (text, number, bool, date or timestamp)" + after
	}
	return "a name" + after
}

func expectString(toks []token, i int, p token, after string) string {
	switch p.text {
	case "brand":
		return `the brand name in double quotes, e.g. brand "acme"`
	case "import":
		return `a module name in double quotes, e.g. import "crm"`
	case "tag", "untag", "tagged":
		return "a tag name in double quotes" + after
	case "notify":
		return "a sink name in double quotes" + after
	}
	if i >= 2 && toks[i-2].text == "send" {
		return `the content id in double quotes (e.g. "A-10OFF")` + after
	}
	return "a string in double quotes" + after
}

func expectKeyword(want string, toks []token, i int, p token, after string) string {
	switch want {
	case `"then"`:
		return `"then" after the condition`
	case `"if"`:
		return `"if" and a condition` + after
	case `"via"`:
		return `"via" and a channel (e.g. via sms)` + after
	case `"="`:
		return `"=" and a condition after the segment name`
	case `"times"`:
		return `"times"` + after + " (e.g. at least 3 times)"
	case `"within"`:
		return `"within" and a duration (e.g. within 2 hours)` + after
	case `"%"`:
		return `"%" after the holdout percentage (e.g. holdout 10%)`
	case `")"`:
		return `")" to close the parenthesis` + after
	case `"}"`:
		return `"}" to close the field list`
	case `"{"`:
		return `"{" to start the field list` + after
	case `"member"`:
		return `"member" (limit once per member)` + after
	case `"and"`:
		return `"and" (between X and Y)` + after
	case `"once"`:
		return `"once per member" after "limit"`
	case `"per"`:
		if p.text == "once" {
			return `"per member" after "once" (limit once per member)`
		}
		return `"per" and a unit (e.g. per day)` + after
	case `"null"`:
		return `"null" or "not null"` + after
	case `"followed"`, `"by"`:
		return `"not followed by EVENT"`
	case `"hours"`:
		return `"hours" (quiet hours 22:00 to 08:00)` + after
	}
	return want + after
}
