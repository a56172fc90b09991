// Package sqlquote is where nudge turns strings and names into SQL text:
// string literals and identifiers for DuckDB. The compiler quotes the
// values of rule text with it, the runtime the names and texts of compiled
// programs and the paths and columns it is given.
package sqlquote

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// ErrNUL and ErrUTF8 are the reasons a string cannot become a SQL literal.
var (
	ErrNUL  = errors.New("contains a NUL character")
	ErrUTF8 = errors.New("is not valid UTF-8")
)

// String returns s as a SQL string literal: single quotes doubled, every
// other printable character (backslashes included: DuckDB's standard strings
// have no escapes) kept as is. ASCII control characters (newlines, tabs...)
// are spliced in with chr(n), so a literal never spans lines and the
// generated SQL can be re-indented safely:
// 'a' || chr(10) || 'b'. Strings holding NUL or invalid UTF-8 are rejected.
func String(s string) (string, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return "", ErrNUL
	}
	if !utf8.ValidString(s) {
		return "", ErrUTF8
	}
	var parts []string
	var cur strings.Builder
	cur.WriteByte('\'')
	for _, r := range s {
		switch {
		case r == '\'':
			cur.WriteString("''")
		case r < 0x20 || r == 0x7f:
			cur.WriteByte('\'')
			parts = append(parts, cur.String(), fmt.Sprintf("chr(%d)", r))
			cur.Reset()
			cur.WriteByte('\'')
		default:
			cur.WriteRune(r)
		}
	}
	cur.WriteByte('\'')
	if len(parts) == 0 {
		return cur.String(), nil
	}
	parts = append(parts, cur.String())
	return "(" + strings.Join(parts, " || ") + ")", nil
}

var plainIdent = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// sqlKeywords are the words DuckDB does not take as a bare identifier
// everywhere: its keywords other than the unreserved ones (duckdb_keywords();
// TestIdentKeywords checks the list against the pinned DuckDB).
var sqlKeywords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`
	all analyse analyze and anti any array as asc asof asymmetric at
	authorization between bigint binary bit boolean both by case cast char
	character check coalesce collate collation column columns concurrently
	constraint create cross dec decimal default deferrable desc describe
	distinct do else end except exists extract false fetch float for
	foreign freeze from full generated glob group grouping grouping_id
	having ilike in initially inner inout int integer intersect interval
	into is isnull join lambda lateral leading left like limit map national
	natural nchar none not notnull null nullif numeric offset on only or
	order out outer overlaps overlay pivot pivot_longer pivot_wider placing
	position positional precision primary qualify real references returning
	right row select semi setof show similar smallint some struct substring
	summarize symmetric table tablesample then time timestamp to trailing
	treat trim true try_cast union unique unpack unpivot user using values
	varchar variadic verbose when where window with xmlattributes xmlconcat
	xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi xmlroot
	xmlserialize xmltable
`) {
		m[w] = true
	}
	return m
}()

// Ident returns name as a SQL identifier: bare when it is a plain
// lower-case name that is not a keyword, double-quoted (inner quotes doubled)
// otherwise. Names holding NUL or invalid UTF-8 are rejected.
func Ident(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", ErrNUL
	}
	if !utf8.ValidString(name) {
		return "", ErrUTF8
	}
	if name != "" && plainIdent.MatchString(name) && !sqlKeywords[name] {
		return name, nil
	}
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`, nil
}

// Checked returns s as a SQL string literal (String), for texts the caller
// validated where they came in (the runtime quotes the names and texts of
// programs it accepted). Were s not quotable after all, the literal is a
// call of error(), which fails the statement instead of changing its
// meaning.
func Checked(s string) string {
	q, err := String(s)
	if err != nil {
		return "error('a string " + err.Error() + "')"
	}
	return q
}

// CheckedIdent returns name as a SQL identifier (Ident) for names the
// caller validated (see Checked); an unquotable name becomes one no table
// has.
func CheckedIdent(name string) string {
	q, err := Ident(name)
	if err != nil {
		return `"nudge: a name ` + err.Error() + `"`
	}
	return q
}
