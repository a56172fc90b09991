package runtime

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"nudge/internal/sqlquote"
	"nudge/runtime/internal/tick"
	"nudge/runtime/redact"
	"nudge/stdlib"
)

// DB is an open nudge database: the data model of SPEC §6 plus the runtime's
// own tables (outbox, rule_state, runs, counters). It is safe for concurrent
// use by several goroutines; DuckDB serialises conflicting writers by failing
// one of the transactions.
type DB struct {
	sql  *sql.DB
	path string
	// clusterMin is the fewest consumed events a tick clusters
	// (DefaultClusterMinEvents; tests lower it).
	clusterMin int64
	// unboundedRetry makes ticks read the outbox back to the oldest capped
	// refusal instead of the retry horizon (internal/tick/02_plan.go): the test that
	// proves the horizon changes no decision runs one database each way.
	unboundedRetry bool
	// perRule makes ticks evaluate each rule in a statement of its own
	// (tick.PerRule): the test that proves rule families
	// (internal/tick/04d_rule_families.go) change no decision runs one
	// database each way, and counts the families' statements with
	// onStatement, which receives every statement of this database's
	// ticks (as traceSQL does for all of them).
	perRule     bool
	onStatement func(q string, took time.Duration)
	// members caches which members exist, for ingest (membercache.go).
	members knownMembers
	// eventColumns caches the events table's columns for ingest (ingest.go).
	// eventIDs filters the event ids ingest looks up (eventidfilter.go).
	eventIDs     knownEventIDs
	eventColumns atomic.Pointer[[]Column]
	// due remembers where dispatch's due messages are (dispatch_due.go).
	due dueMarks
	// dispatchPage is how many due messages a page of a dispatch round
	// holds (0: dispatchBatch; tests lower it).
	dispatchPage int
	// everyOutbox is the table of every member's outbox rows when it is not
	// outbox: in a scratch of some members' rows, the file's
	// (EveryMembersOutbox).
	everyOutbox string
}

// migration is one step of the schema history. Migrations are applied in
// order, each in its own transaction, and recorded in schema_migrations.
type migration struct {
	version int
	name    string
	sql     string
}

// dataModelV1SQL is the data model's part of migration 1: stdlib's
// schema.sql as it was released, members keyed by member_id alone (migration
// 5 re-keys them by brand and member_id). A copy, so that editing the data
// model never edits a released step.
//
//go:embed schema_v1.sql
var dataModelV1SQL string

// runtimeSchemaSQL is the runtime's part of migration 1.
const runtimeSchemaSQL = `
-- One row per action of a firing. A firing is one (rule, member, dedupe key):
-- the dedupe key is the triggering event's seq for trigger rules and the run's
-- now for state rules. The unique constraint makes a repeated tick a no-op.
CREATE TABLE IF NOT EXISTS outbox (
    firing_id       VARCHAR   NOT NULL,
    action_index    INTEGER   NOT NULL,
    rule            VARCHAR   NOT NULL,
    brand           VARCHAR   NOT NULL,
    member_id       VARCHAR   NOT NULL,
    dedupe_key      VARCHAR   NOT NULL,
    action          VARCHAR   NOT NULL,  -- send, tag, untag, notify
    kind            VARCHAR,
    content         VARCHAR,
    channel         VARCHAR,
    status          VARCHAR   NOT NULL,  -- pending, scheduled, sent, failed, held_out, no_consent, capped, gave_up, applied
    reason          VARCHAR,
    effective       BOOLEAN   NOT NULL,  -- false when every send of the firing was capped or had no consent: the firing does not use up the rule's limit
    fired_at        TIMESTAMP NOT NULL,  -- the run's now
    due_at          TIMESTAMP,           -- trigger rules: when the firing became due
    scheduled_at    TIMESTAMP,           -- quiet hours: when the send may go out
    sent_at         TIMESTAMP,
    attempts        INTEGER   NOT NULL DEFAULT 0,
    last_error      VARCHAR,
    idempotency_key VARCHAR   NOT NULL,
    trigger_seq     BIGINT,
    run_id          BIGINT    NOT NULL,
    vals            JSON,                -- the values the condition used, by label
    UNIQUE (rule, member_id, dedupe_key, action_index)
);

-- Per rule and brand: the trigger watermark pair (see compiler.Rule) and
-- bookkeeping.
CREATE TABLE IF NOT EXISTS rule_state (
    rule         VARCHAR   NOT NULL,
    brand        VARCHAR   NOT NULL,
    wm_seq       BIGINT    NOT NULL,
    wm_now       TIMESTAMP NOT NULL,
    first_run_at TIMESTAMP NOT NULL,
    last_run_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (rule, brand)
);

-- The run log: one row per committed tick.
CREATE TABLE IF NOT EXISTS runs (
    id            BIGINT    PRIMARY KEY,
    now           TIMESTAMP NOT NULL,
    brand         VARCHAR   NOT NULL,
    started_at    TIMESTAMP NOT NULL,
    finished_at   TIMESTAMP NOT NULL,
    rules         INTEGER   NOT NULL,
    candidates    BIGINT    NOT NULL,
    firings       BIGINT    NOT NULL,
    decisions     BIGINT    NOT NULL,
    statuses      JSON,
    dispatched_at TIMESTAMP,
    sent          BIGINT,
    failed        BIGINT
);

-- Named counters; event_seq is the highest events.seq ever assigned.
CREATE TABLE IF NOT EXISTS counters (
    name  VARCHAR PRIMARY KEY,
    value BIGINT  NOT NULL
);
INSERT INTO counters VALUES ('event_seq', 0) ON CONFLICT DO NOTHING;
`

// migrations is the schema history. Append only: never edit a released step.
var migrations = []migration{
	{1, "data model and runtime tables", dataModelV1SQL + runtimeSchemaSQL},
	{2, "rule_members", ruleMembersSQL},
	{3, "incremental evaluation of state rules", ruleEvalsSQL},
	{4, "rule_members notes refusals for want of consent", ruleMembersNoConsentSQL},
	{5, "members keyed by brand and member_id", brandKeySQL},
	{6, "deliveries per sink; failed is final", outboxDeliveriesSQL},
	{7, "events waiting for their member", waitingEventsSQL},
	{8, "settings: the database's time zone", settingsSQL},
	{9, "event ids: a sender's id of an event, stored once", eventIDsSQL},
	{11, "no credentials at rest", redactSecretsSQL},
	{12, "journey instances; outbox rows name their journey, step and variant", journeysSQL},
	{13, "delivery policies: parameters, service messages, expiry", deliverySQL},
	{16, "rule_evals notes where refusals of an exhausted budget were skipped", ruleEvalsBudgetSQL},
	{17, "the outbox without its five-string unique key", outboxNoKeySQL},
	{18, "rule_members stored by brand and rule", ruleMembersByRuleSQL},
}

// journeysSQL (migration 12) keeps one row per journey instance (SPEC §8):
// where the member stands (the node pc of the compiled journey, due at
// due_at), the variant of its splits, whether it is held out, and how it
// ended. Decisions of a journey are outbox rows whose rule is the journey's
// name and whose journey, step (source line) and variant say where in the
// journey they were made.
const journeysSQL = `
CREATE TABLE IF NOT EXISTS journey_instances (
    brand       VARCHAR   NOT NULL,
    journey     VARCHAR   NOT NULL,
    member_id   VARCHAR   NOT NULL,
    instance_id VARCHAR   NOT NULL,
    entered_at  TIMESTAMP NOT NULL,  -- the entering event's ts (enter on) or the tick's now (enter when)
    entry_seq   BIGINT,              -- the entering event (enter on): matching reads its fields
    pc          INTEGER   NOT NULL,  -- the next node to run
    due_at      TIMESTAMP NOT NULL,  -- when it is due
    variant     VARCHAR,             -- the branch taken at the latest split
    held_out    BOOLEAN   NOT NULL,
    status      VARCHAR   NOT NULL,  -- active, exited, completed
    ended_at    TIMESTAMP,
    run_id      BIGINT    NOT NULL,  -- the run that entered it
    PRIMARY KEY (brand, instance_id)
);
ALTER TABLE outbox ADD COLUMN journey VARCHAR;
ALTER TABLE outbox ADD COLUMN step INTEGER;
ALTER TABLE outbox ADD COLUMN variant VARCHAR;
`

// eventIDsSQL (migration 9) records the ids senders give events (the
// event_id of nudge serve's ingest, a tracking message's messageId), one row
// per brand and id, so that an event sent again (a retry after a lost
// answer) is stored once. It is a table of its own rather than a column of
// events with a unique index: clustering rewrites event rows (cluster.go)
// and imports without ids would pay for the index on every row.
const eventIDsSQL = `
CREATE TABLE IF NOT EXISTS event_ids (
    brand    VARCHAR NOT NULL,
    event_id VARCHAR NOT NULL,
    seq      BIGINT  NOT NULL,  -- the event's seq
    PRIMARY KEY (brand, event_id)
);
`

// redactSecretsSQL (migration 11) removes the credentials that databases
// written before redaction (package redact) hold: the password or token of
// a webhook URL in the last_error of failed attempts and in the sink
// identity of outbox_deliveries (runtime.SinkID is now redacted, so the
// rows must say the same to stay the same sink's). Sinks that differed only
// in their credentials become one: a message recorded for both keeps one
// row. Freed pages of the file may still hold the old text until DuckDB
// reuses them.
var redactSecretsSQL = `
UPDATE outbox SET last_error = ` + redact.SQL("last_error") + `
WHERE last_error IS NOT NULL AND last_error <> ` + redact.SQL("last_error") + `;
UPDATE outbox_deliveries SET sink = ` + redact.SQL("sink") + `
WHERE sink <> ` + redact.SQL("sink") + `;
DELETE FROM outbox_deliveries WHERE rowid IN (
    SELECT rowid FROM (
        SELECT rowid, row_number() OVER (PARTITION BY brand, idempotency_key, sink ORDER BY rowid) AS n
        FROM outbox_deliveries WHERE contains(sink, '` + redact.Mask + `'))
    WHERE n > 1);
`

// brandKeySQL (migration 5) identifies a member by (brand, member_id), as
// SPEC §5 requires (two brands may use the same member id and never share a
// row): members' primary key becomes (brand, member_id), and the outbox's
// uniqueness constraint gains brand (two brands' programs may both have a
// rule of the same name). DuckDB cannot drop or change a constraint, so
// both tables are rebuilt with their rows. Files written before hold at
// most one member per member_id (an import of another brand's member of
// the same id overwrote it), so the rows fit the new keys as they are.
// member_tags was keyed by brand already; rule_members, rule_state and
// rule_evals carry brand and have no member key to change.
const brandKeySQL = `
CREATE TABLE members_v5 (
    member_id        VARCHAR NOT NULL,
    brand            VARCHAR NOT NULL,
    name             VARCHAR,
    phone            VARCHAR,
    email            VARCHAR,
    birthday         DATE,
    gender           VARCHAR,
    city             VARCHAR,
    region           VARCHAR,
    tier             VARCHAR,
    occupation       VARCHAR,
    signup_at        TIMESTAMP,
    consent_sms      BOOLEAN,
    consent_email    BOOLEAN,
    consent_app_push BOOLEAN,
    consent_wechat   BOOLEAN,
    consent_phone    BOOLEAN,
    attrs            JSON,
    PRIMARY KEY (brand, member_id)
);
INSERT INTO members_v5 BY NAME SELECT * FROM members ORDER BY brand, member_id;
DROP TABLE members;
ALTER TABLE members_v5 RENAME TO members;
CREATE TABLE outbox_v5 (
    firing_id       VARCHAR   NOT NULL,
    action_index    INTEGER   NOT NULL,
    rule            VARCHAR   NOT NULL,
    brand           VARCHAR   NOT NULL,
    member_id       VARCHAR   NOT NULL,
    dedupe_key      VARCHAR   NOT NULL,
    action          VARCHAR   NOT NULL,  -- send, tag, untag, notify
    kind            VARCHAR,
    content         VARCHAR,
    channel         VARCHAR,
    status          VARCHAR   NOT NULL,  -- pending, scheduled, sent, failed, held_out, no_consent, capped, gave_up, applied
    reason          VARCHAR,
    effective       BOOLEAN   NOT NULL,  -- false when every send of the firing was capped or had no consent: the firing does not use up the rule's limit
    fired_at        TIMESTAMP NOT NULL,  -- the run's now
    due_at          TIMESTAMP,           -- trigger rules: when the firing became due
    scheduled_at    TIMESTAMP,           -- quiet hours: when the send may go out
    sent_at         TIMESTAMP,
    attempts        INTEGER   NOT NULL DEFAULT 0,
    last_error      VARCHAR,
    idempotency_key VARCHAR   NOT NULL,
    trigger_seq     BIGINT,
    run_id          BIGINT    NOT NULL,
    vals            JSON,                -- the values the condition used, by label
    UNIQUE (dedupe_key, rule, brand, member_id, action_index)
);
INSERT INTO outbox_v5 BY NAME SELECT * FROM outbox ORDER BY fired_at, dedupe_key, rule, brand, member_id, action_index;
DROP TABLE outbox;
ALTER TABLE outbox_v5 RENAME TO outbox;
`

// waitingEventsSQL (migration 7): the events stored while their member was
// not in members (SPEC §5: such an event is not consumed; it is considered
// once the member arrives, within the lookback after the event). Import
// notes them; a tick gives those whose member arrived new seqs (see
// admitArrivals) and forgets those past the lookback. Existing databases
// note the events whose member is missing now.
const waitingEventsSQL = `
CREATE TABLE IF NOT EXISTS waiting_events (
    brand     VARCHAR   NOT NULL,
    member_id VARCHAR   NOT NULL,
    seq       BIGINT    NOT NULL,  -- the event's seq
    ts        TIMESTAMP NOT NULL   -- the event's ts
);
INSERT INTO waiting_events
SELECT e.brand, e.member_id, e.seq, e.ts FROM events e
WHERE NOT EXISTS (SELECT 1 FROM members m WHERE m.brand = e.brand AND m.member_id = e.member_id)
ORDER BY e.seq;
`

// outboxDeliveriesSQL (migration 6) records which sink took which send or
// notify, and when, so that dispatch gives each sink each message once (a
// failing webhook retried does not resend to a healthy jsonl sink) and can
// count a member's deliveries per sink for the caps. A row is written after
// the sink took the message, in the transaction that records the attempt:
// a crash in between delivers again (at-least-once). Dispatch writes a
// (key, sink) pair only when it read none (one process holds the file), so
// the table needs no key: an index cost more per delivery than the rest of
// the bookkeeping. Failed rows with
// attempts left were waiting for a retry under the old rule ("failed" then
// meant "retried later"); they become pending, which is now that state
// (SPEC §5: failed is final).
const outboxDeliveriesSQL = `
CREATE TABLE IF NOT EXISTS outbox_deliveries (
    brand           VARCHAR   NOT NULL,
    idempotency_key VARCHAR   NOT NULL,
    sink            VARCHAR   NOT NULL,  -- the sink's identity: jsonl:PATH, webhook:URL
    delivered_at    TIMESTAMP NOT NULL,  -- the dispatching run's now
    member_id       VARCHAR   NOT NULL,  -- the send's member and channel, for the caps at delivery
    channel         VARCHAR              -- (without reading the outbox back)
);
UPDATE outbox SET status = 'pending'
WHERE status = 'failed' AND action IN ('send', 'notify') AND attempts < 5;
`

// ruleMembersNoConsentSQL (migration 4): rule_members gains last_no_consent,
// the latest firing was refused with every send lacking consent. The next
// tick's scope leaves such members out without reading their consent from
// the members table (consent changes only with the members, and a change of
// the members re-evaluates everyone). Existing rows take it from the latest
// firing of the rule for the member in the outbox (a refusal repeated since
// is the same refusal while the members are unchanged); left false, the
// first tick after the upgrade would re-evaluate every member ever refused
// for want of consent.
const ruleMembersNoConsentSQL = `
ALTER TABLE rule_members ADD COLUMN last_no_consent BOOLEAN DEFAULT false;
UPDATE rule_members SET last_no_consent = true
FROM (
    SELECT o.rule, o.member_id
    FROM outbox o
    JOIN (SELECT rule, member_id, max(fired_at) AS at FROM outbox GROUP BY rule, member_id) l
      ON l.rule = o.rule AND l.member_id = o.member_id AND o.fired_at = l.at
    GROUP BY o.rule, o.member_id
    HAVING bool_or(o.action = 'send') AND bool_and(o.action <> 'send' OR o.status = 'no_consent')
) nc
WHERE NOT rule_members.last_effective AND NOT rule_members.last_capped
  AND rule_members.rule = nc.rule AND rule_members.member_id = nc.member_id;
`

// ruleEvalsSQL (migration 3) records, per rule, what the latest tick that
// evaluated it saw, so that the next tick can re-evaluate a state rule only
// for the members whose verdict may have changed (see internal/tick/02_plan.go).
const ruleEvalsSQL = `
CREATE TABLE IF NOT EXISTS rule_evals (
    rule        VARCHAR   NOT NULL,
    brand       VARCHAR   NOT NULL,
    eval_now    TIMESTAMP NOT NULL,  -- the now of the latest tick that evaluated the rule
    eval_hash   VARCHAR   NOT NULL,  -- hash of the rule's query, limit, actions and the caps at that tick
    members_sum VARCHAR   NOT NULL,  -- counters.members_version and the brand's member count at that tick
    PRIMARY KEY (rule, brand)
);
-- rule_members gains last_capped (the latest firing was refused with every
-- send capped), last_fired_at also notes repeated refusals (which the
-- outbox does not record), and the table loses its primary key: a tick
-- updates the pairs it has and inserts the others, and an index over every
-- (rule, member) pair cost more to load, update and checkpoint than the
-- rest of an incremental tick. Rows are stored by rule.
CREATE TABLE rule_members_v3 (
    rule              VARCHAR   NOT NULL,
    member_id         VARCHAR   NOT NULL,
    brand             VARCHAR   NOT NULL,
    last_effective_at TIMESTAMP,
    last_fired_at     TIMESTAMP NOT NULL,
    last_effective    BOOLEAN   NOT NULL,
    last_capped       BOOLEAN   NOT NULL DEFAULT false
);
INSERT INTO rule_members_v3
SELECT rule, member_id, brand, last_effective_at, last_fired_at, last_effective, false
FROM rule_members ORDER BY rule, member_id;
DROP TABLE rule_members;
ALTER TABLE rule_members_v3 RENAME TO rule_members;
-- The outbox's uniqueness constraint lists its columns dedupe key first:
-- the same constraint, but a tick's new keys (its now, new event seqs) then
-- sit together in the index instead of all over it, which made every
-- insert and checkpoint rewrite much of the index.
CREATE TABLE outbox_v3 (
    firing_id       VARCHAR   NOT NULL,
    action_index    INTEGER   NOT NULL,
    rule            VARCHAR   NOT NULL,
    brand           VARCHAR   NOT NULL,
    member_id       VARCHAR   NOT NULL,
    dedupe_key      VARCHAR   NOT NULL,
    action          VARCHAR   NOT NULL,  -- send, tag, untag, notify
    kind            VARCHAR,
    content         VARCHAR,
    channel         VARCHAR,
    status          VARCHAR   NOT NULL,  -- pending, scheduled, sent, failed, held_out, no_consent, capped, gave_up, applied
    reason          VARCHAR,
    effective       BOOLEAN   NOT NULL,  -- false when every send of the firing was capped or had no consent: the firing does not use up the rule's limit
    fired_at        TIMESTAMP NOT NULL,  -- the run's now
    due_at          TIMESTAMP,           -- trigger rules: when the firing became due
    scheduled_at    TIMESTAMP,           -- quiet hours: when the send may go out
    sent_at         TIMESTAMP,
    attempts        INTEGER   NOT NULL DEFAULT 0,
    last_error      VARCHAR,
    idempotency_key VARCHAR   NOT NULL,
    trigger_seq     BIGINT,
    run_id          BIGINT    NOT NULL,
    vals            JSON,                -- the values the condition used, by label
    UNIQUE (dedupe_key, rule, member_id, action_index)
);
INSERT INTO outbox_v3 SELECT * FROM outbox ORDER BY fired_at, dedupe_key, rule, member_id, action_index;
DROP TABLE outbox;
ALTER TABLE outbox_v3 RENAME TO outbox;
-- members_version counts changes to members (imports, DB.MembersChanged).
INSERT INTO counters VALUES ('members_version', 0) ON CONFLICT DO NOTHING;
`

// ruleEvalsBudgetSQL (migration 16): rule_evals gains budget_from, the
// start of the budget period from which the latest evaluation skipped the
// refused members of a rule whose budget was exhausted for sure, NULL when
// it skipped none, and budget_after, the member after whom it skipped
// them, NULL when it skipped all (internal/tick/02b_budget_skip.go).
// The table is rebuilt (copied into rule_evals_v16, renamed) rather than
// altered with ADD COLUMN: DuckDB 1.5 can corrupt a table's index buffers
// when ADD COLUMN on an indexed table is followed by writes
// (duckdb/duckdb#25928).
const ruleEvalsBudgetSQL = `
CREATE TABLE rule_evals_v16 (
    rule         VARCHAR   NOT NULL,
    brand        VARCHAR   NOT NULL,
    eval_now     TIMESTAMP NOT NULL,
    eval_hash    VARCHAR   NOT NULL,
    members_sum  VARCHAR   NOT NULL,
    budget_from  TIMESTAMP,  -- the budget period's start from which refusals were skipped, NULL when none were
    budget_after VARCHAR,    -- the member after whom they were skipped, NULL when all were
    PRIMARY KEY (rule, brand)
);
INSERT INTO rule_evals_v16 BY NAME SELECT * FROM rule_evals;
DROP TABLE rule_evals;
ALTER TABLE rule_evals_v16 RENAME TO rule_evals;
`

// ruleMembersSQL (migration 2) adds the per rule and member summary the
// limit check reads instead of scanning the whole outbox history, filled
// from the outbox for files written before it.
const ruleMembersSQL = `
CREATE TABLE IF NOT EXISTS rule_members (
    rule              VARCHAR   NOT NULL,
    member_id         VARCHAR   NOT NULL,
    brand             VARCHAR   NOT NULL,
    last_effective_at TIMESTAMP,           -- latest firing that used up the limit
    last_fired_at     TIMESTAMP NOT NULL,  -- latest recorded firing
    last_effective    BOOLEAN   NOT NULL,  -- whether that firing was effective
    PRIMARY KEY (rule, member_id)
);
INSERT INTO rule_members
SELECT rule, member_id, any_value(brand), max(fired_at) FILTER (WHERE effective), max(fired_at), arg_max(effective, fired_at)
FROM outbox WHERE action_index = 0
GROUP BY rule, member_id
ON CONFLICT DO NOTHING;
`

// Open opens (creating if needed) the database file at path and brings its
// schema up to date. path "" or ":memory:" opens a private in-memory database.
// Opening a file another process holds fails with an error naming that
// process. The stdlib SQL macros are re-installed on every open.
func Open(ctx context.Context, path string) (*DB, error) {
	return openWith(ctx, path, migrations, stdlib.MacrosSQL)
}

// checkpointThreshold is the size of the write-ahead log at which DuckDB
// writes the changes into the database file (its default is 16 MiB). A
// checkpoint rewrites every row group the ticks since the last one changed,
// and on a million members those are most of rule_members after a few
// ticks, so a larger log means fewer, cheaper checkpoints per tick under
// `--watch`. The cost: a
// larger log to replay when a process died without closing the file (a
// process that closes it checkpoints first).
const checkpointThreshold = "64MB"

// noExtensionDownloads turns off DuckDB's automatic install and load of
// extensions for every connection: nothing downloads at run time (a SQLite
// file given as --db, or a URL read in the REPL, would make DuckDB fetch
// an extension). The extensions nudge uses (json, parquet) are built in.
const noExtensionDownloads = "autoinstall_known_extensions=false&autoload_known_extensions=false"

func openWith(ctx context.Context, path string, steps []migration, macros string) (*DB, error) {
	dsn := path
	switch {
	case path == ":memory:":
		dsn = "?" + noExtensionDownloads
	case !strings.Contains(path, "?"):
		dsn += "?checkpoint_threshold=" + checkpointThreshold + "&" + noExtensionDownloads
	default:
		dsn += "&" + noExtensionDownloads
	}
	if path != "" && path != ":memory:" && !strings.Contains(path, "?") {
		// What the file system says is wrong, before DuckDB opens (and
		// may create, or read as a CSV file) anything.
		if err := fileProblem(path, false); err != nil {
			return nil, err
		}
	}
	conn, err := duckdb.NewConnector(dsn, nil)
	if err != nil {
		return nil, openError(path, err)
	}
	db := &DB{sql: sql.OpenDB(conn), path: path, clusterMin: DefaultClusterMinEvents}
	if err := configure(ctx, db.sql); err != nil {
		db.sql.Close()
		return nil, err
	}
	if err := db.migrate(ctx, steps); err != nil {
		db.sql.Close()
		return nil, err
	}
	if strings.TrimSpace(macros) != "" {
		if err := db.inTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, macros)
			return err
		}); err != nil {
			db.sql.Close()
			return nil, fmt.Errorf("database %s: installing stdlib macros: %w", db.name(), err)
		}
	}
	return db, nil
}

var lockHolder = regexp.MustCompile(`(?i)lock is held in (.*?) \(PID (\d+)\)`)

// InUseError is the error of an open that another process's lock on the
// file refused: DuckDB lets one process open a file for writing, or several
// for reading only, never both at once. Callers that can wait and try again
// (the REPL, which holds the file only while an input runs) tell it apart
// with errors.As.
type InUseError struct {
	Path    string
	PID     string // the holder's, when DuckDB names it ("" otherwise)
	Program string // the holder's executable, when DuckDB names it
}

// Error names the file and the holder, and says what to do.
func (e *InUseError) Error() string {
	if e.PID != "" {
		return fmt.Sprintf("database %s is in use by another process (pid %s, %s); stop it or use another --db file", e.Path, e.PID, e.Program)
	}
	return fmt.Sprintf("database %s is in use by another process; stop it or use another --db file", e.Path)
}

// MembersChanged notes a change to the members table made other than by
// Import (which notes its own): the next tick then re-evaluates every state
// rule over every member instead of only the members whose events changed
// (see internal/tick/02_plan.go).
func (db *DB) MembersChanged(ctx context.Context) error {
	db.members.forget()
	_, err := db.sql.ExecContext(ctx, membersChangedSQL)
	return err
}

const membersChangedSQL = `UPDATE counters SET value = value + 1 WHERE name = 'members_version'`

// lastEventSeqSQL is the highest event seq handed out (tick.LastEventSeqSQL).
const lastEventSeqSQL = tick.LastEventSeqSQL

// NextEventSeq reserves the seq of one event written other than by Import
// (nudge test writes its events one by one): the next value of the event
// counter, above every seq already in the table. Events are ordered and
// watermarked by seq, so whoever writes events takes their seq from here
// or from Import, never from max(seq) alone, which a concurrent Import
// could hand out again.
func (db *DB) NextEventSeq(ctx context.Context) (int64, error) {
	var seq int64
	err := db.sql.QueryRowContext(ctx, `UPDATE counters SET value = `+lastEventSeqSQL+` + 1
WHERE name = 'event_seq'
RETURNING value`).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("reserving an event seq: %w", err)
	}
	return seq, nil
}

// Close closes the database.
func (db *DB) Close() error { return db.sql.Close() }

// SQL returns the underlying database handle, for read-only use by tools
// (repl, reports) that query the tables directly.
func (db *DB) SQL() *sql.DB { return db.sql }

// Path returns the path the database was opened with ("" for in-memory).
func (db *DB) Path() string { return db.path }

func (db *DB) name() string {
	if db.path == "" || db.path == ":memory:" {
		return "(in-memory)"
	}
	return db.path
}

// SchemaVersion returns the highest applied migration.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := db.sql.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

func (db *DB) migrate(ctx context.Context, steps []migration) error {
	if _, err := db.sql.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       VARCHAR NOT NULL,
		applied_at TIMESTAMP NOT NULL)`); err != nil {
		return fmt.Errorf("database %s: %w", db.name(), err)
	}
	have, err := db.SchemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("database %s: %w", db.name(), err)
	}
	if latest := steps[len(steps)-1].version; have > latest {
		return fmt.Errorf("database %s has schema version %d, newer than this nudge knows (%d): upgrade nudge", db.name(), have, latest)
	}
	// A step is applied when it is not recorded, also below the highest
	// one: numbers are reserved ahead, and a database may have a later
	// step (17) before an earlier one (16) existed.
	applied := map[int]bool{}
	rows, err := db.sql.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("database %s: %w", db.name(), err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("database %s: %w", db.name(), err)
		}
		applied[v] = true
	}
	rows.Close()
	for _, m := range steps {
		if applied[m.version] || (m.version <= have && len(applied) == 0) {
			continue
		}
		err := db.inTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations VALUES ($v::INTEGER, $n::VARCHAR, $t::TIMESTAMP)`,
				sql.Named("v", m.version), sql.Named("n", m.name), sql.Named("t", naive(time.Now())))
			return err
		})
		if err != nil {
			return fmt.Errorf("database %s: migration %d (%s): %w", db.name(), m.version, m.name, err)
		}
	}
	return nil
}

// inTx runs fn in a transaction, committing when it returns nil.
func (db *DB) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer rollback(tx) // after a panic in fn too (after Commit, a no-op)
	if err := fn(tx); err != nil {
		return errors.Join(err, rollback(tx))
	}
	return tx.Commit()
}

func rollback(tx *sql.Tx) error {
	if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return err
	}
	return nil
}

// naive returns t's wall clock as a UTC time truncated to microseconds,
// DuckDB's TIMESTAMP resolution (tick.Naive). See the package comment.
func naive(t time.Time) time.Time { return tick.Naive(t) }

// quoteString returns s as a SQL string literal (sqlquote.Checked: nudge
// quotes in one place).
func quoteString(s string) string { return sqlquote.Checked(s) }

// quoteIdent returns s as a SQL identifier (sqlquote.CheckedIdent).
func quoteIdent(s string) string { return sqlquote.CheckedIdent(s) }

// ruleMembersByRuleSQL (migration 18) rewrites rule_members in the order
// of brand, rule and member_id (the same columns, defaults and
// constraints), so that a tick's copy of the rows of the rules it
// evaluates over its scope reads only their row groups (DuckDB skips the
// others by their min and max rule) instead of every row of the table. A
// tick inserts its new rows in rule order (internal/tick/13_outbox.go),
// so a rule's first evaluation, which inserts most of its rows, keeps them
// together.
const ruleMembersByRuleSQL = `
CREATE TABLE rule_members_v18 (
    rule              VARCHAR   NOT NULL,
    member_id         VARCHAR   NOT NULL,
    brand             VARCHAR   NOT NULL,
    last_effective_at TIMESTAMP,
    last_fired_at     TIMESTAMP NOT NULL,
    last_effective    BOOLEAN   NOT NULL,
    last_capped       BOOLEAN   NOT NULL DEFAULT false,
    last_no_consent   BOOLEAN   DEFAULT false
);
INSERT INTO rule_members_v18 BY NAME SELECT * FROM rule_members ORDER BY brand, rule, member_id;
DROP TABLE rule_members;
ALTER TABLE rule_members_v18 RENAME TO rule_members;
`
