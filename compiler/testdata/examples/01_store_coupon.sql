-- rule store_a_coupon (trigger)  ../examples/01_store_coupon.nudge:17
-- Coupon for store A visitors
--   v0 = event.store
WITH
-- candidates: queued at store "A"
cand_0 AS (
  SELECT e.*, e.ts AS due_at
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'queued'
    AND e.store = 'A'
    AND e.ts <= $now::TIMESTAMP
    AND e.seq > $wm_seq_0::BIGINT
  UNION ALL
  SELECT e.*, e.ts AS due_at
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'queued'
    AND e.store = 'A'
    AND e.ts <= $now::TIMESTAMP
    AND e.seq <= $wm_seq_0::BIGINT
    AND e.ts > $wm_now_0::TIMESTAMP
),
-- candidates: booked at store "A"
cand_1 AS (
  SELECT e.*, e.ts AS due_at
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'booked'
    AND e.store = 'A'
    AND e.ts <= $now::TIMESTAMP
    AND e.seq > $wm_seq_0::BIGINT
  UNION ALL
  SELECT e.*, e.ts AS due_at
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'booked'
    AND e.store = 'A'
    AND e.ts <= $now::TIMESTAMP
    AND e.seq <= $wm_seq_0::BIGINT
    AND e.ts > $wm_now_0::TIMESTAMP
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
JOIN members m ON m.member_id = c.member_id AND m.brand = $brand::VARCHAR
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
  );
