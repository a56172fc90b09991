package compiler

// The runtime's API. A tick (runtime/internal/tick) evaluates a rule only
// for some members, and a replay for many (member, instant) pairs at once,
// through forms of the rule's query that only the runtime uses:
// Rule.ScopedSQL, Rule.ScopeEventReads, Rule.LaneSQL and Rule.Delta (with
// DailyAtom and Watch), and the names below of the tables and columns those
// forms read. They are exported because Go's internal/ directories cannot
// be shared by compiler and runtime without a top-level internal/
// directory; nothing but the runtime's tick may use them, and they change
// with it. Everything else reads Rule.SQL.

// ThenRow is the alias of the row DailyAtom.Then reads its instant from,
// in its column ts (TIMESTAMP): the caller joins it, for example
// (SELECT $t0::TIMESTAMP AS ts) AS _nudge_then. A column rather than a
// parameter, so that one statement can compare atoms at several instants.
const ThenRow = "_nudge_then"

// Names of the tables Rule.ScopedSQL reads instead of members and events.
const (
	ScopeMembers = "_nudge_scope_members"
	ScopeEvents  = "_nudge_scope_events"
)

// The lane form (Rule.LaneSQL) evaluates a rule for many (member, instant)
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
