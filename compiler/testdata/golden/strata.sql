-- rule wave2 (state)  testdata/strata.nudge:8
-- Second wave: members the first one missed
-- stratum 1: after wave1, vip_on_big_purchase (reads their tags)
--   v0 = count(purchased in last 90 days)
-- every run re-evaluates every member
WITH
-- per-member aggregates of purchased events
s0 AS (
  SELECT e.member_id,
         count(*) AS a0
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= $now::TIMESTAMP
    AND e.ts > $now::TIMESTAMP - INTERVAL 90 DAY
  GROUP BY e.member_id
)
SELECT m.member_id,
       NULL::BIGINT AS trigger_seq,
       NULL::TIMESTAMP AS due_at,
       COALESCE(s0.a0, 0) AS v0
FROM members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND COALESCE(s0.a0, 0) >= 1
  AND NOT (
    EXISTS (SELECT 1 FROM member_tags t WHERE t.brand = $brand::VARCHAR AND t.member_id = m.member_id AND t.tag = 'wave1')
    OR EXISTS (SELECT 1 FROM member_tags t WHERE t.brand = $brand::VARCHAR AND t.member_id = m.member_id AND t.tag = 'vip')
  );

-- rule wave1 (state)  testdata/strata.nudge:12
-- First wave
-- stratum 0
--   v0 = count(purchased in last 30 days)
-- re-evaluates members with new events or events purchased due, purchased 30 day ago
WITH
-- per-member aggregates of purchased events
s0 AS (
  SELECT e.member_id,
         count(*) AS a0
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= $now::TIMESTAMP
    AND e.ts > $now::TIMESTAMP - INTERVAL 30 DAY
  GROUP BY e.member_id
)
SELECT m.member_id,
       NULL::BIGINT AS trigger_seq,
       NULL::TIMESTAMP AS due_at,
       COALESCE(s0.a0, 0) AS v0
FROM members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND COALESCE(s0.a0, 0) >= 1;

-- rule vip_on_big_purchase (trigger)  testdata/strata.nudge:16
-- stratum 0
--   v0 = purchased.amount
WITH
-- candidates: purchased where amount > 500 and not tagged "vip"
cand AS (
  SELECT e.*, e.ts AS due_at
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.amount > 500
    AND e.ts <= $now::TIMESTAMP
    AND e.seq > $wm_seq_2::BIGINT
  UNION ALL
  SELECT e.*, e.ts AS due_at
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.amount > 500
    AND e.ts <= $now::TIMESTAMP
    AND e.seq <= $wm_seq_2::BIGINT
    AND e.ts > $wm_now_2::TIMESTAMP
)
SELECT c.member_id,
       c.seq AS trigger_seq,
       c.due_at,
       c.amount AS v0
FROM cand c
JOIN members m ON m.member_id = c.member_id AND m.brand = $brand::VARCHAR
WHERE NOT (EXISTS (SELECT 1 FROM member_tags t WHERE t.brand = $brand::VARCHAR AND t.member_id = c.member_id AND t.tag = 'vip'));

-- rule greet_once (state)  testdata/strata.nudge:20
-- stratum 0
--   v0 = member.tier
-- every run re-evaluates every member
SELECT m.member_id,
       NULL::BIGINT AS trigger_seq,
       NULL::TIMESTAMP AS due_at,
       m.tier AS v0
FROM members m
WHERE m.brand = $brand::VARCHAR
  AND NOT (EXISTS (SELECT 1 FROM member_tags t WHERE t.brand = $brand::VARCHAR AND t.member_id = m.member_id AND t.tag = 'greeted'))
  AND m.tier = 'gold';
