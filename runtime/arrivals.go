package runtime

import (
	"context"
	"database/sql"
	"nudge/runtime/internal/tick"
	"time"
)

// AdmitArrivals does in tx what a tick of the brand at now would do first
// with the events waiting for their member (internal/tick/00_arrivals.go), for tools
// that explain a tick (`nudge why`) and then roll tx back. It returns how
// many events it admitted.
func AdmitArrivals(ctx context.Context, tx *sql.Tx, brand string, now time.Time, lookback time.Duration) (int64, error) {
	if lookback <= 0 {
		lookback = DefaultLookback
	}
	return tick.AdmitArrivals(ctx, tx, brand, naive(now), lookback)
}
