// Package runtime owns everything that touches the database file at run time:
// opening it (versioned migrations, the process lock), importing members and
// events, evaluating compiled rules at ticks, applying the policies of SPEC §5
// (limits, dedupe, holdout, consent, stop-after, caps, quiet hours), writing
// the outbox, and dispatching sends to sinks.
//
// Entry points: Open (OpenReadOnly and OpenScratch for commands that only
// read, readonly.go), (*DB).Import, (*DB).Run, (*DB).Watch, (*DB).Dispatch,
// ParseSink; (*DB).Replay runs a day's ticks in rounds for simulations
// (internal/tick/replay.go).
//
// # Ticks
//
// A tick evaluates each rule only for the members whose verdict may have
// changed since the rule's previous tick, with the same decisions as an
// evaluation of every member (see internal/tick/02_plan.go and
// RunOptions.EvaluateAll).
//
// A tick is one transaction. Rules are evaluated set-based: each rule's query
// (compiler.Rule.SQL) feeds an INSERT ... SELECT into a per-tick candidate
// table, and every policy is a SQL statement over that table; Go never loops
// over members. The steps are the files of internal/tick, one per step,
// named in the order they run (its package comment lists them); what each
// policy means (its SQL, constants and status) is package policy, which
// `nudge why` and `nudge simulate` use too. The steps, each timed in
// RunResult.Timings:
//
//  0. arrivals, when events wait for their member (00_arrivals.go): those
//     whose member arrived, within the lookback, get new seqs, so that the
//     trigger rules' watermarks take them as just ingested.
//  1. evaluate: run every rule query with $now, $brand and the rule's
//     watermarks (first run: wm_seq = MaxInt64, wm_now = now - lookback);
//     the rules evaluated for the scope's members in one statement, a rule
//     evaluated over every member in one of its own; a scoped rule with no
//     member in the scope is skipped. A tick in which nothing fired skips
//     the steps after the policies up to the watermarks. A program whose
//     rules read tags other rules write has strata (compiler.Rule.Stratum,
//     SPEC §5 Actions): the rules of stratum 0 are evaluated, the tag and
//     untag actions of their firings (after limits and dedupe, step 2)
//     applied to member_tags, then stratum 1 is evaluated and sees them,
//     and so on (a retry of a refused state firing applies its tags in step
//     6 instead, unless refused again: see stratumTags in 14_tags.go); the
//     steps below then run once over every stratum's
//     candidates, so caps compete by priority across strata. A program with
//     one stratum evaluates every rule at once. A rule that reads
//     tags has no Delta (it is evaluated over every member at every tick)
//     and a trigger rule reads its members' tags in the tick's transaction,
//     so a tag applied by an earlier stratum is always seen: the scope needs
//     no part for it. Replay declines programs with strata.
//  2. limits and dedupe: a firing is (rule, member, dedupe key); the key is
//     the trigger event's seq, or the run's now for state rules. Keys already
//     in the outbox are dropped; limits read rule_members (the latest firing
//     and the latest effective firing per rule and member); a limited rule
//     fires once per member per tick (the earliest candidate).
//  3. policies, in SPEC order, for sends: held_out (md5 of rule and member,
//     mod 10000, below P*100), no_consent (members.consent_<channel> not
//     true; an unknown channel has no consent column and so no consent),
//     gave_up (N sends of the rule to the member since the member's last
//     event, each counted once its 7 days passed: policy.StopAfterSQL, which `nudge
//     why` runs too), capped, then scheduled (quiet hours) or pending.
//     tag/untag are applied, notify is pending.
//  4. caps: the member's sends on the channel (all channels for `cap all`)
//     with status pending, scheduled or sent and fired_at in (now - D, now]
//     count; new sends compete in the order priority desc, rule name, due
//     time, action; a capped send does not count against later ones. The
//     greedy verdict is computed by a set-based fixed point (see applyCaps in 10_caps.go).
//  5. repeated refusals: a firing whose sends were all capped or no_consent
//     is not effective and does not use up the rule's limit, so a state rule
//     tries again every tick. A refusal right after a refusal of the same
//     state rule and member is not recorded again (RuleSummary.Repeats
//     counts them); otherwise every tick would add a row per refused member.
//     Its tags are not applied again either, with or without strata.
//     Likewise a send given up on again (the rule already gave up on the
//     member since the member's last event) is not recorded: a firing with
//     only such sends is a repeat that uses up the limit as the give-up did
//     (rule_members notes it as effective), so a periodic rule keeps its
//     period and an incremental tick its scope; the give-up is recorded
//     once, and an event of the member starts the count again.
//  6. write: outbox rows (one per action; step 5's anti-join with the
//     outbox keeps a firing from being written twice, the table has no key),
//     rule_members, member_tags (untag wins over tag of the same tag in one
//     tick; with strata, within one stratum, applied in step 1),
//     rule_state watermarks (max seq seen, max now), and the runs row.
//
// Dry runs do all of this and roll the transaction back.
//
// # Firing and idempotency keys
//
// firing_id is "f" + the first 16 hex digits of md5(brand, rule, member,
// dedupe key): stable across reruns and machines, and distinct between two
// brands' programs that both have a rule of that name and a member of that
// id. A send's idempotency key is firing_id + "-" + action index.
//
// # Brands
//
// A member is (brand, member_id) (SPEC §5): members are keyed by both, and
// every read of the outbox, rule_members, member_tags or members that a
// tick, a replay, why or report makes by member also compares the brand.
// The holdout hash stays md5(rule, member): it reads no other brand's data,
// and keeps the control groups of files written before.
//
// # Dispatch
//
// After the commit, the brand's due messages are handed to the sinks:
// pending sends and notifies (new, or waiting for a retry) and scheduled
// ones whose time has come; sends to every unnamed sink, `notify "x"` to the
// sink named x (`x=webhook:URL`). Rows no sink can take stay as they are.
// Every dispatch first runs the delivery re-check (tick.Recheck, the one
// place it lives, with the quiet hours and caps of the program that
// dispatches):
//
//   - consent: a send whose member's consent_<channel> is no longer true
//     ends no_consent, reason "consent_<channel> withdrawn before
//     delivery", final (SPEC §9: an opt-out found at dispatch refuses the
//     send, no re-routing). The firing keeps its use of the rule's limit: it
//     was decided with consent and the member said no since; a state rule
//     does not chase them again when they opt back in. A no_consent send no
//     longer counts toward caps.
//   - expiry: there is no `expire after` yet; it belongs here.
//   - quiet hours: when the dispatch's now is in quiet hours no send goes
//     out, whatever made it late (a failed attempt, a run without sinks);
//     the rows are not changed, and the first dispatch after the quiet
//     period delivers them. Notifies go to staff and are not held.
//   - caps, per sink: a send goes to a sink only while the member's
//     deliveries on that sink in each cap's window (delivery instants, the
//     dispatching run's now) leave room, older sends first. The tick's caps
//     count decisions by fired_at; a send delayed by retries or quiet hours
//     can go out next to a newer one, and this keeps what a member receives
//     within the caps. A send kept back stays pending.
//
// Each sink gets each message once: outbox_deliveries records which sink
// (SinkID) took which message, in the transaction that records the
// attempt, so a failing webhook retried at later ticks does not resend to
// a healthy jsonl sink (at-least-once only across crashes). A row is sent
// when every sink it goes to has it. A failed attempt counts and leaves the
// row pending (it still counts toward caps) with its last error; the
// MaxAttempts-th failed attempt ends it failed, final (SPEC §5). Webhooks
// retry within a dispatch with backoff, honour Retry-After on 429 and 503
// (a wait past the budget fails the attempt at once) and never follow a
// redirect: a 3xx fails naming its location. Dispatch is bounded by a time
// budget; what it did not try stays for the next tick.
//
// # Times
//
// Times are naive wall-clock times in the data's zone (SPEC §5). The package
// represents them as time.Time values in UTC whose wall clock is the naive
// time; Run normalises RunOptions.Now the same way, and JSON shows them
// without a zone. The data's zone is the database's time zone (timezone.go:
// UTC unless the first import that gives one, `--tz`, recorded another).
// Import converts a timestamp with an offset, Z or a zone name into it, the
// same way for CSV, JSON and Parquet (JSON's own timestamp detection is
// turned off so that its text goes through the same conversion); a naive
// timestamp is stored as it is.
package runtime
