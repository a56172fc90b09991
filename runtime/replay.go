package runtime

import (
	"context"
	"fmt"
	"slices"
	"time"

	"nudge/compiler"
	"nudge/runtime/internal/tick"
)

// IsNotReplayable reports whether err says that Replay cannot batch the
// ticks it was given, which must then be run one by one.
func IsNotReplayable(err error) bool { return tick.IsNotReplayable(err) }

// CanReplay reports whether Replay may batch ticks of prog at all: every
// rule has a lane form, the program has no journey (a round runs the
// rules' lanes only: a journey's steps, its entries at a tick's now and
// its sends competing with the rules' for caps need the tick's journey
// step at every tick) and one stratum (a round's policy steps apply every
// rule's tags at once; strata need them applied between the rules'
// evaluations). A program for which it is false is always run tick by
// tick.
func CanReplay(prog *compiler.Program) bool {
	for _, rule := range prog.Rules {
		if rule.Tick.LaneSQL == "" {
			return false
		}
	}
	return len(prog.Journeys) == 0 && prog.Strata() <= 1
}

// Replay runs the ticks at the instants ticks (increasing, all after prev,
// the now of the latest tick run, and on its date) as Run would run them one
// after the other, in one transaction, and returns one RunResult per tick
// (no decisions, no dispatch, no timings; a rule's Candidates are those
// settled at the tick, which a tick, evaluating more members, may count
// higher). It returns an error for which IsNotReplayable holds when they
// cannot be replayed (internal/tick/replay.go says when and how the
// rounds work); nothing is changed then.
func (db *DB) Replay(ctx context.Context, prog *compiler.Program, opts RunOptions, prev time.Time, ticks []time.Time) ([]*RunResult, error) {
	if len(ticks) == 0 {
		return nil, nil
	}
	if err := checkProgram(prog); err != nil {
		return nil, err
	}
	if !CanReplay(prog) {
		return nil, tick.ErrNotReplayable // before reading anything
	}
	prev = naive(prev)
	ticks = slices.Clone(ticks)
	for i := range ticks {
		ticks[i] = naive(ticks[i])
		if !ticks[i].After(prev) || (i > 0 && !ticks[i].After(ticks[i-1])) {
			return nil, fmt.Errorf("replay: ticks must increase after %s", prev.Format(time.DateTime))
		}
	}
	if py, pm, pd := prev.Date(); !ticks[len(ticks)-1].Before(time.Date(py, pm, pd+1, 0, 0, 0, 0, time.UTC)) {
		return nil, tick.ErrNotReplayable
	}
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	brand, err := resolveBrand(ctx, conn, prog.Brand, opts.Brand)
	if err != nil {
		return nil, err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer rollback(tx)
	o := tick.Options{Program: prog, Brand: brand, Lookback: opts.Lookback, Mode: db.tickMode(RunOptions{}), Trace: db.statementTrace()}
	if err := tickColumns(ctx, tx, &o); err != nil {
		return nil, err
	}
	replayed, err := tick.Replay(ctx, tx, o, prev, ticks)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("replay: commit: %w", err)
	}
	res := make([]*RunResult, len(replayed))
	for i, r := range replayed {
		res[i] = &RunResult{RunID: r.RunID, Now: r.Now, Brand: r.Brand, Rules: r.Rules}
	}
	return res, nil
}
