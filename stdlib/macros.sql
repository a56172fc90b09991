-- SQL macros behind nudge's builtin functions (stdlib.Env). The compiler
-- calls them through the SQL templates of check.Function; the runtime creates
-- them (after schema.sql) in every database it opens. All are named nudge_*.
--
-- Conventions: `t` is the evaluation instant (TIMESTAMP, the compiler's
-- $now::TIMESTAMP), `b` the brand (VARCHAR), `mid` a member_id, `d` an
-- INTERVAL (a nudge duration such as 365 days). "Purchases" are events of
-- type 'purchased' with ts <= t; spend is the sum of their amount.

-- nudge_days_since(x, t): whole 24-hour days from x to t, rounded down;
-- NULL when x is NULL. x may be a DATE or a TIMESTAMP.
CREATE OR REPLACE MACRO nudge_days_since(x, t) AS
    CAST(floor(date_diff('microsecond', CAST(x AS TIMESTAMP), CAST(t AS TIMESTAMP)) / 86400000000.0) AS BIGINT);

-- nudge_is_leap(y): whether year y has a Feb 29.
CREATE OR REPLACE MACRO nudge_is_leap(y) AS
    (y % 4 = 0 AND y % 100 <> 0) OR y % 400 = 0;

-- nudge_birthday_on(bd, y): the day member birthday bd is celebrated in year
-- y. A Feb 29 birthday is celebrated on Feb 28 in common years.
CREATE OR REPLACE MACRO nudge_birthday_on(bd, y) AS
    CASE WHEN month(bd) = 2 AND day(bd) = 29 AND NOT nudge_is_leap(y)
         THEN make_date(CAST(y AS BIGINT), 2, 28)
         ELSE make_date(CAST(y AS BIGINT), month(bd), day(bd)) END;

-- nudge_birthday_in(bd, t, d): whether the birthday bd (month and day) falls
-- within [today, today + d], today being t's date; wraps the year end
-- (Dec 30 + 5 days covers Jan 3). A NULL birthday is false.
CREATE OR REPLACE MACRO nudge_birthday_in(bd, t, d) AS
    CASE WHEN bd IS NULL THEN false
         ELSE nudge_birthday_on(bd, year(CAST(t AS DATE)))
                  BETWEEN CAST(t AS DATE) AND CAST(CAST(t AS DATE) + d AS DATE)
           OR nudge_birthday_on(bd, year(CAST(t AS DATE)) + 1)
                  BETWEEN CAST(t AS DATE) AND CAST(CAST(t AS DATE) + d AS DATE)
    END;

-- nudge_score(pr): a percent_rank in [0, 1] as a quintile score 1..5.
CREATE OR REPLACE MACRO nudge_score(pr) AS
    CAST(least(5, 1 + floor(5 * pr)) AS INTEGER);

-- nudge_rfm(b, t): one row per member of brand b with RFM quintile scores
-- r, f, m (1..5, 5 best) at t:
--   r ranks days since the last purchase (never bought ranks lowest),
--   f ranks the number of purchases in the 365 days up to t,
--   m ranks the spend in the 365 days up to t.
-- Scores are 1 + floor(5 * percent_rank()), so ties share a score and the
-- result is deterministic; members who never bought share the lowest scores.
CREATE OR REPLACE MACRO nudge_rfm(b, t) AS TABLE
    WITH stats AS (
        SELECT m.member_id,
               max(e.ts) AS last_ts,
               count(e.ts) FILTER (WHERE e.ts > CAST(t AS TIMESTAMP) - INTERVAL 365 DAY) AS frequency,
               coalesce(sum(e.amount) FILTER (WHERE e.ts > CAST(t AS TIMESTAMP) - INTERVAL 365 DAY), 0) AS monetary
        FROM members m
        LEFT JOIN events e
               ON e.member_id = m.member_id AND e.brand = m.brand
              AND e.type = 'purchased' AND e.ts <= CAST(t AS TIMESTAMP)
        WHERE m.brand = b
        GROUP BY m.member_id
    )
    SELECT member_id, nudge_days_since(last_ts, t) AS recency, frequency, monetary,
           nudge_score(percent_rank() OVER (ORDER BY nudge_days_since(last_ts, t) DESC NULLS FIRST)) AS r,
           nudge_score(percent_rank() OVER (ORDER BY frequency)) AS f,
           nudge_score(percent_rank() OVER (ORDER BY monetary)) AS m
    FROM stats;

-- nudge_rfm_r/f/m(mid, b, t): the member's R, F or M score (NULL for a
-- member that is not in brand b).
CREATE OR REPLACE MACRO nudge_rfm_r(mid, b, t) AS
    (SELECT s.r FROM nudge_rfm(b, t) s WHERE s.member_id = mid);
CREATE OR REPLACE MACRO nudge_rfm_f(mid, b, t) AS
    (SELECT s.f FROM nudge_rfm(b, t) s WHERE s.member_id = mid);
CREATE OR REPLACE MACRO nudge_rfm_m(mid, b, t) AS
    (SELECT s.m FROM nudge_rfm(b, t) s WHERE s.member_id = mid);

-- nudge_spend_ranks(b, t, d): one row per member of brand b with the spend in
-- (t - d, t] and its percentile 0..100 (100 * percent_rank() by spend: the
-- top spender has 100, members with the lowest spend 0; ties share a value).
CREATE OR REPLACE MACRO nudge_spend_ranks(b, t, d) AS TABLE
    WITH s AS (
        SELECT m.member_id, coalesce(sum(e.amount), 0) AS spend
        FROM members m
        LEFT JOIN events e
               ON e.member_id = m.member_id AND e.brand = m.brand AND e.type = 'purchased'
              AND e.ts > CAST(t AS TIMESTAMP) - d AND e.ts <= CAST(t AS TIMESTAMP)
        WHERE m.brand = b
        GROUP BY m.member_id
    )
    SELECT member_id, spend, 100 * percent_rank() OVER (ORDER BY spend) AS pct
    FROM s;

-- nudge_spend_percentile(mid, b, t, d): the member's spend percentile.
CREATE OR REPLACE MACRO nudge_spend_percentile(mid, b, t, d) AS
    (SELECT s.pct FROM nudge_spend_ranks(b, t, d) s WHERE s.member_id = mid);

-- nudge_hours_since(x, t): whole hours from x to t, rounded down; NULL when
-- x is NULL.
CREATE OR REPLACE MACRO nudge_hours_since(x, t) AS
    CAST(floor(date_diff('microsecond', CAST(x AS TIMESTAMP), CAST(t AS TIMESTAMP)) / 3600000000.0) AS BIGINT);

-- nudge_age(bd, t): completed years of life at t's date; NULL when bd is
-- NULL. A Feb 29 birthday completes a year on Mar 1 in common years.
CREATE OR REPLACE MACRO nudge_age(bd, t) AS
    year(CAST(t AS DATE)) - year(bd)
      - CASE WHEN month(CAST(t AS DATE)) * 100 + day(CAST(t AS DATE)) < month(bd) * 100 + day(bd) THEN 1 ELSE 0 END;
