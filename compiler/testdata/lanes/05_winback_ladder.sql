-- rule ladder_full_price (lane form)
WITH
-- per-member aggregates of purchased events
s0 AS (
  SELECT e.member_id,
         min(e.ts) AS a0,
         count(*) AS a1
  FROM _nudge_scope_events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= e._now
  GROUP BY e.member_id
)
SELECT m.member_id,
       NULL::BIGINT AS trigger_seq,
       NULL::TIMESTAMP AS due_at,
       (date_diff('microsecond', s0.a0, m._now) // 86400000000) AS v0,
       COALESCE(s0.a1, 0) AS v1
FROM _nudge_scope_members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND (date_diff('microsecond', s0.a0, m._now) // 86400000000) < 30
  AND COALESCE(s0.a1, 0) = 1

-- rule ladder_30 (lane form)
WITH
-- per-member aggregates of purchased events
s0 AS (
  SELECT e.member_id,
         min(e.ts) AS a0,
         count(*) AS a1
  FROM _nudge_scope_events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= e._now
  GROUP BY e.member_id
)
SELECT m.member_id,
       NULL::BIGINT AS trigger_seq,
       NULL::TIMESTAMP AS due_at,
       (date_diff('microsecond', s0.a0, m._now) // 86400000000) AS v0,
       COALESCE(s0.a1, 0) AS v1
FROM _nudge_scope_members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND (date_diff('microsecond', s0.a0, m._now) // 86400000000) BETWEEN 30 AND 44
  AND COALESCE(s0.a1, 0) = 1

-- rule ladder_45 (lane form)
WITH
-- per-member aggregates of purchased events
s0 AS (
  SELECT e.member_id,
         min(e.ts) AS a0,
         count(*) AS a1
  FROM _nudge_scope_events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= e._now
  GROUP BY e.member_id
)
SELECT m.member_id,
       NULL::BIGINT AS trigger_seq,
       NULL::TIMESTAMP AS due_at,
       (date_diff('microsecond', s0.a0, m._now) // 86400000000) AS v0,
       COALESCE(s0.a1, 0) AS v1
FROM _nudge_scope_members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND (date_diff('microsecond', s0.a0, m._now) // 86400000000) BETWEEN 45 AND 59
  AND COALESCE(s0.a1, 0) = 1

-- rule ladder_60 (lane form)
WITH
-- per-member aggregates of purchased events
s0 AS (
  SELECT e.member_id,
         min(e.ts) AS a0,
         count(*) AS a1
  FROM _nudge_scope_events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= e._now
  GROUP BY e.member_id
)
SELECT m.member_id,
       NULL::BIGINT AS trigger_seq,
       NULL::TIMESTAMP AS due_at,
       (date_diff('microsecond', s0.a0, m._now) // 86400000000) AS v0,
       COALESCE(s0.a1, 0) AS v1
FROM _nudge_scope_members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND (date_diff('microsecond', s0.a0, m._now) // 86400000000) BETWEEN 60 AND 90
  AND COALESCE(s0.a1, 0) = 1

