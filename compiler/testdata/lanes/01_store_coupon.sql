-- rule store_a_coupon (lane form)
WITH
-- candidates: queued at store "A"
cand_0 AS (
  SELECT e.*, e.ts AS due_at
  FROM (
    SELECT ev.* REPLACE (l.lane AS member_id), l.now AS _now, l.prev AS _prev
    FROM events ev JOIN _nudge_lanes l ON l.member_id = ev.member_id
  ) e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'queued'
    AND e.store = 'A'
    AND e.ts <= e._now
    AND e.ts > e._prev
),
-- candidates: booked at store "A"
cand_1 AS (
  SELECT e.*, e.ts AS due_at
  FROM (
    SELECT ev.* REPLACE (l.lane AS member_id), l.now AS _now, l.prev AS _prev
    FROM events ev JOIN _nudge_lanes l ON l.member_id = ev.member_id
  ) e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'booked'
    AND e.store = 'A'
    AND e.ts <= e._now
    AND e.ts > e._prev
),
-- every candidate event once
cand AS (
  SELECT * FROM cand_0
  UNION ALL
  SELECT * FROM cand_1
)
SELECT c.member_id,
       c.seq AS trigger_seq,
       c.due_at,
       c.store AS v0,
       c.store AS p0
FROM cand c
JOIN _nudge_scope_members m ON m.member_id = c.member_id AND m.brand = $brand::VARCHAR
WHERE (
    (
      c.due_at = c.ts
      AND c.type = 'queued'
      AND COALESCE(c.store = 'A', false)
    )
    OR (
      c.due_at = c.ts
      AND c.type = 'booked'
      AND COALESCE(c.store = 'A', false)
    )
  )

