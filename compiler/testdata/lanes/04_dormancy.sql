-- rule dormancy_reminder (lane form)
WITH
-- per-member aggregates of purchased events
s0 AS (
  SELECT e.member_id,
         max(e.ts) AS a0
  FROM _nudge_scope_events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= e._now
  GROUP BY e.member_id
)
SELECT m.member_id,
       NULL::BIGINT AS trigger_seq,
       NULL::TIMESTAMP AS due_at,
       (date_diff('microsecond', s0.a0, m._now) // 86400000000) AS v0
FROM _nudge_scope_members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND (date_diff('microsecond', s0.a0, m._now) // 86400000000) > 90

