-- journey d11_promo (enter when)  ../examples/10_double11.nudge:21
-- Double 11: five copies on 1% each, the winner to the rest
-- entry
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
       m.city AS v0,
       s0.a1 AS v1,
       (nudge_days_since(DATE '2024-11-09', $now::TIMESTAMP)) AS v2
FROM members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND m.city IN ('长沙', '上海', '北京', '广州', '深圳', '杭州')
  AND COALESCE(s0.a0, 0) >= 1
  AND s0.a1 >= 60
  AND (nudge_days_since(DATE '2024-11-09', $now::TIMESTAMP)) BETWEEN 0 AND 2;

-- journey d11_waves (enter when)  ../examples/10_double11.nudge:49
-- Double 11 waves: warm-up, deposit, reminders, after-sale care
-- entry
WITH
-- per-member aggregates of purchased events
s0 AS (
  SELECT e.member_id,
         count(*) AS a0
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
       (nudge_days_since(DATE '2024-10-21', $now::TIMESTAMP)) AS v0
FROM members m
LEFT JOIN s0 ON s0.member_id = m.member_id
WHERE m.brand = $brand::VARCHAR
  AND COALESCE(s0.a0, 0) >= 1
  AND (nudge_days_since(DATE '2024-10-21', $now::TIMESTAMP)) < 0;
-- exit when: a condition over the instance ji (member_id, entered_at, entry_seq, due_at: the instant) and its member m
SELECT EXISTS (
  SELECT 1
  FROM events e1
  WHERE e1.brand = $brand::VARCHAR
    AND e1.member_id = ji.member_id
    AND e1.type = 'refunded'
    AND e1.ts <= ji.due_at
    AND e1.ts > ji.entered_at
);
-- wait until, line 56: a condition over the instance ji (member_id, entered_at, entry_seq, due_at: the instant) and its member m
SELECT EXISTS (
  SELECT 1
  FROM events e1
  WHERE e1.brand = $brand::VARCHAR
    AND e1.member_id = ji.member_id
    AND e1.type = 'paid'
    AND e1.ts <= ji.due_at
    AND e1.category = 'deposit'
    AND e1.ts > ji.entered_at
);
-- if, line 57: a condition over the instance ji (member_id, entered_at, entry_seq, due_at: the instant) and its member m
SELECT NOT (EXISTS (
    SELECT 1
    FROM events e1
    WHERE e1.brand = $brand::VARCHAR
      AND e1.member_id = ji.member_id
      AND e1.type = 'paid'
      AND e1.ts <= ji.due_at
      AND e1.category = 'deposit'
      AND e1.ts > ji.entered_at
  ));
-- if, line 61: a condition over the instance ji (member_id, entered_at, entry_seq, due_at: the instant) and its member m
SELECT EXISTS (
  SELECT 1
  FROM events e1
  WHERE e1.brand = $brand::VARCHAR
    AND e1.member_id = ji.member_id
    AND e1.type = 'paid'
    AND e1.ts <= ji.due_at
    AND e1.category = 'deposit'
    AND e1.ts > ji.entered_at
);
-- if, line 65: a condition over the instance ji (member_id, entered_at, entry_seq, due_at: the instant) and its member m
SELECT EXISTS (
  SELECT 1
  FROM events e1
  WHERE e1.brand = $brand::VARCHAR
    AND e1.member_id = ji.member_id
    AND e1.type = 'purchased'
    AND e1.ts <= ji.due_at
    AND e1.ts > ji.entered_at
);
