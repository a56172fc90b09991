-- rule spending_spike (lane form)
WITH
-- candidates: purchased where amount > 1.5 * avg(purchased.amount before) and count(purchased before) >= 3
cand AS (
  SELECT e.*, e.ts AS due_at
  FROM (
    SELECT ev.* REPLACE (l.lane AS member_id), l.now AS _now, l.prev AS _prev
    FROM events ev JOIN _nudge_lanes l ON l.member_id = ev.member_id
  ) e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= e._now
    AND e.ts > e._prev
),
-- per-candidate aggregates of the purchased events before it
s0 AS (
  SELECT c.member_id, c.seq, c.due_at,
         avg(e.amount) AS a0,
         count(*) AS a1
  FROM cand c
  JOIN _nudge_scope_events e ON e.member_id = c.member_id
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts < c.ts
  GROUP BY c.member_id, c.seq, c.due_at
)
SELECT c.member_id,
       c.seq AS trigger_seq,
       c.due_at,
       c.amount AS v0,
       s0.a0 AS v1,
       COALESCE(s0.a1, 0) AS v2
FROM cand c
JOIN _nudge_scope_members m ON m.member_id = c.member_id AND m.brand = $brand::VARCHAR
LEFT JOIN s0 ON s0.seq = c.seq AND s0.due_at = c.due_at AND s0.member_id = c.member_id
WHERE c.amount > (1.5 * s0.a0)
  AND COALESCE(s0.a1, 0) >= 3

