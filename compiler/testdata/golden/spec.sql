-- rule store_a_coupon (trigger)  testdata/spec.nudge:9
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
  );

-- rule new_dish_voucher (state)  testdata/spec.nudge:14
--   v0 = member.city
-- re-evaluates members with new events or events visited due, visited 3 month ago
WITH
-- per-member aggregates of visited events
s0 AS (
  SELECT e.member_id,
         count(*) AS a0
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'visited'
    AND e.ts <= $now::TIMESTAMP
    AND e.ts > $now::TIMESTAMP + INTERVAL (-3) MONTH
  GROUP BY e.member_id
)
SELECT m.member_id,
       NULL::BIGINT AS trigger_seq,
       NULL::TIMESTAMP AS due_at,
       m.city AS v0
FROM members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND COALESCE(s0.a0, 0) >= 1
  AND m.city = '长沙';

-- rule spending_spike (trigger)  testdata/spec.nudge:18
--   v0 = purchased.amount
--   v1 = avg(purchased.amount before)
--   v2 = count(purchased before)
WITH
-- candidates: purchased where amount > 1.5 * avg(purchased.amount before) and count(purchased before) >= 3
cand AS (
  SELECT e.*, e.ts AS due_at
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= $now::TIMESTAMP
    AND e.seq > $wm_seq_2::BIGINT
  UNION ALL
  SELECT e.*, e.ts AS due_at
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= $now::TIMESTAMP
    AND e.seq <= $wm_seq_2::BIGINT
    AND e.ts > $wm_now_2::TIMESTAMP
),
-- per-candidate aggregates of the purchased events before it
s0 AS (
  SELECT c.seq, c.due_at,
         avg(e.amount) AS a0,
         count(*) AS a1
  FROM cand c
  JOIN events e ON e.member_id = c.member_id
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts < c.ts
  GROUP BY c.seq, c.due_at
)
SELECT c.member_id,
       c.seq AS trigger_seq,
       c.due_at,
       c.amount AS v0,
       s0.a0 AS v1,
       COALESCE(s0.a1, 0) AS v2
FROM cand c
JOIN members m ON m.member_id = c.member_id AND m.brand = $brand::VARCHAR
LEFT JOIN s0 ON s0.seq = c.seq AND s0.due_at = c.due_at
WHERE c.amount > (1.5 * s0.a0)
  AND COALESCE(s0.a1, 0) >= 3;

-- rule dormancy_reminder (state)  testdata/spec.nudge:23
--   v0 = days since last purchased
-- re-evaluates members with new events or events purchased due, purchased 90 day ago, purchased 91 day ago
WITH
-- per-member aggregates of purchased events
s0 AS (
  SELECT e.member_id,
         max(e.ts) AS a0
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= $now::TIMESTAMP
  GROUP BY e.member_id
)
SELECT m.member_id,
       NULL::BIGINT AS trigger_seq,
       NULL::TIMESTAMP AS due_at,
       (date_diff('microsecond', s0.a0, $now::TIMESTAMP) // 86400000000) AS v0
FROM members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND (date_diff('microsecond', s0.a0, $now::TIMESTAMP) // 86400000000) > 90;

-- rule ladder_30 (state)  testdata/spec.nudge:29
--   v0 = days since first purchased
--   v1 = count(purchased ever)
-- re-evaluates members with new events or events purchased due, purchased 30 day ago, purchased 31 day ago, purchased 44 day ago, purchased 45 day ago
WITH
-- per-member aggregates of purchased events
s0 AS (
  SELECT e.member_id,
         min(e.ts) AS a0,
         count(*) AS a1
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= $now::TIMESTAMP
  GROUP BY e.member_id
)
SELECT m.member_id,
       NULL::BIGINT AS trigger_seq,
       NULL::TIMESTAMP AS due_at,
       (date_diff('microsecond', s0.a0, $now::TIMESTAMP) // 86400000000) AS v0,
       COALESCE(s0.a1, 0) AS v1
FROM members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND (date_diff('microsecond', s0.a0, $now::TIMESTAMP) // 86400000000) BETWEEN 30 AND 44
  AND COALESCE(s0.a1, 0) = 1;

-- rule pay_reminder (trigger)  testdata/spec.nudge:33
WITH
-- candidates: order_placed not followed by paid matching order_id within 2 hours
cand AS (
  SELECT e.*, (e.ts + INTERVAL 2 HOUR) AS due_at
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'order_placed'
    AND (e.ts + INTERVAL 2 HOUR) <= $now::TIMESTAMP
    AND e.seq > $wm_seq_5::BIGINT
  UNION ALL
  SELECT e.*, (e.ts + INTERVAL 2 HOUR) AS due_at
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'order_placed'
    AND (e.ts + INTERVAL 2 HOUR) <= $now::TIMESTAMP
    AND e.seq <= $wm_seq_5::BIGINT
    AND e.ts > ($wm_now_5::TIMESTAMP - INTERVAL 2 HOUR)
    AND (e.ts + INTERVAL 2 HOUR) > $wm_now_5::TIMESTAMP
)
SELECT c.member_id,
       c.seq AS trigger_seq,
       c.due_at
FROM cand c
JOIN members m ON m.member_id = c.member_id AND m.brand = $brand::VARCHAR
WHERE NOT EXISTS (
    SELECT 1
    FROM events e1
    WHERE e1.brand = $brand::VARCHAR
      AND e1.member_id = c.member_id
      AND e1.type = 'paid'
      AND e1.ts > c.ts
      AND e1.ts <= c.due_at
      AND e1.order_id = c.order_id
  );

-- rule birthday (state)  testdata/spec.nudge:37
-- re-evaluates members with new events; on a new day, members whose date conditions changed
SELECT m.member_id,
       NULL::BIGINT AS trigger_seq,
       NULL::TIMESTAMP AS due_at
FROM members m
WHERE m.brand = $brand::VARCHAR
  AND (nudge_birthday_in(m.birthday, $now::TIMESTAMP, INTERVAL 0 DAY));

-- rule d11_cashback_gold (state)  testdata/spec.nudge:42
--   v0 = member.tier
--   v1 = sum(purchased.amount in last 365 days)
-- re-evaluates members with new events or events purchased due, purchased 365 day ago
WITH
-- per-member aggregates of purchased events
s0 AS (
  SELECT e.member_id,
         count(*) AS a0,
         sum(e.amount) AS a1
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= $now::TIMESTAMP
    AND e.ts > $now::TIMESTAMP - INTERVAL 365 DAY
  GROUP BY e.member_id
)
SELECT m.member_id,
       NULL::BIGINT AS trigger_seq,
       NULL::TIMESTAMP AS due_at,
       m.tier AS v0,
       s0.a1 AS v1
FROM members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND m.tier = 'gold'
  AND COALESCE(s0.a0, 0) >= 3
  AND s0.a1 >= 500;

-- rule toothbrush_refill (state)  testdata/spec.nudge:47
--   v0 = days since last purchased of sku "TB-10PK"
-- re-evaluates members with new events or events purchased due, purchased 330 day ago, purchased 331 day ago, purchased 340 day ago, purchased 341 day ago
WITH
-- per-member aggregates of purchased events
s0 AS (
  SELECT e.member_id,
         max(e.ts) AS a0
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'purchased'
    AND e.ts <= $now::TIMESTAMP
    AND e.sku = 'TB-10PK'
  GROUP BY e.member_id
)
SELECT m.member_id,
       NULL::BIGINT AS trigger_seq,
       NULL::TIMESTAMP AS due_at,
       (date_diff('microsecond', s0.a0, $now::TIMESTAMP) // 86400000000) AS v0
FROM members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND (date_diff('microsecond', s0.a0, $now::TIMESTAMP) // 86400000000) BETWEEN 330 AND 340;
