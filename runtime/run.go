package runtime

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"nudge/compiler"
	"nudge/compiler/sqlquote"
)

// Defaults of RunOptions.
const (
	DefaultLookback       = 24 * time.Hour
	DefaultDispatchBudget = 30 * time.Second
	// responseWindow is how long after a send any event of the member counts
	// as a response (`stop after N unanswered`).
	responseWindow = 7 * 24 * time.Hour
	// maxCapRounds bounds the cap fixed-point iteration (see applyCaps).
	maxCapRounds = 1000
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
	// EvaluateAll evaluates every state rule over every member and retries
	// every refused firing, as SPEC §5 states it, instead of only the
	// members whose verdict may have changed (see incremental.go). The
	// decisions are the same; tests use it to prove so.
	EvaluateAll bool
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
	}{d.Rule, d.MemberID, d.FiringID, d.Action, str(d.Kind), str(d.Content), str(d.Channel), d.Status, d.Reason,
		ts(&fired), ts(d.ScheduledAt), ts(d.DueAt), d.TriggerSeq, d.IdempotencyKey, d.Values})
}

// RuleSummary counts what one rule did in a tick.
type RuleSummary struct {
	Rule       string
	Trigger    bool
	Candidates int64            // rows of the rule's query its limit allowed, less repeated consent refusals
	Firings    int64            // firings recorded
	Repeats    int64            // refusals not recorded again (see the outbox docs)
	Statuses   map[string]int64 // decisions by status (after dispatch)
	// Incremental: the state rule was evaluated only for the members whose
	// verdict may have changed since its previous run (see incremental.go).
	Incremental bool
}

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
}

// StepTiming is the duration of one step of a tick ("evaluate rules",
// "caps", ..., "commit", "dispatch").
type StepTiming struct {
	Step string
	Took time.Duration
}

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

	newTick := func(perRule bool) *tick {
		return &tick{prog: prog, brand: brand, now: now, lookback: opts.Lookback, evaluateAll: opts.EvaluateAll,
			perRule: perRule, unboundedRetry: db.unboundedRetry}
	}
	t := newTick(false)
	tx, err := t.begin(ctx, conn)
	if errors.As(err, new(errRuleQueries)) && ctx.Err() == nil {
		// Again rule by rule, for an error that names its rule.
		t = newTick(true)
		tx, err = t.begin(ctx, conn)
	}
	if err != nil {
		return nil, err
	}
	defer rollback(tx)
	res.RunID = t.runID
	if opts.DryRun {
		if !opts.SkipDecisions {
			if res.Decisions, err = readDecisions(ctx, tx, "_nudge_dec", 0, now, t.ruleOrder()); err != nil {
				return nil, err
			}
		}
		res.Rules = t.summary
		res.RunID = 0
		res.Timings = t.timings
		return res, rollback(tx)
	}
	start := time.Now()
	if err := t.dropTemps(ctx); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("run: commit: %w", err)
	}
	t.timings = append(t.timings, StepTiming{"commit", time.Since(start)})
	defer func() { res.Timings = t.timings }()

	if len(opts.Sinks) > 0 {
		budget := opts.DispatchBudget
		if budget <= 0 {
			budget = DefaultDispatchBudget
		}
		start := time.Now()
		res.Dispatch, err = db.Dispatch(ctx, prog, brand, now, opts.Sinks, budget, t.runID)
		t.timings = append(t.timings, StepTiming{"dispatch", time.Since(start)})
		if err != nil {
			return res, fmt.Errorf("dispatch: %w", err)
		}
	}
	if t.maxSeq-t.clusteredSeq >= db.clusterMin { // (fewer seqs than events: surely too few)
		start := time.Now()
		clustered, err := db.clusterEvents(ctx, t.maxSeq)
		if clustered {
			t.timings = append(t.timings, StepTiming{"cluster events", time.Since(start)})
		}
		if err != nil {
			return res, fmt.Errorf("run: clustering the events the tick consumed: %w", err)
		}
	}
	if !opts.SkipDecisions {
		if res.Decisions, err = readDecisions(ctx, db.sql, "outbox", t.runID, now, t.ruleOrder()); err != nil {
			return res, err
		}
	}
	res.Rules = t.summary
	if len(opts.Sinks) > 0 {
		// Dispatch changed the statuses of the sends it delivered.
		if res.Rules, err = t.summaries(ctx, db.sql, "outbox", t.runID); err != nil {
			return res, err
		}
	}
	return res, nil
}

// begin starts the tick's transaction on conn and runs its steps; on error
// the transaction is rolled back.
func (t *tick) begin(ctx context.Context, conn *sql.Conn) (*sql.Tx, error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	t.tx = tx
	if err := t.run(ctx); err != nil {
		rollback(tx)
		return nil, err
	}
	return tx, nil
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

// resolveBrand picks the tick's brand: the program's or the option's; when
// neither is given, the database's only brand.
func resolveBrand(ctx context.Context, q queryer, fileBrand, optBrand string) (string, error) {
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

// tick is the state of one Run inside its transaction.
type tick struct {
	tx       *sql.Tx
	prog     *compiler.Program
	brand    string
	now      time.Time
	lookback time.Duration
	runID    int64
	maxSeq   int64 // the highest event seq when the tick began: its watermark
	// clusteredSeq: the events up to this seq are clustered (cluster.go).
	clusteredSeq int64
	// waiting: the brand's events waiting for their member when the tick
	// began (arrivals.go).
	waiting int64

	candidates []int64 // per rule
	firings    int64   // rows of _nudge_fire (the tick's firings)
	perRule    bool    // evaluate each rule in its own statement
	repeated   []int64 // per rule: refusals not recorded again
	timings    []StepTiming
	summary    []RuleSummary // per rule, from the tick's decisions (the run log step)
	consent    []string
	memberCols []column // the columns of members
	eventCols  []column // the columns of events
	started    time.Time

	// Incremental evaluation (incremental.go).
	evaluateAll   bool
	plans         []evalPlan
	membersSum    string
	retryBlock    bool    // _nudge_freed and _nudge_resp exist
	scoped        bool    // the scope tables exist
	scopeSize     []int64 // per scoped rule: its members in the scope
	scopeAllTypes bool    // the scope's copy of events holds events of every type
	firedUnscoped bool    // a rule with candidates was evaluated over every member (policies)
	// unboundedRetry: the retry tables read back to the oldest capped
	// refusal, as before retryHorizon (DB.unboundedRetry).
	unboundedRetry bool

	// A replay's round (replay.go): its candidates were evaluated at the
	// instants nows (now is the latest), each the instant of the tick whose
	// run id is in the table _nudge_ticks; nil for a tick.
	nows []time.Time
	// laneForm: the rules are evaluated in their lane form (replay.go).
	laneForm bool
}

// lo and hi are the earliest and the latest instant of the candidates
// (both the tick's now, but in a replay's round).
func (t *tick) lo() time.Time {
	if len(t.nows) > 0 {
		return t.nows[0]
	}
	return t.now
}

func (t *tick) hi() time.Time {
	if len(t.nows) > 0 {
		return t.nows[len(t.nows)-1]
	}
	return t.now
}

// runIDOf is the SQL of the run id of the decisions made at the instant
// now (an SQL expression): the tick's, or in a replay's round the id of
// the replayed tick at that instant.
func (t *tick) runIDOf(now string) string {
	if len(t.nows) > 0 {
		return "(SELECT k.run_id FROM _nudge_ticks k WHERE k.now = " + now + ")"
	}
	return "$run::BIGINT"
}

// exec runs a statement in the tick's transaction and returns the rows it
// affected.
func (t *tick) exec(ctx context.Context, q string, args ...any) (int64, error) {
	start := time.Now()
	r, err := t.tx.ExecContext(ctx, q, args...)
	if traceSQL != nil {
		traceSQL(q, time.Since(start))
	}
	if err != nil {
		return 0, err
	}
	n, _ := r.RowsAffected()
	return n, nil
}

// traceSQL, when set (by benchmarks), receives every statement a tick
// executes and the time it took.
var traceSQL func(q string, took time.Duration)

// clustered reports whether some events are clustered (cluster.go), so
// that conditions on their type skip row groups.
func (t *tick) clustered() bool { return t.clusteredSeq > 0 }

// params are the named parameters every tick statement may use.
func (t *tick) params(extra ...any) []any {
	return append([]any{sql.Named("now", t.now), sql.Named("brand", t.brand)}, extra...)
}

// brandSQL is the tick's brand as a SQL literal. A member is identified by
// (brand, member_id) (SPEC §5): every read of the outbox or rule_members,
// and every join of members on member_id, also compares the brand, since
// another brand may use the same member id (and a rule of the same name).
// A literal rather than $brand in the statements that have no other
// parameter.
func (t *tick) brandSQL() string { return quoteString(t.brand) }

// ruleOrder maps rule names to their position in the program.
func (t *tick) ruleOrder() map[string]int {
	m := map[string]int{}
	for i, r := range t.prog.Rules {
		m[r.Name] = i
	}
	return m
}

// tempTables are the tick's working tables (temporary, per connection).
const tempTables = "_nudge_rules _nudge_actions _nudge_caps _nudge_cand _nudge_fire _nudge_sfire _nudge_retry _nudge_dec _nudge_capuse _nudge_open _nudge_eff _nudge_repeat " +
	"_nudge_freed _nudge_resp _nudge_scope _nudge_scope_rm _nudge_rm " + compiler.ScopeMembers + " " + compiler.ScopeEvents

// dropTemps drops the working tables (and the extra ones) before the
// commit, so the pooled connection does not keep them.
func (t *tick) dropTemps(ctx context.Context, extra ...string) error {
	var b strings.Builder
	for _, tb := range append(strings.Fields(tempTables), extra...) {
		b.WriteString("DROP TABLE IF EXISTS " + tb + ";\n")
	}
	_, err := t.exec(ctx, b.String())
	return err
}

// load reads what every step needs to know of the database: the run id,
// the events' watermark, the members' fingerprint, how far events are
// clustered, how many events wait for their member, the columns of members
// and events and the consent channels.
func (t *tick) load(ctx context.Context) error {
	t.started = naive(time.Now())
	if err := t.tx.QueryRowContext(ctx, `SELECT (SELECT coalesce(max(id), 0) + 1 FROM runs), (SELECT coalesce(max(seq), 0) FROM events),
       `+membersFingerprintSQL+`, `+clusteredSeqSQL+`, `+countWaitingSQL, sql.Named("brand", t.brand)).Scan(&t.runID, &t.maxSeq, &t.membersSum, &t.clusteredSeq, &t.waiting); err != nil {
		return err
	}
	cols, err := tablesColumns(ctx, t.tx, "members", "events")
	if err != nil {
		return err
	}
	t.memberCols, t.eventCols = cols["members"], cols["events"]
	t.consent = consentChannels(t.memberCols)
	return nil
}

// consentChannels lists the channels the members table has a consent_<CH>
// column for, in column order.
func consentChannels(memberCols []column) []string {
	var chans []string
	for _, c := range memberCols {
		if ch, ok := strings.CutPrefix(c.name, "consent_"); ok {
			chans = append(chans, ch)
		}
	}
	return chans
}

// consentSQL is a member m's consent for the channel that channelCol
// names: m.consent_<CH> for a channel of chans, NULL for any other (no
// consent column, so no consent).
func consentSQL(chans []string, channelCol string) string {
	if len(chans) == 0 {
		return "NULL"
	}
	var whens []string
	for _, ch := range chans {
		whens = append(whens, fmt.Sprintf("WHEN %s THEN m.%s", quoteString(ch), quoteIdent("consent_"+ch)))
	}
	return "CASE " + channelCol + " " + strings.Join(whens, " ") + " END"
}

// tickStep is one step of a tick.
type tickStep struct {
	name    string
	fn      func(context.Context) error
	firings bool // only does something when something fired
}

// policySteps are the steps from the candidates to the decisions written:
// a tick's, and a replay's round's (replay.go).
func (t *tick) policySteps() []tickStep {
	return []tickStep{
		{"limits and dedupe", t.fire, false},
		{"policies", t.policies, false},
		{"caps", t.applyCaps, true},
		{"quiet hours", t.quietHours, true},
		{"repeated refusals", t.repeats, true},
		{"outbox", t.writeOutbox, true},
		{"rule members", t.ruleMembers, true},
		{"tags", t.applyTags, true},
	}
}

// run performs the tick's steps in order, timing each.
func (t *tick) run(ctx context.Context) error {
	if err := t.load(ctx); err != nil {
		return err
	}
	var steps []tickStep
	if t.waiting > 0 {
		// Before anything reads the events or the watermark.
		steps = append(steps, tickStep{"arrivals", t.arrivals, false})
	}
	steps = append(steps, []tickStep{
		{"setup", t.setup, false},
		{"plan", t.plan, false},
		{"evaluate rules", t.evaluate, false},
	}...)
	steps = append(steps, t.policySteps()...)
	steps = append(steps, []tickStep{
		{"watermarks", t.watermarks, false},
		{"evaluations", t.recordEvaluations, false},
		{"run log", t.runLog, false},
	}...)
	t.repeated = make([]int64, len(t.prog.Rules))
	for _, s := range steps {
		if s.firings && t.firings == 0 {
			continue // a quiet tick: each of these steps reads the firings
		}
		start := time.Now()
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("run (%s): %w", s.name, err)
		}
		t.timings = append(t.timings, StepTiming{s.name, time.Since(start)})
	}
	return nil
}

// setup creates the tick's temp tables and loads the program's rules,
// actions and caps into them, so every policy is a join.
func (t *tick) setup(ctx context.Context) error {
	ddl := []string{
		`CREATE OR REPLACE TEMP TABLE _nudge_rules (ri INTEGER, name VARCHAR, trig BOOLEAN, has_limit BOOLEAN,
			every_us BIGINT, priority INTEGER, holdout DOUBLE, stop_after INTEGER)`,
		`CREATE OR REPLACE TEMP TABLE _nudge_actions (ri INTEGER, ai INTEGER, verb VARCHAR, kind VARCHAR, content VARCHAR, channel VARCHAR)`,
		`CREATE OR REPLACE TEMP TABLE _nudge_caps (ci INTEGER, channel VARCHAR, cnt BIGINT, per_us BIGINT, label VARCHAR)`,
		// now: the instant a candidate was evaluated at, the tick's (a
		// replay's lanes give each its own, see replay.go).
		`CREATE OR REPLACE TEMP TABLE _nudge_cand (ri INTEGER, member_id VARCHAR, trigger_seq BIGINT, due_at TIMESTAMP, vals JSON,
			now TIMESTAMP DEFAULT ` + timestampSQL(t.now) + `)`,
	}
	if _, err := t.exec(ctx, strings.Join(ddl, ";\n")); err != nil {
		return err
	}
	var rules, actions, caps []string
	for i, r := range t.prog.Rules {
		hasLimit := r.Limit != nil || !r.Trigger
		var every int64
		if r.Limit != nil {
			every = r.Limit.Every.Microseconds()
		}
		rules = append(rules, fmt.Sprintf("(%d, %s, %t, %t, %d, %d, %g, %d)", i, quoteString(r.Name), r.Trigger, hasLimit,
			every, r.Priority, r.Holdout, r.StopAfter))
		for j, a := range r.Actions {
			actions = append(actions, fmt.Sprintf("(%d, %d, %s, %s, %s, %s)", i, j, quoteString(a.Verb),
				sqlNullString(a.Kind), sqlNullString(a.Content), sqlNullString(a.Channel)))
		}
	}
	for i, c := range t.prog.Caps {
		caps = append(caps, fmt.Sprintf("(%d, %s, %d, %d, %s)", i, sqlNullString(c.Channel), c.Count, c.Per.Microseconds(), quoteString(capLabel(c))))
	}
	for table, rows := range map[string][]string{"_nudge_rules": rules, "_nudge_actions": actions, "_nudge_caps": caps} {
		if len(rows) == 0 {
			continue
		}
		if _, err := t.exec(ctx, "INSERT INTO "+table+" VALUES "+strings.Join(rows, ", ")); err != nil {
			return err
		}
	}
	return nil
}

func sqlNullString(s string) string {
	if s == "" {
		return "NULL"
	}
	return quoteString(s)
}

func capLabel(c compiler.Cap) string {
	ch := c.Channel
	if ch == "" {
		ch = "all"
	}
	return fmt.Sprintf("cap %s %d per %s", ch, c.Count, fmtDuration(c.Per))
}

// fmtDuration renders d in the largest whole unit (7d, 12h, 30m).
func fmtDuration(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

// evaluate runs every rule's query into _nudge_cand: the scoped ones in one
// statement (a tick's fixed cost is mostly per statement, and DuckDB runs
// the rules' pipelines side by side), those evaluated over every member one
// statement each; with t.perRule, one statement per rule, so that an error
// names its rule.
//
// A program whose rules read tags other rules write has strata (SPEC §5
// Actions, compiler.Rule.Stratum): the rules of each stratum are evaluated
// in turn, and the tags of their firings applied (stratumTags) before the
// next stratum is evaluated, so that its rules see them. A program with one
// stratum is evaluated at once.
func (t *tick) evaluate(ctx context.Context) error {
	t.candidates = make([]int64, len(t.prog.Rules))
	strata := t.prog.Strata()
	if strata <= 1 {
		return t.evaluateRules(ctx, nil)
	}
	if _, err := t.exec(ctx, `CREATE OR REPLACE TEMP TABLE _nudge_retry (firing_id VARCHAR)`); err != nil {
		return err
	}
	for s := range strata {
		if err := t.evaluateRules(ctx, func(i int) bool { return t.prog.Rules[i].Stratum == s }); err != nil {
			return err
		}
		if err := t.stratumTags(ctx, s); err != nil {
			return fmt.Errorf("tags of stratum %d: %w", s, err)
		}
	}
	return nil
}

// evaluateRules runs the queries of the rules for which in holds (every
// rule when in is nil) into _nudge_cand (see evaluate).
func (t *tick) evaluateRules(ctx context.Context, in func(i int) bool) error {
	base := []any{sql.Named(compiler.ParamNow, t.now), sql.Named(compiler.ParamBrand, t.brand)}
	args := slices.Clone(base) // of the shared statement
	var selects, blocks []string
	for i, r := range t.prog.Rules {
		if in != nil && !in(i) {
			continue
		}
		if t.plans[i].scoped && t.scopeSize[i] == 0 {
			continue // nothing to evaluate (see buildScope)
		}
		wmSeq, wmNow := t.plans[i].wmSeq, t.plans[i].wmNow
		// A rule evaluated over every member is work enough for a
		// statement of its own (and together they would compete for
		// memory); the others are cheap, and run together.
		if t.perRule || !t.plans[i].scoped {
			n, err := t.exec(ctx, "INSERT INTO _nudge_cand "+candColumns+" "+t.ruleSelect(i, false), append(slices.Clone(base),
				r.Watermarks.Args(wmSeq, wmNow)...)...)
			if err != nil {
				return fmt.Errorf("rule %s (%s:%d): %w", r.Name, r.File, r.Line, err)
			}
			t.candidates[i] = n
			continue
		}
		// Each rule has its own watermark parameters (named by the compiler).
		selects = append(selects, t.ruleSelect(i, true))
		if block := t.blocked(i); block != "" {
			blocks = append(blocks, "(rm.rule = "+quoteString(r.Name)+" AND ("+block+"))")
		}
		args = append(args, r.Watermarks.Args(wmSeq, wmNow)...)
	}
	if t.perRule || len(selects) == 0 {
		return nil
	}
	// The members each rule may not fire for, computed once for all of
	// them (as a join in every rule's query, the retry tables were hashed
	// once per rule).
	with := ""
	if len(blocks) > 0 {
		with = "WITH " + sharedBlocked + " AS MATERIALIZED (\n  SELECT rm.rule, rm.member_id FROM " + t.blockedFrom(true) +
			"\n  WHERE " + strings.Join(blocks, "\n     OR ") + "\n)\n"
	}
	if _, err := t.exec(ctx, "INSERT INTO _nudge_cand "+candColumns+"\n"+with+strings.Join(selects, "\nUNION ALL\n"), args...); err != nil {
		return errRuleQueries{err}
	}
	var err error
	t.candidates, err = t.rowsPerRule(ctx, "_nudge_cand")
	return err
}

// rowsPerRule counts the rows of a tick table (with a column ri) per rule.
func (t *tick) rowsPerRule(ctx context.Context, table string) ([]int64, error) {
	out := make([]int64, len(t.prog.Rules))
	rows, err := t.tx.QueryContext(ctx, `SELECT ri, count(*) FROM `+table+` GROUP BY ri`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var ri int
		var n int64
		if err := rows.Scan(&ri, &n); err != nil {
			return nil, err
		}
		out[ri] = n
	}
	return out, rows.Err()
}

// candColumns are the columns of _nudge_cand a rule's SELECT fills (the
// instant is the tick's, the column's default).
const candColumns = "(ri, member_id, trigger_seq, due_at, vals)"

// errRuleQueries is the failure of the statement evaluating the scoped
// rules together; Run runs the tick again rule by rule to name the rule at
// fault.
type errRuleQueries struct{ err error }

func (e errRuleQueries) Error() string { return e.err.Error() }
func (e errRuleQueries) Unwrap() error { return e.err }

// sharedBlocked names the CTE of the statement evaluating the scoped rules
// together that lists, per rule, the members it may not fire for.
const sharedBlocked = "_nudge_blocked"

// ruleSelect is the SELECT of rule i's candidates: its query, with the
// members whose limit has not run out (and the refusals that would be
// refused again) removed before anything is materialised. A state rule
// matches most of its members again at every tick, and almost all of them
// are still within their limit (see blocked and repeats). With shared, the
// SELECT is part of the statement evaluating the scoped rules together,
// which lists those members in the CTE sharedBlocked.
func (t *tick) ruleSelect(i int, shared bool) string {
	r := t.prog.Rules[i]
	vals := "NULL"
	if len(r.Values) > 0 {
		var kv []string
		seen := map[string]int{}
		for _, v := range r.Values {
			label := v.Label
			if label == "" {
				label = v.Column
			}
			if n := seen[label]; n > 0 {
				label = fmt.Sprintf("%s (%d)", label, n+1)
			}
			seen[v.Label]++
			kv = append(kv, quoteString(label), "q."+quoteIdent(v.Column))
		}
		vals = "json_object(" + strings.Join(kv, ", ") + ")"
	}
	body := r.SQL
	switch {
	case t.laneForm:
		body = r.LaneSQL
	case t.plans[i].scoped:
		body = r.ScopedSQL
	}
	body = strings.TrimRight(strings.TrimSpace(body), ";")
	limit := ""
	switch block := t.blocked(i); {
	case block == "":
	case shared:
		limit = `ANTI JOIN (SELECT member_id FROM ` + sharedBlocked + ` WHERE rule = ` + quoteString(r.Name) + `) blocked ON blocked.member_id = q.member_id`
	default:
		limit = `ANTI JOIN (
    SELECT rm.member_id FROM ` + t.blockedFrom(t.plans[i].scoped) + `
    WHERE rm.rule = ` + quoteString(r.Name) + ` AND (` + block + `)
) blocked ON blocked.member_id = q.member_id`
	}
	return fmt.Sprintf("SELECT %d, q.member_id, q.trigger_seq, q.due_at, %s FROM (\n%s\n) q\n%s", i, vals, body, limit)
}

// noConsent returns a condition on members m that holds when the member has
// consent on none of the channels rule r sends on ("" when r sends nothing).
func (t *tick) noConsent(r *compiler.Rule) string {
	has := map[string]bool{}
	for _, c := range t.consent {
		has[c] = true
	}
	var conds []string
	seen := map[string]bool{}
	for _, a := range r.Actions {
		if a.Verb != "send" || seen[a.Channel] {
			continue
		}
		seen[a.Channel] = true
		if has[a.Channel] {
			conds = append(conds, fmt.Sprintf("m.%s IS NOT TRUE", quoteIdent("consent_"+a.Channel)))
		}
	}
	if len(seen) == 0 {
		return ""
	}
	if len(conds) == 0 {
		return "true"
	}
	return "(" + strings.Join(conds, " AND ") + ")"
}

// fire turns candidates (already allowed by their rule's limit, see
// evaluate) into firings: one per dedupe key, not already in the outbox; a
// limited rule fires at most once per member per tick (its earliest
// candidate).
func (t *tick) fire(ctx context.Context) error {
	if err := t.selectFirings(ctx, "_nudge_fire", nil); err != nil {
		return err
	}
	return t.tx.QueryRowContext(ctx, `SELECT count(*) FROM _nudge_fire`).Scan(&t.firings)
}

// selectFirings creates the table table of the firings (see fire) of the
// candidates of the rules rules (of every rule when nil).
func (t *tick) selectFirings(ctx context.Context, table string, rules []int) error {
	only := ""
	if rules != nil {
		var ris []string
		for _, i := range rules {
			ris = append(ris, fmt.Sprint(i))
		}
		only = " AND ri IN (" + strings.Join(ris, ", ") + ")"
	}
	var minSeq int64
	if err := t.tx.QueryRowContext(ctx, `SELECT coalesce(min(trigger_seq), 0) FROM _nudge_cand WHERE true`+only).Scan(&minSeq); err != nil {
		return err
	}
	// State candidates are one per member (the compiler's contract) and
	// their dedupe key is the run's now, so they only need an anti-join
	// with this now's state firings. Trigger candidates are deduped by
	// event seq, and a limited trigger rule keeps each member's earliest.
	_, err := t.exec(ctx, `
CREATE OR REPLACE TEMP TABLE `+table+` AS
WITH c AS (
    SELECT c.ri, r.name, c.member_id, c.trigger_seq, c.due_at, c.vals, c.now, r.has_limit, r.trig
    FROM _nudge_cand c JOIN _nudge_rules r USING (ri)
    WHERE c.member_id IS NOT NULL AND (NOT r.trig OR c.trigger_seq IS NOT NULL)`+only+`
), state AS (
    SELECT c.ri, c.name, c.member_id, c.trigger_seq, c.due_at, c.vals, c.now,
           strftime(c.now, '%Y-%m-%dT%H:%M:%S.%f') AS dedupe_key
    FROM c
    ANTI JOIN (SELECT rule, member_id, fired_at FROM outbox WHERE fired_at >= $lo::TIMESTAMP AND fired_at <= $hi::TIMESTAMP AND trigger_seq IS NULL AND `+afterScan("brand = "+t.brandSQL())+`) o
        ON o.rule = c.name AND o.member_id = c.member_id AND o.fired_at = c.now
    WHERE NOT c.trig
), trig AS (
    SELECT c.ri, c.name, c.member_id, c.trigger_seq, c.due_at, c.vals, c.now, CAST(c.trigger_seq AS VARCHAR) AS dedupe_key
    FROM c
    ANTI JOIN (SELECT rule, member_id, trigger_seq FROM outbox WHERE trigger_seq >= $minseq::BIGINT AND `+afterScan("brand = "+t.brandSQL())+`) o
        ON o.rule = c.name AND o.member_id = c.member_id AND o.trigger_seq = c.trigger_seq
    WHERE c.trig
    QUALIFY row_number() OVER (PARTITION BY c.ri, c.member_id, c.trigger_seq ORDER BY c.due_at) = 1
        AND (NOT c.has_limit OR row_number() OVER (PARTITION BY c.ri, c.member_id ORDER BY c.due_at, c.trigger_seq) = 1)
)
SELECT *, 'f' || substr(md5(`+t.brandSQL()+` || chr(31) || name || chr(31) || member_id || chr(31) || dedupe_key), 1, 16) AS firing_id
FROM (SELECT * FROM state UNION ALL SELECT * FROM trig)`, sql.Named("lo", t.lo()), sql.Named("hi", t.hi()), sql.Named("minseq", minSeq))
	return err
}

// policies expands firings into one decision per action and applies the
// policies that need no ordering: tags are applied, notifies pending, and a
// send is held_out, no_consent or gave_up, in that order, or left open
// (status NULL) for caps and quiet hours.
func (t *tick) policies(ctx context.Context) error {
	consent := consentSQL(t.consent, "a.channel")
	// Unanswered sends are only counted when a rule that stops after them
	// fires (the count reads the member's events).
	unanswered := `SELECT CAST(NULL AS INTEGER) AS ri, CAST(NULL AS VARCHAR) AS member_id, CAST(0 AS BIGINT) AS n, false AS again WHERE false`
	var stoppers int64
	if err := t.tx.QueryRowContext(ctx, `SELECT count(*) FROM _nudge_fire f JOIN _nudge_rules r ON r.ri = f.ri AND r.stop_after > 0`).Scan(&stoppers); err != nil {
		return err
	}
	// Of the rules that may have fired (those with candidates): the
	// stopping ones, and whether any was evaluated over every member (the
	// scope's copies of members and events then miss some of theirs).
	var stopping []string
	t.firedUnscoped = !t.scoped
	unscopedStopping := false
	for i, r := range t.prog.Rules {
		if t.candidates[i] == 0 {
			continue
		}
		if r.StopAfter > 0 {
			stopping = append(stopping, r.Name)
		}
		if !t.plans[i].scoped {
			t.firedUnscoped = true
			unscopedStopping = unscopedStopping || r.StopAfter > 0
		}
	}
	if stoppers > 0 {
		// The histories of the members a scoped rule fired for are in the
		// scope's copy of events when it holds every type (any event is a
		// response); it is much smaller than the events table.
		events := "events"
		if t.scopeAllTypes && !unscopedStopping {
			events = compiler.ScopeEvents
		}
		unanswered = StopAfterSQL(`SELECT f.ri, f.name AS rule, f.member_id, f.now FROM _nudge_fire f JOIN _nudge_rules r ON r.ri = f.ri AND r.stop_after > 0`,
			events, stopping)
	}
	// The consent of the members a scoped rule fired for is in the scope's
	// copy of members (which always has the consent columns).
	members := compiler.ScopeMembers
	if t.firedUnscoped {
		members = "members"
	}
	// again: a gave_up send of a firing whose rule already gave up on the
	// member since the member's last event; repeats drops it (recorded once).
	q := fmt.Sprintf(`
CREATE OR REPLACE TEMP TABLE _nudge_dec AS
WITH unanswered AS (%s)
SELECT * EXCLUDE (u_again), coalesce(status = 'gave_up' AND u_again, false) AS again FROM (
SELECT f.ri, f.name AS rule, f.member_id, f.trigger_seq, f.due_at, f.vals, f.dedupe_key, f.firing_id, f.now,
       a.ai AS action_index, a.verb AS action, a.kind, a.content, a.channel, r.priority,
       CASE WHEN a.verb IN ('tag', 'untag') THEN 'applied'
            WHEN a.verb = 'notify' THEN 'pending'
            WHEN r.holdout > 0 AND md5_number(f.name || chr(31) || f.member_id) %% 10000 < r.holdout * 100 THEN 'held_out'
            WHEN (%s) IS NOT TRUE THEN 'no_consent'
            WHEN r.stop_after > 0 AND coalesce(u.n, 0) >= r.stop_after THEN 'gave_up'
       END AS status,
       CASE WHEN a.verb NOT IN ('send') THEN NULL
            WHEN r.holdout > 0 AND md5_number(f.name || chr(31) || f.member_id) %% 10000 < r.holdout * 100 THEN 'holdout ' || r.holdout || '%%'
            WHEN (%s) IS NOT TRUE THEN 'no consent_' || a.channel
            WHEN r.stop_after > 0 AND coalesce(u.n, 0) >= r.stop_after THEN u.n || ' unanswered sends'
       END AS reason,
       CAST(NULL AS TIMESTAMP) AS scheduled_at,
       false AS capped,
       coalesce(u.again, false) AS u_again
FROM _nudge_fire f
JOIN _nudge_actions a ON a.ri = f.ri
JOIN _nudge_rules r ON r.ri = f.ri
LEFT JOIN %s m ON m.member_id = f.member_id AND m.brand = %s
LEFT JOIN unanswered u ON u.ri = f.ri AND u.member_id = f.member_id)`, unanswered, consent, consent, members, t.brandSQL())
	args := []any{}
	if stoppers > 0 {
		args = append(args, StopAfterArgs(t.brand, t.hi())...)
	}
	_, err := t.exec(ctx, q, args...)
	return err
}

// StopAfterSQL is `stop after N unanswered` (SPEC §5, policy 4) as one
// query, shared by the tick's policies and by `nudge why`. pairs is a
// query of (ri INTEGER, rule VARCHAR, member_id VARCHAR, now TIMESTAMP):
// a rule that stops after unanswered sends, a member it fires for and the
// instant it fires at. The result has per pair's (ri, member_id):
//
//   - n, the rule's unanswered sends to the member since the member's last
//     event (the latest with ts <= now): sends (status pending, scheduled
//     or sent, one per firing) whose response window, responseWindow from
//     coalesce(scheduled_at, fired_at), closed by now and started at or
//     after that event. Any event in the window would be that last event
//     or later, so such a send got no response; and a later event starts
//     the count again, so the sends counted are the consecutive
//     unanswered ones. The rule gives up when n reaches N;
//   - again, whether the rule already gave up on the member (a gave_up
//     send fired at or after that last event): the give-up is recorded
//     once, and further firings while the member stays silent are not
//     recorded (see repeats).
//
// events is the table the member's events are read from; rules lists the
// stopping rules (literals: a table filter on the outbox's rule, applied
// before its member ids are read). Its parameters are StopAfterArgs'.
func StopAfterSQL(pairs, events string, rules []string) string {
	return `
    WITH p AS (` + pairs + `),
    sends AS (
        SELECT p.ri, p.member_id, p.now, o.firing_id, o.status, coalesce(o.scheduled_at, o.fired_at) AS at, o.fired_at
        FROM p JOIN outbox o ON o.rule = p.rule AND o.member_id = p.member_id AND o.rule IN (` + quoteStrings(rules) + `)
                             AND o.fired_at <= $hi::TIMESTAMP AND o.fired_at <= p.now
        WHERE o.brand = $brand::VARCHAR AND o.action = 'send' AND o.status IN ('pending', 'scheduled', 'sent', 'gave_up')
    ),
    last AS (
        SELECT s.member_id, s.now, max(e.ts) AS ts
        FROM (SELECT DISTINCT member_id, now FROM sends) s
        JOIN ` + events + ` e ON e.member_id = s.member_id AND e.ts <= s.now
        WHERE e.brand = $brand::VARCHAR
        GROUP BY s.member_id, s.now
    )
    SELECT s.ri, s.member_id,
           count(DISTINCT s.firing_id) FILTER (WHERE s.status <> 'gave_up' AND s.at + to_microseconds($resp::BIGINT) <= s.now
                                                 AND (l.ts IS NULL OR s.at >= l.ts)) AS n,
           coalesce(bool_or(s.status = 'gave_up' AND (l.ts IS NULL OR s.fired_at >= l.ts)), false) AS again
    FROM sends s LEFT JOIN last l ON l.member_id = s.member_id AND l.now = s.now
    GROUP BY s.ri, s.member_id`
}

// StopAfterArgs are the parameters of StopAfterSQL: the brand and the
// latest instant of the pairs.
func StopAfterArgs(brand string, hi time.Time) []any {
	return []any{sql.Named("brand", brand), sql.Named("resp", responseWindow.Microseconds()), sql.Named("hi", hi)}
}

// applyCaps marks open sends that would exceed a cap as capped. Sends of a
// member compete in a fixed order (priority desc, rule name, due time,
// action); a send is allowed when, for every cap that covers its channel,
// the member's counted sends in the cap's window plus the allowed sends
// before it stay below the cap. A capped send does not count against later
// ones, which makes the greedy verdict depend on earlier verdicts: the
// statement below recomputes every verdict from the previous ones until
// nothing changes. The first k sends of every member are final after k
// rounds, so it ends after at most (max sends per member) + 1 rounds; almost
// always one or two.
func (t *tick) applyCaps(ctx context.Context) error {
	if len(t.prog.Caps) == 0 {
		return nil
	}
	// The longest window bounds the scan of the outbox (in time order).
	_, maxPer := t.capWindows()
	if _, err := t.exec(ctx, `
CREATE OR REPLACE TEMP TABLE _nudge_capuse AS
SELECT c.ci, o.member_id, count(*) AS n
FROM outbox o JOIN _nudge_caps c ON c.channel IS NULL OR c.channel = o.channel
JOIN (SELECT DISTINCT member_id, now FROM _nudge_dec WHERE action = 'send' AND status IS NULL) d ON d.member_id = o.member_id
WHERE o.fired_at > $lo::TIMESTAMP - to_microseconds($maxper::BIGINT) AND o.fired_at <= $hi::TIMESTAMP
  AND o.fired_at > d.now - to_microseconds(c.per_us) AND o.fired_at <= d.now
  AND `+afterScan("o.action = 'send' AND o.status IN ('pending', 'scheduled', 'sent') AND o.brand = "+t.brandSQL())+`
GROUP BY c.ci, o.member_id`, sql.Named("lo", t.lo()), sql.Named("hi", t.hi()), sql.Named("maxper", maxPer.Microseconds())); err != nil {
		return err
	}
	// A member's only open send needs no competition: it is capped when a
	// cap is already full.
	if _, err := t.exec(ctx, `
UPDATE _nudge_dec SET capped = true, reason = v.reason
FROM (
    SELECT d.id, min(c.label ORDER BY c.ci) AS reason
    FROM (SELECT rowid AS id, member_id, channel, count(*) OVER (PARTITION BY member_id) AS n
          FROM _nudge_dec WHERE action = 'send' AND status IS NULL) d
    JOIN _nudge_caps c ON c.channel IS NULL OR c.channel = d.channel
    JOIN _nudge_capuse u ON u.ci = c.ci AND u.member_id = d.member_id AND u.n >= c.cnt
    WHERE d.n = 1
    GROUP BY d.id
) v
WHERE _nudge_dec.rowid = v.id`); err != nil {
		return err
	}
	// Members with several open sends compete; ord is the order.
	if _, err := t.exec(ctx, `
CREATE OR REPLACE TEMP TABLE _nudge_open AS
SELECT id, member_id, channel, ord FROM (
    SELECT rowid AS id, member_id, channel,
           row_number() OVER (PARTITION BY member_id ORDER BY priority DESC, rule, due_at NULLS FIRST, trigger_seq NULLS FIRST, action_index) AS ord,
           count(*) OVER (PARTITION BY member_id) AS n
    FROM _nudge_dec WHERE action = 'send' AND status IS NULL)
WHERE n > 1`); err != nil {
		return err
	}
	for round := 0; ; round++ {
		if round == maxCapRounds {
			return errors.New("caps did not settle")
		}
		n, err := t.exec(ctx, `
UPDATE _nudge_dec SET capped = v.capped, reason = v.reason
FROM (
    SELECT id, bool_or(used >= cnt) AS capped, min(label ORDER BY ci) FILTER (WHERE used >= cnt) AS reason
    FROM (
        SELECT o.id, c.ci, c.cnt, c.label,
               coalesce(u.n, 0) + coalesce(sum(CASE WHEN d.capped THEN 0 ELSE 1 END) OVER (
                   PARTITION BY o.member_id, c.ci ORDER BY o.ord ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS used
        FROM _nudge_open o
        JOIN _nudge_dec d ON d.rowid = o.id
        JOIN _nudge_caps c ON c.channel IS NULL OR c.channel = o.channel
        LEFT JOIN _nudge_capuse u ON u.ci = c.ci AND u.member_id = o.member_id
    )
    GROUP BY id
) v
WHERE _nudge_dec.rowid = v.id AND (_nudge_dec.capped <> v.capped OR _nudge_dec.reason IS DISTINCT FROM v.reason)`)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	_, err := t.exec(ctx, `UPDATE _nudge_dec SET status = 'capped' WHERE capped`)
	return err
}

// quietHours settles the remaining open sends: scheduled at the end of the
// quiet period when now falls in one, else pending.
func (t *tick) quietHours(ctx context.Context) error {
	settle := func(now time.Time) (status, reason string, at sql.NullTime) {
		status = "pending"
		if end, q, ok := quietEnd(now, t.prog.Quiet); ok {
			status, at = "scheduled", sql.NullTime{Time: end, Valid: true}
			reason = fmt.Sprintf("quiet hours %02d:%02d-%02d:%02d", q.From/60, q.From%60, q.To/60, q.To%60)
		}
		return status, reason, at
	}
	if len(t.nows) == 0 {
		// One instant: a plain UPDATE (a join with one row costs seconds
		// on a million decisions).
		status, reason, at := settle(t.now)
		_, err := t.exec(ctx, `UPDATE _nudge_dec SET status = $st::VARCHAR, scheduled_at = $at::TIMESTAMP, reason = nullif($reason::VARCHAR, '')
		WHERE status IS NULL`, sql.Named("st", status), sql.Named("at", at), sql.Named("reason", reason))
		return err
	}
	var rows []string
	for _, now := range t.nows {
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

// quietEnd reports whether now falls in a quiet period and when the period
// ends. Periods are [From, To) in minutes after midnight and may wrap
// midnight (22:00 to 08:00). Overlapping periods chain: the send waits until
// no period covers it.
func quietEnd(now time.Time, quiet []compiler.Quiet) (time.Time, compiler.Quiet, bool) {
	var first compiler.Quiet
	found := false
	t := now
	for range len(quiet) + 1 {
		moved := false
		for _, q := range quiet {
			if end, ok := quietPeriodEnd(t, q); ok && end.After(t) {
				if !found {
					first, found = q, true
				}
				t, moved = end, true
			}
		}
		if !moved {
			break
		}
	}
	return t, first, found
}

func quietPeriodEnd(t time.Time, q compiler.Quiet) (time.Time, bool) {
	if q.From == q.To {
		return time.Time{}, false
	}
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
	m := t.Hour()*60 + t.Minute()
	at := func(d time.Time, min int) time.Time { return d.Add(time.Duration(min) * time.Minute) }
	if q.From < q.To {
		if m >= q.From && m < q.To {
			return at(day, q.To), true
		}
		return time.Time{}, false
	}
	switch {
	case m >= q.From:
		return at(day.AddDate(0, 0, 1), q.To), true
	case m < q.To:
		return at(day, q.To), true
	}
	return time.Time{}, false
}

// repeats settles which firings are effective and drops repeated refusals.
// A firing whose sends were all capped or had no consent is not effective:
// it does not use up the rule's limit, so a state rule tries again at every
// tick. Recording the same refusal at every tick would grow the outbox by a
// row per refused member per tick, so a state-rule firing that is refused
// right after a refused firing of the same rule and member is not recorded
// again (it is counted in RuleSummary.Repeats). Trigger firings are always
// recorded: each is a distinct event.
func (t *tick) repeats(ctx context.Context) error {
	if _, err := t.exec(ctx, `
CREATE OR REPLACE TEMP TABLE _nudge_eff AS
SELECT firing_id, any_value(ri) AS ri, any_value(rule) AS rule, any_value(member_id) AS member_id, any_value(now) AS now,
       NOT (bool_or(action = 'send') AND bool_and(action <> 'send' OR status IN ('capped', 'no_consent'))) AS effective,
       bool_or(action = 'send') AND bool_and(action <> 'send' OR status = 'capped') AS capped_only,
       bool_or(action = 'send') AND bool_and(action <> 'send' OR status = 'no_consent') AS no_consent_only,
       bool_and(action = 'send' AND again) AS gave_up_again
FROM _nudge_dec GROUP BY firing_id`); err != nil {
		return err
	}
	// The rule_members rows of the members scoped rules fired for are in
	// the scope's copy (taken in plan; the tick changes rule_members only
	// after this step), which is much smaller than the table.
	rm := t.ruleMembersOfFirings()
	if _, err := t.exec(ctx, `
CREATE OR REPLACE TEMP TABLE _nudge_repeat AS
SELECT e.firing_id, e.ri, e.now, e.member_id, e.capped_only FROM _nudge_eff e
JOIN _nudge_rules r ON r.ri = e.ri AND NOT r.trig
JOIN `+rm+` rm ON rm.rule = e.rule AND rm.member_id = e.member_id AND NOT rm.last_effective
WHERE NOT e.effective
UNION ALL
SELECT e.firing_id, e.ri, e.now, e.member_id, false FROM _nudge_eff e WHERE e.gave_up_again`); err != nil {
		return err
	}
	var err error
	if t.repeated, err = t.rowsPerRule(ctx, "_nudge_repeat"); err != nil {
		return err
	}
	// A repeated refusal is not recorded in the outbox, but rule_members
	// notes it: when its sends were all capped, it is the latest evidence
	// that the caps were full (see blocked). A firing given up on again
	// (its sends gave_up while the rule already gave up on the member since
	// the member's last event, see StopAfterSQL) is not recorded either: the
	// give-up is recorded once. It uses up the rule's limit as the give-up
	// did, so the rule tries again when the limit runs out, as often as it
	// did before, and an evaluation of only the members whose verdict may
	// have changed (incremental.go) sees the same firings.
	from, cond := t.updateFrom("(SELECT * FROM _nudge_eff WHERE firing_id IN (SELECT firing_id FROM _nudge_repeat))", "e")
	if _, err := t.exec(ctx, `
UPDATE rule_members SET last_fired_at = e.now, last_capped = e.capped_only, last_no_consent = e.no_consent_only,
    last_effective = e.effective,
    last_effective_at = CASE WHEN e.effective THEN e.now ELSE rule_members.last_effective_at END
FROM `+from+`
WHERE `+cond); err != nil {
		return err
	}
	// The sends given up on again of the firings that are recorded for
	// their other actions are not recorded either.
	_, err = t.exec(ctx, `
DELETE FROM _nudge_dec WHERE again OR firing_id IN (SELECT firing_id FROM _nudge_repeat);
DELETE FROM _nudge_eff WHERE firing_id IN (SELECT firing_id FROM _nudge_repeat);
DELETE FROM _nudge_fire WHERE firing_id IN (SELECT firing_id FROM _nudge_repeat);`)
	return err
}

// ruleMembers records, per rule and member, the latest firing and the latest
// effective one (what limits and repeated refusals look at). An UPDATE of
// the existing rows and an INSERT of the new ones: DuckDB's ON CONFLICT DO
// UPDATE merges against the whole table, which costs more than both.
func (t *tick) ruleMembers(ctx context.Context) error {
	if _, err := t.exec(ctx, `
CREATE OR REPLACE TEMP TABLE _nudge_rm AS
SELECT rule, member_id, any_value(now) AS now, CASE WHEN bool_or(effective) THEN any_value(now) END AS last_effective_at, bool_or(effective) AS effective,
       NOT bool_or(effective) AND bool_and(capped_only) AS capped,
       NOT bool_or(effective) AND bool_and(no_consent_only) AS no_consent
FROM _nudge_eff
GROUP BY rule, member_id`); err != nil {
		return err
	}
	from, cond := t.updateFrom("_nudge_rm", "n")
	if _, err := t.exec(ctx, `
UPDATE rule_members SET
    last_effective_at = coalesce(n.last_effective_at, rule_members.last_effective_at),
    last_fired_at = n.now,
    last_effective = n.effective,
    last_capped = n.capped,
    last_no_consent = n.no_consent
FROM `+from+`
WHERE `+cond); err != nil {
		return err
	}
	_, err := t.exec(ctx, `
INSERT INTO rule_members (rule, member_id, brand, last_effective_at, last_fired_at, last_effective, last_capped, last_no_consent)
SELECT n.rule, n.member_id, $brand::VARCHAR, n.last_effective_at, n.now, n.effective, n.capped, n.no_consent
FROM _nudge_rm n
ANTI JOIN `+t.ruleMembersOfFirings()+` rm ON rm.rule = n.rule AND rm.member_id = n.member_id`, sql.Named("brand", t.brand))
	return err
}

// ruleMembersOfFirings names the table holding the rule_members rows of
// every member a rule fired for at this tick: the scope's copy when every
// rule that may have fired was scoped (their firings are members of the
// scope; policies decides), else the table's rows of the brand.
func (t *tick) ruleMembersOfFirings() string {
	if t.firedUnscoped {
		return "(SELECT * FROM rule_members WHERE brand = " + t.brandSQL() + ")"
	}
	return "_nudge_scope_rm"
}

// updateFrom returns the FROM item and the condition of an UPDATE of
// rule_members from the rows of src (a table or subquery with rule and
// member_id), aliased x. When the scope's copy holds the firings' rows, x
// carries their rowids and the condition compares those, which spares a
// join of the whole table on rule and member_id; else it compares those.
func (t *tick) updateFrom(src, x string) (from, cond string) {
	if t.firedUnscoped {
		return src + " " + x, fmt.Sprintf("rule_members.rule = %[1]s.rule AND rule_members.member_id = %[1]s.member_id AND rule_members.brand = %[2]s", x, t.brandSQL())
	}
	return fmt.Sprintf("(SELECT x.*, s.rm_rowid FROM %s x JOIN _nudge_scope_rm s ON s.rule = x.rule AND s.member_id = x.member_id) %s", src, x),
		"rule_members.rowid = " + x + ".rm_rowid"
}

// writeOutbox inserts the decisions. The firings were deduplicated against
// the outbox (see fire), so a row that breaks the uniqueness constraint is
// a bug and fails the tick; a plain INSERT is also much cheaper than
// DuckDB's ON CONFLICT, which merges against the whole table.
func (t *tick) writeOutbox(ctx context.Context) error {
	_, err := t.exec(ctx, `
INSERT INTO outbox (firing_id, action_index, rule, brand, member_id, dedupe_key, action, kind, content, channel,
                    status, reason, effective, fired_at, due_at, scheduled_at, sent_at, attempts, last_error,
                    idempotency_key, trigger_seq, run_id, vals)
SELECT d.firing_id, d.action_index, d.rule, $brand::VARCHAR, d.member_id, d.dedupe_key, d.action, d.kind, d.content, d.channel,
       d.status, d.reason, e.effective, d.now, d.due_at, d.scheduled_at, NULL, 0, NULL,
       d.firing_id || '-' || d.action_index, d.trigger_seq, `+t.runIDOf("d.now")+`, d.vals
FROM _nudge_dec d JOIN _nudge_eff e USING (firing_id)`, sql.Named("brand", t.brand), sql.Named("run", t.runID))
	return err
}

// applyTags applies the tick's tag and untag actions. Within one tick untag
// wins over tag of the same member and tag. A program with strata applied
// them stratum by stratum as it evaluated its rules (stratumTags), but for
// retries of refusals, which apply theirs now unless refused again.
func (t *tick) applyTags(ctx context.Context) error {
	if t.prog.Strata() > 1 {
		return t.tagsFrom(ctx, "(SELECT * FROM _nudge_dec WHERE firing_id IN (SELECT firing_id FROM _nudge_retry))")
	}
	return t.tagsFrom(ctx, "_nudge_dec")
}

// stratumTags applies the tag and untag actions of the firings of the
// rules of stratum s (candidates their limit and dedupe let fire: see
// fire), before the next stratum is evaluated. Tags are applied whatever
// becomes of a firing's sends (SPEC §5: the send policies only decide
// sends), so they are known before the policies run, which see every
// stratum's sends together (caps compete by priority across strata).
//
// But for a retry: a state rule's firing for a member whose previous
// firing of the rule was refused (all its sends capped or without
// consent). Refused again, it is a repeated refusal, which records and
// changes nothing (see repeats), and whether it is depends on the caps,
// which every stratum's sends compete for. A retry's tags are applied
// with the decisions (applyTags), when it was not refused again; later
// strata see them at the next tick. Incremental evaluation relies on
// this: it does not evaluate a member whose refusal would repeat, where a
// full evaluation does.
func (t *tick) stratumTags(ctx context.Context, s int) error {
	var rules []int
	for i, r := range t.prog.Rules {
		if r.Stratum != s || t.candidates[i] == 0 {
			continue
		}
		for _, a := range r.Actions {
			if a.Verb == "tag" || a.Verb == "untag" {
				rules = append(rules, i)
				break
			}
		}
	}
	if len(rules) == 0 {
		return nil
	}
	if err := t.selectFirings(ctx, "_nudge_sfire", rules); err != nil {
		return err
	}
	if _, err := t.exec(ctx, `
INSERT INTO _nudge_retry
SELECT f.firing_id FROM _nudge_sfire f
JOIN _nudge_rules r ON r.ri = f.ri AND NOT r.trig
JOIN rule_members rm ON rm.rule = f.name AND rm.member_id = f.member_id AND rm.brand = $brand::VARCHAR AND NOT rm.last_effective`,
		sql.Named("brand", t.brand)); err != nil {
		return err
	}
	return t.tagsFrom(ctx, `(SELECT f.member_id, a.verb AS action, a.content, f.now, f.name AS rule
    FROM _nudge_sfire f JOIN _nudge_actions a ON a.ri = f.ri
    WHERE a.verb IN ('tag', 'untag') AND f.firing_id NOT IN (SELECT firing_id FROM _nudge_retry))`)
}

// tagsFrom applies the tag and untag actions of src, a table or subquery
// of decisions (member_id, action, content, now, rule); untag wins over tag
// of the same member and tag.
func (t *tick) tagsFrom(ctx context.Context, src string) error {
	if _, err := t.exec(ctx, `
INSERT INTO member_tags (brand, member_id, tag, tagged_at, rule)
SELECT $brand::VARCHAR, member_id, content, min(now), min(rule)
FROM `+src+` d WHERE action = 'tag'
GROUP BY member_id, content
ON CONFLICT DO NOTHING`, sql.Named("brand", t.brand)); err != nil {
		return err
	}
	_, err := t.exec(ctx, `
DELETE FROM member_tags
WHERE brand = $brand::VARCHAR
  AND EXISTS (SELECT 1 FROM `+src+` d WHERE d.action = 'untag' AND d.member_id = member_tags.member_id AND d.content = member_tags.tag)`, t.params()...)
	return err
}

// watermarks records, per rule, the highest seq and the now this tick saw:
// an UPDATE of the rules the plan saw a row for and an upsert of the others
// (see recordEvaluations).
func (t *tick) watermarks(ctx context.Context) error {
	var known, added []string
	for i, r := range t.prog.Rules {
		if t.plans[i].hasState {
			known = append(known, quoteString(r.Name))
		} else {
			added = append(added, "("+quoteString(r.Name)+", $brand::VARCHAR, $seq::BIGINT, $now::TIMESTAMP, $now::TIMESTAMP, $now::TIMESTAMP)")
		}
	}
	args := t.params(sql.Named("seq", t.maxSeq))
	if len(known) > 0 {
		if _, err := t.exec(ctx, `
UPDATE rule_state SET
    wm_seq = greatest(wm_seq, $seq::BIGINT),
    wm_now = greatest(wm_now, $now::TIMESTAMP),
    last_run_at = $now::TIMESTAMP
WHERE brand = $brand::VARCHAR AND rule IN (`+strings.Join(known, ", ")+`)`, args...); err != nil {
			return err
		}
	}
	if len(added) > 0 {
		if _, err := t.exec(ctx, `
INSERT INTO rule_state (rule, brand, wm_seq, wm_now, first_run_at, last_run_at)
VALUES `+strings.Join(added, ",\n       ")+`
ON CONFLICT (rule, brand) DO UPDATE SET
    wm_seq = greatest(rule_state.wm_seq, excluded.wm_seq),
    wm_now = greatest(rule_state.wm_now, excluded.wm_now),
    last_run_at = excluded.last_run_at`, args...); err != nil {
			return err
		}
	}
	return nil
}

// runLog writes the tick's row of the run log.
func (t *tick) runLog(ctx context.Context) error {
	var cands int64
	for _, n := range t.candidates {
		cands += n
	}
	// The outbox rows of this run are _nudge_dec's (repeats were removed).
	var err error
	if t.summary, err = t.summaries(ctx, t.tx, "_nudge_dec", 0); err != nil {
		return err
	}
	statuses := map[string]int64{}
	for _, s := range t.summary {
		for st, n := range s.Statuses {
			statuses[st] += n
		}
	}
	js, _ := json.Marshal(statuses) // sorted keys: deterministic
	_, err = t.exec(ctx, `
INSERT INTO runs (id, now, brand, started_at, finished_at, rules, candidates, firings, decisions, statuses)
SELECT $run::BIGINT, $now::TIMESTAMP, $brand::VARCHAR, $started::TIMESTAMP, $finished::TIMESTAMP, $rules::INTEGER, $cands::BIGINT,
       (SELECT count(*) FROM _nudge_fire), (SELECT count(*) FROM _nudge_dec), $statuses::JSON`,
		t.params(sql.Named("run", t.runID), sql.Named("started", t.started), sql.Named("finished", naive(time.Now())),
			sql.Named("rules", len(t.prog.Rules)), sql.Named("cands", cands), sql.Named("statuses", string(js)))...)
	return err
}

// summaries counts decisions per rule and status from table (the tick's
// _nudge_dec, or the outbox rows of runID).
func (t *tick) summaries(ctx context.Context, q queryer, table string, runID int64) ([]RuleSummary, error) {
	out := make([]RuleSummary, len(t.prog.Rules))
	idx := map[string]int{}
	for i, r := range t.prog.Rules {
		out[i] = RuleSummary{Rule: r.Name, Trigger: r.Trigger, Candidates: t.candidates[i], Repeats: t.repeated[i],
			Statuses: map[string]int64{}, Incremental: t.plans[i].scoped}
		idx[r.Name] = i
	}
	where := ""
	if table == "outbox" {
		where = fmt.Sprintf("WHERE run_id = %d", runID)
	}
	// Per rule and status the decisions, and per rule (status NULL) the
	// firings.
	rows, err := q.QueryContext(ctx, fmt.Sprintf(`SELECT rule, status, CASE WHEN status IS NULL THEN count(DISTINCT firing_id) ELSE count(*) END
FROM %s %s GROUP BY GROUPING SETS ((rule, status), (rule))`, table, where))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var rule string
		var status sql.NullString
		var n int64
		if err := rows.Scan(&rule, &status, &n); err != nil {
			return nil, err
		}
		i, ok := idx[rule]
		switch {
		case !ok:
		case status.Valid:
			out[i].Statuses[status.String] = n
		default:
			out[i].Firings = n
		}
	}
	return out, rows.Err()
}

// decisionColumns are read by readDecisions from the outbox or _nudge_dec.
const decisionColumns = `rule, member_id, firing_id, action, coalesce(kind, ''), coalesce(content, ''), coalesce(channel, ''),
	status, coalesce(reason, ''), scheduled_at, due_at, trigger_seq, firing_id || '-' || action_index, CAST(vals AS VARCHAR)`

// readDecisions returns the decisions of a tick in a stable order.
func readDecisions(ctx context.Context, q queryer, table string, runID int64, now time.Time, order map[string]int) ([]Decision, error) {
	var out []Decision
	err := scanDecisions(ctx, q, table, runID, now, func(d Decision) error {
		out = append(out, d)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool { return order[out[i].Rule] < order[out[j].Rule] })
	return out, nil
}

func scanDecisions(ctx context.Context, q queryer, table string, runID int64, now time.Time, fn func(Decision) error) error {
	// The outbox has fired_at; a dry run's _nudge_dec was all fired at now.
	where, fired := "WHERE run_id = $run::BIGINT", "fired_at"
	args := []any{sql.Named("run", runID)}
	if table != "outbox" {
		where, fired = "", "$now::TIMESTAMP"
		args = []any{sql.Named("now", now)}
	}
	rows, err := q.QueryContext(ctx, fmt.Sprintf(`SELECT %s, %s FROM %s %s ORDER BY rule, member_id, firing_id, action_index`,
		decisionColumns, fired, table, where), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var d Decision
		var sched, due, firedAt sql.NullTime
		var seq sql.NullInt64
		var vals sql.NullString
		if err := rows.Scan(&d.Rule, &d.MemberID, &d.FiringID, &d.Action, &d.Kind, &d.Content, &d.Channel,
			&d.Status, &d.Reason, &sched, &due, &seq, &d.IdempotencyKey, &vals, &firedAt); err != nil {
			return err
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
			d.TriggerSeq = &seq.Int64
		}
		if vals.Valid {
			d.Values = json.RawMessage(vals.String)
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

// Decisions streams the decisions of a committed run, in rule name, member
// and action order, to fn; it stops at fn's first error.
func (db *DB) Decisions(ctx context.Context, runID int64, fn func(Decision) error) error {
	return scanDecisions(ctx, db.sql, "outbox", runID, time.Time{}, fn)
}
