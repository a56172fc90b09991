-- journey winback (enter on)  ../examples/05_winback_ladder.nudge:13
-- Win back first-time buyers
-- entry
WITH
-- candidates: purchased
cand AS (
  SELECT e.*, e.ts AS due_at
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= $now::TIMESTAMP
    AND e.seq > $jwm_seq_0::BIGINT
  UNION ALL
  SELECT e.*, e.ts AS due_at
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= $now::TIMESTAMP
    AND e.seq <= $jwm_seq_0::BIGINT
    AND e.ts > $jwm_now_0::TIMESTAMP
),
-- per-candidate aggregates of purchased events up to its due time
s0 AS (
  SELECT c.seq, c.due_at,
         count(*) AS a0
  FROM cand c
  JOIN events e ON e.member_id = c.member_id
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= c.due_at
  GROUP BY c.seq, c.due_at
)
SELECT c.member_id,
       c.seq AS trigger_seq,
       c.due_at,
       COALESCE(s0.a0, 0) AS v0
FROM cand c
JOIN members m ON m.member_id = c.member_id AND m.brand = $brand::VARCHAR
LEFT JOIN s0 ON s0.seq = c.seq AND s0.due_at = c.due_at
WHERE COALESCE(s0.a0, 0) = 1;
-- exit when: a condition over the instance ji (member_id, entered_at, entry_seq, due_at: the instant) and its member m
SELECT EXISTS (
  SELECT 1
  FROM events e1
  WHERE e1.brand = $brand::VARCHAR
    AND e1.member_id = ji.member_id
    AND e1.type = 'purchased'
    AND e1.ts <= ji.due_at
    AND e1.ts > ji.entered_at
);
-- if, line 22: a condition over the instance ji (member_id, entered_at, entry_seq, due_at: the instant) and its member m
SELECT COALESCE(m.tier IN ('gold', 'silver'), false);
