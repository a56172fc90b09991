package tick

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"nudge/compiler"
	"nudge/internal/tickform"
	"nudge/runtime/internal/eventorder"
	"nudge/runtime/policy"
)

// Mode is how a tick evaluates its rules: one value, set when the tick
// is made. The zero Mode is a tick of SPEC §5 that evaluates each state
// rule only for the members whose verdict may have changed (02_plan.go).
type Mode uint8

const (
	// Full evaluates every state rule over every member and retries every
	// refused firing, as SPEC §5 states it (the runtime's RunOptions.EvaluateAll,
	// `nudge run --full`); the decisions are the same.
	Full Mode = 1 << iota
	// PerRule evaluates each rule in a statement of its own, so that an
	// error names its rule (Run retries a tick so when the statement
	// evaluating the rules together fails).
	PerRule
	// Lanes is a replay's round (replay.go): the rules are evaluated in
	// their lane form over pairs of a member and a replayed tick, each
	// candidate at its own instant.
	Lanes
	// UnboundedRetry makes the retry tables read back to the oldest capped
	// refusal instead of the retry horizon (tests prove the horizon
	// changes no decision).
	UnboundedRetry
	// DryRun is a tick whose transaction is rolled back: it decides as a
	// tick does, but skips the steps that only write what later ticks read
	// (dryRunSkips).
	DryRun
	// NoArrivals skips the arrivals step (00_arrivals.go): the caller
	// knows that no member was added since the last tick that ran it, so
	// no waiting event can be admitted (nudge serve, which owns the
	// database and counts its member upserts). The waiting events past
	// the lookback are then forgotten by a later tick that runs it.
	NoArrivals
	// NoBudgetSkip skips no refusal of a budget (02b_budget_skip.go):
	// Run runs a tick again so when a skip could not be proved, and
	// simulate's ticks are so (a replay cannot start after a skip).
	NoBudgetSkip
)

func (m Mode) has(f Mode) bool { return m&f != 0 }

// Options are what a tick is made of.
type Options struct {
	Program  *compiler.Program
	Brand    string
	Now      time.Time // naive (see Naive)
	Lookback time.Duration
	Mode     Mode
	// MemberColumns and EventColumns are the columns of members and
	// events, in table order; VarcharColumns those that are VARCHAR in
	// each of the two that has one of that name (04d_rule_families.go).
	MemberColumns, EventColumns []string
	VarcharColumns              map[string]bool
	// Trace, when set (by benchmarks), receives every statement the tick
	// executes and the time it took.
	Trace func(q string, took time.Duration)
}

// Tick is one tick of SPEC §5 in a transaction: Run performs its steps,
// the files of this package in the order of their names.
type Tick = tick

// New makes a tick of o in the transaction tx.
func New(tx *sql.Tx, o Options) *Tick {
	return &tick{tx: tx, prog: o.Program, brand: o.Brand, now: o.Now, lookback: o.Lookback, mode: o.Mode,
		memberCols: o.MemberColumns, eventCols: o.EventColumns, varchar: o.VarcharColumns, trace: o.Trace, feat: programFeatures(o.Program)}
}

// tick is the state of one tick inside its transaction.
type tick struct {
	tx       *sql.Tx
	prog     *compiler.Program
	brand    string
	now      time.Time
	lookback time.Duration
	mode     Mode
	feat     features // the policies the program uses
	trace    func(q string, took time.Duration)
	runID    int64
	maxSeq   int64 // the highest event seq when the tick began: its watermark
	// clusteredSeq: the events up to this seq are clustered (runtime's
	// cluster.go).
	clusteredSeq int64
	// waiting: the brand's events waiting for their member when the tick
	// began (00_arrivals.go).
	waiting int64

	candidates []int64 // per rule
	firings    int64   // rows of _nudge_fire (the tick's firings)
	repeated   []int64 // per rule: refusals not recorded again
	timings    []StepTiming
	summary    []RuleSummary // per rule, from the tick's decisions (the run log step)
	consent    []string
	memberCols []string        // the columns of members
	eventCols  []string        // the columns of events
	varchar    map[string]bool // Options.VarcharColumns
	started    time.Time

	// Incremental evaluation (02_plan.go, 03_scope.go).
	plans         []evalPlan
	prevs         map[string]previousRun // by rule or journey name, read by plan before anything changed
	membersSum    string
	retryBlock    bool    // _nudge_freed and _nudge_resp exist
	budgetChecked bool    // checkBudgetSkips proved the threshold skips (02b_budget_skip.go)
	scopeBuilt    bool    // the scope tables exist
	scopeSize     []int64 // per scoped rule: its members in the scope
	scopeAllTypes bool    // the scope's copy of events holds events of every type
	firedUnscoped bool    // a rule with candidates was evaluated over every member (policies)
	firingsRM     string  // the rule_members rows of the firings, made by repeats (ruleMembersOfFirings)

	// instants: in a replay's round (replay.go), the instants its
	// candidates were evaluated at (now is the latest), each the instant
	// of the tick whose run id is in the table _nudge_ticks; nil for a
	// tick, whose candidates are all at now.
	instants []time.Time

	// Journeys (04a_journeys.go): the pseudo-rule of each journey node
	// that sends, and the candidates the journeys added.
	journeyRI    map[journeyNode]int
	journeyCands int64
	// winnersDecided: journey sends went through the policy steps early
	// (for a winner or a stop after to read them), their decisions and
	// firings kept in _nudge_jdone and _nudge_jfired (04b_winner.go),
	// which journeyDecisions adds back (a tick runs its steps once).
	winnersDecided bool
	// journeyScope is, per journey, the condition on an active instance
	// (a journey_instances row) that the tick touches it (see narrowJourney).
	journeyScope map[int]string
	// entrySQL is, per journey, the query of its entry candidates, set
	// once a tick by entryScope: in the plan step when the rules have a
	// scope (buildScope), else in the journeys step (entryScopes).
	entrySQL map[int]string
	// entryArgs is, per `enter on` journey, the arguments of its entry
	// watermarks (read once, by entryScopes).
	entryArgs map[int][]any
	// exits is the number of rows of _nudge_jexit (journeyExit).
	exits int64
}

// RunID is the tick's run id.
func (t *tick) RunID() int64 { return t.runID }

// MaxSeq is the highest event seq when the tick began (its watermark).
func (t *tick) MaxSeq() int64 { return t.maxSeq }

// ClusteredSeq is the seq up to which the events were clustered when the
// tick began.
func (t *tick) ClusteredSeq() int64 { return t.clusteredSeq }

// Summary is, per rule, what the tick decided (after Run).
func (t *tick) Summary() []RuleSummary { return t.summary }

// Timings are the durations of the steps run so far.
func (t *tick) Timings() []StepTiming { return t.timings }

// Time appends a step that ran outside the tick's transaction (commit,
// dispatch) to its timings.
func (t *tick) Time(step string, took time.Duration) {
	t.timings = append(t.timings, StepTiming{step, took})
}

// RuleOrder maps rule names to their position in the program.
func (t *tick) RuleOrder() map[string]int { return t.ruleOrder() }

// DropTemps drops the tick's working tables before the commit, so that the
// pooled connection does not keep them.
func (t *tick) DropTemps(ctx context.Context) error { return t.dropTemps(ctx) }

// Summaries counts decisions per rule and status in the outbox rows of
// the committed run runID (after dispatch changed their statuses).
func (t *tick) Summaries(ctx context.Context, q queryer, runID int64) ([]RuleSummary, error) {
	return t.summaries(ctx, q, "outbox", runID)
}

// IsRuleQueriesError reports whether err is the failure of the statement
// evaluating the rules together, which a tick in PerRule mode words with
// the name of the rule at fault.
func IsRuleQueriesError(err error) bool { return errors.As(err, new(errRuleQueries)) }

// queryer is what *sql.DB, *sql.Conn and *sql.Tx have in common.
type queryer interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}

// lo and hi are the earliest and the latest instant of the candidates
// (both the tick's now, but in a replay's round).
func (t *tick) lo() time.Time {
	if len(t.instants) > 0 {
		return t.instants[0]
	}
	return t.now
}

func (t *tick) hi() time.Time {
	if len(t.instants) > 0 {
		return t.instants[len(t.instants)-1]
	}
	return t.now
}

// runIDOf is the SQL of the run id of the decisions made at the instant
// now (an SQL expression): the tick's, or in a replay's round the id of
// the replayed tick at that instant.
func (t *tick) runIDOf(now string) string {
	if len(t.instants) > 0 {
		return "(SELECT k.run_id FROM _nudge_ticks k WHERE k.now = " + now + ")"
	}
	return "$run::BIGINT"
}

// exec runs a statement in the tick's transaction and returns the rows it
// affected.
func (t *tick) exec(ctx context.Context, q string, args ...any) (int64, error) {
	start := time.Now()
	r, err := t.tx.ExecContext(ctx, q, args...)
	if err := t.ran(ctx, q, start, err); err != nil {
		return 0, err
	}
	n, _ := r.RowsAffected()
	return n, nil
}

// ran passes the statement q, started at start, to the trace and returns
// its error err, the context's when the context is done (DuckDB's
// "Interrupted!" is the cancellation): what exec and create do after the
// statement.
func (t *tick) ran(ctx context.Context, q string, start time.Time, err error) error {
	if t.trace != nil {
		t.trace(q, time.Since(start))
	}
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
	}
	return err
}

// create runs the statement q, a CREATE TABLE ... AS, and returns how many
// rows the table got: DuckDB gives them as the statement's one row (its
// RowsAffected is 0), which spares a count of the table after.
func (t *tick) create(ctx context.Context, q string, args ...any) (int64, error) {
	start := time.Now()
	var n int64
	if err := t.ran(ctx, q, start, t.tx.QueryRowContext(ctx, q, args...).Scan(&n)); err != nil {
		return 0, err
	}
	return n, nil
}

// clustered reports whether some events are clustered (ClusteredSeqSQL), so
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
	for k, j := range t.prog.Journeys { // after the rules (SPEC §8)
		m[j.Name] = len(t.prog.Rules) + k
	}
	return m
}

// tempTables are the tick's working tables (temporary, per connection).
const tempTables = "_nudge_jout _nudge_jcands _nudge_jmeta _nudge_jdec _nudge_jnew _nudge_jat _nudge_jexit _nudge_jcond _nudge_jnext _nudge_rules _nudge_actions _nudge_caps _nudge_cand _nudge_fire _nudge_sfire _nudge_retry _nudge_dec _nudge_capuse _nudge_open _nudge_eff _nudge_repeat " + unansweredTable + " " +
	"_nudge_freed _nudge_resp _nudge_scope _nudge_scope_rm _nudge_fired_rm _nudge_rm " + tickform.ScopeMembers + " " + tickform.ScopeEvents + " " + sharedBlocked +
	" _nudge_jscope " + tickform.JourneyScopeMembers + " " + tickform.JourneyScopeEvents

// dropTemps drops the working tables (and the extra ones) before the
// commit, so the pooled connection does not keep them. It drops those
// that exist: a tick makes only the tables its program's steps need.
func (t *tick) dropTemps(ctx context.Context, extra ...string) error {
	rows, err := t.tx.QueryContext(ctx, `SELECT table_name FROM duckdb_tables() WHERE temporary`)
	if err != nil {
		return err
	}
	exist := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		exist[strings.ToLower(name)] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var b strings.Builder
	for _, tb := range append(strings.Fields(tempTables), extra...) {
		if exist[strings.ToLower(tb)] {
			b.WriteString("DROP TABLE IF EXISTS " + tb + ";\n")
		}
	}
	if b.Len() == 0 {
		return nil
	}
	_, err = t.exec(ctx, b.String())
	return err
}

// ClusteredSeqSQL is the highest seq up to which the events are clustered
// (0: none are; package eventorder).
const ClusteredSeqSQL = eventorder.ClusteredSeqSQL

// load reads what every step needs to know of the database: the run id,
// the events' watermark, the members' fingerprint, how far events are
// clustered, how many events wait for their member, and the consent
// channels (of the members' columns Options gave).
func (t *tick) load(ctx context.Context) error {
	t.started = Naive(time.Now())
	if err := t.tx.QueryRowContext(ctx, `SELECT (SELECT coalesce(max(id), 0) + 1 FROM runs), (SELECT coalesce(max(seq), 0) FROM events),
       `+membersFingerprintSQL+`, `+ClusteredSeqSQL+`, `+countWaitingSQL, sql.Named("brand", t.brand)).Scan(&t.runID, &t.maxSeq, &t.membersSum, &t.clusteredSeq, &t.waiting); err != nil {
		return err
	}
	t.consent = policy.ConsentChannels(t.memberCols)
	return nil
}

// tickStep is one step of a tick.
type tickStep struct {
	name    string
	fn      func(context.Context) error
	firings bool // only does something when something fired
}

// dryRunSkips are the steps that only write what later ticks read (the
// outbox, rule_members, tags, watermarks): a DryRun skips them.
var dryRunSkips = map[string]bool{"outbox": true, "rule members": true, "tags": true, "watermarks": true, "evaluations": true}

// policySteps are the steps from the candidates to the decisions written:
// a tick's, and a replay's round's (replay.go).
func (t *tick) policySteps() []tickStep {
	return []tickStep{
		{"limits and dedupe", t.fire, false},         // 05_limits.go
		{"policies", t.policies, false},              // 06_decide.go (06b-09)
		{"stock and budget", t.stockAndBudget, true}, // 09b_stock_budget.go
		{"service", t.transactional, true},           // 09_transactional.go
		{"caps", t.applyCaps, true},                  // 10_caps.go
		{"fallback", t.fallbackCaps, true},           // 10_fallback.go
		{"quiet hours", t.quietHours, true},          // 11_quiet.go
		{"expiry", t.expiry, true},                   // 11_expiry.go
		{"repeated refusals", t.repeats, true},       // 12_refusals.go
		{"journey fields", t.journeyFields, true},    // 13_outbox.go
		{"outbox", t.writeOutbox, true},              // 13_outbox.go
		{"rule members", t.ruleMembers, true},        // 13_outbox.go
		{"tags", t.applyTags, true},                  // 14_tags.go
	}
}

// Run performs the tick's steps in order, timing each.
func (t *tick) Run(ctx context.Context) error {
	if err := t.load(ctx); err != nil {
		return err
	}
	var steps []tickStep
	if t.waiting > 0 && !t.mode.has(NoArrivals) {
		// Before anything reads the events or the watermark.
		steps = append(steps, tickStep{"arrivals", t.arrivals, false}) // 00_arrivals.go
	}
	steps = append(steps, []tickStep{
		{"setup", t.setup, false},             // 01_setup.go
		{"plan", t.plan, false},               // 02_plan.go, 03_scope.go
		{"evaluate rules", t.evaluate, false}, // 04_evaluate.go
		{"journeys", t.journeys, false},       // 04a_journeys.go
	}...)
	steps = append(steps, t.policySteps()...)
	steps = append(steps, tickStep{"budget skips", t.budgetSkipsChecked, false}) // 02b_budget_skip.go
	steps = append(steps, []tickStep{
		{"watermarks", t.watermarks, false},              // 15_watermarks.go
		{"evaluations", t.recordEvaluations, false},      // 15_watermarks.go
		{"journey decisions", t.journeyDecisions, false}, // 04a_journeys.go
		{"run log", t.runLog, false},                     // 16_runlog.go
	}...)
	t.repeated = make([]int64, len(t.prog.Rules))
	for _, s := range steps {
		if s.firings && t.firings == 0 {
			continue // a quiet tick: each of these steps reads the firings
		}
		if t.mode.has(DryRun) && dryRunSkips[s.name] {
			continue
		}
		start := time.Now()
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("run (%s): %w", s.name, err)
		}
		t.timings = append(t.timings, StepTiming{s.name, time.Since(start)})
	}
	return nil
}
