package runtime

// outboxNoKeySQL (migration 17) rebuilds the outbox without its UNIQUE
// (dedupe_key, rule, brand, member_id, action_index) constraint: an index
// of every row's five strings that made each tick's insert of its decisions
// and every delete of outbox rows costly, and that lived in memory. A
// firing is still written once: a tick anti-joins its firings with the
// outbox (internal/tick/05_limits.go) in its transaction, and two ticks
// cannot commit side by side (each inserts its runs row under the primary
// key max(id) + 1, so the second one's commit fails and writes nothing).
// DuckDB cannot drop a constraint, so the table is rebuilt with its rows
// in their order.
const outboxNoKeySQL = `
CREATE TABLE outbox_v17 (
    firing_id       VARCHAR   NOT NULL,
    action_index    INTEGER   NOT NULL,
    rule            VARCHAR   NOT NULL,
    brand           VARCHAR   NOT NULL,
    member_id       VARCHAR   NOT NULL,
    dedupe_key      VARCHAR   NOT NULL,
    action          VARCHAR   NOT NULL,  -- send, tag, untag, notify, enter, exit, complete
    kind            VARCHAR,
    content         VARCHAR,
    channel         VARCHAR,
    status          VARCHAR   NOT NULL,
    reason          VARCHAR,
    effective       BOOLEAN   NOT NULL,
    fired_at        TIMESTAMP NOT NULL,
    due_at          TIMESTAMP,
    scheduled_at    TIMESTAMP,
    sent_at         TIMESTAMP,
    attempts        INTEGER   NOT NULL DEFAULT 0,
    last_error      VARCHAR,
    idempotency_key VARCHAR   NOT NULL,
    trigger_seq     BIGINT,
    run_id          BIGINT    NOT NULL,
    vals            JSON,
    journey         VARCHAR,
    step            INTEGER,
    variant         VARCHAR,
    params          JSON,
    transactional   BOOLEAN,
    expires_at      TIMESTAMP
);
INSERT INTO outbox_v17 BY NAME SELECT * FROM outbox ORDER BY rowid;
DROP TABLE outbox;
ALTER TABLE outbox_v17 RENAME TO outbox;
`
