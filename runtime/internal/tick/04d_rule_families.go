package tick

import (
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Rule families.
//
// A chain with hundreds of stores writes a rule per store: rules whose
// queries differ only in the string a column is compared with (`queued at
// store "17"`) and in their own watermark parameters. Each statement costs
// planning and scheduling in proportion to its rules' queries, so such a
// program spends its tick preparing thousands of nearly identical queries.
// A family is such a set of rules: the tick evaluates it in one statement,
// the shared query laterally joined to a table of the rules' own values
// (one row per rule: its index, the strings that differ, its watermark
// parameters). LATERAL evaluates the query once per row of that table, so
// each rule gives the rows its own query gives (TestRuleFamiliesMatchPerRule).
//
// Only a string literal compared (=, <>, !=) with a qualified column that
// is VARCHAR in events and members becomes a value of the table: elsewhere
// (INTERVAL '30 days', a format, a pattern) a literal must stay a constant,
// and a VARCHAR compared with a column of another type would not bind.

// minFamily is the fewest rules evaluated as a family: fewer fit in one
// statement of ruleBatch rules anyway.
const minFamily = ruleBatch

// familyParam is the statement parameter holding a family's table.
const familyParam = "family"

// sqlPiece is a piece of a rule's SQL: text, a string literal a family may
// take from its table (slot), or a reference to one of the rule's own
// parameters (arg, its index in the rule's arguments).
type sqlPiece struct {
	text string // the text, or the literal as written ('it''s')
	slot bool   // a literal compared with a VARCHAR column
	arg  int    // 1 + the index of the own parameter; 0: none
}

// columnBeforeComparison matches the end of SQL text that is a qualified
// column followed by =, <> or !=: the left side of a comparison whose
// right side starts next.
var columnBeforeComparison = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*\.("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_]*)\s*(=|<>|!=)\s*$`)

// maxComparisonTail is how much of the text before a literal splitSQL
// reads for the column it is compared with: a longer quoted name makes no
// slot (and no family), which is safe.
const maxComparisonTail = 256

// splitSQL cuts q into pieces: string literals (slots when varchar says the
// column they are compared with is VARCHAR), references to the named
// parameters own ($name), and the text between them. Quoted identifiers
// are text; comments are left out.
func splitSQL(q string, own []string, varchar func(col string) bool) []sqlPiece {
	var pieces []sqlPiece
	var text strings.Builder
	flush := func() {
		if text.Len() > 0 {
			pieces = append(pieces, sqlPiece{text: text.String()})
			text.Reset()
		}
	}
	for i := 0; i < len(q); {
		switch c := q[i]; {
		case c == '-' && strings.HasPrefix(q[i:], "--"):
			end := strings.IndexByte(q[i:], '\n')
			if end < 0 {
				end = len(q) - i
			}
			i += end // (a comment may quote the rule's literals)
		case c == '"' || c == '\'':
			end := i + 1
			for end < len(q) {
				if q[end] == c {
					if end+1 < len(q) && q[end+1] == c {
						end += 2
						continue
					}
					break
				}
				end++
			}
			end = min(end+1, len(q))
			if c == '"' {
				text.WriteString(q[i:end])
			} else {
				slot := false
				// (The comparison is in the text's last bytes: matching
				// all of it at every literal would cost the square of a
				// rule's length.)
				before := text.String()
				before = before[max(0, len(before)-maxComparisonTail):]
				if m := columnBeforeComparison.FindStringSubmatch(before); m != nil {
					slot = varchar(unquoteIdent(m[1]))
				}
				flush()
				pieces = append(pieces, sqlPiece{text: q[i:end], slot: slot})
			}
			i = end
		case c == '$':
			end := i + 1
			for end < len(q) && (q[end] == '_' || q[end] >= 'a' && q[end] <= 'z' || q[end] >= 'A' && q[end] <= 'Z' || q[end] >= '0' && q[end] <= '9') {
				end++
			}
			if k := slices.Index(own, q[i+1:end]); k >= 0 {
				flush()
				pieces = append(pieces, sqlPiece{text: q[i:end], arg: k + 1})
			} else {
				text.WriteString(q[i:end])
			}
			i = end
		default:
			text.WriteByte(c)
			i++
		}
	}
	flush()
	return pieces
}

// unquoteIdent is the name of an identifier as written in SQL.
func unquoteIdent(s string) string {
	if strings.HasPrefix(s, `"`) && strings.HasSuffix(s, `"`) && len(s) >= 2 {
		return strings.ReplaceAll(s[1:len(s)-1], `""`, `"`)
	}
	return s
}

// shapeKey is what the rules of a family have in common: the pieces with
// the slots and the own parameters left out.
func shapeKey(pieces []sqlPiece) string {
	var b strings.Builder
	for _, p := range pieces {
		switch {
		case p.slot:
			b.WriteString("\x00slot\x00")
		case p.arg > 0:
			fmt.Fprintf(&b, "\x00arg%d\x00", p.arg)
		default:
			b.WriteString(p.text)
		}
	}
	return b.String()
}

// ruleFamily is a family's members (rule indexes, in program order) and
// the split SQL of each.
type ruleFamily struct {
	rules  []int
	pieces [][]sqlPiece
	args   [][]any // each rule's own arguments
}

// familyRI and familyFrom stand, in the SQL a family's rules are split
// from, for the rule's index and for what precedes its query in the FROM
// clause (ruleQueryAs): they are the same in every rule.
const (
	familyRI   = "\x00ri\x00"
	familyFrom = "\x00from\x00"
)

// families groups rules (in program order) into families of at least
// minFamily rules with the same shape; the others are returned in
// program order. own gives a rule's own arguments (its watermarks).
func (t *tick) families(rules []int, own func(i int) []any) (fams []ruleFamily, rest []int) {
	if len(rules) < minFamily || t.mode.has(PerRule) {
		return nil, rules
	}
	byKey := map[string]int{}
	var all []ruleFamily
	for _, i := range rules {
		args := own(i)
		var names []string
		for _, a := range args {
			n, ok := a.(sql.NamedArg)
			if !ok {
				return nil, rules
			}
			names = append(names, n.Name)
		}
		pieces := splitSQL(t.ruleQueryAs(i, familyRI, familyFrom), names, func(col string) bool { return t.varchar[col] })
		key := shapeKey(pieces)
		for _, a := range args {
			key += fmt.Sprintf("\x00%T", a.(sql.NamedArg).Value)
		}
		k, ok := byKey[key]
		if !ok {
			k = len(all)
			byKey[key] = k
			all = append(all, ruleFamily{})
		}
		f := &all[k]
		f.rules = append(f.rules, i)
		f.pieces = append(f.pieces, pieces)
		f.args = append(f.args, args)
	}
	for _, f := range all {
		if len(f.rules) >= minFamily && familyTypes(f.args[0]) != nil {
			fams = append(fams, f)
		} else {
			rest = append(rest, f.rules...)
		}
	}
	slices.Sort(rest) // (in program order, as they came)
	return fams, rest
}

// familyRules are the rules of fams, in program order.
func familyRules(fams []ruleFamily) []int {
	var rules []int
	for _, f := range fams {
		rules = append(rules, f.rules...)
	}
	slices.Sort(rules)
	return rules
}

// familyTypes are the DuckDB types of a family's own arguments (nil when
// one has a type a family's table cannot carry).
func familyTypes(args []any) []string {
	types := []string{}
	for _, a := range args {
		switch a.(sql.NamedArg).Value.(type) {
		case int64:
			types = append(types, "BIGINT")
		case time.Time:
			types = append(types, "TIMESTAMP")
		case string:
			types = append(types, "VARCHAR")
		default:
			return nil
		}
	}
	return types
}

// query is the family's statement body, the SELECT of its rules'
// candidates (ri, member_id, trigger_seq, due_at, vals, params), and its
// table's argument. A slot whose literal is the same in every rule stays
// that literal.
func (f *ruleFamily) query() (string, sql.NamedArg) {
	first := f.pieces[0]
	varies := make([]bool, len(first))
	for j, p := range first {
		if !p.slot {
			continue
		}
		for _, ps := range f.pieces[1:] {
			if ps[j].text != p.text {
				varies[j] = true
				break
			}
		}
	}
	table := jsonRows{param: familyParam, columns: []string{"ri INTEGER"}}
	for j := range first {
		if varies[j] {
			table.columns = append(table.columns, fmt.Sprintf("s%d VARCHAR", j))
		}
	}
	for k, typ := range familyTypes(f.args[0]) {
		table.columns = append(table.columns, fmt.Sprintf("a%d %s", k, typ))
	}
	for r, i := range f.rules {
		row := []any{i}
		for j, p := range f.pieces[r] {
			if varies[j] {
				row = append(row, unquoteString(p.text))
			}
		}
		for _, a := range f.args[r] {
			v := a.(sql.NamedArg).Value
			if ts, ok := v.(time.Time); ok {
				v = ts.UTC().Format(timestampLayout)
			}
			row = append(row, v)
		}
		table.add(row...)
	}
	var b strings.Builder
	for j, p := range first {
		switch {
		case varies[j]:
			fmt.Fprintf(&b, "_nudge_family.s%d", j)
		case p.arg > 0:
			fmt.Fprintf(&b, "_nudge_family.a%d", p.arg-1)
		default:
			b.WriteString(p.text)
		}
	}
	q := strings.Replace(b.String(), familyRI, "_nudge_family.ri", 1)
	q = strings.Replace(q, familyFrom, table.sql()+" _nudge_family, LATERAL ", 1)
	return q, table.arg()
}

// unquoteString is the value of a string literal as written in SQL.
func unquoteString(lit string) string {
	return strings.ReplaceAll(lit[1:len(lit)-1], "''", "'")
}
