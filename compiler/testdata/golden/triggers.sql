-- rule any_store (trigger)  testdata/triggers.nudge:6
-- a queue at one of three stores
--   v0 = queued.store
--   v1 = queued.channel
WITH
-- candidates: queued at store "A" and 2 more atoms of queued
cand AS (
  SELECT e.*, e.ts AS due_at
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'queued'
    AND (
      COALESCE(e.store = 'A', false)
      OR COALESCE(e.store = 'B', false)
      OR (COALESCE(e.store = 'C', false) AND COALESCE(e.channel = 'app', false))
    )
    AND e.ts <= $now::TIMESTAMP
    AND e.seq > $wm_seq_0::BIGINT
  UNION ALL
  SELECT e.*, e.ts AS due_at
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'queued'
    AND (
      COALESCE(e.store = 'A', false)
      OR COALESCE(e.store = 'B', false)
      OR (COALESCE(e.store = 'C', false) AND COALESCE(e.channel = 'app', false))
    )
    AND e.ts <= $now::TIMESTAMP
    AND e.seq <= $wm_seq_0::BIGINT
    AND e.ts > $wm_now_0::TIMESTAMP
)
SELECT c.member_id,
       c.seq AS trigger_seq,
       c.due_at,
       c.store AS v0,
       c.channel AS v1
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
      AND c.type = 'queued'
      AND COALESCE(c.store = 'B', false)
    )
    OR (
      c.due_at = c.ts
      AND c.type = 'queued'
      AND COALESCE(c.store = 'C', false)
      AND COALESCE(c.channel = 'app', false)
    )
  );

-- rule mixed (trigger)  testdata/triggers.nudge:12
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
    AND e.seq > $wm_seq_1::BIGINT
  UNION ALL
  SELECT e.*, e.ts AS due_at
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'queued'
    AND e.store = 'A'
    AND e.ts <= $now::TIMESTAMP
    AND e.seq <= $wm_seq_1::BIGINT
    AND e.ts > $wm_now_1::TIMESTAMP
),
-- candidates: booked at store "A" and 1 more atom of booked
cand_1 AS (
  SELECT e.*, e.ts AS due_at
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'booked'
    AND e.ts <= $now::TIMESTAMP
    AND e.seq > $wm_seq_1::BIGINT
  UNION ALL
  SELECT e.*, e.ts AS due_at
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'booked'
    AND e.ts <= $now::TIMESTAMP
    AND e.seq <= $wm_seq_1::BIGINT
    AND e.ts > $wm_now_1::TIMESTAMP
),
-- candidates: order_placed not followed by paid matching order_id within 2 hours
cand_2 AS (
  SELECT e.*, (e.ts + INTERVAL 2 HOUR) AS due_at
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'order_placed'
    AND (e.ts + INTERVAL 2 HOUR) <= $now::TIMESTAMP
    AND e.seq > $wm_seq_1::BIGINT
  UNION ALL
  SELECT e.*, (e.ts + INTERVAL 2 HOUR) AS due_at
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'order_placed'
    AND (e.ts + INTERVAL 2 HOUR) <= $now::TIMESTAMP
    AND e.seq <= $wm_seq_1::BIGINT
    AND e.ts > ($wm_now_1::TIMESTAMP - INTERVAL 2 HOUR)
    AND (e.ts + INTERVAL 2 HOUR) > $wm_now_1::TIMESTAMP
),
-- every candidate event once
cand AS (
  SELECT * FROM cand_0
  UNION ALL
  SELECT * FROM cand_1
  UNION ALL
  SELECT * FROM cand_2
)
SELECT c.member_id,
       c.seq AS trigger_seq,
       c.due_at,
       c.store AS v0
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
    OR (c.due_at = c.ts AND c.type = 'booked')
    OR (
      c.due_at = (c.ts + INTERVAL 2 HOUR)
      AND c.type = 'order_placed'
      AND NOT EXISTS (
        SELECT 1
        FROM events e1
        WHERE e1.brand = $brand::VARCHAR
          AND e1.member_id = c.member_id
          AND e1.type = 'paid'
          AND e1.ts > c.ts
          AND e1.ts <= c.due_at
          AND e1.order_id = c.order_id
      )
    )
  );
