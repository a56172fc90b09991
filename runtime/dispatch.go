package runtime

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"nudge/compiler"
	"nudge/runtime/internal/tick"
	"nudge/runtime/policy"
)

// MaxAttempts is how many delivery attempts a send gets, over all ticks,
// before it is given up (status failed, final).
const MaxAttempts = 5

// quietEnd is policy.QuietEnd.
func quietEnd(now time.Time, quiet []compiler.Quiet) (time.Time, compiler.Quiet, bool) {
	return policy.QuietEnd(now, quiet)
}

// dispatchBatch is how many outbox rows a page of a delivery round holds.
const dispatchBatch = 10000

// DispatchResult counts what a dispatch did.
type DispatchResult struct {
	Attempted int // messages a sink tried
	Sent      int // messages every sink now has
	Failed    int // attempts that failed (the send stays pending for a later tick, or ends failed after MaxAttempts)
	GaveUp    int // sends that ended failed: their MaxAttempts-th attempt failed
	// Refused counts sends the delivery re-check ended: no_consent (the
	// member opted out since the decision).
	Refused int
	// Waiting counts sends the delivery re-check kept for later: every due
	// send when now is in quiet hours, else those whose cap window,
	// counted in deliveries, is full on some sink.
	Waiting int
	// Deferred says that due messages are left for the next dispatch:
	// the budget ran out before every one was tried, or sends decided
	// since the round began wait (a round takes them before its backlog).
	Deferred bool

	// Error is the first failed attempt's error, redacted ("" when none
	// failed): what the command line shows.
	Error string
}

// Dispatch delivers the due sends and notifies of brand to sinks: pending
// rows (new, or waiting for a retry) and scheduled rows whose time has
// come (scheduled_at <= now). Sends go to every unnamed sink, a notify to
// the sink it names; a row no sink can take is left as is. A round first
// finds where its due rows are (dueProbe: with nothing due it ends there),
// and offers the rows decided since the previous round first, then the
// older ones, oldest first (docs/decisions.md, "the order of a dispatch
// round").
//
// Before anything is delivered, the delivery re-check (recheckDue, the one
// place it lives) settles what may not go out at now: a send to a member
// whose consent for the channel is no longer true ends no_consent, and no
// send goes out when now is in quiet hours (they wait for a later dispatch).
// Then each sink gets each message once (outbox_deliveries): a send is
// offered to a sink only while the member's deliveries on that sink in each
// cap's window leave room (capRoom), so what a sink receives keeps the caps
// even when retries and quiet hours delay sends. A row is sent once every
// sink it goes to has it; a failed attempt counts and leaves the row
// pending with its last error, until the MaxAttempts-th fails: then it is
// failed (final). Delivery is at-least-once: a crash between delivery and
// recording delivers again, with the same idempotency key. prog gives the
// quiet hours and caps (nil: none). Dispatch returns after at most about
// budget, leaving what it did not try for later.
func (db *DB) Dispatch(ctx context.Context, prog *compiler.Program, brand string, now time.Time, sinks []Sink, budget time.Duration, runID int64) (DispatchResult, error) {
	var res DispatchResult
	now = naive(now)
	var quiet []compiler.Quiet
	var caps []compiler.Cap
	if prog != nil {
		quiet, caps = prog.Quiet, prog.Caps
	}
	// Sinks are told apart by identity; the same sink given twice is one.
	var sendSinks []Sink
	named := map[string]Sink{}
	var names []string
	seen := map[string]bool{}
	for _, s := range sinks {
		id := SinkID(s)
		if seen[id] {
			continue
		}
		seen[id] = true
		if s.Name() == "" {
			sendSinks = append(sendSinks, s)
		} else if _, dup := named[s.Name()]; !dup {
			named[s.Name()] = s
			names = append(names, s.Name())
		}
	}
	dctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	// Recording results must survive the budget's end.
	rctx := context.WithoutCancel(ctx)

	round, err := db.dueProbe(rctx, brand, now, len(sendSinks) > 0, names)
	if err != nil {
		return res, fmt.Errorf("finding the due messages: %w", err)
	}
	if round.due > 0 {
		if err := db.dispatchDue(dctx, rctx, brand, now, round, quiet, caps, sendSinks, named, names, &res); err != nil {
			return res, err
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

// dispatchDue is a round's work once dueProbe found due messages: the
// delivery re-check of their runs, then their delivery, page by page: the
// messages of the runs written since the previous round first, then the
// backlog, oldest first (by run, then key; docs/decisions.md).
func (db *DB) dispatchDue(dctx, rctx context.Context, brand string, now time.Time, round dueRound, quiet []compiler.Quiet, caps []compiler.Cap,
	sendSinks []Sink, named map[string]Sink, names []string, res *DispatchResult) error {
	// hold: quiet hours hold every send but the transactional ones.
	hold := false
	if len(sendSinks) > 0 {
		refused, quietNow, waiting, err := db.recheckDue(rctx, brand, now, quiet, round.all)
		if err != nil {
			return err
		}
		res.Refused, res.Waiting = refused, waiting
		hold = quietNow
	}
	for i, runs := range []tick.RunRange{round.fresh, round.backlog} {
		if runs.From > runs.To {
			continue
		}
		backlog := i == 1
		var after dueCursor
		for more := true; more; {
			if dctx.Err() != nil {
				res.Deferred = true
				return nil
			}
			page := tick.RunRange{From: max(runs.From, after.run), To: runs.To}
			batch, err := db.dueMessages(dctx, brand, now, len(sendSinks) > 0, hold, names, page, after)
			if err != nil {
				if dctx.Err() != nil {
					res.Deferred = true
					return nil
				}
				return err
			}
			// A page shorter than a full one is the last.
			if more = len(batch) == db.pageSize(); len(batch) == 0 {
				break
			}
			last := batch[len(batch)-1]
			after = dueCursor{run: last.runID, key: last.IdempotencyKey}
			if batch = heldByChannel(batch, now, quiet); len(batch) == 0 {
				continue
			}
			if err := db.deliverBatch(dctx, rctx, brand, now, batch, sendSinks, named, caps, res); err != nil {
				return err
			}
			if backlog && more {
				// Sends decided since the round began go before the rest
				// of the backlog: the next round, at its now, takes them
				// first.
				newer, err := db.dueSince(rctx, brand, now, len(sendSinks) > 0, names, round.all.To)
				if err != nil {
					return err
				}
				if newer {
					res.Deferred = true
					return nil
				}
			}
		}
	}
	return nil
}

// deliverBatch offers one batch of due messages to the sinks that do not
// have them yet and records the outcome.
func (db *DB) deliverBatch(dctx, rctx context.Context, brand string, now time.Time, batch []Message,
	sendSinks []Sink, named map[string]Sink, caps []compiler.Cap, res *DispatchResult) error {
	keys := make([]string, len(batch))
	for i, m := range batch {
		keys[i] = m.IdempotencyKey
	}
	has, err := db.deliveredTo(rctx, brand, keys)
	if err != nil {
		return err
	}
	// Which sinks each message goes to.
	targets := make([][]Sink, len(batch))
	for i, m := range batch {
		if m.Action == "notify" {
			targets[i] = []Sink{named[m.Content]}
		} else {
			targets[i] = sendSinks
		}
	}
	room, err := db.capRoom(rctx, brand, now, batch, has, sendSinks, caps)
	if err != nil {
		return err
	}

	outcome := make([]error, len(batch))
	tried := make([]bool, len(batch))
	skipped := make([]bool, len(batch)) // a sink did not try it: the budget ran out
	waiting := make([]bool, len(batch))
	var newMsgs []Message
	var newSinks []string
	route := map[Sink][]int{}
	for i, m := range batch {
		for _, s := range targets[i] {
			id := SinkID(s)
			switch {
			case has[m.IdempotencyKey][id]:
			case m.Action == "send" && !room[i][id]:
				waiting[i] = true
			default:
				route[s] = append(route[s], i)
			}
		}
	}
	for _, s := range append(append([]Sink(nil), sendSinks...), namedSinks(named)...) {
		idx := route[s]
		if len(idx) == 0 {
			continue
		}
		id := SinkID(s)
		msgs := make([]Message, len(idx))
		for j, i := range idx {
			msgs[j] = batch[i]
		}
		errs := s.Deliver(dctx, msgs)
		if n := len(errs); n != len(msgs) {
			bad := fmt.Errorf("sink %s returned %d results for %d messages", id, n, len(msgs))
			errs = make([]error, len(msgs))
			for j := range errs {
				errs[j] = bad
			}
		}
		for j, i := range idx {
			e := errs[j]
			if errors.Is(e, ErrNotAttempted) {
				skipped[i] = true
				continue
			}
			tried[i] = true
			if e != nil {
				if outcome[i] == nil {
					outcome[i] = e
				}
				continue
			}
			key := batch[i].IdempotencyKey
			if has[key] == nil {
				has[key] = map[string]bool{}
			}
			has[key][id] = true
			newMsgs = append(newMsgs, batch[i])
			newSinks = append(newSinks, id)
		}
	}

	var rKeys, rStatus, rErrs []string
	var rRuns []int64
	var rCount []bool
	for i, m := range batch {
		complete := true
		for _, s := range targets[i] {
			complete = complete && has[m.IdempotencyKey][SinkID(s)]
		}
		if waiting[i] && outcome[i] == nil {
			res.Waiting++
		}
		if tried[i] {
			res.Attempted++
		}
		switch {
		case outcome[i] != nil:
			res.Failed++
			status := string(policy.Pending)
			if m.Attempt >= MaxAttempts {
				status = string(policy.Failed)
				res.GaveUp++
			}
			rKeys, rStatus, rErrs, rCount = append(rKeys, m.IdempotencyKey), append(rStatus, status), append(rErrs, res.failure(outcome[i])), append(rCount, true)
			rRuns = append(rRuns, m.runID)
		case complete:
			res.Sent++
			rKeys, rStatus, rErrs, rCount = append(rKeys, m.IdempotencyKey), append(rStatus, string(policy.Sent)), append(rErrs, ""), append(rCount, tried[i])
			rRuns = append(rRuns, m.runID)
		case skipped[i]:
			res.Deferred = true
		}
	}
	if len(rKeys) == 0 && len(newMsgs) == 0 {
		return nil
	}
	return db.recordDelivery(rctx, brand, now, newMsgs, newSinks, rKeys, rRuns, rStatus, rErrs, rCount)
}

// namedSinks returns the notify sinks in name order.
func namedSinks(named map[string]Sink) []Sink {
	names := make([]string, 0, len(named))
	for n := range named {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]Sink, len(names))
	for i, n := range names {
		out[i] = named[n]
	}
	return out
}

// recheckDue is the delivery re-check (tick.Recheck, the one place it
// lives) of the due sends of runs, with the members' consent columns.
func (db *DB) recheckDue(ctx context.Context, brand string, now time.Time, quiet []compiler.Quiet, runs tick.RunRange) (refused int, hold bool, waiting int, err error) {
	cols, err := tablesColumns(ctx, db.sql, "members")
	if err != nil {
		return 0, false, 0, err
	}
	return tick.Recheck(ctx, db.sql, brand, now, columnNames(cols["members"]), quiet, runs)
}

// dueSQL is the condition that an outbox row waits for delivery at $now
// (tick.DueSQL).
const dueSQL = tick.DueSQL

// capRoom decides, per send of the batch and send sink, whether the sink
// may receive it at now: for every cap covering its channel, the member's
// sends the sink received in the cap's window (now - per, now] plus those
// the batch gives it before this one stay below the cap. Sends compete in
// the order they fired (then key); one kept back does not count. This is
// the caps' part of the delivery re-check: the tick's caps count sends by
// when they were decided, but a send delayed by retries or quiet hours goes
// out later, possibly next to a newer one; counting what each sink got
// keeps what a member receives within the caps. A send kept back stays due
// and goes out once the window has room.
func (db *DB) capRoom(ctx context.Context, brand string, now time.Time, batch []Message,
	has map[string]map[string]bool, sendSinks []Sink, caps []compiler.Cap) ([]map[string]bool, error) {
	room := make([]map[string]bool, len(batch))
	var members []string
	for i, m := range batch {
		room[i] = map[string]bool{}
		for _, s := range sendSinks {
			room[i][SinkID(s)] = true
		}
		if m.Action == "send" {
			members = append(members, m.MemberID)
		}
	}
	if len(caps) == 0 || len(members) == 0 || len(sendSinks) == 0 {
		return room, nil
	}
	ci := make([]int64, len(caps))
	chans := make([]string, len(caps))
	pers := make([]int64, len(caps))
	for i, c := range caps {
		ci[i], chans[i], pers[i] = int64(i), c.Channel, c.Per.Microseconds()
	}
	type slot struct {
		sink, member string
		cap          int
	}
	used := map[slot]int{}
	// The members' deliveries in the longest window first, then the
	// transactional ones among them left out: the outbox's transactional
	// rows are read where its zone maps do not rule them out.
	rows, err := db.sql.QueryContext(ctx, `
WITH d AS MATERIALIZED (
    SELECT sink, member_id, channel, delivered_at, idempotency_key FROM outbox_deliveries
    WHERE brand = $brand::VARCHAR AND member_id IN (SELECT unnest(`+jsonStrings("members")+`))
      AND delivered_at > $now::TIMESTAMP - to_microseconds($maxper::BIGINT) AND delivered_at <= $now::TIMESTAMP)
SELECT d.sink, d.member_id, c.ci, count(*)
FROM d
JOIN (SELECT unnest($ci::BIGINT[]) AS ci, unnest($ch::VARCHAR[]) AS channel, unnest($per::BIGINT[]) AS per_us) c
  ON (c.channel = '' OR c.channel = d.channel) AND d.delivered_at > $now::TIMESTAMP - to_microseconds(c.per_us)
ANTI JOIN (SELECT idempotency_key FROM outbox WHERE transactional AND brand = $brand::VARCHAR) o ON o.idempotency_key = d.idempotency_key
GROUP BY ALL`,
		sql.Named("ci", ci), sql.Named("ch", chans), sql.Named("per", pers), sql.Named("brand", brand),
		jsonArg("members", members), sql.Named("now", now), sql.Named("maxper", slices.Max(pers)))
	if err != nil {
		return nil, fmt.Errorf("counting deliveries for caps: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k slot
		var n int
		if err := rows.Scan(&k.sink, &k.member, &k.cap, &n); err != nil {
			return nil, err
		}
		used[k] = n
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	order := make([]int, len(batch))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		x, y := batch[order[a]], batch[order[b]]
		if x.FiredAt != y.FiredAt {
			return x.FiredAt < y.FiredAt
		}
		return x.IdempotencyKey < y.IdempotencyKey
	})
	for _, s := range sendSinks {
		id := SinkID(s)
		for _, i := range order {
			m := batch[i]
			if m.Action != "send" || has[m.IdempotencyKey][id] || m.transactional {
				continue
			}
			ok := true
			for c, cp := range caps {
				if (cp.Channel == "" || cp.Channel == m.Channel) && used[slot{id, m.MemberID, c}] >= cp.Count {
					ok = false
				}
			}
			room[i][id] = ok
			if !ok {
				continue
			}
			for c, cp := range caps {
				if cp.Channel == "" || cp.Channel == m.Channel {
					used[slot{id, m.MemberID, c}]++
				}
			}
		}
	}
	return room, nil
}

// deliveredTo returns, per idempotency key of keys, the sinks that have it.
func (db *DB) deliveredTo(ctx context.Context, brand string, keys []string) (map[string]map[string]bool, error) {
	rows, err := db.sql.QueryContext(ctx, `
SELECT idempotency_key, sink FROM outbox_deliveries
WHERE brand = $brand::VARCHAR AND idempotency_key IN (SELECT unnest(`+jsonStrings("k")+`))`,
		sql.Named("brand", brand), jsonArg("k", keys))
	if err != nil {
		return nil, fmt.Errorf("reading deliveries: %w", err)
	}
	defer rows.Close()
	out := map[string]map[string]bool{}
	for rows.Next() {
		var k, s string
		if err := rows.Scan(&k, &s); err != nil {
			return nil, err
		}
		if out[k] == nil {
			out[k] = map[string]bool{}
		}
		out[k][s] = true
	}
	return out, rows.Err()
}

// pageSize is how many due messages a page of a dispatch round holds.
func (db *DB) pageSize() int { return cmp.Or(db.dispatchPage, dispatchBatch) }

// dueCursor is where a page of due messages ended: the run and the key of
// its last message (the zero dueCursor: before the first).
type dueCursor struct {
	run int64
	key string
}

// dueMessages returns the next page of due messages of runs after the
// cursor, by run and then key.
func (db *DB) dueMessages(ctx context.Context, brand string, now time.Time, sends, hold bool, notifyNames []string, runs tick.RunRange, after dueCursor) ([]Message, error) {
	rows, err := db.sql.QueryContext(ctx, `
SELECT idempotency_key, firing_id, rule, brand, member_id, action, coalesce(kind, ''), coalesce(content, ''), coalesce(channel, ''),
       fired_at, scheduled_at, attempts, CAST(vals AS VARCHAR), CAST(params AS VARCHAR), coalesce(transactional, false), run_id
FROM outbox
WHERE `+runs.SQL()+` AND `+mineSQL+`
  AND (action = 'notify' OR NOT $hold::BOOLEAN OR transactional)
  AND `+dueSQL+`
  AND (run_id > $arun::BIGINT OR (run_id = $arun::BIGINT AND idempotency_key > $akey::VARCHAR))
ORDER BY run_id, idempotency_key
LIMIT $lim::INTEGER`,
		append(mineArgs(brand, sends, notifyNames, now),
			sql.Named("hold", hold), sql.Named("arun", after.run), sql.Named("akey", after.key), sql.Named("lim", db.pageSize()))...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var m Message
		var fired time.Time
		var sched sql.NullTime
		var vals, params sql.NullString
		if err := rows.Scan(&m.IdempotencyKey, &m.FiringID, &m.Rule, &m.Brand, &m.MemberID, &m.Action, &m.Kind, &m.Content, &m.Channel,
			&fired, &sched, &m.Attempt, &vals, &params, &m.transactional, &m.runID); err != nil {
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
		if params.Valid {
			m.Params = json.RawMessage(params.String)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// recordDelivery records, in one transaction, which sinks took which
// messages (delivered_at = now) and the new status of the rows (keys, of
// the runs runs) whose attempt failed (pending or, out of attempts,
// failed; the attempt counted, its error kept) or that every sink now has
// (sent at now, the error cleared; counted when tried now).
func (db *DB) recordDelivery(ctx context.Context, brand string, now time.Time, delivered []Message, dSinks, keys []string, runs []int64, statuses, errs []string, counted []bool) error {
	dKeys := make([]string, len(delivered))
	dMembers := make([]string, len(delivered))
	dChannels := make([]string, len(delivered))
	for i, m := range delivered {
		dKeys[i], dMembers[i], dChannels[i] = m.IdempotencyKey, m.MemberID, m.Channel
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if len(delivered) > 0 {
			if _, err := tx.ExecContext(ctx, `
INSERT INTO outbox_deliveries (brand, idempotency_key, sink, delivered_at, member_id, channel)
SELECT $brand::VARCHAR, unnest(`+jsonStrings("k")+`), unnest(`+jsonStrings("s")+`), $now::TIMESTAMP,
       unnest(`+jsonStrings("m")+`), nullif(unnest(`+jsonStrings("ch")+`), '')`,
				sql.Named("brand", brand), jsonArg("k", dKeys), jsonArg("s", dSinks), sql.Named("now", now),
				jsonArg("m", dMembers), jsonArg("ch", dChannels)); err != nil {
				return err
			}
		}
		if len(keys) == 0 {
			return nil
		}
		_, err := tx.ExecContext(ctx, `
UPDATE outbox SET
    status = r.st,
    attempts = attempts + CASE WHEN r.counted THEN 1 ELSE 0 END,
    sent_at = CASE WHEN r.st = `+policy.Sent.SQL()+` THEN $now::TIMESTAMP END,
    last_error = nullif(r.err, '')
FROM (SELECT unnest(`+jsonStrings("k")+`) AS k, unnest(from_json($r::VARCHAR, '["BIGINT"]')) AS run,
             unnest(`+jsonStrings("st")+`) AS st, unnest(`+jsonStrings("e")+`) AS err,
             unnest(from_json($c::VARCHAR, '["BOOLEAN"]')) AS counted) r
WHERE `+tick.RunRange{From: slices.Min(runs), To: slices.Max(runs)}.SQL()+`
  AND outbox.run_id = r.run AND outbox.brand = $brand::VARCHAR AND outbox.idempotency_key = r.k`,
			sql.Named("brand", brand), sql.Named("now", now), jsonArg("k", keys), jsonArg("r", runs), jsonArg("st", statuses),
			jsonArg("e", errs), jsonArg("c", counted))
		return err
	})
	if err != nil {
		return fmt.Errorf("recording deliveries: %w", err)
	}
	return nil
}

// jsonArg binds a long list as one JSON text (jsonStrings reads it back):
// the driver binds a list parameter element by element, which cost more
// than the statement for a batch of keys.
func jsonArg(name string, v any) sql.NamedArg {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // strings and booleans always marshal
	}
	return sql.Named(name, string(b))
}

// jsonStrings is the SQL list of strings bound by jsonArg(name, ...).
func jsonStrings(name string) string {
	return `from_json($` + name + `::VARCHAR, '["VARCHAR"]')`
}

// heldByChannel drops from batch the sends whose channel is in its own
// quiet hours at now (`quiet hours ... for CH`, policy.QuietFor): they wait
// for a later dispatch. Without such lines it returns batch as is (the
// re-check held every send already).
func heldByChannel(batch []Message, now time.Time, quiet []compiler.Quiet) []Message {
	if !policy.QuietPerChannel(quiet) {
		return batch
	}
	out := batch[:0]
	for _, m := range batch {
		if m.Action == "send" && !m.transactional { // service messages skip quiet hours (SPEC §9)
			if _, _, in := policy.QuietEnd(now, policy.QuietFor(quiet, m.Channel)); in {
				continue
			}
		}
		out = append(out, m)
	}
	return out
}
