package tick

import (
	"database/sql"
	"encoding/json"
	"strings"
)

// jsonRows is a table of rows given to a statement as one JSON parameter:
// a program's rules become rows of the tick's tables this way. DuckDB
// binds a VALUES list row by row, and more than linearly in its length;
// one JSON text is parsed in one go.
type jsonRows struct {
	param   string   // the name of the statement's parameter
	columns []string // name and DuckDB type of each column, in order ("ri INTEGER")
	rows    [][]any
}

// add appends a row, its values in the order of the columns.
func (j *jsonRows) add(vals ...any) { j.rows = append(j.rows, vals) }

// sql is the table, a subquery whose columns are named as in columns.
func (j *jsonRows) sql() string {
	var schema []string
	for _, c := range j.columns {
		name, typ, _ := strings.Cut(c, " ")
		n, _ := json.Marshal(name)
		t, _ := json.Marshal(typ)
		schema = append(schema, string(n)+":"+string(t))
	}
	return "(SELECT unnest(from_json($" + j.param + "::JSON, " + quoteString(`[{`+strings.Join(schema, ",")+`}]`) + "), recursive := true))"
}

// arg is the statement's parameter holding the rows.
func (j *jsonRows) arg() sql.NamedArg {
	objs := make([]map[string]any, len(j.rows))
	for i, r := range j.rows {
		o := make(map[string]any, len(r))
		for k, c := range j.columns {
			name, _, _ := strings.Cut(c, " ")
			o[name] = r[k]
		}
		objs[i] = o
	}
	b, _ := json.Marshal(objs)
	return sql.Named(j.param, string(b))
}
