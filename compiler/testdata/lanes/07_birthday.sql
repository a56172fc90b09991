-- rule birthday (lane form)
SELECT m.member_id,
       NULL::BIGINT AS trigger_seq,
       NULL::TIMESTAMP AS due_at
FROM _nudge_scope_members m
WHERE m.brand = $brand::VARCHAR
  AND (nudge_birthday_in(m.birthday, m._now, INTERVAL 0 DAY))

-- rule double11_greeting (lane form)
WITH
-- per-member aggregates of purchased events
s0 AS (
  SELECT e.member_id,
         count(*) AS a0
  FROM _nudge_scope_events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= e._now
    AND e.ts > e._now - INTERVAL 365 DAY
  GROUP BY e.member_id
)
SELECT m.member_id,
       NULL::BIGINT AS trigger_seq,
       NULL::TIMESTAMP AS due_at,
       (nudge_days_since(DATE '2024-11-11', m._now)) AS v0
FROM _nudge_scope_members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND (nudge_days_since(DATE '2024-11-11', m._now)) = 0
  AND COALESCE(s0.a0, 0) >= 1

