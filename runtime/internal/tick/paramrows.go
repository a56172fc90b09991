package tick

import (
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// paramRows is a table of rows given to a statement as parameters, one
// list of texts per column: a program's rules become rows of the tick's
// tables this way. DuckDB binds a VALUES list row by row, more than
// linearly in its length, and parses a JSON text of rows slowly; a list
// parameter is bound in one go.
type paramRows struct {
	param   string   // the prefix of the statement's parameters
	columns []string // name and DuckDB type of each column, in order ("ri INTEGER")
	values  [][]string
	rows    int
}

// add appends a row, its values in the order of the columns: nil, "" or
// a zero time stand for NULL.
func (p *paramRows) add(vals ...any) {
	if p.values == nil {
		p.values = make([][]string, len(p.columns))
	}
	for k, v := range vals {
		var s string
		switch v := v.(type) {
		case nil:
		case string:
			s = v
		case bool:
			s = strconv.FormatBool(v)
		case float64:
			s = strconv.FormatFloat(v, 'g', -1, 64)
		default:
			s = fmt.Sprint(v)
		}
		p.values[k] = append(p.values[k], s)
	}
	p.rows++
}

// sql is the table, a subquery whose columns are named and typed as in
// columns.
func (p *paramRows) sql() string {
	var unnest, cast []string
	for k, c := range p.columns {
		name, typ, _ := strings.Cut(c, " ")
		unnest = append(unnest, fmt.Sprintf("unnest($%s_%d::VARCHAR[]) AS c%d", p.param, k, k))
		cast = append(cast, fmt.Sprintf("CAST(nullif(c%d, '') AS %s) AS %s", k, typ, quoteIdent(name)))
	}
	return "(SELECT " + strings.Join(cast, ", ") + " FROM (SELECT " + strings.Join(unnest, ", ") + "))"
}

// args are the statement's parameters holding the rows.
func (p *paramRows) args() []any {
	out := make([]any, len(p.columns))
	for k := range p.columns {
		vals := []string{}
		if p.values != nil {
			vals = p.values[k]
		}
		out[k] = sql.Named(fmt.Sprintf("%s_%d", p.param, k), vals)
	}
	return out
}
