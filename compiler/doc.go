// Package compiler turns a checked nudge program (lang/check.Info) into DuckDB
// SQL: one set-based query per rule that returns the rule's candidate firings.
// It owns SQL generation and quoting (one builder, one place where literals
// become SQL) and nothing else: it does not open databases, apply policies or
// write the outbox (runtime does), and it never evaluates rows in Go.
//
// # Entry points
//
// Compile translates every rule of a program (see Rule for the columns and
// parameters of its query); CompileCondition translates one state condition
// into an audience query for the REPL; Explain renders the queries for
// `nudge explain`.
//
// # Query shapes
//
// A state rule reads members m of the brand. Per-member aggregates whose
// filters only read the event (count, sum, avg, min, max, days since, and
// windowed existence tests) are computed by one GROUP BY member_id per event
// type (CTEs s0, s1, ...), with one column per aggregate and FILTER clauses
// for what the columns do not share, LEFT JOINed to members. In a trigger
// rule they are grouped the same way per candidate event instead (one join
// of cand with its member's events up to its due time; `before` columns
// keep only those strictly before it). Aggregates whose filters read the
// member, a segment or another aggregate are correlated subqueries, which
// DuckDB decorrelates into joins.
//
// A trigger rule first selects its candidate events (CTE cand): per trigger
// atom the events of its type and simple filters that are due (due_at <=
// $now: the event's ts, or A.ts + within for `A not followed by B`) and not
// considered by an earlier run; several atoms are combined with UNION. The
// rest of the condition is evaluated per candidate c joined to its member m,
// at c.due_at (SPEC §5: whether a trigger rule fires never depends on when
// or how often ticks run): a trigger atom is "c is an event this atom fires
// for" (its type, all its filters and its due_at), `before` means e.ts <
// c.ts (strictly: events at the same instant are not before), and every
// other window, `days since` and aggregate ends at c.due_at where a state
// rule's ends at $now. Only events of members present in members (for the
// brand) fire.
//
// Every read of members, events and member_tags filters brand =
// $brand::VARCHAR.
//
// # Semantic decisions (SPEC §5 leaves these to the implementation)
//
//   - NULL: a condition is never NULL. Comparisons, between and in compile to
//     COALESCE(<sql>, false), so a comparison with NULL is false and `not` of
//     it is true (`not (days since last purchased > 90)` holds for a member
//     who never purchased). Boolean fields and functions that are NULL count
//     as false; and/or/not are then two-valued. In WHERE and FILTER
//     conjunctions the COALESCE is dropped (NULL already rejects a row there)
//     so DuckDB can push the predicate into its scans.
//   - `x in (...)` and `x not in (...)` are both false when x is NULL.
//   - Division by zero gives NULL (DuckDB would give infinity).
//   - Durations: minutes, hours, days and weeks are fixed lengths (a day is
//     24 hours, a week 7 days); months and years are calendar intervals, so
//     `in last 1 month` at March 31 starts after February 29 (DuckDB clamps to
//     the month's end). Limits (`limit ... every D`), which runtime compares
//     as Go durations, count a month as 30 days and a year as 365 days, as
//     caps do.
//   - `days since last|first X` is floor((now - ts) / 24h) over the
//     latest/earliest matching event with ts <= now, computed in
//     microseconds; NULL when there is none.
//   - count(...) of nothing is 0; sum/avg/min/max of nothing (or of only
//     NULL values) are NULL; sum and avg skip NULL values.
//   - `A not followed by B matching f`: a B whose f is NULL, or an A whose f
//     is NULL, never matches (SQL equality), so such an A fires. B must come
//     strictly after A (a B at the same instant does not count) and at most
//     at A.ts + within (inclusive).
//   - A trigger rule's condition is evaluated at the firing's due time
//     (the event's ts; A.ts + within for `A not followed by B`), not at the
//     tick's $now: `in last N` is due_at - N < ts <= due_at, `ever` and
//     windowless aggregates are ts <= due_at, `days since` counts to
//     due_at. An event at exactly the due time counts (as an event at $now
//     counts for a state rule), the triggering event included:
//     `queued and count(queued in last 1 day) >= 3` fires at the third
//     queue of a day. `before` stays strictly before the triggering event's
//     ts. Events after the due time are never seen, even when a later tick
//     has them.
//   - Builtin functions in a trigger rule read `now` as the due time too:
//     days_since, hours_since, birthday_in and age describe the member at
//     the moment of the event (`queued and birthday_in(0 days)` holds for
//     a queue on the birthday, whenever the tick runs). Functions that rank
//     the member among all the brand's members (rfm_r/f/m,
//     spend_percentile) are read at the tick's $now, as member fields and
//     tags are: DuckDB cannot correlate their table macros with each
//     candidate's due time. Member fields and tags are read as they are at
//     the tick.
//   - Event fields outside the events columns are read from props and member
//     fields outside the members columns from attrs, with
//     TRY_CAST(json_extract_string(...)): a malformed value reads as NULL
//     instead of failing the rule, and so does a number that is not finite
//     ("NaN", "inf", "1e999", which DuckDB reads as numbers).
//   - Arithmetic and comparisons of numbers never fail a query
//     (number.go): exact (BIGINT, DECIMAL) while the bounds of the
//     operands prove the result fits, else in DOUBLE; a result that may
//     not be finite reads as NULL when it is not.
//   - Function calls expand the check.Function SQL template in one pass, so
//     text inside an argument is never re-expanded.
//
// # Quoting
//
// Literals from rule text reach SQL only through sqlquote.String (single
// quotes doubled; control characters spliced in with chr(n) so a literal
// never spans lines; NUL and invalid UTF-8 rejected with a diagnostic),
// sqlquote.Ident, and numberSQL, dateSQL and intervalSQL in sql.go. The
// runtime quotes with the same package. Runtime
// values (now, brand, watermarks) are always bound parameters, whose names
// the compiler chooses where it builds the SQL: each rule's watermarks have
// names of their own (Rule.Watermarks) so that the runtime can run several
// rules in one statement without touching their text. Rule text copied
// into SQL comments (titles, labels) goes through commentSQL: no line
// break can end the comment early.
package compiler
