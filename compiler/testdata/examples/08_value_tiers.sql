-- rule d11_cashback_gold (state)  ../examples/08_value_tiers.nudge:15
-- Gold and loyal: a personal call
--   v0 = member.tier
--   v1 = sum(purchased.amount in last 365 days)
-- re-evaluates members with new events or events purchased due, purchased 365 day ago
WITH
-- per-member aggregates of purchased events
s0 AS (
  SELECT e.member_id,
         count(*) AS a0,
         sum(e.amount) AS a1
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= $now::TIMESTAMP
    AND e.ts > $now::TIMESTAMP - INTERVAL 365 DAY
  GROUP BY e.member_id
)
SELECT m.member_id,
       NULL::BIGINT AS trigger_seq,
       NULL::TIMESTAMP AS due_at,
       m.tier AS v0,
       s0.a1 AS v1
FROM members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND m.tier = 'gold'
  AND COALESCE(s0.a0, 0) >= 3
  AND s0.a1 >= 500;

-- rule d11_cashback_silver (state)  ../examples/08_value_tiers.nudge:21
-- Silver buyers: a phone call
--   v0 = member.tier
-- re-evaluates members with new events or events purchased due, purchased 365 day ago
WITH
-- per-member aggregates of purchased events
s0 AS (
  SELECT e.member_id,
         count(*) AS a0
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= $now::TIMESTAMP
    AND e.ts > $now::TIMESTAMP - INTERVAL 365 DAY
  GROUP BY e.member_id
)
SELECT m.member_id,
       NULL::BIGINT AS trigger_seq,
       NULL::TIMESTAMP AS due_at,
       m.tier AS v0
FROM members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND m.tier = 'silver'
  AND COALESCE(s0.a0, 0) >= 1;

-- rule d11_cashback_rest (state)  ../examples/08_value_tiers.nudge:29
-- Everyone else who bought this year: SMS and mail
--   v0 = member.tier
-- re-evaluates members with new events or events purchased due, purchased 365 day ago
WITH
-- per-member aggregates of purchased events
s0 AS (
  SELECT e.member_id,
         count(*) AS a0
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= $now::TIMESTAMP
    AND e.ts > $now::TIMESTAMP - INTERVAL 365 DAY
  GROUP BY e.member_id
)
SELECT m.member_id,
       NULL::BIGINT AS trigger_seq,
       NULL::TIMESTAMP AS due_at,
       m.tier AS v0
FROM members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND m.tier NOT IN ('gold', 'silver')
  AND COALESCE(s0.a0, 0) >= 1;
