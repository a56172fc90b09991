package runtime

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// MaxAttempts is how many delivery attempts a send gets, over all ticks,
// before it stays failed.
const MaxAttempts = 5

// dispatchBatch is how many outbox rows one delivery round handles.
const dispatchBatch = 10000

// DispatchResult counts what a dispatch did.
type DispatchResult struct {
	Attempted int // messages a sink tried
	Sent      int
	Failed    int  // attempts that failed (retried at later ticks up to MaxAttempts)
	Deferred  bool // the budget ran out before every due message was tried
}

// Dispatch delivers the due sends and notifies of brand to sinks: pending
// rows, scheduled rows whose time has come (scheduled_at <= now) and failed
// rows with attempts left. Each row moves to sent or failed, its attempts
// counted; a row no sink can take (a notify without its named sink, a send
// without an unnamed sink) is left as is. Delivery is at-least-once: a crash
// between delivery and recording delivers again, with the same idempotency
// key. Dispatch returns after at most about budget, leaving what it did not
// try for later.
func (db *DB) Dispatch(ctx context.Context, brand string, now time.Time, sinks []Sink, budget time.Duration, runID int64) (DispatchResult, error) {
	var res DispatchResult
	now = naive(now)
	var sendSinks []Sink
	named := map[string]Sink{}
	var names []string
	for _, s := range sinks {
		if s.Name() == "" {
			sendSinks = append(sendSinks, s)
		} else {
			named[s.Name()] = s
			names = append(names, s.Name())
		}
	}
	dctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	// Recording results must survive the budget's end.
	rctx := context.WithoutCancel(ctx)

	after := ""
	for {
		if dctx.Err() != nil {
			res.Deferred = true
			break
		}
		batch, err := db.dueMessages(dctx, brand, now, len(sendSinks) > 0, names, after)
		if err != nil {
			if dctx.Err() != nil {
				res.Deferred = true
				break
			}
			return res, err
		}
		if len(batch) == 0 {
			break
		}
		after = batch[len(batch)-1].IdempotencyKey

		// Route: sends to every unnamed sink, notifies to their sink.
		outcome := make([]error, len(batch))
		tried := make([]bool, len(batch))
		route := map[Sink][]int{}
		for i, m := range batch {
			if m.Action == "notify" {
				route[named[m.Content]] = append(route[named[m.Content]], i)
			} else {
				for _, s := range sendSinks {
					route[s] = append(route[s], i)
				}
			}
		}
		for s, idx := range route {
			msgs := make([]Message, len(idx))
			for j, i := range idx {
				msgs[j] = batch[i]
			}
			errs := s.Deliver(dctx, msgs)
			if n := len(errs); n != len(msgs) {
				bad := fmt.Errorf("sink %T returned %d results for %d messages", s, n, len(msgs))
				errs = make([]error, len(msgs))
				for j := range errs {
					errs[j] = bad
				}
			}
			for j, i := range idx {
				e := errs[j]
				if errors.Is(e, ErrNotAttempted) {
					continue
				}
				tried[i] = true
				if e != nil && outcome[i] == nil {
					outcome[i] = e
				}
			}
		}
		var keys, errsText []string
		var oks []bool
		for i, m := range batch {
			if !tried[i] {
				res.Deferred = true
				continue
			}
			res.Attempted++
			keys = append(keys, m.IdempotencyKey)
			oks = append(oks, outcome[i] == nil)
			if outcome[i] == nil {
				res.Sent++
				errsText = append(errsText, "")
			} else {
				res.Failed++
				errsText = append(errsText, outcome[i].Error())
			}
		}
		if len(keys) > 0 {
			if err := db.recordDelivery(rctx, now, keys, oks, errsText); err != nil {
				return res, err
			}
		}
	}
	if runID > 0 {
		if _, err := db.sql.ExecContext(rctx, `UPDATE runs SET dispatched_at = $t::TIMESTAMP, sent = $s::BIGINT, failed = $f::BIGINT WHERE id = $id::BIGINT`,
			sql.Named("t", naive(time.Now())), sql.Named("s", res.Sent), sql.Named("f", res.Failed), sql.Named("id", runID)); err != nil {
			return res, err
		}
	}
	return res, nil
}

// dueMessages returns the next batch of due rows after key `after`.
func (db *DB) dueMessages(ctx context.Context, brand string, now time.Time, sends bool, notifyNames []string, after string) ([]Message, error) {
	if notifyNames == nil {
		notifyNames = []string{}
	}
	rows, err := db.sql.QueryContext(ctx, `
SELECT idempotency_key, firing_id, rule, brand, member_id, action, coalesce(kind, ''), coalesce(content, ''), coalesce(channel, ''),
       fired_at, scheduled_at, attempts, CAST(vals AS VARCHAR)
FROM outbox
WHERE brand = $brand::VARCHAR
  AND ((action = 'send' AND $sends::BOOLEAN) OR (action = 'notify' AND list_contains($names::VARCHAR[], content)))
  AND (status = 'pending'
       OR (status = 'scheduled' AND scheduled_at <= $now::TIMESTAMP)
       OR (status = 'failed' AND attempts < $max::INTEGER))
  AND idempotency_key > $after::VARCHAR
ORDER BY idempotency_key
LIMIT $lim::INTEGER`,
		sql.Named("brand", brand), sql.Named("sends", sends), sql.Named("names", notifyNames), sql.Named("now", now),
		sql.Named("max", MaxAttempts), sql.Named("after", after), sql.Named("lim", dispatchBatch))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var m Message
		var fired time.Time
		var sched sql.NullTime
		var vals sql.NullString
		if err := rows.Scan(&m.IdempotencyKey, &m.FiringID, &m.Rule, &m.Brand, &m.MemberID, &m.Action, &m.Kind, &m.Content, &m.Channel,
			&fired, &sched, &m.Attempt, &vals); err != nil {
			return nil, err
		}
		m.Attempt++
		m.FiredAt = naive(fired).Format(timeLayout)
		if sched.Valid {
			m.ScheduledAt = naive(sched.Time).Format(timeLayout)
		}
		if vals.Valid {
			m.Values = json.RawMessage(vals.String)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// recordDelivery moves delivered rows to sent and failed ones to failed,
// counting the attempt, in one statement.
func (db *DB) recordDelivery(ctx context.Context, now time.Time, keys []string, oks []bool, errs []string) error {
	_, err := db.sql.ExecContext(ctx, `
UPDATE outbox SET
    status = CASE WHEN r.ok THEN 'sent' ELSE 'failed' END,
    attempts = attempts + 1,
    sent_at = CASE WHEN r.ok THEN $now::TIMESTAMP END,
    last_error = nullif(r.err, '')
FROM (SELECT unnest($k::VARCHAR[]) AS k, unnest($ok::BOOLEAN[]) AS ok, unnest($e::VARCHAR[]) AS err) r
WHERE outbox.idempotency_key = r.k`,
		sql.Named("now", now), sql.Named("k", keys), sql.Named("ok", oks), sql.Named("e", errs))
	if err != nil {
		return fmt.Errorf("recording deliveries: %w", err)
	}
	return nil
}
