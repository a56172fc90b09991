// Package ast declares the syntax tree of the nudge language. Every node carries
// the Span it was parsed from. The tree is produced by lang/parser, read by
// lang/check (which records what names resolve to in check.Info, never by
// mutating the tree), printed by lang/format and translated by compiler.
//
// The package owns only data shapes and tree walking: no parsing, no
// resolution, no SQL.
package ast

import (
	"time"

	"nudge/lang/diag"
)

// Node is implemented by every syntax tree node.
type Node interface {
	// Pos returns the node's span in its file.
	Pos() diag.Span
}

// Span is embedded in every node; it implements Node.
type Span struct{ diag.Span }

// Pos returns the node's span.
func (s Span) Pos() diag.Span { return s.Span }

// Comment is one '#' comment, kept so the formatter can reprint it.
type Comment struct {
	Span
	Text string // including the leading '#', without the newline
}

// File is one parsed .nudge file (or stdlib module).
type File struct {
	Span
	Name     string // file name as given to the parser
	Decls    []Decl
	Comments []*Comment
}

// Decl is a top-level declaration.
type Decl interface {
	Node
	declNode()
}

// BrandDecl is `brand "acme"`.
type BrandDecl struct {
	Span
	Name *StringLit
}

// ImportDecl is `import "crm"`.
type ImportDecl struct {
	Span
	Path *StringLit
}

// SegmentDecl is `segment NAME ["Title"] = cond`.
type SegmentDecl struct {
	Span
	Name  *Ident
	Title *StringLit // optional
	Cond  Expr
}

// RuleDecl is `rule NAME ["Title"] if cond then action {and action} {option}`.
type RuleDecl struct {
	Span
	Name    *Ident
	Title   *StringLit // optional
	Cond    Expr
	Actions []*Action
	Options []Option
}

// CapDecl is `cap CHANNEL to N per DURATION|UNIT`; Channel is nil for `cap all`.
type CapDecl struct {
	Span
	Channel *Ident // nil means all channels
	Count   *NumberLit
	Per     *DurationLit // `per day` is parsed as 1 day (DurationLit.Implicit = true)
}

// QuietDecl is `quiet hours HH:MM to HH:MM [for CHANNEL]` (may wrap
// midnight); with a channel it replaces the plain line for that channel.
type QuietDecl struct {
	Span
	From, To *ClockLit
	Channel  *Ident // nil: every channel without a line of its own
}

// EventDecl is `event NAME { field TYPE, ... }`.
type EventDecl struct {
	Span
	Name   *Ident
	Fields []*FieldDecl
}

// MemberDecl is `member { field TYPE, ... }`: extra member columns read from attrs.
type MemberDecl struct {
	Span
	Fields []*FieldDecl
}

// FieldDecl is one `name TYPE` entry of an event or member declaration.
// TYPE is one of text, number, bool, date, timestamp (checked by lang/check).
type FieldDecl struct {
	Span
	Name *Ident
	Type *Ident
}

// BadDecl stands for a declaration that failed to parse; the parser resumed
// at the next top-level keyword.
type BadDecl struct {
	Span
}

func (*BrandDecl) declNode()   {}
func (*ImportDecl) declNode()  {}
func (*SegmentDecl) declNode() {}
func (*RuleDecl) declNode()    {}
func (*CapDecl) declNode()     {}
func (*QuietDecl) declNode()   {}
func (*EventDecl) declNode()   {}
func (*MemberDecl) declNode()  {}
func (*BadDecl) declNode()     {}

// ActionKind says what an action does.
type ActionKind int

// Action kinds.
const (
	Send   ActionKind = iota // send KIND "content" via CHANNEL
	Tag                      // tag "x"
	Untag                    // untag "x"
	Notify                   // notify "sink-name"
)

func (k ActionKind) String() string {
	return [...]string{"send", "tag", "untag", "notify"}[k]
}

// Action is one action of a rule's `then` clause.
type Action struct {
	Span
	Kind ActionKind
	// For Send: SendKind is the kind identifier (coupon, voucher, reminder...),
	// Value the content id, Channel the channel identifier.
	// For Tag/Untag/Notify: Value is the tag or sink name; SendKind and Channel are nil.
	SendKind *Ident
	Value    *StringLit
	Channel  *Ident
	// For Send: Else are the fallback channels after Channel (`via wechat
	// else sms`), Params the `with` parameters (delivery.go).
	Else   []*Ident
	Params []*Param
	// Winner is `send winner` (Kind Send, SendKind, Value and Channel nil):
	// only a journey's split branch may hold it (lang/ast/journey.go).
	Winner bool
}

// Option is a rule option after the actions.
type Option interface {
	Node
	optionNode()
}

// LimitOption is `limit once per member [every DURATION]`; Every nil means ever.
type LimitOption struct {
	Span
	Every *DurationLit
}

// PriorityOption is `priority N`.
type PriorityOption struct {
	Span
	Value *NumberLit
}

// HoldoutOption is `holdout N%`.
type HoldoutOption struct {
	Span
	Percent *NumberLit
}

// StopAfterOption is `stop after N unanswered`.
type StopAfterOption struct {
	Span
	Count *NumberLit
}

func (*LimitOption) optionNode()     {}
func (*PriorityOption) optionNode()  {}
func (*HoldoutOption) optionNode()   {}
func (*StopAfterOption) optionNode() {}

// Expr is any condition or value expression. Conditions and values share one
// expression type (as in CEL); lang/check assigns each a type.
type Expr interface {
	Node
	exprNode()
}

// BinaryOp is the operator of a BinaryExpr.
type BinaryOp int

// Binary operators.
const (
	Or BinaryOp = iota
	And
	Eq  // =
	Ne  // !=
	Lt  // <
	Le  // <=
	Gt  // >
	Ge  // >=
	Add // +
	Sub // -
	Mul // *
	Div // /
)

func (op BinaryOp) String() string {
	return [...]string{"or", "and", "=", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/"}[op]
}

// BinaryExpr is X Op Y for logical, comparison and arithmetic operators.
type BinaryExpr struct {
	Span
	Op    BinaryOp
	OpPos diag.Span
	X, Y  Expr
}

// NotExpr is `not X`.
type NotExpr struct {
	Span
	X Expr
}

// ParenExpr is `( X )`, kept so the formatter can reprint it.
type ParenExpr struct {
	Span
	X Expr
}

// BetweenExpr is `X between Lo and Hi` (inclusive on both ends).
type BetweenExpr struct {
	Span
	X, Lo, Hi Expr
}

// InExpr is `X [not] in (lit, ...)`.
type InExpr struct {
	Span
	X    Expr
	Not  bool
	List []Expr // literals
}

// IsNullExpr is `X is [not] null`.
type IsNullExpr struct {
	Span
	X   Expr
	Not bool
}

// EventRef is an event type name with its filters: `purchased of sku "X" where amount > 10`.
type EventRef struct {
	Span
	Event   *Ident
	Filters []Filter
}

// EventAtom is an event condition: `EVENT {filter} [quant] [window]`.
// Without Quant and Window it is a trigger atom (the rule fires per matching
// event); with either it is an existence test over the member's events.
type EventAtom struct {
	Span
	Ref    *EventRef
	Quant  *Quantifier // optional
	Window *Window     // optional
	// Matching is `matching FIELD` (only inside a journey entered on an
	// event: the field must equal the entering event's).
	Matching *Ident
}

// IsTrigger reports whether the atom is windowless (a trigger atom).
func (a *EventAtom) IsTrigger() bool { return a.Quant == nil && a.Window == nil }

// FollowedAtom is `A not followed by B [matching FIELD] within DURATION`:
// a trigger atom that fires when A.ts + Within passes with no matching B.
type FollowedAtom struct {
	Span
	First    *EventRef
	Second   *EventRef
	Matching *Ident // optional: field that must be equal on A and B (e.g. order_id)
	Within   *DurationLit
}

// TaggedExpr is `tagged "x"`.
type TaggedExpr struct {
	Span
	Tag *StringLit
}

// Ident is a bare name: a segment reference, or inside `where` and aggregates
// a field of the current event. lang/check records which in Info.Refs.
type Ident struct {
	Span
	Name string
}

// MemberField is `member.NAME`.
type MemberField struct {
	Span
	Field *Ident
}

// EventField is `EVENT.FIELD` used inside an aggregate argument list only via
// AggExpr.Field; it is not a standalone expression. (Kept for completeness of
// the grammar `avg(purchased.amount before)`.)

// CallExpr is `name(args...)`, e.g. birthday_in(0 days).
type CallExpr struct {
	Span
	Func *Ident
	Args []Expr
}

// AggFunc is the aggregate of an AggExpr.
type AggFunc int

// Aggregate functions.
const (
	Count AggFunc = iota
	Sum
	Avg
	Min
	Max
)

func (f AggFunc) String() string { return [...]string{"count", "sum", "avg", "min", "max"}[f] }

// AggExpr is `count(EVENT [.FIELD] {filter} [window])` and friends.
type AggExpr struct {
	Span
	Func   AggFunc
	Ref    *EventRef // Ref.Filters are the filters after the event (and field)
	Field  *Ident    // optional: the aggregated field (required for sum/avg/min/max)
	Window *Window   // optional; nil means ever
}

// DaysSinceExpr is `days since (last|first) EVENT {filter}`.
type DaysSinceExpr struct {
	Span
	First bool // false: last
	Ref   *EventRef
}

// NumberLit is a decimal number as written.
type NumberLit struct {
	Span
	Text  string
	Value float64
}

// StringLit is a double-quoted string; Value is unquoted.
type StringLit struct {
	Span
	Value string
}

// Unit is a duration unit.
type Unit int

// Duration units.
const (
	Minute Unit = iota
	Hour
	Day
	Week
	Month
	Year
)

func (u Unit) String() string {
	return [...]string{"minute", "hour", "day", "week", "month", "year"}[u]
}

// DurationLit is `N unit`, e.g. `3 months`. Implicit is set for a bare unit
// (`per day`), which means 1 unit.
type DurationLit struct {
	Span
	N        *NumberLit
	Unit     Unit
	Implicit bool
}

// DateLit is `2024-11-11` or `2024-11-11 10:00` (HasTime).
type DateLit struct {
	Span
	Text    string // as written
	Year    int
	Month   int
	Day     int
	Hour    int
	Minute  int
	Second  int // 0 unless written as HH:MM:SS
	HasTime bool
}

// Time returns the instant the literal names, as a UTC time (nudge's
// times are local to the database's zone, so the zone carries nothing),
// and whether it exists: 2024-02-30 or 25:00 does not (the checker reports
// it, code bad-date); the time returned is then Go's normalization of it.
func (d *DateLit) Time() (time.Time, bool) {
	t := time.Date(d.Year, time.Month(d.Month), d.Day, d.Hour, d.Minute, d.Second, 0, time.UTC)
	ok := t.Year() == d.Year && int(t.Month()) == d.Month && t.Day() == d.Day &&
		t.Hour() == d.Hour && t.Minute() == d.Minute && t.Second() == d.Second
	return t, ok
}

// ClockLit is a time of day `22:00` (or `22:00:30`).
type ClockLit struct {
	Span
	Hour, Minute int
	Second       int // 0 unless written as HH:MM:SS
}

// BoolLit is `true` or `false`.
type BoolLit struct {
	Span
	Value bool
}

// BadExpr stands for an expression that failed to parse.
type BadExpr struct {
	Span
}

func (*BinaryExpr) exprNode()    {}
func (*NotExpr) exprNode()       {}
func (*ParenExpr) exprNode()     {}
func (*BetweenExpr) exprNode()   {}
func (*InExpr) exprNode()        {}
func (*IsNullExpr) exprNode()    {}
func (*EventAtom) exprNode()     {}
func (*FollowedAtom) exprNode()  {}
func (*TaggedExpr) exprNode()    {}
func (*Ident) exprNode()         {}
func (*MemberField) exprNode()   {}
func (*CallExpr) exprNode()      {}
func (*AggExpr) exprNode()       {}
func (*DaysSinceExpr) exprNode() {}
func (*NumberLit) exprNode()     {}
func (*StringLit) exprNode()     {}
func (*DurationLit) exprNode()   {}
func (*DateLit) exprNode()       {}
func (*BoolLit) exprNode()       {}
func (*BadExpr) exprNode()       {}

// Filter narrows an event reference.
type Filter interface {
	Node
	filterNode()
}

// PrepFilter is `PREP FIELD literal`, an equality test: `at store "A"`.
type PrepFilter struct {
	Span
	Prep  string // at, of, for, via, from, on
	Field *Ident
	Value Expr // a literal
}

// WhereFilter is `where cond`; bare names in Cond refer to the event's fields.
type WhereFilter struct {
	Span
	Cond Expr
}

func (*PrepFilter) filterNode()  {}
func (*WhereFilter) filterNode() {}

// QuantKind is the kind of an event quantifier.
type QuantKind int

// Quantifier kinds.
const (
	AtLeast QuantKind = iota
	AtMost
	Exactly
)

// Quantifier is `at least N times`, `at most N times` or `exactly N times`.
type Quantifier struct {
	Span
	Kind QuantKind
	N    *NumberLit
}

// WindowKind is the kind of an event window.
type WindowKind int

// Window kinds.
const (
	InLast WindowKind = iota // in last DURATION
	Ever                     // ever
	Before                   // before (the trigger event)
)

// Window is `in last DURATION`, `ever` or `before`.
type Window struct {
	Span
	Kind WindowKind
	Dur  *DurationLit // for InLast
}
