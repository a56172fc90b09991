package tick

import (
	"strings"

	"nudge/compiler"
	"nudge/runtime/policy"
)

// This file holds what the tick's steps need of the delivery policies of
// SPEC §9 (fallback channels, `with` parameters) to load the program: the
// policies themselves live in runtime/policy and in their steps.

// paramsSQL is the JSON object of rule r's `with` parameters over its
// query q (columns p0, p1, ...; compiler.Param): one object per firing,
// holding the parameters of all its sends (a name given by two sends of
// one rule is the first's). NULL for a rule without parameters.
func paramsSQL(r *compiler.Rule) string {
	var kv []string
	seen := map[string]bool{}
	for _, a := range r.Actions {
		for _, p := range a.Params {
			if seen[p.Name] {
				continue
			}
			seen[p.Name] = true
			kv = append(kv, quoteString(p.Name), "q."+quoteIdent(p.Column))
		}
	}
	if len(kv) == 0 {
		return "NULL::JSON"
	}
	return "json_object(" + strings.Join(kv, ", ") + ")"
}

// optOutEvents are the opt-in and opt-out event types (policy.OptInEvent,
// policy.OptOutEvent) when r is a state rule that sends: they change its
// members' consent, so a member with a new one is evaluated again.
func optOutEvents(r *compiler.Rule) []string {
	if r.Trigger {
		return nil
	}
	for _, a := range r.Actions {
		if a.Verb == "send" {
			return []string{policy.OptInEvent, policy.OptOutEvent}
		}
	}
	return nil
}

// noOptInSQL is the condition that member rm has no opt-in event: only
// then does a refusal for want of consent_<channel> hold at every later
// tick while the members are unchanged (see blocked). It reads the opt-ins
// oi that blockedFrom joins (optInsJoin) when a condition reads them.
func (t *tick) noOptInSQL() string { return optInRow + ".member_id IS NULL" }

// optInRow is the alias of a member's opt-in in the rows blocked reads
// (optInsJoin).
const optInRow = "oi"

// readsOptIns reports whether the SQL cond reads the opt-ins (noOptInSQL).
func readsOptIns(cond string) bool { return strings.Contains(cond, optInRow+".member_id") }

// optInsJoin is the join of member rm's opt-in events as oi, a row per
// member with one: the members' opt-ins are read once for all the rows
// and conditions of blocked, not in a subquery per condition (each a scan
// of the events of the type, which a database whose events are not in
// type order, as simulate's scratch copy, reads whole). In a replay's
// lanes rm.member_id is a lane, whose member _nudge_lanes gives
// (replay.go).
func (t *tick) optInsJoin() string {
	optIns := "SELECT DISTINCT member_id FROM events WHERE brand = " + t.brandSQL() + " AND type = '" + policy.OptInEvent + "'"
	if t.mode.has(Lanes) {
		optIns = "SELECT l.lane AS member_id FROM _nudge_lanes l WHERE l.member_id IN (" + optIns + ")"
	}
	return "\n    LEFT JOIN (" + optIns + ") " + optInRow + " ON " + optInRow + ".member_id = rm.member_id"
}

// hasFallback reports whether a send of rule r has fallback channels. A
// firing of such a rule capped on every channel its member could be sent
// on is not capped for sure while the caps stay full: the member may gain
// a channel (an opt-in event, a change of consent_<channel>) that no cap
// fills, so blocked leaves members with an opt-in event out, and plan
// does not block at all after the members changed.
func hasFallback(r *compiler.Rule) bool {
	for _, a := range r.Actions {
		if a.Verb == "send" && len(a.Else) > 0 {
			return true
		}
	}
	return false
}
