package engine

import (
	"context"
	"net/http"

	"nudge/runtime"
	"nudge/runtime/serve"
)

// ServiceQuery evaluates nudge serve's POST /v1/query over db: a session
// over the query's rule files, read-only, evaluating its condition as the
// REPL does at the service's now.
func ServiceQuery(db *runtime.DB) serve.QueryFunc {
	return func(ctx context.Context, q serve.Query) (*serve.QueryAnswer, error) {
		now := q.Now
		e := New(db, Options{Brand: q.Brand, PageSize: q.Limit, Lookback: q.Lookback, Now: &now})
		if len(q.Paths) > 0 {
			res, err := e.Load(ctx, q.Paths...)
			if err != nil {
				return nil, err
			}
			if res != nil && res.Kind == Diagnostics {
				return nil, &serve.QueryError{Status: http.StatusConflict, Message: "the rule files on disk have errors: " + res.Text}
			}
		}
		res, err := e.Eval(ctx, q.Condition)
		if err != nil {
			return nil, err
		}
		if res.Kind == Diagnostics {
			return nil, &serve.QueryError{Status: http.StatusBadRequest, Message: res.Text}
		}
		return &serve.QueryAnswer{Kind: res.Kind.String(), Count: res.Count, Now: res.Now, Columns: res.Columns, Rows: res.Rows, Trigger: res.Trigger}, nil
	}
}
