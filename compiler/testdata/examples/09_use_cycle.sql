-- rule toothbrush_refill (state)  ../examples/09_use_cycle.nudge:11
-- Refill reminder for the toothbrush 10-pack
--   v0 = days since last purchased of sku "TB-10PK"
-- re-evaluates members with new events or events purchased due, purchased 330 day ago, purchased 331 day ago, purchased 340 day ago, purchased 341 day ago
WITH
-- per-member aggregates of purchased events
s0 AS (
  SELECT e.member_id,
         max(e.ts) AS a0
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= $now::TIMESTAMP
    AND e.sku = 'TB-10PK'
  GROUP BY e.member_id
)
SELECT m.member_id,
       NULL::BIGINT AS trigger_seq,
       NULL::TIMESTAMP AS due_at,
       (date_diff('microsecond', s0.a0, $now::TIMESTAMP) // 86400000000) AS v0
FROM members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND (date_diff('microsecond', s0.a0, $now::TIMESTAMP) // 86400000000) BETWEEN 330 AND 340;
