-- rule pay_reminder (lane form)
WITH
-- candidates: order_placed not followed by paid matching order_id within 2 hours
cand AS (
  SELECT e.*, (e.ts + INTERVAL 2 HOUR) AS due_at
  FROM (
    SELECT ev.* REPLACE (l.lane AS member_id), l.now AS _now, l.prev AS _prev
    FROM events ev JOIN _nudge_lanes l ON l.member_id = ev.member_id
  ) e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'order_placed'
    AND (e.ts + INTERVAL 2 HOUR) <= e._now
    AND (e.ts + INTERVAL 2 HOUR) > e._prev
)
SELECT c.member_id,
       c.seq AS trigger_seq,
       c.due_at,
       c.order_id AS p0,
       c.amount AS p1
FROM cand c
JOIN _nudge_scope_members m ON m.member_id = c.member_id AND m.brand = $brand::VARCHAR
WHERE NOT EXISTS (
    SELECT 1
    FROM _nudge_scope_events e1
    WHERE e1.brand = $brand::VARCHAR
      AND e1.member_id = c.member_id
      AND e1.type = 'paid'
      AND e1.ts > c.ts
      AND e1.ts <= c.due_at
      AND e1.order_id = c.order_id
  )

