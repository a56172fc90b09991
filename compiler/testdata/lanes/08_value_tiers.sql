-- rule d11_cashback_gold (lane form)
WITH
-- per-member aggregates of purchased events
s0 AS (
  SELECT e.member_id,
         count(*) AS a0,
         sum(e.amount) AS a1
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
       m.tier AS v0,
       s0.a1 AS v1
FROM _nudge_scope_members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND m.tier = 'gold'
  AND COALESCE(s0.a0, 0) >= 3
  AND s0.a1 >= 500

-- rule d11_cashback_silver (lane form)
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
       m.tier AS v0
FROM _nudge_scope_members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND m.tier = 'silver'
  AND COALESCE(s0.a0, 0) >= 1

-- rule d11_cashback_rest (lane form)
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
       m.tier AS v0
FROM _nudge_scope_members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND m.tier NOT IN ('gold', 'silver')
  AND COALESCE(s0.a0, 0) >= 1

