-- rule spending_spike (trigger)  ../examples/03_spending_spike.nudge:10
-- Tag and recommend on a spending spike
--   v0 = purchased.amount
--   v1 = avg(purchased.amount before)
--   v2 = count(purchased before)
WITH
-- candidates: purchased where amount > 1.5 * avg(purchased.amount before) and count(purchased before) >= 3
cand AS (
  SELECT e.*, e.ts AS due_at
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= $now::TIMESTAMP
    AND e.seq > $wm_seq_0::BIGINT
  UNION ALL
  SELECT e.*, e.ts AS due_at
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= $now::TIMESTAMP
    AND e.seq <= $wm_seq_0::BIGINT
    AND e.ts > $wm_now_0::TIMESTAMP
),
-- per-candidate aggregates of the purchased events before it
s0 AS (
  SELECT c.seq, c.due_at,
         avg(e.amount) AS a0,
         count(*) AS a1
  FROM cand c
  JOIN events e ON e.member_id = c.member_id
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts < c.ts
  GROUP BY c.seq, c.due_at
)
SELECT c.member_id,
       c.seq AS trigger_seq,
       c.due_at,
       c.amount AS v0,
       s0.a0 AS v1,
       COALESCE(s0.a1, 0) AS v2
FROM cand c
JOIN members m ON m.member_id = c.member_id AND m.brand = $brand::VARCHAR
LEFT JOIN s0 ON s0.seq = c.seq AND s0.due_at = c.due_at
WHERE c.amount > (1.5 * s0.a0)
  AND COALESCE(s0.a1, 0) >= 3;
