-- rule dormancy_reminder (state)  ../examples/04_dormancy.nudge:12
-- Monthly reminder past the dormancy line
--   v0 = days since last purchased
-- re-evaluates members with new events or events purchased due, purchased 90 day ago, purchased 91 day ago
WITH
-- per-member aggregates of purchased events
s0 AS (
  SELECT e.member_id,
         max(e.ts) AS a0
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= $now::TIMESTAMP
  GROUP BY e.member_id
)
SELECT m.member_id,
       NULL::BIGINT AS trigger_seq,
       NULL::TIMESTAMP AS due_at,
       (date_diff('microsecond', s0.a0, $now::TIMESTAMP) // 86400000000) AS v0
FROM members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND (date_diff('microsecond', s0.a0, $now::TIMESTAMP) // 86400000000) > 90;
