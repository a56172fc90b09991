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
    AND (e.seq > $wm_seq::BIGINT OR e.ts > $wm_now::TIMESTAMP)
)
SELECT c.member_id,
       c.seq AS trigger_seq,
       c.due_at,
       c.amount AS v0,
       (
         SELECT avg(e3.amount)
         FROM events e3
         WHERE e3.brand = $brand::VARCHAR
           AND e3.member_id = c.member_id
           AND e3.type = 'purchased'
           AND e3.ts < c.ts
       ) AS v1,
       (
         SELECT count(*)
         FROM events e4
         WHERE e4.brand = $brand::VARCHAR
           AND e4.member_id = c.member_id
           AND e4.type = 'purchased'
           AND e4.ts < c.ts
       ) AS v2
FROM cand c
JOIN members m ON m.member_id = c.member_id AND m.brand = $brand::VARCHAR
WHERE c.amount > (1.5 * (
    SELECT avg(e1.amount)
    FROM events e1
    WHERE e1.brand = $brand::VARCHAR
      AND e1.member_id = c.member_id
      AND e1.type = 'purchased'
      AND e1.ts < c.ts
  ))
  AND (
    SELECT count(*)
    FROM events e2
    WHERE e2.brand = $brand::VARCHAR
      AND e2.member_id = c.member_id
      AND e2.type = 'purchased'
      AND e2.ts < c.ts
  ) >= 3;
