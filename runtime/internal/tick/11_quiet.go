package tick

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"nudge/runtime/policy"
)

// quietHours settles the remaining open sends: scheduled at the end of the
// quiet period when now falls in one, else pending.
func (t *tick) quietHours(ctx context.Context) error {
	settle := func(now time.Time) (status, reason string, at sql.NullTime) {
		st, reason, end, scheduled := policy.Settle(now, t.prog.Quiet)
		return string(st), reason, sql.NullTime{Time: end, Valid: scheduled}
	}
	if policy.QuietPerChannel(t.prog.Quiet) {
		return t.quietPerChannel(ctx)
	}
	if len(t.instants) == 0 {
		// One instant: a plain UPDATE (a join with a one-row table is
		// far slower on many decisions).
		status, reason, at := settle(t.now)
		_, err := t.exec(ctx, `UPDATE _nudge_dec SET status = $st::VARCHAR, scheduled_at = $at::TIMESTAMP, reason = nullif($reason::VARCHAR, '')
		WHERE status IS NULL`, sql.Named("st", status), sql.Named("at", at), sql.Named("reason", reason))
		return err
	}
	var rows []string
	for _, now := range t.instants {
		status, reason, at := settle(now)
		sched := "NULL::TIMESTAMP"
		if at.Valid {
			sched = timestampSQL(at.Time)
		}
		rows = append(rows, fmt.Sprintf("(%s, %s, %s, nullif(%s, ''))", timestampSQL(now), quoteString(status), sched, quoteString(reason)))
	}
	_, err := t.exec(ctx, `UPDATE _nudge_dec SET status = q.st, scheduled_at = q.sched_at, reason = q.reason
FROM (VALUES `+strings.Join(rows, ", ")+`) q(now, st, sched_at, reason)
WHERE _nudge_dec.status IS NULL AND _nudge_dec.now = q.now`)
	return err
}

// channelSettle is how the quiet hours of a channel settle a send on it
// decided at now (policy.Settle).
type channelSettle struct {
	now       time.Time
	channel   string
	status    policy.Status
	reason    string
	end       time.Time // the end of the quiet period, when scheduled
	scheduled bool
}

// channelSettles settles, at each of the tick's instants, a send on each
// channel the program sends on (a fallback's too, SPEC §9) by that
// channel's quiet hours (policy.QuietFor), in a fixed order: for the quiet
// hours step and for the sends that end expired (lateSQL).
func (t *tick) channelSettles() []channelSettle {
	instants := t.instants
	if len(instants) == 0 {
		instants = []time.Time{t.now}
	}
	channels := map[string]bool{}
	for _, a := range t.prog.Sends() {
		for _, ch := range a.Channels() {
			channels[ch] = true
		}
	}
	var out []channelSettle
	for _, now := range instants {
		for _, ch := range slices.Sorted(maps.Keys(channels)) {
			st, reason, end, scheduled := policy.Settle(now, policy.QuietFor(t.prog.Quiet, ch))
			out = append(out, channelSettle{now: now, channel: ch, status: st, reason: reason, end: end, scheduled: scheduled})
		}
	}
	return out
}

// quietPerChannel is quietHours for a program with quiet hours for one
// channel (`quiet hours ... for CH`): each send is settled by the quiet
// hours of its channel (policy.QuietFor).
func (t *tick) quietPerChannel(ctx context.Context) error {
	var rows []string
	for _, s := range t.channelSettles() {
		sched := "NULL::TIMESTAMP"
		if s.scheduled {
			sched = timestampSQL(s.end)
		}
		rows = append(rows, fmt.Sprintf("(%s, %s, %s, %s, nullif(%s, ''))", timestampSQL(s.now), quoteString(s.channel), quoteString(string(s.status)), sched, quoteString(s.reason)))
	}
	if len(rows) == 0 {
		return nil
	}
	_, err := t.exec(ctx, `UPDATE _nudge_dec SET status = q.st, scheduled_at = q.sched_at, reason = q.reason
FROM (VALUES `+strings.Join(rows, ", ")+`) q(now, channel, st, sched_at, reason)
WHERE _nudge_dec.status IS NULL AND _nudge_dec.now = q.now AND _nudge_dec.channel = q.channel`)
	return err
}
