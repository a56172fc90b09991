// Package tickform holds what the compiler produces for the runtime's tick
// alone: the forms of a rule's query that a tick evaluates instead of
// compiler.Rule.SQL (Forms, the field Tick of compiler.Rule), and the names
// of the temporary tables, columns and row aliases those forms and the
// journeys' conditions read, which the tick creates.
//
// A tick (runtime/internal/tick) evaluates a rule only for some members,
// and a replay for many (member, instant) pairs at once: Forms.ScopedSQL
// reads ScopeMembers and ScopeEvents, Forms.LaneSQL reads Lanes and scope
// copies carrying LaneNow and LanePrev, and Forms.Delta says for which
// members a state rule's verdict may have changed (its DailyAtoms compared
// at ThenRow). A journey's conditions read the instance row JourneyRow.
//
// Only package compiler, which produces these, and package runtime and the
// packages under it, which consume them, may import tickform; the three
// change together. Go's internal/ rule only keeps it inside the module:
// importers_test.go fails when another package imports it. Everything else
// reads compiler.Rule.SQL.
package tickform

import (
	"slices"
	"strings"
)

// ThenRow is the alias of the row DailyAtom.Then reads its instant from,
// in its column ts (TIMESTAMP): the caller joins it, for example
// (SELECT $t0::TIMESTAMP AS ts) AS _nudge_then. A column rather than a
// parameter, so that one statement can compare atoms at several instants.
const ThenRow = "_nudge_then"

// Names of the tables the rules' Forms.ScopedSQL and every Forms.LaneSQL
// read instead of members and events (RuleScope).
const (
	ScopeMembers = "_nudge_scope_members"
	ScopeEvents  = "_nudge_scope_events"
)

// Scope names the two tables a scoped form (Forms.ScopedSQL) reads instead
// of members and events: the tick copies the rows of the members it
// evaluates into them. The compiler takes the scope as a parameter of the
// scoped form, so that copies with different members can stand side by
// side in one tick.
type Scope struct {
	Members, Events string
}

// The scopes of the scoped forms: RuleScope the rules' (which the policy
// steps also read), JourneyScope the journeys' entry rules' (one copy for
// all of a tick's journeys).
var (
	RuleScope    = Scope{Members: ScopeMembers, Events: ScopeEvents}
	JourneyScope = Scope{Members: JourneyScopeMembers, Events: JourneyScopeEvents}
)

// Names of the tables of JourneyScope.
const (
	JourneyScopeMembers = "_nudge_jscope_members"
	JourneyScopeEvents  = "_nudge_jscope_events"
)

// The lane form (Forms.LaneSQL) evaluates a rule for many (member, instant)
// pairs, lanes, in one statement. Lanes lists them: columns lane (VARCHAR,
// the lane's id, unique), member_id (VARCHAR), now and prev (TIMESTAMP: the
// instant and the one before it, whose trigger events were already
// considered). ScopeMembers and ScopeEvents then hold one copy of the
// member's row and events per lane, with member_id replaced by the lane's
// id and its instant in the column LaneNow; LaneSQL returns lane ids in
// member_id.
const (
	Lanes    = "_nudge_lanes"
	LaneNow  = "_now"
	LanePrev = "_prev"
)

// JourneyRow is the alias of the instance row journey conditions read (see
// compiler/journey.go).
const JourneyRow = "ji"

// Forms are the forms of one rule's query that a tick evaluates besides
// the query itself (compiler.Rule.SQL), in compiler.Rule.Tick.
type Forms struct {
	// ScopedSQL is the rule's query over the temporary tables of Scope
	// (RuleScope for a rule, JourneyScope for a journey's entry rule),
	// which the runtime fills with the rows of the members
	// a tick must evaluate (every event of each of them): same parameters
	// and columns as compiler.Rule.SQL. For a trigger rule those are the members of its
	// candidate events; for a state rule, the members Delta names. Functions
	// that rank a member among all members still read the whole tables, and
	// a trigger rule's candidate events come from the events table (few, and
	// found there by ranges of seq and ts). "" for a state rule without a
	// Delta.
	ScopedSQL string
	// ScopeEventReads maps each event type ScopedSQL reads from Scope.Events
	// to the columns of events it reads of events of that type (besides
	// seq, member_id, brand, type and ts, which it always reads; sorted):
	// the runtime copies only the events of those types, and of each only
	// those columns.
	ScopeEventReads map[string][]string
	// ScopeEventsSince maps each type of ScopeEventReads of which
	// ScopedSQL reads only events after a bound (every read of it is `in
	// last N`, or a trigger's `not followed by` it) to the SQL of the
	// earliest such bound (over $now and CandidatesFrom, a ts strictly
	// after which is read): the runtime copies only the events of that
	// type after it. Types read without a bound (ever, `days since last`,
	// before a candidate) are absent.
	ScopeEventsSince map[string]string
	// LaneSQL is ScopedSQL in the lane form: the rule evaluated at once for
	// every lane of the table Lanes, each at its own instant, over scope
	// copies holding a copy of the member's row and events per lane (see
	// Lanes). It takes the brand parameter only: the instant of a row is
	// its column LaneNow, and a trigger rule's candidates are the events of
	// the lane's member that became due in (prev, now] (every event is
	// taken as already ingested: the lane form serves replays over stored
	// history). Same columns as compiler.Rule.SQL, member_id holding the lane's id; ""
	// when ScopedSQL is.
	LaneSQL string
	// Delta, for a state rule, bounds how its verdict can change between
	// runs (see Delta); nil for trigger rules and for state rules that
	// must be evaluated over every member at every run.
	Delta *Delta
}

// EarliestBound is the SQL of the earliest of the lower bounds on ts
// bounds (SQL of ScopeEventsSince, at least one): the one bound when they
// are all the same, else their least.
func EarliestBound(bounds []string) string {
	bounds = slices.Compact(slices.Sorted(slices.Values(bounds)))
	if len(bounds) == 1 {
		return bounds[0]
	}
	return "least(" + strings.Join(bounds, ", ") + ")"
}

// CandidatesFrom stands, in a bound of Forms.ScopeEventsSince, for the
// earliest ts of the trigger rule's candidate events at the tick (a
// `not followed by` reads only events after its candidate's ts). The
// runtime replaces it by a literal, or takes the type as unbounded.
const CandidatesFrom = "$_nudge_candidates_from"

// Delta bounds how the verdict of a state rule can change between two runs,
// so that the runtime can re-evaluate only the members whose verdict may
// have changed instead of every member (SPEC §5 evaluates a state rule over
// all members at every run; the firings are the same, see runtime's
// incremental evaluation).
//
// Between a run at t0 and a run at t1 a member's verdict can only change
// when one of these happened:
//   - the member's row changed (an import of members): the runtime
//     re-evaluates everyone;
//   - an event of the member was ingested after the run at t0 (events.seq
//     above the watermark);
//   - an event of a watched type entered or left a window as time passed:
//     its ts lies in [t0 - Back, t1 - Back] for one of Watches;
//   - the date changed (Daily) and the condition calls a function of the
//     date (birthday_in, age, days_since of a date): the runtime
//     re-evaluates everyone.
//
// A rule whose verdict can change in other ways (tags, percentiles and RFM
// scores that depend on other members, hours_since, `days since` compared
// with anything but a number) has no Delta.
type Delta struct {
	// Watches are the event types and offsets whose events, when their ts
	// crossed a window edge between two runs, may change the verdict.
	Watches []Watch
	// Daily is set when the verdict also depends on the date of now.
	Daily bool
	// DailyAtoms, when Daily is set, are the atoms of the condition that
	// call a function of the date, compiled over the members row m: each
	// reads only the member's row, constants and $now. Between runs on
	// different dates the date can change the verdict only of members for
	// whom one of them changed (the runtime compares them at both runs).
	// Empty when some such call sits in an atom that also reads events or
	// tags (or in a segment): the runtime then re-evaluates everyone.
	DailyAtoms []DailyAtom
}

// DailyAtom is one atom of a condition that calls a function of the date.
type DailyAtom struct {
	SQL string // over the members row m, with $now
	// Then is SQL at the earlier instant ThenRow.ts instead of $now (the
	// runtime compares the two).
	Then string
	// PerMember is set when the atom reads the member's row; otherwise it
	// has one value for everyone (days_since(2024-11-11) = 0), and when
	// that changes, everyone is re-evaluated.
	PerMember bool
}

// Watch is one window edge: events of type Event whose ts lies in
// [t0 - Back, t1 - Back] may have changed a verdict between runs at t0 and
// t1 (Back "" is no offset: events that became due).
type Watch struct {
	Event string
	Back  string // SQL interval such as "INTERVAL 3 MONTH", or ""
}

// String describes the delta on one line for `nudge explain`: which members
// a run re-evaluates.
func (d *Delta) String() string {
	if d == nil {
		return "every run re-evaluates every member"
	}
	var parts []string
	for _, w := range d.Watches {
		if w.Back == "" {
			parts = append(parts, w.Event+" due")
		} else {
			parts = append(parts, w.Event+" "+strings.ToLower(strings.TrimPrefix(w.Back, "INTERVAL "))+" ago")
		}
	}
	s := "re-evaluates members with new events"
	if len(parts) > 0 {
		s += " or events " + strings.Join(parts, ", ")
	}
	switch {
	case d.Daily && len(d.DailyAtoms) > 0:
		s += "; on a new day, members whose date conditions changed"
	case d.Daily:
		s += "; everyone on a new day"
	}
	return s
}

// Over is the scoped form sql, written over the tables of s, over those of
// to instead: one copy of the members' rows can serve two scopes.
func (s Scope) Over(sql string, to Scope) string {
	if s == to {
		return sql
	}
	return strings.NewReplacer(s.Members, to.Members, s.Events, to.Events).Replace(sql)
}
