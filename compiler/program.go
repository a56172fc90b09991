package compiler

import (
	"database/sql"
	"fmt"
	"nudge/internal/tickform"
	"time"
)

// Query parameters every rule query takes, as DuckDB named parameters. The
// SQL always casts them ($now::TIMESTAMP, ...), so callers bind plain Go values
// with sql.Named. A rule's watermarks are parameters of its own, named by
// Rule.Watermarks.
const (
	ParamNow   = "now"   // time.Time: the evaluation instant
	ParamBrand = "brand" // string: the only brand the query may read
)

// Watermarks names the two watermark parameters of one rule's queries (and
// of its explanation query). Each rule has its own names, decided where its
// SQL is built, so that the queries of several rules can run as one
// statement with each rule's own watermarks bound (nothing renames
// parameters in SQL text afterwards).
type Watermarks struct {
	Seq string // int64: trigger rules: highest events.seq seen by the previous run
	Now string // time.Time: trigger rules: the previous run's now
}

// watermarksOf returns the watermark parameter names of the i-th rule of a
// checked program (check.Info.Rules): Compile and Why name a rule's
// parameters alike.
func watermarksOf(i int) Watermarks {
	return Watermarks{Seq: fmt.Sprintf("wm_seq_%d", i), Now: fmt.Sprintf("wm_now_%d", i)}
}

// Args binds the watermark parameters to seq and now; none for the zero
// Watermarks (a query that takes no watermarks).
func (w Watermarks) Args(seq int64, now time.Time) []any {
	if w == (Watermarks{}) {
		return nil
	}
	return []any{sql.Named(w.Seq, seq), sql.Named(w.Now, now)}
}

// Program is a compiled program: one query per rule plus the global policies.
type Program struct {
	Brand string // from the file's `brand`, "" when absent
	Rules []*Rule
	Caps  []Cap
	Quiet []Quiet
	// Costs is the cost of one send per channel (`cost sms 0.05`); a
	// channel without a cost costs nothing.
	Costs map[string]float64
	// ContentCosts, Stocks and GlobalHoldout are the money policies of
	// SPEC §9 (money.go); GlobalHoldout is a percentage, 0 for none.
	ContentCosts  []ContentCost
	Stocks        []Stock
	GlobalHoldout float64
	// Journeys are the program's journeys (journey.go), in source order.
	Journeys []*Journey
}

// Rule is one compiled rule.
//
// The query returns one row per candidate firing with these leading columns:
//
//	member_id   VARCHAR
//	trigger_seq BIGINT     -- events.seq of the triggering event (A for not-followed-by); NULL for state rules
//	due_at      TIMESTAMP  -- when the firing became due: the event's ts (A.ts + within for
//	                          not-followed-by); NULL for state rules
//
// followed by one column per entry of Values (v0, v1, ...), the values the
// condition used, for explanations.
//
// Trigger rules consider an event when it is due (due_at <= $now) and was not
// already considered by the previous run, i.e. NOT (seq <= wm_seq AND
// due_at <= wm_now), spelled seq > wm_seq OR due_at > wm_now in the SQL,
// where wm_seq and wm_now are the rule's parameters named by Watermarks.
// On a rule's first run the runtime binds wm_seq = math.MaxInt64 and
// wm_now = now - lookback, so only events due within the
// lookback are considered. State rules ignore the watermarks and return every
// member for whom the condition holds at $now. Limits, dedupe and policies are
// applied by runtime on top of this query.
type Rule struct {
	Name    string
	Title   string // "" when absent
	Trigger bool
	SQL     string
	// Watermarks names the rule's watermark parameters in SQL and
	// Tick.ScopedSQL (every rule of a program has its own; a state rule's
	// queries do not read them, and binding them is harmless).
	Watermarks Watermarks
	Values     []Value
	Actions    []Action
	Limit      *Limit // nil: no limit (trigger rules); state rules default to once ever
	Priority   int
	Holdout    float64 // percent 0-100
	StopAfter  int     // 0: never give up
	File       string  // source file of the rule
	Line       int
	// Convert says when a firing converted (see loop.go); never nil.
	Convert *Conversion
	// Tick holds the forms of the rule's query that only the runtime's
	// tick evaluates: scoped, lane and Delta (package internal/tickform).
	Tick tickform.Forms
	// Events are the event types the rule's condition reads (sorted): its
	// verdict depends on no other events.
	Events []string
	// Lag, for a trigger rule, is how long after its ts an event may become
	// due (the longest `within` of a not-followed-by atom, else 0).
	Lag time.Duration
	// Stratum orders the rules' evaluation within a tick (SPEC §5 Actions,
	// lang/check/strata.go): the runtime evaluates the rules of stratum 0,
	// applies their tags, then those of stratum 1, and so on, so that a rule
	// reading a tag other rules write sees their tags. 0 for every rule of a
	// program where no rule reads a tag another one writes.
	Stratum int
	// After names the other rules that write a tag this one reads (each of
	// a lower stratum), in source order.
	After []string
	// Budget is the rule's `budget` option (money.go), nil without one.
	Budget *Budget
	// Delivery holds the rule's `expire after` and `transactional` (delivery.go).
	Delivery
}

// Strata is the number of strata of the program's rules (1 for a program
// where no rule reads a tag another rule writes; 0 without rules).
func (p *Program) Strata() int {
	n := 0
	for _, r := range p.Rules {
		n = max(n, r.Stratum+1)
	}
	return n
}

// Value describes one explanation column of a rule query.
type Value struct {
	Column string // v0, v1, ...
	Label  string // the source text of the expression, e.g. "days since last purchased"
}

// Action is one action of a rule.
type Action struct {
	Verb    string // send, tag, untag, notify (the SPEC's "action" field)
	Kind    string // for send: the send kind (coupon, voucher, ...)
	Content string // for send: content id; for tag/untag: the tag; for notify: the sink name
	Channel string // for send
	// For send: Else are the fallback channels (`via wechat else sms`) and
	// Params the `with` parameters, returned by the rule's query (delivery.go).
	Else   []string
	Params []Param
}

// Limit is a rule's `limit once per member [every D]`.
type Limit struct {
	Every time.Duration // 0: once ever
}

// Cap is `cap CHANNEL to N per D`; Channel "" means all channels.
type Cap struct {
	Channel string
	Count   int
	Per     time.Duration
}

// Quiet is `quiet hours FROM to TO [for CHANNEL]`, minutes after
// midnight; may wrap midnight. A line with a Channel replaces the plain
// lines (Channel "") for that channel.
type Quiet struct {
	From, To int
	Channel  string
}
