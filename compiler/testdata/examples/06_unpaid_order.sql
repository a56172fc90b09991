-- rule pay_reminder (trigger)  ../examples/06_unpaid_order.nudge:13
-- Remind unpaid orders after 2 hours
WITH
-- candidates: order_placed not followed by paid matching order_id within 2 hours
cand AS (
  SELECT e.*, (e.ts + INTERVAL 2 HOUR) AS due_at
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'order_placed'
    AND (e.ts + INTERVAL 2 HOUR) <= $now::TIMESTAMP
    AND e.seq > $wm_seq_0::BIGINT
  UNION ALL
  SELECT e.*, (e.ts + INTERVAL 2 HOUR) AS due_at
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'order_placed'
    AND (e.ts + INTERVAL 2 HOUR) <= $now::TIMESTAMP
    AND e.seq <= $wm_seq_0::BIGINT
    AND e.ts > ($wm_now_0::TIMESTAMP - INTERVAL 2 HOUR)
    AND (e.ts + INTERVAL 2 HOUR) > $wm_now_0::TIMESTAMP
)
SELECT c.member_id,
       c.seq AS trigger_seq,
       c.due_at,
       c.order_id AS p0,
       c.amount AS p1
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

-- journey unpaid_followup (enter on)  ../examples/06_unpaid_order.nudge:24
-- Big unpaid orders: a second reminder, SMS or WeChat
-- entry
WITH
-- candidates: order_placed where amount >= 200
cand AS (
  SELECT e.*, e.ts AS due_at
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'order_placed'
    AND e.amount >= 200
    AND e.ts <= $now::TIMESTAMP
    AND e.seq > $jwm_seq_0::BIGINT
  UNION ALL
  SELECT e.*, e.ts AS due_at
  FROM events e
  WHERE e.brand = $brand::VARCHAR
    AND e.type = 'order_placed'
    AND e.amount >= 200
    AND e.ts <= $now::TIMESTAMP
    AND e.seq <= $jwm_seq_0::BIGINT
    AND e.ts > $jwm_now_0::TIMESTAMP
)
SELECT c.member_id,
       c.seq AS trigger_seq,
       c.due_at,
       c.amount AS v0
FROM cand c
JOIN members m ON m.member_id = c.member_id AND m.brand = $brand::VARCHAR;
-- exit when: a condition over the instance ji (member_id, entered_at, entry_seq, due_at: the instant) and its member m
SELECT EXISTS (
  SELECT 1
  FROM events e1
  WHERE e1.brand = $brand::VARCHAR
    AND e1.member_id = ji.member_id
    AND e1.type = 'paid'
    AND e1.ts <= ji.due_at
    AND e1.ts > ji.entered_at
    AND e1.order_id = (SELECT q.order_id FROM events q WHERE q.seq = ji.entry_seq)
);
