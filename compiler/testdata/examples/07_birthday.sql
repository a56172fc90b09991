-- rule birthday (state)  ../examples/07_birthday.nudge:9
-- Birthday coupon
-- re-evaluates members with new events; on a new day, members whose date conditions changed
SELECT m.member_id,
       NULL::BIGINT AS trigger_seq,
       NULL::TIMESTAMP AS due_at
FROM members m
WHERE m.brand = $brand::VARCHAR
  AND (nudge_birthday_in(m.birthday, $now::TIMESTAMP, INTERVAL 0 DAY));

-- rule double11_greeting (state)  ../examples/07_birthday.nudge:16
-- Double 11 greeting
--   v0 = days_since(2024-11-11)
-- re-evaluates members with new events or events purchased due, purchased 365 day ago; on a new day, members whose date conditions changed
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
       (nudge_days_since(DATE '2024-11-11', $now::TIMESTAMP)) AS v0
FROM members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND (nudge_days_since(DATE '2024-11-11', $now::TIMESTAMP)) = 0
  AND COALESCE(s0.a0, 0) >= 1;
