package policy

// Opt-outs (SPEC §9): the crm module's subscribed and unsubscribed events
// (their channel column says on which channel) override a member's
// consent_<channel>. A member's consent on a channel at a moment is the
// latest such event on it at or before the moment (at the same time, the
// later ingested), else consent_<channel>; the moment is the tick for a
// decision, the delivery attempt for the dispatch re-check. A
// transactional send ignores consent_<channel> but not an unsubscribed
// event on its channel.

// OptInEvent and OptOutEvent are the event types of the opt-out loop.
const (
	OptInEvent  = "subscribed"
	OptOutEvent = "unsubscribed"
)

// OptOutsSQL selects, per member of the table members (columns member_id
// and now) the member's latest opt-in or opt-out per channel at or before
// now, as a MAP from channel to true (subscribed) or false
// (unsubscribed), in the column chans; members without such events have
// no row. brand is the brand as a SQL literal.
func OptOutsSQL(members, brand string) string {
	return optOutsFrom(members, `(`+optEventsSQL(brand)+`)`)
}

// OptOutsAmongSQL selects what OptOutsSQL does, for a table members of
// many rows of which few have opt-ins or opt-outs (a first evaluation
// fires for much of the base): it reads those events once, and makes
// distinct only the rows of the members that have some.
func OptOutsAmongSQL(members, brand string) string {
	return `WITH e AS MATERIALIZED (` + optEventsSQL(brand) + `)
` + optOutsFrom(`(SELECT DISTINCT member_id, now FROM `+members+` WHERE member_id IN (SELECT member_id FROM e))`, "e")
}

// optOutsFrom is OptOutsSQL over the opt-in and opt-out events events (a
// table or subquery of optEventsSQL's columns).
func optOutsFrom(members, events string) string {
	return `SELECT member_id, now, map_from_entries(list({'key': channel, 'value': sub})) AS chans FROM (
    SELECT f.member_id, f.now, e.channel, arg_max(e.type = '` + OptInEvent + `', {'ts': e.ts, 'seq': e.seq}) AS sub
    FROM ` + members + ` f
    JOIN ` + events + ` e ON e.member_id = f.member_id
    WHERE e.ts <= f.now
    GROUP BY ALL)
GROUP BY ALL`
}

// optEventsSQL selects the brand's opt-in and opt-out events that name a
// channel, in one scan: a list of two types stays a filter by which DuckDB
// skips the row groups of other types where events are clustered (as a
// scan per type did), and a database whose events are not clustered (the
// scratch copy of simulate, in memory) reads its events once, not twice.
func optEventsSQL(brand string) string {
	return `SELECT member_id, type, channel, ts, seq FROM events WHERE brand = ` + brand + ` AND type IN ('` + OptInEvent + `', '` + OptOutEvent + `') AND channel IS NOT NULL`
}

// ConsentOnSQL is a member m's consent on the channel that the SQL
// expression ch names, given the member's opt-outs (a MAP, see
// OptOutsSQL, or NULL) and whether the send is transactional (a SQL
// boolean): the latest opt-in or opt-out, else true for a transactional
// send and m.consent_<ch> for a marketing one. chans are the consent
// channels (ConsentChannels). A send may go out on ch when it IS TRUE.
func ConsentOnSQL(chans []string, ch, optouts, transactional string) string {
	return "coalesce(" + optouts + "[" + ch + "], CASE WHEN " + transactional + " THEN true ELSE " + ConsentSQL(chans, ch) + " END)"
}

// ConsentingSQL is the list of the channels of the list channels (a SQL
// VARCHAR[]) that the member may be sent on (ConsentOnSQL), in order: the
// first is a fallback's channel (SPEC §9).
func ConsentingSQL(chans []string, channels, optouts, transactional string) string {
	on := ConsentOnSQL(chans, "_ch", optouts, transactional)
	return "list_filter(" + channels + ", _ch -> coalesce(" + on + ", false))"
}

// UnsubscribedReasonSQL is the reason of a send refused at dispatch for
// an opt-out, for the channel channelCol names.
func UnsubscribedReasonSQL(channelCol string) string {
	return "'unsubscribed from ' || coalesce(" + channelCol + ", '') || ' before delivery'"
}
