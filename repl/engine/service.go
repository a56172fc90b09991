package engine

import (
	"context"
	"fmt"
	"net/http"

	"nudge/runtime"
	"nudge/runtime/serve"
)

// ServiceQuery evaluates nudge serve's POST /v1/query over db: a session
// over the running program's rule files (their texts as the service loaded
// them, not the files on disk), read-only, evaluating its condition as the
// REPL does at the service's now.
func ServiceQuery(db *runtime.DB) serve.QueryFunc {
	return func(ctx context.Context, q serve.Query) (*serve.QueryAnswer, error) {
		now := q.Now
		e := New(db, Options{Brand: q.Brand, PageSize: q.Limit, Lookback: q.Lookback, Now: &now})
		if len(q.Sources) > 0 {
			if _, _, bad := e.useFiles(q.Sources); bad != nil {
				// (The service checked them before running them: an
				// engine that disagrees is a fault, not the client's.)
				return nil, fmt.Errorf("the running rules do not load in the query session: %s", bad.Text)
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
