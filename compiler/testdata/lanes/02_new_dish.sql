-- rule new_dish_voucher (lane form)
WITH
-- per-member aggregates of visited events
s0 AS (
  SELECT e.member_id,
         count(*) AS a0
  FROM _nudge_scope_events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'visited'
    AND e.ts <= e._now
    AND e.ts > e._now + INTERVAL (-3) MONTH
  GROUP BY e.member_id
)
SELECT m.member_id,
       NULL::BIGINT AS trigger_seq,
       NULL::TIMESTAMP AS due_at,
       m.city AS v0
FROM _nudge_scope_members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND COALESCE(s0.a0, 0) >= 1
  AND m.city = '长沙'

