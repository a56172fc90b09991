// Package report measures what rules did: it reads the outbox and the
// events of a nudge database and computes, per rule, the decisions by
// status, sends, conversions and revenue within the rule's attribution
// window, the conversion rate of treated firings against the holdout
// (control) group, the lift with a 95% confidence interval, cost and ROI, and
// the time-to-conversion histogram. It renders the result as text (with a
// terminal bar chart), JSON, or one self-contained HTML file with inline SVG.
//
// Entry points: Build computes a Report; (*Report).WriteText, WriteJSON and
// WriteHTML render it. The package only reads the database.
//
// # Definitions
//
// The unit is a firing (one rule, one member, one trigger event or state
// period); a firing's send actions share one status in practice.
//
//   - Treated: firings with a send whose status is sent. When the rule has no
//     sent firing in the period at all (nothing was dispatched: no --sink),
//     firings with a pending or scheduled send count as treated instead; the
//     report says which rule it applied (Treated: "sent" or "pending").
//   - Control: firings whose sends were held_out by `holdout P%`.
//   - Conversion: the member's first event of the rule's conversion type
//     (default `purchased`) matching its filters with due < ts <= due +
//     window, and ts <= the report's end of observation, where due is the
//     firing's due time (the outbox's due_at: the triggering event's time,
//     a `not followed by` deadline, a journey step's due time; a state
//     rule's tick), not the tick that recorded it (fired_at), so a late
//     tick measures what punctual ones do. Revenue is that event's amount.
//     The journeys section counts an instance's sends with the same
//     definition (compiler.Conversion.SendConvertedSQL).
//   - Lift = rate(treated) - rate(control), with a 95% Wald interval
//     diff +- 1.96 sqrt(p1(1-p1)/n1 + p0(1-p0)/n0). It is "too small to
//     conclude" when either group has fewer than MinGroup firings or, under
//     the pooled rate, fewer than 5 expected conversions or non-conversions
//     in a group (the usual validity condition of a normal approximation).
//   - Cost = treated sends x `cost CHANNEL` (0 for channels without a cost);
//     ROI = (treated revenue - cost) / cost, undefined when the cost is 0.
//   - Histogram: days from the firing's due time to conversion of treated
//     firings, in buckets 0, 1, 2, 3, 4-7 and 8+ (whole 24-hour days).
package report
