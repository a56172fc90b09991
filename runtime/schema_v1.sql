-- The data model of SPEC §6: the tables rules read. Owned by stdlib because the
-- language speaks about them; runtime applies this file in its first migration
-- and adds its own tables (outbox, rule state, run log) after it.
CREATE TABLE IF NOT EXISTS members (
    member_id        VARCHAR PRIMARY KEY,
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
    attrs            JSON
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

-- Tags applied by rules (`tag "x"`), read by `tagged "x"`.
CREATE TABLE IF NOT EXISTS member_tags (
    brand     VARCHAR NOT NULL,
    member_id VARCHAR NOT NULL,
    tag       VARCHAR NOT NULL,
    tagged_at TIMESTAMP NOT NULL,
    rule      VARCHAR,
    PRIMARY KEY (brand, member_id, tag)
);
