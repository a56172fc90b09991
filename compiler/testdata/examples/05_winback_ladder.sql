-- rule ladder_full_price (state)  ../examples/05_winback_ladder.nudge:12
-- First 30 days: full-price picks
--   v0 = days since first purchased
--   v1 = count(purchased ever)
-- re-evaluates members with new events or events purchased due, purchased 30 day ago, purchased 31 day ago
WITH
-- per-member aggregates of purchased events
s0 AS (
  SELECT e.member_id,
         min(e.ts) AS a0,
         count(*) AS a1
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= $now::TIMESTAMP
  GROUP BY e.member_id
)
SELECT m.member_id,
       NULL::BIGINT AS trigger_seq,
       NULL::TIMESTAMP AS due_at,
       (date_diff('microsecond', s0.a0, $now::TIMESTAMP) // 86400000000) AS v0,
       COALESCE(s0.a1, 0) AS v1
FROM members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND (date_diff('microsecond', s0.a0, $now::TIMESTAMP) // 86400000000) < 30
  AND COALESCE(s0.a1, 0) = 1;

-- rule ladder_30 (state)  ../examples/05_winback_ladder.nudge:16
-- Day 30: 10% off
--   v0 = days since first purchased
--   v1 = count(purchased ever)
-- re-evaluates members with new events or events purchased due, purchased 30 day ago, purchased 31 day ago, purchased 44 day ago, purchased 45 day ago
WITH
-- per-member aggregates of purchased events
s0 AS (
  SELECT e.member_id,
         min(e.ts) AS a0,
         count(*) AS a1
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= $now::TIMESTAMP
  GROUP BY e.member_id
)
SELECT m.member_id,
       NULL::BIGINT AS trigger_seq,
       NULL::TIMESTAMP AS due_at,
       (date_diff('microsecond', s0.a0, $now::TIMESTAMP) // 86400000000) AS v0,
       COALESCE(s0.a1, 0) AS v1
FROM members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND (date_diff('microsecond', s0.a0, $now::TIMESTAMP) // 86400000000) BETWEEN 30 AND 44
  AND COALESCE(s0.a1, 0) = 1;

-- rule ladder_45 (state)  ../examples/05_winback_ladder.nudge:20
-- Day 45: 20% off
--   v0 = days since first purchased
--   v1 = count(purchased ever)
-- re-evaluates members with new events or events purchased due, purchased 45 day ago, purchased 46 day ago, purchased 59 day ago, purchased 60 day ago
WITH
-- per-member aggregates of purchased events
s0 AS (
  SELECT e.member_id,
         min(e.ts) AS a0,
         count(*) AS a1
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= $now::TIMESTAMP
  GROUP BY e.member_id
)
SELECT m.member_id,
       NULL::BIGINT AS trigger_seq,
       NULL::TIMESTAMP AS due_at,
       (date_diff('microsecond', s0.a0, $now::TIMESTAMP) // 86400000000) AS v0,
       COALESCE(s0.a1, 0) AS v1
FROM members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND (date_diff('microsecond', s0.a0, $now::TIMESTAMP) // 86400000000) BETWEEN 45 AND 59
  AND COALESCE(s0.a1, 0) = 1;

-- rule ladder_60 (state)  ../examples/05_winback_ladder.nudge:25
-- Day 60: 30% off
--   v0 = days since first purchased
--   v1 = count(purchased ever)
-- re-evaluates members with new events or events purchased due, purchased 60 day ago, purchased 61 day ago, purchased 90 day ago, purchased 91 day ago
WITH
-- per-member aggregates of purchased events
s0 AS (
  SELECT e.member_id,
         min(e.ts) AS a0,
         count(*) AS a1
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= $now::TIMESTAMP
  GROUP BY e.member_id
)
SELECT m.member_id,
       NULL::BIGINT AS trigger_seq,
       NULL::TIMESTAMP AS due_at,
       (date_diff('microsecond', s0.a0, $now::TIMESTAMP) // 86400000000) AS v0,
       COALESCE(s0.a1, 0) AS v1
FROM members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND (date_diff('microsecond', s0.a0, $now::TIMESTAMP) // 86400000000) BETWEEN 60 AND 90
  AND COALESCE(s0.a1, 0) = 1;
