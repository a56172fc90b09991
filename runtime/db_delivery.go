package runtime

// deliverySQL (migration 13) gives each outbox row what the delivery
// policies of SPEC §9 need after the decision: params, the send's `with`
// parameters as a JSON object (sent to sinks); transactional, whether the
// rule was `transactional` (the send skips marketing consent, caps and
// quiet hours, at the tick and at dispatch, and counts toward no cap; NULL,
// as on the rows from before this migration, is false: a column default here
// fails to commit when migration 12 altered the table in the same upgrade); and
// expires_at, the last instant the send may go out (`expire after`: its
// due time plus the duration; NULL: never expires).
const deliverySQL = `
ALTER TABLE outbox ADD COLUMN params JSON;
ALTER TABLE outbox ADD COLUMN transactional BOOLEAN;
ALTER TABLE outbox ADD COLUMN expires_at TIMESTAMP;
`
