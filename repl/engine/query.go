package engine

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"nudge/compiler"
	"nudge/runtime"
)

// brandFor returns the brand the session evaluates for: the program's
// `brand` (a rule file's or one declared in the session), else --brand,
// else the only brand in the database ("" when it is empty), by the
// runtime's rule (runtime.DatabaseBrand). A brand declared in the session
// takes over from --brand rather than contradicting it: that is how a
// session switches brands.
func (e *Engine) brandFor(ctx context.Context, q queryer) (string, error) {
	fileBrand, optBrand := e.brands()
	return runtime.DatabaseBrand(ctx, q, fileBrand, optBrand)
}

// brands returns the program's brand and the --brand to give the runtime:
// --brand only when the program names none.
func (e *Engine) brands() (fileBrand, optBrand string) {
	if e.prog != nil && e.prog.Info != nil && e.prog.Info.Brand != "" {
		return e.prog.Info.Brand, ""
	}
	return "", e.opts.Brand
}

// queryer is *sql.Tx or *sql.DB.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// readTx runs fn in a transaction that is always rolled back, so nothing fn
// does is ever written.
func (e *Engine) readTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	db, err := e.database(ctx, false)
	if err != nil {
		return err
	}
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin read transaction: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only: rollback is the point
	return fn(tx)
}

// audience runs a condition's query at now. For a state condition: how
// many members match and the first page of them, with their name and the
// values the condition used. For a trigger: the events of the lookback
// window before now that would fire it, newest first.
func (e *Engine) audience(ctx context.Context, c *cond) (*Result, error) {
	now := e.evalNow()
	res := &Result{Kind: Audience, Now: now}
	if c.trigger {
		res.Trigger, res.Lookback = true, e.lookback
	}
	start := time.Now()
	err := e.readTx(ctx, func(tx *sql.Tx) error {
		brand, err := e.brandFor(ctx, tx)
		if err != nil {
			return err
		}
		args := []any{sql.Named(compiler.ParamNow, now), sql.Named(compiler.ParamBrand, brand)}
		order := "q.member_id"
		if c.trigger {
			// As on a rule's first run: every event due in the lookback.
			args = append(args, c.watermarks.Args(int64(math.MaxInt64), now.Add(-e.lookback))...)
			order = "q.due_at DESC, q.member_id, q.trigger_seq"
		}
		// One pass: the window count is computed before the LIMIT.
		q := "SELECT q.*, mm.name AS \"nudge·name\", count(*) OVER () AS \"nudge·count\"\n" +
			"FROM (\n" + c.SQL + "\n) q\nLEFT JOIN members mm ON mm.member_id = q.member_id AND mm.brand = $" + compiler.ParamBrand + "::VARCHAR\n" +
			"ORDER BY " + order + "\nLIMIT " + strconv.Itoa(e.opts.PageSize)
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("audience query: %w", err)
		}
		cols, cells, err := scanAll(rows, e.opts.PageSize)
		if err != nil {
			return fmt.Errorf("audience query: %w", err)
		}
		// Columns: member_id, v0..vn, name, count. Show member_id, name, then
		// the values under their labels.
		labels := map[string]string{}
		for _, v := range c.Values {
			labels[v.Column] = v.Label
		}
		if c.trigger {
			labels["due_at"] = "event at"
		}
		nameIdx, countIdx := len(cols)-2, len(cols)-1
		res.Columns = []string{"member_id", "name"}
		pick := []int{0, nameIdx}
		for i := 1; i < nameIdx; i++ {
			label, ok := labels[cols[i]]
			if !ok {
				continue // trigger_seq; due_at of a state condition (NULL)
			}
			res.Columns = append(res.Columns, label)
			pick = append(pick, i)
		}
		for _, r := range cells {
			row := make([]string, len(pick))
			for j, i := range pick {
				row[j] = r[i]
			}
			res.Rows = append(res.Rows, row)
		}
		if len(cells) > 0 {
			n, err := strconv.ParseInt(cells[0][countIdx], 10, 64)
			if err != nil {
				return fmt.Errorf("audience count %q: %w", cells[0][countIdx], err)
			}
			res.Count = n
		}
		return nil
	})
	res.Elapsed = time.Since(start)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// scanAll reads every row of rows, keeping at most keep of them formatted as
// strings, and returns the column names and the kept rows.
func scanAll(rows *sql.Rows, keep int) ([]string, [][]string, error) {
	cols, kept, _, err := scanCount(rows, keep)
	return cols, kept, err
}

// scanCount reads every row of rows, keeps the first keep formatted as
// strings, and counts all of them.
func scanCount(rows *sql.Rows, keep int) (cols []string, kept [][]string, n int64, err error) {
	defer rows.Close()
	cols, err = rows.Columns()
	if err != nil {
		return nil, nil, 0, err
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, nil, 0, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		n++
		if int64(len(kept)) >= int64(keep) {
			continue
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, 0, err
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = FormatValue(v, types[i].DatabaseTypeName())
		}
		kept = append(kept, row)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, 0, err
	}
	return cols, kept, n, nil
}

// FormatValue prints one SQL value for a table cell. dbType is the column's
// DuckDB type name (DATE prints without a time).
func FormatValue(v any, dbType string) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case string:
		return v
	case []byte:
		return string(v)
	case bool:
		return strconv.FormatBool(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case int32:
		return strconv.FormatInt(int64(v), 10)
	case int16, int8, int, uint8, uint16, uint32, uint64:
		return fmt.Sprint(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(v), 'f', -1, 32)
	case *big.Int:
		return v.String()
	case duckdb.Decimal:
		return formatDecimal(v)
	case time.Time:
		if dbType == "DATE" {
			return v.Format("2006-01-02")
		}
		if v.Nanosecond() != 0 {
			return v.Format("2006-01-02 15:04:05.000000")
		}
		return v.Format("2006-01-02 15:04:05")
	case duckdb.Interval:
		return formatInterval(v)
	case map[string]any, []any:
		b, err := json.Marshal(v)
		if err == nil {
			return string(b)
		}
	}
	return fmt.Sprint(v)
}

// formatDecimal prints a DECIMAL exactly, with its scale: 12.50.
func formatDecimal(d duckdb.Decimal) string {
	if d.Value == nil {
		return "NULL"
	}
	s := new(big.Int).Abs(d.Value).String()
	sign := ""
	if d.Value.Sign() < 0 {
		sign = "-"
	}
	scale := int(d.Scale)
	if scale == 0 {
		return sign + s
	}
	for len(s) <= scale {
		s = "0" + s
	}
	return sign + s[:len(s)-scale] + "." + s[len(s)-scale:]
}

func formatInterval(iv duckdb.Interval) string {
	var parts []string
	if iv.Months != 0 {
		parts = append(parts, fmt.Sprintf("%d months", iv.Months))
	}
	if iv.Days != 0 {
		parts = append(parts, fmt.Sprintf("%d days", iv.Days))
	}
	if iv.Micros != 0 || len(parts) == 0 {
		parts = append(parts, (time.Duration(iv.Micros) * time.Microsecond).String())
	}
	return strings.Join(parts, " ")
}

// ErrNotReadOnly is returned (wrapped) for `\sql` input that is not a single
// SELECT statement.
var ErrNotReadOnly = errors.New(`\sql runs one read-only SELECT statement`)

// rawSQL runs `\sql QUERY`: one SELECT, in the session's sandbox (see
// sandbox.go), which holds the session brand's rows and can reach nothing
// else.
func (e *Engine) rawSQL(ctx context.Context, query string) (*Result, error) {
	query = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(query), ";"))
	if query == "" {
		return &Result{Kind: Text, Text: "usage: \\sql SELECT ..."}, nil
	}
	res := &Result{Kind: Table}
	start := time.Now()
	var sbx *sandbox
	err := e.readTx(ctx, func(tx *sql.Tx) error {
		brand, err := e.brandFor(ctx, tx)
		if err != nil {
			return err
		}
		if sbx, err = e.sandboxFor(ctx, tx, brand); err != nil {
			return err
		}
		st, err := checkStatement(ctx, sbx.db, query)
		if err != nil {
			return err
		}
		for _, t := range st.tables {
			if err := sbx.load(ctx, tx, t); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		// The copies are made: the query needs the file no more.
		err = e.release()
	}
	if err == nil {
		err = sbx.query(ctx, query, max(e.opts.PageSize, 1000), res)
	}
	if err != nil && sbx != nil && !sbx.healthy(context.WithoutCancel(ctx)) {
		// Left open: disconnecting an instance in this state aborts the
		// process (see sandbox.go). The next \sql opens a new one.
		e.sbx = nil
	}
	res.Elapsed = time.Since(start)
	if errors.Is(err, ErrNotReadOnly) || errors.Is(err, ErrRefused) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("sql: %w", explainSandboxError(err))
	}
	e.lastSQL = query
	return res, nil
}
