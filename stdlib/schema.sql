-- The data model of SPEC §6: the tables rules read. Owned by stdlib because the
-- language speaks about them. runtime's migrations build these tables (its
-- first migration applied the file as it was then, with members keyed by
-- member_id alone; migration 5 re-keyed them) and add its own tables
-- (outbox, rule state, run log). A member is identified by (brand,
-- member_id): two brands may use the same member id (SPEC §5).
CREATE TABLE IF NOT EXISTS members (
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

CREATE TABLE IF NOT EXISTS events (
    seq       BIGINT NOT NULL,      -- ingest order, assigned by nudge
    member_id VARCHAR NOT NULL,
    brand     VARCHAR NOT NULL,
    type      VARCHAR NOT NULL,
    ts        TIMESTAMP NOT NULL,
    store     VARCHAR,
    sku       VARCHAR,
    category  VARCHAR,
    amount    DECIMAL(18,2),
    channel   VARCHAR,
    order_id  VARCHAR,
    props     JSON
);

-- The ids senders give events (nudge serve's event_id, a tracking message's
-- messageId), one per brand and id: an event sent again is stored once.
-- seq is the stored event's. (Runtime migration 9.)
CREATE TABLE IF NOT EXISTS event_ids (
    brand    VARCHAR NOT NULL,
    event_id VARCHAR NOT NULL,
    seq      BIGINT  NOT NULL,
    PRIMARY KEY (brand, event_id)
);

-- Tags applied by rules (`tag "x"`), read by `tagged "x"`.
CREATE TABLE IF NOT EXISTS member_tags (
    brand     VARCHAR NOT NULL,
    member_id VARCHAR NOT NULL,
    tag       VARCHAR NOT NULL,
    tagged_at TIMESTAMP NOT NULL,
    rule      VARCHAR,
    PRIMARY KEY (brand, member_id, tag)
);
