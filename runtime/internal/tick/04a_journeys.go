package tick

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"nudge/compiler"
	"nudge/internal/tickform"
	"nudge/runtime/policy"
)

// This step runs the program's journeys (SPEC §8), after the rules were
// evaluated and before their candidates become firings. Per journey, set
// based over its instances (journey_instances):
//
//   - entry: the entry rule's query gives the members that enter (one
//     instance per member at a time, the re-entry limit counted from the
//     previous entry); an `enter` decision each;
//   - rounds, at most one per node of the journey: the instances whose
//     next node is due at now first meet `exit when` (ended at the earliest
//     instant in (entered_at, due] at which it held: the due time, or the
//     time of an event of a type the condition reads), then each runs its
//     node: a send step's actions become candidates of a pseudo-rule of
//     the node (ri after the program's rules, named like the journey) that
//     the policy steps 05-14 decide as they decide a trigger rule's; waits
//     move the due time; if, split and the end choose the next node.
//
// A journey's candidates carry a synthetic trigger_seq (negative, from the
// instance and the node), their dedupe key; the outbox step writes their
// journey, step and variant (_nudge_jmeta) with them. Every statement
// runs in the tick's transaction, so an instance advances exactly when
// its decisions are written.

// journeyNode is a node of a journey that sends: its pseudo-rule's ri.
// A `send winner` node has one per option (the option's index; 0 for
// other nodes).
type journeyNode struct {
	journey int
	pc      int
	option  int
}

// journeyTablesSQL creates the journeys' working tables of a tick (setup
// runs it with the other tables): the metadata of the journeys' sends and
// the enter, exit and complete decisions.
const journeyTablesSQL = `DROP TABLE IF EXISTS _nudge_jdone;
DROP TABLE IF EXISTS _nudge_jfired;
CREATE OR REPLACE TEMP TABLE _nudge_jmeta (ri INTEGER, journey VARCHAR, member_id VARCHAR, trigger_seq BIGINT, step INTEGER, variant VARCHAR);
CREATE OR REPLACE TEMP TABLE _nudge_jdec (instance_id VARCHAR, journey VARCHAR, member_id VARCHAR, action VARCHAR, status VARCHAR,
    due_at TIMESTAMP, step INTEGER, variant VARCHAR, trigger_seq BIGINT)`

// journeyRules adds to the rows of _nudge_rules and _nudge_actions (setup
// loads them) a pseudo-rule per journey node that sends, numbered after
// the program's rules (t.journeyRI), so that the policy steps decide the
// journeys' sends as the rules'.
func (t *tick) journeyRules(rules, actions *jsonRows) {
	t.journeyRI = map[journeyNode]int{}
	ri := len(t.prog.Rules)
	for k, j := range t.prog.Journeys {
		for pc, n := range j.Nodes {
			switch n.Kind {
			case compiler.StepActions:
				t.journeyRI[journeyNode{k, pc, 0}] = ri
				rules.add(ri, j.Name, true, false, 0, j.Priority, j.Holdout, 0, j.Transactional, j.Expire.Microseconds())
				for ai, a := range n.Actions {
					actions.add(ri, ai, a.Verb, nullString(a.Kind), nullString(a.Content), nullString(a.Channel), a.Channels())
				}
				ri++
			case compiler.StepWinner:
				for wi, w := range n.Winners {
					t.journeyRI[journeyNode{k, pc, wi}] = ri
					rules.add(ri, j.Name, true, false, 0, j.Priority, j.Holdout, 0, j.Transactional, j.Expire.Microseconds())
					a := w.Action
					actions.add(ri, 0, a.Verb, nullString(a.Kind), nullString(a.Content), nullString(a.Channel), a.Channels())
					ri++
				}
			}
		}
	}
}

// journeys runs every journey of the program (see the top of the file).
func (t *tick) journeys(ctx context.Context) error {
	if !t.feat.journeys {
		return nil
	}
	if err := t.narrowJourneys(ctx); err != nil {
		return err
	}
	if err := t.entryScopes(ctx); err != nil {
		return fmt.Errorf("entry: %w", err)
	}
	for k := range t.prog.Journeys {
		if err := t.runJourney(ctx, k); err != nil {
			return fmt.Errorf("journey %s: %w", t.prog.Journeys[k].Name, err)
		}
	}
	if err := t.entryWatermarks(ctx); err != nil {
		return err
	}
	if err := t.tx.QueryRowContext(ctx, `SELECT count(*) FROM _nudge_jmeta`).Scan(&t.journeyCands); err != nil {
		return err
	}
	return t.journeyOutbox(ctx)
}

// runJourney runs journey k's work of the tick. The instances already in
// it advance first (one may end before a new candidate, which it then
// does not cover), then the members enter in rounds, each followed by an
// advance. An instance due at a `send winner` node waits there until
// nothing else due at or before it is left to run, then the winners run
// (winnerRound) and the journey goes round again, so that a winner ranks
// every send its branches made up to its due time, whichever tick made
// them (SPEC §8, Instants).
func (t *tick) runJourney(ctx context.Context, k int) error {
	if err := t.advanceJourney(ctx, k, ""); err != nil {
		return err
	}
	e, err := t.entryCandidates(ctx, k)
	if err != nil {
		return fmt.Errorf("entry: %w", err)
	}
	for pass := 0; ; pass++ {
		if pass > maxJourneyPasses {
			return fmt.Errorf("send winner: its instances did not settle in %d passes", maxJourneyPasses)
		}
		if err := t.enterRounds(ctx, e); err != nil {
			return fmt.Errorf("entry: %w", err)
		}
		ran, err := t.winnerRound(ctx, k, e)
		if err != nil {
			return fmt.Errorf("send winner: %w", err)
		}
		if !ran {
			break
		}
		if err := t.advanceJourney(ctx, k, ""); err != nil {
			return err
		}
		// An `enter when` member whose instance the winners ended (at a
		// time before now) enters at now, as one whose instance ended
		// before the first pass did; its entry of this tick, if any,
		// blocks it (blocked).
		e.done = false
	}
	return nil
}

// maxJourneyPasses bounds the passes of runJourney. Each pass runs every
// winner due before the earliest entering event that only a waiting
// winner holds back, so a tick needs about one per instance it starts for
// one member, plus one per winner a path meets.
const maxJourneyPasses = 10000

// journeyEntry is what the entry rounds of a journey need: its candidates
// are in _nudge_jcands.
type journeyEntry struct {
	k int
	// blocked is the condition that an instance x covers candidate c
	// (see entryCandidates), stuck that it covers it whatever the
	// instances waiting at a `send winner` node do (winnerRound), heldOut
	// the SQL of an entry's holdout, key the SQL of its instance's key.
	blocked, stuck, heldOut, key string
	// done: an `enter when` journey enters in one round.
	done bool
	// none: there is no candidate, so no round enters anyone.
	none bool
	// single: no member has two candidates, so a pass enters in one
	// round: after it, each member's only candidate is consumed (an
	// instance has its entry_seq) or still covered by an instance that
	// did not enter in this tick, which the rounds do not advance.
	single bool
}

// entryCandidates makes the entry candidates of journey k (_nudge_jcands).
func (t *tick) entryCandidates(ctx context.Context, k int) (*journeyEntry, error) {
	j := t.prog.Journeys[k]
	name := quoteString(j.Name)
	args := t.params(sql.Named("run", t.runID))
	query := t.entrySQL[k]
	args = append(args, t.entryArgs[k]...)
	// The candidates, then rounds: each member enters on its earliest
	// candidate that no instance of theirs covers (entered at or before
	// it and active then, or, for the limit, entered within its period
	// before it), and the instances advance, which may end one before a
	// later candidate; a candidate an instance covers is consumed.
	cands, err := t.create(ctx, `
CREATE OR REPLACE TEMP TABLE _nudge_jcands AS
SELECT member_id, trigger_seq AS entry_seq, coalesce(due_at, $now::TIMESTAMP) AS entered_at
FROM (`+query+`) q
WHERE member_id IS NOT NULL`, args...)
	if err != nil {
		return nil, err
	}
	e := &journeyEntry{k: k, none: cands == 0}
	if cands > 1 && j.EnterOn {
		if err := t.tx.QueryRowContext(ctx, `SELECT count(*) = count(DISTINCT member_id) FROM _nudge_jcands`).Scan(&e.single); err != nil {
			return nil, err
		}
	} else {
		e.single = cands <= 1
	}
	// (An instance that ended in the tick it entered, at its entry time,
	// still consumes its own entering event.)
	overlap := "x.entered_at <= c.entered_at AND (x.status = 'active' OR x.ended_at > c.entered_at)"
	limit := ""
	if j.Limit != nil {
		if j.Limit.Every > 0 {
			limit = fmt.Sprintf(" OR x.entered_at > c.entered_at - to_microseconds(%d)", j.Limit.Every.Microseconds())
		} else {
			limit = " OR true"
		}
	}
	if !j.EnterOn {
		// (An `enter when` member enters once a tick, at now: an instance
		// that entered and ended at now covers a later pass's candidate.)
		overlap = "(" + overlap + " OR x.entered_at = c.entered_at)"
	}
	e.blocked = "x.entry_seq = c.entry_seq OR " + overlap + limit
	e.stuck = e.blocked
	if pcs := winnerNodes(j); len(pcs) > 0 {
		// An instance waiting at a winner due by c's time may end before c.
		e.stuck = "x.entry_seq = c.entry_seq OR " + overlap + " AND NOT (x.status = 'active' AND x.pc IN (" + pcList(pcs) + ") AND x.due_at <= c.entered_at)" + limit
	}
	e.heldOut = "false"
	if j.Holdout > 0 {
		e.heldOut = policy.HeldOutSQL(name, "c.member_id", fmt.Sprintf("%g", j.Holdout))
	}
	if t.feat.globalHoldout && !j.Transactional {
		// A member of the global control group enters held out, and the
		// instance runs as control (SPEC §9).
		e.heldOut = "(" + e.heldOut + " OR " + policy.GlobalHeldOutSQL(t.brandSQL(), "c.member_id", t.prog.GlobalHoldout) + ")"
	}
	e.key = "strftime($now::TIMESTAMP, " + quoteString(stateDedupeKeyFormat) + ")"
	if j.EnterOn {
		e.key = "CAST(c.entry_seq AS VARCHAR)"
	}
	return e, nil
}

// enterRounds starts the instances of journey e.k in rounds until no
// candidate is left that no instance covers, each round followed by an
// advance.
func (t *tick) enterRounds(ctx context.Context, e *journeyEntry) error {
	j := t.prog.Journeys[e.k]
	name := quoteString(j.Name)
	if e.none {
		e.done = !j.EnterOn
		return nil // (a round would find no candidate, as a first one does)
	}
	for round := 0; !e.done; round++ {
		n, err := t.create(ctx, `
CREATE OR REPLACE TEMP TABLE _nudge_jnew AS
SELECT 'j' || substr(md5(`+t.brandSQL()+` || chr(31) || `+name+` || chr(31) || c.member_id || chr(31) || `+e.key+`), 1, 16) AS instance_id,
       c.member_id, c.entered_at, c.entry_seq, `+e.heldOut+` AS held_out
FROM _nudge_jcands c
WHERE NOT EXISTS (SELECT 1 FROM journey_instances x
                  WHERE x.brand = $brand::VARCHAR AND x.journey = `+name+` AND x.member_id = c.member_id AND (`+e.blocked+`))
QUALIFY row_number() OVER (PARTITION BY c.member_id ORDER BY c.entered_at, c.entry_seq) = 1`, t.params()...)
		if err != nil {
			return err
		}
		e.done = !j.EnterOn
		if n == 0 {
			return nil
		}
		if err := t.execEach(ctx, t.params(sql.Named("run", t.runID)), `
INSERT INTO journey_instances (brand, journey, member_id, instance_id, entered_at, entry_seq, pc, due_at, variant, held_out, status, ended_at, run_id)
SELECT $brand::VARCHAR, `+name+`, member_id, instance_id, entered_at, entry_seq, 0, entered_at, NULL, held_out, 'active', NULL, $run::BIGINT
FROM _nudge_jnew`, `
INSERT INTO _nudge_jdec
SELECT instance_id, `+name+`, member_id, 'enter', CASE WHEN held_out THEN `+policy.HeldOut.SQL()+` ELSE `+policy.Applied.SQL()+` END,
       entered_at, NULL, NULL, entry_seq
FROM _nudge_jnew`); err != nil {
			return err
		}
		if err := t.advanceJourney(ctx, e.k, enteredNow); err != nil {
			return err
		}
		if e.single {
			return nil // (the next round would enter no one)
		}
	}
	return nil
}

// entryWatermarks records every journey's watermarks, once all ran (each
// journey read its own before any ran: narrowJourney, enterWhenSQL): the
// entry's (enter on), and the events every journey's next tick knows it
// has seen (narrowJourney); and what each `enter when` entry saw
// (recordEntries).
func (t *tick) entryWatermarks(ctx context.Context) error {
	if err := t.recordEntries(ctx); err != nil {
		return err
	}
	names := jsonRows{param: "journeys", columns: []string{"name VARCHAR"}}
	for _, j := range t.prog.Journeys {
		names.add(j.Name)
	}
	_, err := t.exec(ctx, `
INSERT INTO rule_state (rule, brand, wm_seq, wm_now, first_run_at, last_run_at)
SELECT name, $brand::VARCHAR, $seq::BIGINT, $now::TIMESTAMP, $now::TIMESTAMP, $now::TIMESTAMP FROM `+names.sql()+`
ON CONFLICT (rule, brand) DO UPDATE SET
    wm_seq = greatest(rule_state.wm_seq, excluded.wm_seq),
    wm_now = greatest(rule_state.wm_now, excluded.wm_now),
    last_run_at = excluded.last_run_at`, t.params(names.arg(), sql.Named("seq", t.maxSeq))...)
	return err
}

// narrowJourneys sets journeyScope (narrowJourney) once a tick.
func (t *tick) narrowJourneys(ctx context.Context) error {
	if t.journeyScope != nil {
		return nil // done by the plan step (buildScope)
	}
	t.journeyScope = map[int]string{}
	for k := range t.prog.Journeys {
		if err := t.narrowJourney(ctx, k); err != nil {
			return fmt.Errorf("journey %s: %w", t.prog.Journeys[k].Name, err)
		}
	}
	return nil
}

// narrowJourney sets journeyScope[k], the instances of journey k the tick
// touches: those with a due step (due_at <= now: a wait until is due
// until it ends), and, when the journey exits, those whose member has
// events of the types its exit reads that the previous tick did not see
// (seq above its watermark, late and arrived ones included, or ts after
// its now: come due since). A waiting instance's exit can change only
// then: its candidate instants are its member's event times and the
// events up to them are all it reads, unless its exit reads the member's
// fields or tags, which change without events, or time went back. Then,
// and in Full mode or on the journey's first tick, every active instance.
func (t *tick) narrowJourney(ctx context.Context, k int) error {
	j := t.prog.Journeys[k]
	t.journeyScope[k] = "true"
	if t.mode.has(Full) || readsMemberRow.MatchString(j.Exit) || strings.Contains(j.Exit, "member_tags") {
		return nil
	}
	prev, ok := t.prevs[j.Name]
	if !ok || t.now.Before(Naive(prev.wmNow)) {
		return nil
	}
	scope := "due_at <= $now::TIMESTAMP"
	if j.Exit != "" && len(j.ExitEvents) > 0 {
		// (Two scans, each with literal bounds that DuckDB applies as
		// table filters, skipping the row groups the range excludes: as
		// one scan with the OR, every event of the types was read.)
		which := t.ofBrandAndType("type IN (" + quoteStrings(j.ExitEvents) + ")")
		scope += fmt.Sprintf(` OR member_id IN (SELECT member_id FROM events WHERE seq > %d AND %s
    UNION ALL SELECT member_id FROM events WHERE ts > %s AND ts <= $now::TIMESTAMP AND %s)`, prev.wmSeq, which, timestampSQL(Naive(prev.wmNow)), which)
	}
	t.journeyScope[k] = scope
	return nil
}

// enteredNow is advanceJourney's only for the instances that entered in
// this tick (the rows the tick's run inserted: an update keeps run_id).
const enteredNow = "run_id = $run::BIGINT"

// advanceJourney runs the due nodes of journey k's instances in the
// tick's scope (narrowJourney), or when only is not "" those of them for
// which it (SQL over journey_instances) holds, round by round, until none
// is due but at a `send winner` node, where they wait for winnerRound.
func (t *tick) advanceJourney(ctx context.Context, k int, only string) error {
	keep := ""
	if pcs := winnerNodes(t.prog.Journeys[k]); len(pcs) > 0 {
		keep = "pc NOT IN (" + pcList(pcs) + ")"
	}
	_, err := t.advanceRounds(ctx, k, only, keep, nil)
	return err
}

// advanceRounds runs the due nodes of journey k's instances (those of
// the tick's scope, or for which only holds: see advanceJourney) round by
// round, until none is due, keeping in each round only the instances for
// which keep (SQL over _nudge_jat, "" for all) holds; with a hook, one
// round only, and hook runs before it (when some instance is due). It
// reports whether a round ran. The first round reads journey_instances; a
// later one only the instances the previous round moved (_nudge_jnext):
// the others' due steps and exits were settled by the rounds before,
// nothing of theirs having changed since. (ji_rowid, an instance's rowid
// in journey_instances, lets the rounds' updates find its row without
// joining the whole table: rows keep their rowid within the transaction,
// and the tick deletes none.)
func (t *tick) advanceRounds(ctx context.Context, k int, only, keep string, hook func(context.Context) (bool, error)) (bool, error) {
	j := t.prog.Journeys[k]
	name := quoteString(j.Name)
	scope := t.journeyScope[k]
	if only != "" {
		scope = only
	}
	ran := false
	for round := 0; round <= len(j.Nodes)+1; round++ {
		q := `
CREATE OR REPLACE TEMP TABLE _nudge_jat AS
SELECT instance_id, member_id, entered_at, entry_seq, pc, due_at, variant, held_out, rowid AS ji_rowid
FROM journey_instances
WHERE brand = $brand::VARCHAR AND journey = ` + name + ` AND status = 'active' AND (` + scope + `)`
		args := usedArgs(q, t.params(sql.Named("run", t.runID)))
		if round > 0 {
			q, args = `
CREATE OR REPLACE TEMP TABLE _nudge_jat AS
SELECT instance_id, member_id, entered_at, entry_seq, new_pc AS pc, new_due AS due_at, new_variant AS variant, held_out, ji_rowid
FROM _nudge_jnext
WHERE NOT done AND (new_pc <> pc OR new_due <> due_at)`, nil
		}
		if n, err := t.create(ctx, q, args...); err != nil || n == 0 {
			return ran, err // no instance to exit or advance
		}
		if j.Exit != "" {
			// An instance waiting for a later step ends at its exit.
			if err := t.journeyExit(ctx, k); err != nil {
				return ran, fmt.Errorf("exit: %w", err)
			}
			if err := t.applyExit(ctx, k, "x.due_at > $now::TIMESTAMP", false); err != nil {
				return ran, fmt.Errorf("exit: %w", err)
			}
		}
		drop := "due_at > $now::TIMESTAMP"
		if keep != "" {
			drop += " OR NOT (" + keep + ")"
		}
		if _, err := t.exec(ctx, `DELETE FROM _nudge_jat WHERE `+drop, t.params()...); err != nil {
			return ran, err
		}
		var pcs sql.NullString
		if err := t.tx.QueryRowContext(ctx, `SELECT string_agg(DISTINCT pc::VARCHAR, ',') FROM _nudge_jat`).Scan(&pcs); err != nil {
			return ran, err
		}
		if !pcs.Valid {
			return ran, nil // none due
		}
		at, err := nodesAt(pcs.String)
		if err != nil {
			return ran, err
		}
		if hook != nil {
			ok, err := hook(ctx)
			if err != nil || !ok {
				return ran, err
			}
		}
		moved, err := t.journeyRound(ctx, k, at)
		if err != nil {
			return ran, err
		}
		ran = true
		if moved == 0 || hook != nil {
			return ran, nil
		}
	}
	return ran, nil
}

// nodesAt is the set of the nodes listed in pcs (their pcs, separated by
// commas): those at which some instance of a round is due.
func nodesAt(pcs string) (map[int]bool, error) {
	at := map[int]bool{}
	for _, f := range strings.Split(pcs, ",") {
		pc, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("the due nodes %q: %v", pcs, err)
		}
		at[pc] = true
	}
	return at, nil
}

// execEach runs statements one by one with the parameters args (a
// statement with parameters must be alone).
func (t *tick) execEach(ctx context.Context, args []any, stmts ...string) error {
	for _, q := range stmts {
		if _, err := t.exec(ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

// readsMemberRow matches the SQL of a journey condition that reads the
// member's row (m), which, as the member's tags (member_tags), changes
// without an event.
var readsMemberRow = regexp.MustCompile(`(^|[^A-Za-z0-9_])m\.`)

// journeyCondRows is the SQL of the rows the journey condition cond reads:
// the instances of src (a query with the columns of _nudge_jat, due_at the
// instant) as ji, with their member m when cond reads the member's row
// (memberJoin).
func (t *tick) journeyCondRows(src, cond string) string {
	return "(" + src + ") " + tickform.JourneyRow + t.memberJoin(tickform.JourneyRow, cond)
}

// memberJoin is the join of row's member as m when the SQL reader reads
// the member's row, else "" (joining members costs a scan of them, which
// most conditions and parameters, reading events only, do not need).
func (t *tick) memberJoin(row, reader string) string {
	if !readsMemberRow.MatchString(reader) {
		return ""
	}
	return "\nLEFT JOIN members m ON m.brand = " + t.brandSQL() + " AND m.member_id = " + row + ".member_id"
}

// instantsSQL is the query of the candidate instants at which a condition
// reading the event types types may start to hold, for the instances of
// _nudge_jat: the instant self of each instance and the times of its
// events of those types in (lo, hi]; its column due_at is the instant.
func (t *tick) instantsSQL(types []string, lo, hi, self string) string {
	q := `SELECT x.instance_id, x.member_id, x.entered_at, x.entry_seq, x.pc, ` + self + ` AS due_at FROM _nudge_jat x`
	if len(types) > 0 {
		q += `
UNION ALL
SELECT x.instance_id, x.member_id, x.entered_at, x.entry_seq, x.pc, e.ts AS due_at
FROM _nudge_jat x JOIN events e ON e.brand = ` + t.brandSQL() + ` AND e.member_id = x.member_id
WHERE e.type IN (` + quoteStrings(types) + `) AND e.ts > ` + lo + ` AND e.ts <= ` + hi
	}
	return q
}

// journeyExit finds, for every instance of _nudge_jat, the earliest
// instant in (entered_at, now] at which `exit when` held (_nudge_jexit):
// the candidate instants are the times of the member's events of the
// types the condition reads, and the instance's due time once reached.
func (t *tick) journeyExit(ctx context.Context, k int) error {
	j := t.prog.Journeys[k]
	rows := t.journeyCondRows(t.instantsSQL(j.ExitEvents, "x.entered_at", "$now::TIMESTAMP",
		"CASE WHEN x.due_at <= $now::TIMESTAMP AND x.due_at > x.entered_at THEN x.due_at END"), j.Exit)
	var err error
	t.exits, err = t.create(ctx, `
CREATE OR REPLACE TEMP TABLE _nudge_jexit AS
SELECT ji.instance_id, min(ji.due_at) AS at
FROM `+rows+`
WHERE ji.due_at IS NOT NULL AND `+j.Exit+`
GROUP BY ji.instance_id`, t.params()...)
	return err
}

// applyExit ends the instances of _nudge_jat x joined with their exit e
// (_nudge_jexit) and, with cond, their condition c (_nudge_jcond) for
// which when (SQL) holds: the exit comes before the step it preempts,
// which its decision names.
func (t *tick) applyExit(ctx context.Context, k int, when string, cond bool) error {
	if t.exits == 0 {
		return nil // no exit: a statement costs a millisecond or two even over no rows
	}
	join := ""
	if cond {
		join = " LEFT JOIN _nudge_jcond c USING (instance_id)"
	}
	n, err := t.create(ctx, `
CREATE OR REPLACE TEMP TABLE _nudge_jout AS
SELECT x.instance_id, x.member_id, x.pc, x.variant, e.at, x.ji_rowid
FROM _nudge_jat x JOIN _nudge_jexit e USING (instance_id)`+join+`
WHERE `+when, t.params()...)
	if err != nil || n == 0 {
		return err
	}
	return t.endOut(ctx, k, policy.Applied)
}

// endOut ends the instances of _nudge_jout (instance_id, member_id, pc,
// variant, at, ji_rowid; not empty) with an exit decision of the given
// status at their at, naming the step each preempts, and takes them out of
// _nudge_jat.
func (t *tick) endOut(ctx context.Context, k int, status policy.Status) error {
	j := t.prog.Journeys[k]
	name := quoteString(j.Name)
	return t.execEach(ctx, t.params(), `
INSERT INTO _nudge_jdec
SELECT x.instance_id, `+name+`, x.member_id, 'exit', `+status.SQL()+`, x.at, `+t.nodeLines(j)+`, x.variant, NULL
FROM _nudge_jout x`, `
UPDATE journey_instances SET status = 'exited', ended_at = o.at
FROM _nudge_jout o
WHERE journey_instances.rowid = o.ji_rowid`, `
DELETE FROM _nudge_jat WHERE instance_id IN (SELECT instance_id FROM _nudge_jout)`)
}

// nodeLines is the SQL of the source line of node x.pc of journey j: for
// a jump (the end of a branch), the line of the step it leads to, the step
// an exit there preempts.
func (t *tick) nodeLines(j *compiler.Journey) string {
	var b strings.Builder
	b.WriteString("CASE x.pc")
	for pc := range j.Nodes {
		n := j.Nodes[pc]
		for hops := 0; n.Kind == compiler.StepJump && hops < len(j.Nodes); hops++ {
			n = j.Nodes[n.Target]
		}
		if n.Line > 0 {
			fmt.Fprintf(&b, " WHEN %d THEN %d", pc, n.Line)
		}
	}
	b.WriteString(" END")
	return b.String()
}

// journeyRound runs the due node of every instance of _nudge_jat once and
// returns how many instances moved. Its statements name only the nodes of
// at, those at which an instance of _nudge_jat is due (or a superset):
// the others would only cost their planning, and the conditions of if and
// wait-until nodes their scans.
func (t *tick) journeyRound(ctx context.Context, k int, at map[int]bool) (int64, error) {
	j := t.prog.Journeys[k]
	name := quoteString(j.Name)
	// The conditions of the due if and wait-until nodes, one row per
	// instance at such a node: ok (if) or at (wait until: the instant).
	var conds []string
	for pc, n := range j.Nodes {
		if !at[pc] {
			continue
		}
		switch n.Kind {
		case compiler.StepIf:
			src := fmt.Sprintf("SELECT * FROM _nudge_jat WHERE pc = %d", pc)
			conds = append(conds, fmt.Sprintf("SELECT ji.instance_id, %s AS ok, CAST(NULL AS TIMESTAMP) AS at FROM %s", n.Cond, t.journeyCondRows(src, n.Cond)))
		case compiler.StepWaitUntil:
			hi := "$now::TIMESTAMP"
			if n.Wait > 0 {
				hi = fmt.Sprintf("least(x.due_at + to_microseconds(%d), $now::TIMESTAMP)", n.Wait.Microseconds())
			}
			src := strings.ReplaceAll(t.instantsSQL(n.Events, "x.due_at", hi, "x.due_at"), "FROM _nudge_jat x", fmt.Sprintf("FROM (SELECT * FROM _nudge_jat WHERE pc = %d) x", pc))
			conds = append(conds, fmt.Sprintf("SELECT ji.instance_id, true AS ok, min(ji.due_at) AS at FROM %s WHERE ji.due_at >= (SELECT due_at FROM _nudge_jat d WHERE d.instance_id = ji.instance_id) AND %s GROUP BY ji.instance_id", t.journeyCondRows(src, n.Cond), n.Cond))
		}
	}
	// (A round with no such node due joins no condition.)
	withConds, condJoin := len(conds) > 0, ""
	if withConds {
		q := "CREATE OR REPLACE TEMP TABLE _nudge_jcond AS\n" + strings.Join(conds, "\nUNION ALL\n")
		if _, err := t.exec(ctx, q, t.params()...); err != nil {
			return 0, err
		}
		condJoin = " LEFT JOIN _nudge_jcond c USING (instance_id)"
	}
	if j.Exit != "" {
		// A due step is preempted by an exit at or before its due time;
		// a wait until by one before it ends (its condition held, its
		// timeout passed, or now).
		var bound strings.Builder
		bound.WriteString("CASE x.pc WHEN -1 THEN x.due_at")
		for pc, n := range j.Nodes {
			if n.Kind != compiler.StepWaitUntil || !at[pc] {
				continue
			}
			end := "$now::TIMESTAMP"
			if n.Wait > 0 {
				end = fmt.Sprintf("least(x.due_at + to_microseconds(%d), $now::TIMESTAMP)", n.Wait.Microseconds())
			}
			fmt.Fprintf(&bound, " WHEN %d THEN coalesce(c.at, %s)", pc, end)
		}
		bound.WriteString(" ELSE x.due_at END")
		if err := t.applyExit(ctx, k, "e.at <= "+bound.String(), withConds); err != nil {
			return 0, fmt.Errorf("exit: %w", err)
		}
	}
	if err := t.giveUp(ctx, k, at); err != nil {
		return 0, fmt.Errorf("stop after: %w", err)
	}
	// Where each instance goes: its next node, due time and variant, and
	// whether it completes (done) or stays (nothing changes).
	var pcCase, dueCase, variantCase strings.Builder
	pcCase.WriteString("CASE x.pc")
	dueCase.WriteString("CASE x.pc")
	variantCase.WriteString("CASE x.pc")
	var sends []string
	for pc, n := range j.Nodes {
		if !at[pc] {
			continue
		}
		next, due := fmt.Sprint(pc+1), "x.due_at"
		switch n.Kind {
		case compiler.StepActions:
			sends = append(sends, fmt.Sprint(pc))
		case compiler.StepWinner:
			if len(n.Winners) > 0 {
				sends = append(sends, fmt.Sprint(pc))
			}
		case compiler.StepWait:
			due = fmt.Sprintf("x.due_at + to_microseconds(%d)", n.Wait.Microseconds())
		case compiler.StepWaitAt:
			due = "greatest(x.due_at, " + timestampSQL(n.At) + ")"
		case compiler.StepWaitUntil:
			if n.Wait > 0 {
				limit := fmt.Sprintf("x.due_at + to_microseconds(%d)", n.Wait.Microseconds())
				next = fmt.Sprintf("CASE WHEN c.at IS NOT NULL OR %s <= $now::TIMESTAMP THEN %d ELSE %d END", limit, pc+1, pc)
				due = fmt.Sprintf("coalesce(c.at, CASE WHEN %[1]s <= $now::TIMESTAMP THEN %[1]s ELSE x.due_at END)", limit)
			} else {
				next = fmt.Sprintf("CASE WHEN c.at IS NOT NULL THEN %d ELSE %d END", pc+1, pc)
				due = "coalesce(c.at, x.due_at)"
			}
		case compiler.StepIf:
			next = fmt.Sprintf("CASE WHEN coalesce(c.ok, false) THEN %d ELSE %d END", pc+1, n.Target)
		case compiler.StepJump:
			next = fmt.Sprint(n.Target)
		case compiler.StepSplit:
			bucket := policy.BucketSQL(fmt.Sprintf("%s || chr(31) || '%d' || chr(31) || x.member_id", name, n.Ordinal))
			var nb, vb strings.Builder
			nb.WriteString("CASE")
			vb.WriteString("CASE")
			cum := 0.0
			for bi, b := range n.Branches {
				cum += b.Percent
				when := fmt.Sprintf(" WHEN %s < %g THEN ", bucket, cum*100)
				if bi == len(n.Branches)-1 {
					when = " ELSE "
				}
				nb.WriteString(when + fmt.Sprint(b.Start))
				vb.WriteString(when + quoteString(b.Name))
			}
			nb.WriteString(" END")
			vb.WriteString(" END")
			next = nb.String()
			fmt.Fprintf(&variantCase, " WHEN %d THEN %s", pc, vb.String())
		case compiler.StepEnd:
			next = fmt.Sprint(pc)
		}
		fmt.Fprintf(&pcCase, " WHEN %d THEN %s", pc, next)
		fmt.Fprintf(&dueCase, " WHEN %d THEN %s", pc, due)
	}
	pcCase.WriteString(" END")
	dueCase.WriteString(" END")
	variantCase.WriteString(" ELSE x.variant END")
	variant := variantCase.String()
	if !strings.Contains(variant, "WHEN") {
		variant = "x.variant"
	}
	end := len(j.Nodes) - 1
	if _, err := t.exec(ctx, `
CREATE OR REPLACE TEMP TABLE _nudge_jnext AS
SELECT x.instance_id, x.member_id, x.entered_at, x.entry_seq, x.pc, x.due_at, x.variant, x.held_out, x.ji_rowid,
       `+pcCase.String()+` AS new_pc, `+dueCase.String()+` AS new_due, `+variant+` AS new_variant,
       x.pc = `+fmt.Sprint(end)+` AS done
FROM _nudge_jat x`+condJoin, t.params()...); err != nil {
		return 0, err
	}
	if len(sends) > 0 {
		if err := t.journeySends(ctx, k, sends, at); err != nil {
			return 0, err
		}
		if err := t.journeyTags(ctx, k, at); err != nil {
			return 0, fmt.Errorf("tags: %w", err)
		}
	}
	if at[end] {
		if _, err := t.exec(ctx, `
INSERT INTO _nudge_jdec
SELECT instance_id, `+name+`, member_id, 'complete', `+policy.Applied.SQL()+`, due_at, NULL, variant, NULL
FROM _nudge_jnext WHERE done`, t.params()...); err != nil {
			return 0, err
		}
	}
	return t.exec(ctx, `
UPDATE journey_instances SET pc = n.new_pc, due_at = n.new_due, variant = n.new_variant,
    status = CASE WHEN n.done THEN 'completed' ELSE status END,
    ended_at = CASE WHEN n.done THEN n.due_at ELSE ended_at END
FROM _nudge_jnext n
WHERE journey_instances.rowid = n.ji_rowid
  AND (n.done OR n.new_pc <> n.pc OR n.new_due <> n.due_at)`, t.params()...)
}

// journeyTags applies the tag and untag actions of the action nodes that
// the instances of _nudge_jnext run in this round (at: the nodes due), at
// once, as the rules' strata apply theirs (tagsFrom: untag wins over tag
// of the same member and tag within the round): the conditions of the
// instance's later steps, of the journey's later rounds and of the
// journeys that run after it in the tick see them (SPEC §8: tags are read
// as they are when the step runs; docs/decisions.md, "Tags within a tick:
// journeys"). Their decisions are recorded as the rules' are, applyTags
// leaving them out.
func (t *tick) journeyTags(ctx context.Context, k int, at map[int]bool) error {
	j := t.prog.Journeys[k]
	var rows []string
	for pc, n := range j.Nodes {
		if !at[pc] || n.Kind != compiler.StepActions {
			continue
		}
		for _, a := range n.Actions {
			if a.Verb == "tag" || a.Verb == "untag" {
				rows = append(rows, fmt.Sprintf("(%d, %s, %s)", pc, quoteString(a.Verb), quoteString(a.Content)))
			}
		}
	}
	if len(rows) == 0 {
		return nil
	}
	return t.tagsFrom(ctx, `(SELECT x.member_id, a.verb AS action, a.tag AS content, `+timestampSQL(t.now)+` AS now, `+quoteString(j.Name)+` AS rule
    FROM _nudge_jnext x JOIN (VALUES `+strings.Join(rows, ", ")+`) a(pc, verb, tag) ON a.pc = x.pc)`)
}

// journeySendSeq is the SQL of the trigger_seq (the dedupe key) of the
// send of instance x.instance_id at node pc (SQL).
func journeySendSeq(pc string) string {
	return "-1 - CAST(md5_number(x.instance_id || chr(31) || CAST(" + pc + " AS VARCHAR)) % 4611686018427387903 AS BIGINT)"
}

// giveUp ends, for a journey that stops after N unanswered sends, the
// instances of _nudge_jat at a send step after N of their own sends in a
// row went unanswered by the step's due time T: sends recorded as counted
// whose response window (from their due time) closed by T, none followed
// by an event of the member up to T (as for rules, any event answers).
// The exit is gave_up, at T, naming the send step.
func (t *tick) giveUp(ctx context.Context, k int, at map[int]bool) error {
	j := t.prog.Journeys[k]
	var sends, seqs []string // the send nodes due; the sends of every one
	for pc, n := range j.Nodes {
		if n.Kind == compiler.StepActions && slices.ContainsFunc(n.Actions, func(a compiler.Action) bool { return a.Verb == "send" }) {
			// (A step of tags or notifies only is no send step: the
			// instance goes through it, as the reference does.)
			if at[pc] {
				sends = append(sends, fmt.Sprint(pc))
			}
			seqs = append(seqs, journeySendSeq(fmt.Sprint(pc)))
		}
	}
	if j.StopAfter == 0 || len(sends) == 0 {
		return nil
	}
	// The journey's earlier sends that this tick made (a tick catching up
	// on several steps) count as the outbox rows a tick at their due time
	// would have left: they are decided first.
	counted := map[int]bool{}
	for pc, n := range j.Nodes {
		if n.Kind == compiler.StepActions {
			counted[pc] = true
		}
	}
	if err := t.decideJourneySends(ctx, k, counted); err != nil {
		return err
	}
	n, err := t.create(ctx, `
CREATE OR REPLACE TEMP TABLE _nudge_jout AS
SELECT x.instance_id, x.member_id, x.pc, x.variant, x.due_at AS at, x.ji_rowid
FROM _nudge_jat x
WHERE x.pc IN (`+strings.Join(sends, ", ")+`) AND (
    SELECT count(*) FROM outbox o
    WHERE o.brand = $brand::VARCHAR AND o.rule = `+quoteString(j.Name)+` AND o.member_id = x.member_id AND o.action = 'send'
      AND o.trigger_seq IN (`+strings.Join(seqs, ", ")+`)
      AND o.status IN (`+policy.CountedSQL+`)
      AND o.due_at + to_microseconds($resp::BIGINT) <= x.due_at
      AND o.due_at >= coalesce((SELECT max(e.ts) FROM events e
                                WHERE e.brand = $brand::VARCHAR AND e.member_id = x.member_id AND e.ts <= x.due_at), o.due_at)
) >= `+fmt.Sprint(j.StopAfter), t.params(policy.ResponseArg())...)
	if err != nil || n == 0 {
		return err
	}
	return t.endOut(ctx, k, policy.GaveUp)
}

// journeyOutbox writes the journeys' enter, exit and complete decisions.
func (t *tick) journeyOutbox(ctx context.Context) error {
	_, err := t.exec(ctx, `
INSERT INTO outbox (firing_id, action_index, rule, brand, member_id, dedupe_key, action, kind, content, channel,
                    status, reason, effective, fired_at, due_at, scheduled_at, sent_at, attempts, last_error,
                    idempotency_key, trigger_seq, run_id, vals, journey, step, variant)
SELECT d.instance_id, CASE d.action WHEN 'enter' THEN 0 WHEN 'exit' THEN 1 ELSE 2 END, d.journey, $brand::VARCHAR, d.member_id, d.instance_id || '/' || d.action, d.action, NULL, NULL, NULL,
       d.status, NULL, true, $now::TIMESTAMP, d.due_at, NULL, NULL, 0, NULL,
       d.instance_id || '-' || d.action, d.trigger_seq, $run::BIGINT, NULL, d.journey, d.step, d.variant
FROM _nudge_jdec d`, t.params(sql.Named("run", t.runID))...)
	return err
}

// journeyDecisions adds the decisions taken early, for a winner or a stop
// after (decideJourneySends), to the tick's, which the run log counts and
// a dry run returns. (The journeys' tags were applied as their steps ran:
// journeyTags.)
func (t *tick) journeyDecisions(ctx context.Context) error {
	if t.journeyCands == 0 {
		return nil
	}
	if !t.winnersDecided {
		return nil
	}
	return t.execEach(ctx, nil,
		`INSERT INTO _nudge_dec SELECT * FROM _nudge_jdone`,
		`INSERT INTO _nudge_fire SELECT * FROM _nudge_jfired`,
		`DROP TABLE _nudge_jdone`,
		`DROP TABLE _nudge_jfired`)
}

// journeySends makes the candidates and _nudge_jmeta rows of the instances
// of _nudge_jnext at the send nodes sends (their pcs) of journey k: an
// action node's pseudo-rule, or for `send winner` the pseudo-rule of the
// option _nudge_jwin chose (with the rates in vals); each with its `with`
// parameters. (at: the nodes due, see journeyRound.)
func (t *tick) journeySends(ctx context.Context, k int, sends []string, at map[int]bool) error {
	j := t.prog.Journeys[k]
	name := quoteString(j.Name)
	var winnerPCs []int
	var riCase, valsCase, paramsCase strings.Builder
	riCase.WriteString("CASE x.pc")
	valsCase.WriteString("CASE x.pc")
	paramsCase.WriteString("CASE x.pc")
	for pc, n := range j.Nodes {
		if !at[pc] {
			continue
		}
		switch n.Kind {
		case compiler.StepActions:
			fmt.Fprintf(&riCase, " WHEN %d THEN %d", pc, t.journeyRI[journeyNode{k, pc, 0}])
			if n.Params != "" {
				fmt.Fprintf(&paramsCase, " WHEN %d THEN %s", pc, n.Params)
			}
		case compiler.StepWinner:
			if len(n.Winners) == 0 {
				continue
			}
			winnerPCs = append(winnerPCs, pc)
			var ri, params strings.Builder
			ri.WriteString("CASE w.wi")
			params.WriteString("CASE w.wi")
			for wi, o := range n.Winners {
				fmt.Fprintf(&ri, " WHEN %d THEN %d", wi, t.journeyRI[journeyNode{k, pc, wi}])
				if o.Params != "" {
					fmt.Fprintf(&params, " WHEN %d THEN %s", wi, o.Params)
				}
			}
			fmt.Fprintf(&riCase, " WHEN %d THEN %s END", pc, ri.String())
			fmt.Fprintf(&valsCase, " WHEN %d THEN w.vals", pc)
			if strings.Contains(params.String(), "THEN") {
				fmt.Fprintf(&paramsCase, " WHEN %d THEN %s END", pc, params.String())
			}
		}
	}
	riCase.WriteString(" END")
	valsCase.WriteString(" END")
	paramsCase.WriteString(" END")
	vals, params := "CAST(NULL AS JSON)", "CAST(NULL AS JSON)"
	from := "_nudge_jnext x JOIN _nudge_jat " + tickform.JourneyRow + " USING (instance_id)"
	if len(winnerPCs) > 0 {
		// The winners are computed only when an instance is at a winner
		// step (the rates read the journey's sends and their conversions):
		// winnerPCs holds only the winner nodes of at.
		if err := t.journeyWinners(ctx, k); err != nil {
			return fmt.Errorf("send winner: %w", err)
		}
		vals = "CAST(" + valsCase.String() + " AS JSON)"
		from += "\nLEFT JOIN _nudge_jwin w ON w.pc = x.pc AND w.due_at = x.due_at"
	}
	if strings.Contains(paramsCase.String(), "THEN") {
		params = "CAST(" + paramsCase.String() + " AS JSON)"
		from += t.memberJoin("x", paramsCase.String())
	}
	seq := journeySendSeq("x.pc")
	return t.execEach(ctx, t.params(), `
CREATE OR REPLACE TEMP TABLE _nudge_jsend AS
SELECT `+riCase.String()+` AS ri, x.member_id, `+seq+` AS trigger_seq, `+t.nodeLines(j)+` AS step, x.variant, x.due_at,
       `+vals+` AS vals, `+params+` AS params
FROM `+from+`
WHERE x.pc IN (`+strings.Join(sends, ", ")+`)`, `
INSERT INTO _nudge_jmeta SELECT ri, `+name+`, member_id, trigger_seq, step, variant FROM _nudge_jsend`, `
INSERT INTO _nudge_cand (ri, member_id, trigger_seq, due_at, vals, params, now)
SELECT ri, member_id, trigger_seq, due_at, vals, params, $now::TIMESTAMP FROM _nudge_jsend`)
}
