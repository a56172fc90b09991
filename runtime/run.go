package runtime

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"nudge/compiler"
	"nudge/internal/sqlquote"
	"nudge/runtime/internal/tick"
)

// Defaults of RunOptions.
const (
	DefaultLookback       = 24 * time.Hour
	DefaultDispatchBudget = 30 * time.Second
)

// RunOptions configures one tick.
type RunOptions struct {
	Now      time.Time // evaluation instant; zero: the wall clock
	Brand    string    // --brand; must agree with the program's brand when both are set
	DryRun   bool      // evaluate and return decisions, write nothing, dispatch nothing
	Lookback time.Duration
	// Sinks receive the tick's due sends after the commit; none: nothing is
	// dispatched and sends stay pending.
	Sinks []Sink
	// DispatchBudget bounds the time dispatch may take (0: DefaultDispatchBudget).
	DispatchBudget time.Duration
	// SkipDecisions leaves RunResult.Decisions empty (summaries only), for
	// ticks that decide millions of rows; stream them with DB.Decisions.
	SkipDecisions bool
	// OnDecision, with DryRun, receives the decisions one at a time, in
	// RunResult.Decisions' order, instead of RunResult.Decisions (which
	// stays empty): a dry run of millions of decisions streams them. The
	// Decision is reused for the next one; the first error stops the run.
	OnDecision func(*Decision) error
	// EvaluateAll evaluates every state rule over every member and retries
	// every refused firing, as SPEC §5 states it, instead of only the
	// members whose verdict may have changed (see internal/tick/02_plan.go). The
	// decisions are the same; tests use it to prove so.
	EvaluateAll bool
	// NoArrivals tells the tick that no member was added since the last
	// tick that admitted the events waiting for their member: it skips
	// that step (a service that owns the database and counts its member
	// upserts knows this; see tick.NoArrivals).
	NoArrivals bool
	// NoBudgetSkip makes the tick retry every refusal of a state rule
	// whose budget is spent instead of skipping those it would refuse
	// again (internal/tick/02b_budget_skip.go; the decisions are the
	// same). Replay cannot start from a tick that skipped some: simulate
	// sets it.
	NoBudgetSkip bool
}

// Decision is one outbox row: one action of one firing. Its JSON form is the
// `run --output jsonl` line of SPEC §7.
type Decision struct {
	Rule           string
	MemberID       string
	FiringID       string
	Action         string // send, tag, untag, notify
	Kind           string
	Content        string
	Channel        string
	Status         string
	Reason         string // why a policy gave the status, e.g. "cap sms 1 per 1d"
	FiredAt        time.Time
	ScheduledAt    *time.Time
	DueAt          *time.Time
	TriggerSeq     *int64
	IdempotencyKey string
	Values         json.RawMessage // the values the condition used, by label
	Params         json.RawMessage // a send's `with` parameters (SPEC §9), a JSON object
	// Journey is the journey a decision belongs to ("" for a rule's), Step
	// the source line of its step (nil for enter and complete) and Variant
	// the branch of the instance's latest split ("" before any) (SPEC §8).
	Journey string
	Step    *int64
	Variant string
}

// timeLayout is how naive timestamps appear in JSON.
const timeLayout = "2006-01-02T15:04:05"

// MarshalJSON renders the decision as one `run --output jsonl` object:
// naive timestamps without a zone ("2024-11-11T10:00:00"), null for absent
// kind, content, channel and scheduled_at.
func (d Decision) MarshalJSON() ([]byte, error) {
	ts := func(t *time.Time) *string {
		if t == nil {
			return nil
		}
		s := t.Format(timeLayout)
		return &s
	}
	str := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	fired := d.FiredAt
	return json.Marshal(struct {
		Rule           string          `json:"rule"`
		MemberID       string          `json:"member_id"`
		FiringID       string          `json:"firing_id"`
		Action         string          `json:"action"`
		Kind           *string         `json:"kind"`
		Content        *string         `json:"content"`
		Channel        *string         `json:"channel"`
		Status         string          `json:"status"`
		Reason         string          `json:"reason,omitempty"`
		FiredAt        *string         `json:"fired_at"`
		ScheduledAt    *string         `json:"scheduled_at"`
		DueAt          *string         `json:"due_at,omitempty"`
		TriggerSeq     *int64          `json:"trigger_seq,omitempty"`
		IdempotencyKey string          `json:"idempotency_key"`
		Values         json.RawMessage `json:"values,omitempty"`
		Params         json.RawMessage `json:"params,omitempty"`
		Journey        string          `json:"journey,omitempty"`
		Step           json.RawMessage `json:"step,omitempty"`
		Variant        string          `json:"variant,omitempty"`
	}{d.Rule, d.MemberID, d.FiringID, d.Action, str(d.Kind), str(d.Content), str(d.Channel), d.Status, d.Reason,
		ts(&fired), ts(d.ScheduledAt), ts(d.DueAt), d.TriggerSeq, d.IdempotencyKey, d.Values, d.Params,
		d.Journey, journeyStep(d), d.Variant})
}

// journeyStep is the JSON of a journey decision's step: its line, or null
// (enter, complete); nil (omitted) for a rule's decision.
func journeyStep(d Decision) json.RawMessage {
	switch {
	case d.Journey == "":
		return nil
	case d.Step == nil:
		return json.RawMessage("null")
	}
	return json.RawMessage(strconv.FormatInt(*d.Step, 10))
}

// RuleSummary counts what one rule did in a tick.
type RuleSummary = tick.RuleSummary

// RunResult is the outcome of one tick.
type RunResult struct {
	RunID     int64 // 0 for a dry run
	Now       time.Time
	Brand     string
	DryRun    bool
	Rules     []RuleSummary
	Decisions []Decision // in rule order, then member, firing, action; empty with SkipDecisions
	Dispatch  DispatchResult
	Timings   []StepTiming // how long each step of the tick took, in order
	// Journeys, in a dry run of a program with journeys, is where the
	// journeys' instances would stand after the tick (read before the
	// rollback); nil for a committed run, whose counts JourneyCounts reads.
	Journeys []JourneyCount
}

// StepTiming is the duration of one step of a tick ("evaluate rules",
// "caps", ..., "commit", "dispatch").
type StepTiming = tick.StepTiming

// Run performs one tick of SPEC §5: it evaluates every rule of prog at
// opts.Now, applies limits, dedupe and the policies, writes the outbox, tags,
// watermarks and the run log in one transaction, and then dispatches due
// sends to opts.Sinks. Failed deliveries do not fail the tick: they are
// counted in RunResult.Dispatch and retried at later ticks. An error
// returned after the commit (dispatch bookkeeping, reading the decisions)
// comes with the partial RunResult of the committed tick.
func (db *DB) Run(ctx context.Context, prog *compiler.Program, opts RunOptions) (*RunResult, error) {
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = naive(now)
	if opts.Lookback <= 0 {
		opts.Lookback = DefaultLookback
	}
	if err := checkProgram(prog); err != nil {
		return nil, err
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
	res := &RunResult{Now: now, Brand: brand, DryRun: opts.DryRun}

	o := tick.Options{Program: prog, Brand: brand, Now: now, Lookback: opts.Lookback, Mode: db.tickMode(opts), Trace: db.statementTrace()}
	t, tx, err := begin(ctx, conn, o)
	if tick.IsBudgetSkipError(err) && ctx.Err() == nil {
		// Again without the budget skip it could not prove.
		o.Mode |= tick.NoBudgetSkip
		t, tx, err = begin(ctx, conn, o)
	}
	if tick.IsRuleQueriesError(err) && ctx.Err() == nil {
		// Again rule by rule, for an error that names its rule.
		o.Mode |= tick.PerRule
		t, tx, err = begin(ctx, conn, o)
	}
	if err != nil {
		return nil, err
	}
	defer rollback(tx)
	res.RunID = t.RunID()
	if opts.DryRun {
		// The decisions the run would record: _nudge_dec's, and the
		// journeys' enter, exit and complete, which the journeys step
		// wrote to the outbox in the transaction (dryRunSource).
		src := dryRunSource(len(prog.Journeys) > 0, t.RunID())
		if opts.OnDecision != nil {
			if err := streamDryRun(ctx, tx, src, len(prog.Journeys) > 0, now, opts.OnDecision); err != nil {
				return nil, err
			}
		} else if !opts.SkipDecisions {
			if res.Decisions, err = readDecisions(ctx, tx, src, 0, now, t.RuleOrder()); err != nil {
				return nil, err
			}
		}
		if len(prog.Journeys) > 0 {
			if res.Journeys, err = journeyCounts(ctx, tx, prog, brand); err != nil {
				return nil, err
			}
		}
		res.Rules = t.Summary()
		res.RunID = 0
		res.Timings = t.Timings()
		return res, rollback(tx)
	}
	start := time.Now()
	if err := t.DropTemps(ctx); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("run: commit: %w", err)
	}
	t.Time("commit", time.Since(start))
	defer func() { res.Timings = t.Timings() }()

	if len(opts.Sinks) > 0 {
		budget := opts.DispatchBudget
		if budget <= 0 {
			budget = DefaultDispatchBudget
		}
		start := time.Now()
		res.Dispatch, err = db.Dispatch(ctx, prog, brand, now, opts.Sinks, budget, t.RunID())
		t.Time("dispatch", time.Since(start))
		if err != nil {
			return res, fmt.Errorf("dispatch: %w", err)
		}
	}
	if t.MaxSeq()-t.ClusteredSeq() >= db.clusterMin { // (fewer seqs than events: surely too few)
		start := time.Now()
		clustered, err := db.clusterEvents(ctx, t.MaxSeq())
		if clustered {
			t.Time("cluster events", time.Since(start))
		}
		if err != nil {
			return res, fmt.Errorf("run: clustering the events the tick consumed: %w", err)
		}
	}
	if !opts.SkipDecisions {
		if res.Decisions, err = readDecisions(ctx, db.sql, "outbox", t.RunID(), now, t.RuleOrder()); err != nil {
			return res, err
		}
	}
	res.Rules = t.Summary()
	if len(opts.Sinks) > 0 {
		// Dispatch changed the statuses of the sends it delivered.
		if res.Rules, err = t.Summaries(ctx, db.sql, t.RunID()); err != nil {
			return res, err
		}
	}
	return res, nil
}

// begin starts the tick's transaction on conn and runs its steps
// (tick.Tick.Run); on error the transaction is rolled back.
func begin(ctx context.Context, conn *sql.Conn, o tick.Options) (*tick.Tick, *sql.Tx, error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	if err := tickColumns(ctx, tx, &o); err != nil {
		rollback(tx)
		return nil, nil, err
	}
	defer func() {
		// A panic in a step must surface, not hang: the deferred close
		// of conn waits for its transaction to end.
		if r := recover(); r != nil {
			rollback(tx)
			panic(r)
		}
	}()
	t := tick.New(tx, o)
	if err := t.Run(ctx); err != nil {
		rollback(tx)
		return nil, nil, err
	}
	return t, tx, nil
}

// tickColumns fills in the columns of members and events a tick reads.
func tickColumns(ctx context.Context, q queryer, o *tick.Options) error {
	cols, err := tablesColumns(ctx, q, "members", "events")
	if err != nil {
		return err
	}
	o.MemberColumns, o.EventColumns = columnNames(cols["members"]), columnNames(cols["events"])
	o.VarcharColumns = map[string]bool{}
	other := map[string]bool{} // a name some table types otherwise
	for _, c := range append(cols["members"], cols["events"]...) {
		if c.Type == "VARCHAR" {
			o.VarcharColumns[c.Name] = true
		} else {
			other[c.Name] = true
		}
	}
	for name := range other {
		delete(o.VarcharColumns, name)
	}
	return nil
}

// tickMode is the mode of the ticks of opts: incremental, or Full with
// EvaluateAll (and UnboundedRetry with the database's test knob).
func (db *DB) tickMode(opts RunOptions) tick.Mode {
	var m tick.Mode
	if opts.EvaluateAll {
		m |= tick.Full
	}
	if db.unboundedRetry {
		m |= tick.UnboundedRetry
	}
	if db.perRule {
		m |= tick.PerRule
	}
	if opts.DryRun {
		m |= tick.DryRun
	}
	if opts.NoArrivals {
		m |= tick.NoArrivals
	}
	if opts.NoBudgetSkip {
		m |= tick.NoBudgetSkip
	}
	return m
}

// checkProgram rejects programs the runtime cannot run safely.
func checkProgram(prog *compiler.Program) error {
	seen := map[string]bool{}
	for _, r := range prog.Rules {
		if seen[r.Name] {
			return fmt.Errorf("%s:%d: rule %s is defined twice; rule names identify outbox rows and watermarks", r.File, r.Line, r.Name)
		}
		seen[r.Name] = true
		if len(r.Actions) == 0 {
			return fmt.Errorf("%s:%d: rule %s has no actions", r.File, r.Line, r.Name)
		}
		// The texts the tick writes into its statements must be quotable.
		texts := append([]string{r.Name}, r.Events...)
		for _, v := range r.Values {
			texts = append(texts, v.Label, v.Column)
		}
		for _, a := range r.Actions {
			texts = append(texts, a.Verb, a.Kind, a.Content, a.Channel)
		}
		for _, x := range texts {
			if _, err := sqlquote.String(x); err != nil {
				return fmt.Errorf("%s:%d: rule %s: the text %q %v", r.File, r.Line, r.Name, x, err)
			}
		}
	}
	for _, c := range prog.Caps {
		if _, err := sqlquote.String(c.Channel); err != nil {
			return fmt.Errorf("cap channel %q %v", c.Channel, err)
		}
	}
	return nil
}

// resolveBrand picks the tick's brand (DatabaseBrand).
func resolveBrand(ctx context.Context, q queryer, fileBrand, optBrand string) (string, error) {
	return DatabaseBrand(ctx, q, fileBrand, optBrand)
}

// DatabaseBrand is the brand a program runs for on a database, by
// ResolveBrand's rule: the program's or the option's; when neither is
// given, the only brand of the database's members and events. The tick,
// why, the REPL and the service all choose it so.
func DatabaseBrand(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, fileBrand, optBrand string) (string, error) {
	return ResolveBrand(ctx, q, fileBrand, optBrand,
		`SELECT brand FROM (SELECT DISTINCT brand FROM members UNION SELECT DISTINCT brand FROM events) ORDER BY brand LIMIT 11`, "the database")
}

// ResolveBrand is the one rule for the brand a program speaks for: the
// program's or the option's (they must agree); when neither is given, the
// only brand that brandsSQL (a query of one VARCHAR column, sorted, at
// most 11 rows) lists, "" when it lists none. where names what brandsSQL
// reads in the error for several brands ("the database", "the outbox").
func ResolveBrand(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, fileBrand, optBrand, brandsSQL, where string) (string, error) {
	switch {
	case fileBrand != "" && optBrand != "" && fileBrand != optBrand:
		return "", fmt.Errorf("the rules say brand %q but --brand says %q", fileBrand, optBrand)
	case fileBrand != "":
		return fileBrand, nil
	case optBrand != "":
		return optBrand, nil
	}
	rows, err := q.QueryContext(ctx, brandsSQL)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", where, err)
	}
	defer rows.Close()
	var brands []string
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return "", fmt.Errorf("reading %s: %w", where, err)
		}
		brands = append(brands, b)
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("reading %s: %w", where, err)
	}
	switch len(brands) {
	case 0:
		return "", nil
	case 1:
		return brands[0], nil
	}
	list := strings.Join(brands, ", ")
	if len(brands) > 10 {
		list = strings.Join(brands[:10], ", ") + ", ..."
	}
	return "", fmt.Errorf("%s holds several brands (%s); name one with brand \"...\" in the rules or --brand", where, list)
}

// traceSQL, when set (by benchmarks), receives every statement a tick
// executes and the time it took (tick.Options.Trace).
var traceSQL func(q string, took time.Duration)

// statementTrace is what receives the statements of db's ticks: its own
// onStatement, or traceSQL.
func (db *DB) statementTrace() func(q string, took time.Duration) {
	if db.onStatement != nil {
		return db.onStatement
	}
	return traceSQL
}

// decisionColumns are read by readDecisions from the outbox or a dry
// run's decisions (dryRunSource).
var decisionColumns = `rule, member_id, firing_id, action, coalesce(kind, ''), coalesce(content, ''), coalesce(channel, ''),
	status, coalesce(reason, ''), scheduled_at, due_at, ` + triggerSeqOf("") + `, firing_id || '-' || action_index, CAST(vals AS VARCHAR),
	CASE WHEN action = 'send' THEN CAST(params AS VARCHAR) END`

// triggerSeqOf is a decision's trigger_seq as the outputs give it, over
// the row aliased d ("" for none): the triggering event's seq of a trigger
// rule's firing and of a journey's enter (the entering event's, for enter
// on); none for the actions of a journey's steps, whose stored trigger_seq
// is not an event's but the step's synthetic dedupe key (negative, from
// the instance and the node: internal/tick/04a_journeys.go).
func triggerSeqOf(d string) string {
	if d != "" {
		d += "."
	}
	return "CASE WHEN " + d + "journey IS NULL OR " + d + "action IN ('enter', 'exit', 'complete') THEN " + d + "trigger_seq END"
}

// dryRunSource is the decisions of a dry run whose tick's run id is runID,
// as a FROM item with the outbox's columns that readDecisions and
// streamDryRun read: the tick's _nudge_dec and, for a program of
// journeys, the journeys' enter, exit and complete decisions, which the
// journeys step wrote to the outbox in the transaction the dry run rolls
// back (its sends there, a winner's, are in _nudge_dec too).
func dryRunSource(journeys bool, runID int64) string {
	if !journeys {
		return "_nudge_dec"
	}
	const cols = `rule, member_id, firing_id, action_index, action, kind, content, channel, status, reason,
         scheduled_at, due_at, trigger_seq, CAST(vals AS VARCHAR) AS vals, CAST(params AS VARCHAR) AS params, journey, step, variant`
	return fmt.Sprintf(`(SELECT %[1]s FROM _nudge_dec
  UNION ALL
  SELECT %[1]s FROM outbox WHERE run_id = %[2]d AND action IN ('enter', 'exit', 'complete'))`, cols, runID)
}

// readDecisions returns the decisions of a tick in a stable order.
func readDecisions(ctx context.Context, q queryer, table string, runID int64, now time.Time, order map[string]int) ([]Decision, error) {
	out, err := decisionsSlice(ctx, q, table, runID)
	if err != nil {
		return nil, err
	}
	err = scanDecisions(ctx, q, table, runID, now, func(d Decision) error {
		out = append(out, d)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sortDecisions(out, order)
	return out, nil
}

func scanDecisions(ctx context.Context, q queryer, table string, runID int64, now time.Time, fn func(Decision) error) error {
	// The outbox has fired_at; a dry run's decisions were all fired at now.
	where, fired := "WHERE run_id = $run::BIGINT", "fired_at, coalesce(journey, ''), step, coalesce(variant, '')"
	args := []any{sql.Named("run", runID)}
	if table != "outbox" {
		where, fired = "", "$now::TIMESTAMP, coalesce(journey, ''), step, coalesce(variant, '')"
		args = []any{sql.Named("now", now)}
	}
	rows, err := q.QueryContext(ctx, fmt.Sprintf(`SELECT %s, %s FROM %s %s ORDER BY rule, member_id, firing_id, action_index`,
		decisionColumns, fired, table, where), args...)
	if err != nil {
		return err
	}
	return scanDecisionRows(rows, nil, fn)
}

// scanDecisionRows reads rows of decisionColumns, fired_at, journey, step
// and variant (then the extra columns, scanned into extra) into decisions
// for fn, and closes rows.
func scanDecisionRows(rows *sql.Rows, extra []any, fn func(Decision) error) error {
	defer rows.Close()
	var sched, due, firedAt sql.NullTime
	var seq sql.NullInt64
	var vals, params sql.NullString
	var step sql.NullInt64
	for rows.Next() {
		var d Decision
		dest := []any{&d.Rule, &d.MemberID, &d.FiringID, &d.Action, &d.Kind, &d.Content, &d.Channel,
			&d.Status, &d.Reason, &sched, &due, &seq, &d.IdempotencyKey, &vals, &params, &firedAt, &d.Journey, &step, &d.Variant}
		if err := rows.Scan(append(dest, extra...)...); err != nil {
			return err
		}
		if step.Valid {
			n := step.Int64
			d.Step = &n
		}
		if sched.Valid {
			t := naive(sched.Time)
			d.ScheduledAt = &t
		}
		if due.Valid {
			t := naive(due.Time)
			d.DueAt = &t
		}
		if seq.Valid {
			n := seq.Int64
			d.TriggerSeq = &n
		}
		if vals.Valid {
			d.Values = json.RawMessage(vals.String)
		}
		d.Params = nil
		if params.Valid {
			d.Params = json.RawMessage(params.String)
		}
		if firedAt.Valid {
			d.FiredAt = naive(firedAt.Time)
		}
		if err := fn(d); err != nil {
			return err
		}
	}
	return rows.Err()
}

// OutboxPage calls fn with the brand's decisions in the outbox after the
// one numbered since (numbers from 1, in the order they were recorded),
// at most limit of them, each with its number: what the service's
// GET /v1/decisions pages through. The decisions read as run's outputs
// give them (journey, step and variant; params; no synthetic trigger_seq).
func (db *DB) OutboxPage(ctx context.Context, brand string, since int64, limit int, fn func(seq int64, d Decision) error) error {
	rows, err := db.sql.QueryContext(ctx, `SELECT `+decisionColumns+`, fired_at, coalesce(journey, ''), step, coalesce(variant, ''), rowid + 1
FROM outbox WHERE brand = $brand::VARCHAR AND rowid + 1 > $since::BIGINT ORDER BY rowid LIMIT $n::BIGINT`,
		sql.Named("brand", brand), sql.Named("since", since), sql.Named("n", limit))
	if err != nil {
		return err
	}
	var seq int64
	return scanDecisionRows(rows, []any{&seq}, func(d Decision) error { return fn(seq, d) })
}

// streamDryRun passes a dry run's decisions (src, dryRunSource) to fn in
// readDecisions' order: by the rule's place in the program (its first row
// in _nudge_rules), then member, firing and action; one Decision is
// reused for every row.
//
// The texts a decision shares with many others (rule, action, kind,
// content, channel, status, reason, and for a program of journeys
// journey, step and variant: few distinct sets in a tick) are read once,
// numbered in the temporary table _nudge_dec_texts, and each row carries
// its set's number instead: the sort carries 9 columns instead of 15 and
// the driver reads 9 values a row, 4 of them strings, instead of 15 with
// 11 (reading values through the driver and sorting wide rows were the
// cost, docs/performance.md). A program without journeys has none of
// their columns in the sets (they are empty).
func streamDryRun(ctx context.Context, q queryer, src string, journeys bool, now time.Time, fn func(*Decision) error) error {
	texts, err := dryRunTexts(ctx, q, src, journeys)
	if err != nil {
		return err
	}
	match, seqSQL := dryRunTextsMatch, "d.trigger_seq"
	if journeys {
		match += dryRunJourneyMatch
		seqSQL = triggerSeqOf("d")
	}
	rows, err := q.QueryContext(ctx, `SELECT t.texts, d.member_id, d.firing_id, d.action_index, d.scheduled_at, d.due_at, `+seqSQL+`,
	CAST(d.vals AS VARCHAR), CASE WHEN d.action = 'send' THEN CAST(d.params AS VARCHAR) END
FROM `+src+` d
JOIN _nudge_dec_texts t ON `+match+`
LEFT JOIN (SELECT name AS rule, min(ri) AS rule_order FROM _nudge_rules GROUP BY name) o ON o.rule = d.rule
ORDER BY coalesce(o.rule_order, 0), d.rule, d.member_id, d.firing_id, d.action_index`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var sched, due sql.NullTime
	var seq sql.NullInt64
	var vals, params sql.NullString
	var d Decision
	var schedAt, dueAt time.Time
	var trigger, set, action int64
	var key []byte
	for rows.Next() {
		if err := rows.Scan(&set, &d.MemberID, &d.FiringID, &action, &sched, &due, &seq, &vals, &params); err != nil {
			return err
		}
		t, ok := texts[set]
		if !ok {
			return fmt.Errorf("dry run: decision %s-%d has texts %d, not in _nudge_dec_texts", d.FiringID, action, set)
		}
		d.Rule, d.Action, d.Kind, d.Content, d.Channel, d.Status, d.Reason = t.rule, t.action, t.kind, t.content, t.channel, t.status, t.reason
		d.Journey, d.Step, d.Variant = t.journey, t.step, t.variant
		key = strconv.AppendInt(append(append(key[:0], d.FiringID...), '-'), action, 10)
		d.IdempotencyKey = string(key)
		d.FiredAt, d.ScheduledAt, d.DueAt, d.TriggerSeq, d.Values, d.Params = now, nil, nil, nil, nil, nil
		if sched.Valid {
			schedAt = naive(sched.Time)
			d.ScheduledAt = &schedAt
		}
		if due.Valid {
			dueAt = naive(due.Time)
			d.DueAt = &dueAt
		}
		if seq.Valid {
			trigger = seq.Int64
			d.TriggerSeq = &trigger
		}
		if vals.Valid {
			d.Values = json.RawMessage(vals.String)
		}
		if params.Valid {
			d.Params = json.RawMessage(params.String)
		}
		if err := fn(&d); err != nil {
			return err
		}
	}
	return rows.Err()
}

// decisionTexts are the texts of a decision that streamDryRun reads once
// per distinct set.
type decisionTexts struct {
	rule, action, kind, content, channel, status, reason string
	journey, variant                                     string
	step                                                 *int64 // (shared by the decisions of the set: read only)
}

// dryRunTextsMatch joins _nudge_dec d to its row t of _nudge_dec_texts.
const dryRunTextsMatch = `t.rule IS NOT DISTINCT FROM d.rule AND t.action IS NOT DISTINCT FROM d.action
	AND t.kind = coalesce(d.kind, '') AND t.content = coalesce(d.content, '') AND t.channel = coalesce(d.channel, '')
	AND t.status IS NOT DISTINCT FROM d.status AND t.reason = coalesce(d.reason, '')`

// dryRunJourneyMatch adds the journeys' columns to dryRunTextsMatch.
const dryRunJourneyMatch = `
	AND t.journey = coalesce(d.journey, '') AND t.step IS NOT DISTINCT FROM d.step AND t.variant = coalesce(d.variant, '')`

// dryRunTexts numbers the distinct sets of texts of the decisions of src
// (dryRunSource; with their journey, step and variant when journeys) in
// the temporary table _nudge_dec_texts (dropped with the dry run's
// transaction) and returns them by number.
func dryRunTexts(ctx context.Context, q queryer, src string, journeys bool) (map[int64]decisionTexts, error) {
	jcols := `, '' AS journey, NULL::INTEGER AS step, '' AS variant`
	if journeys {
		jcols = `, coalesce(journey, '') AS journey, step, coalesce(variant, '') AS variant`
	}
	if _, err := q.ExecContext(ctx, `CREATE OR REPLACE TEMP TABLE _nudge_dec_texts AS
SELECT row_number() OVER () AS texts, * FROM (
  SELECT DISTINCT rule, action, coalesce(kind, '') AS kind, coalesce(content, '') AS content, coalesce(channel, '') AS channel,
         status, coalesce(reason, '') AS reason`+jcols+`
  FROM `+src+`)`); err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, `SELECT texts, rule, action, kind, content, channel, status, reason, journey, step, variant FROM _nudge_dec_texts`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	texts := map[int64]decisionTexts{}
	for rows.Next() {
		var n int64
		var t decisionTexts
		var step sql.NullInt64
		if err := rows.Scan(&n, &t.rule, &t.action, &t.kind, &t.content, &t.channel, &t.status, &t.reason, &t.journey, &step, &t.variant); err != nil {
			return nil, err
		}
		if step.Valid {
			t.step = &step.Int64
		}
		texts[n] = t
	}
	return texts, rows.Err()
}

// Decisions streams the decisions of a committed run, in rule name, member
// and action order, to fn; it stops at fn's first error.
func (db *DB) Decisions(ctx context.Context, runID int64, fn func(Decision) error) error {
	return scanDecisions(ctx, db.sql, "outbox", runID, time.Time{}, fn)
}
