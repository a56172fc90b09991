// Package check resolves names and types in parsed nudge files. It is the
// second phase (parse -> check -> compile -> run): given the parsed files of a
// program and an Env of predeclared things (stdlib modules' declarations and
// functions, handed in by the caller: lang never imports stdlib), it returns an
// Info describing what every name means and what every expression's type is,
// plus diagnostics. It never mutates the AST and never produces SQL.
package check

import (
	"nudge/lang/ast"
	"nudge/lang/diag"
)

// Type is the type of a nudge expression.
type Type int

// Types.
const (
	Invalid   Type = iota // after an error; suppresses cascades
	Bool                  // conditions
	Number                // DECIMAL/DOUBLE/INTEGER
	Text                  // VARCHAR
	Duration              // 3 days
	Date                  // DATE
	Timestamp             // TIMESTAMP
)

func (t Type) String() string {
	return [...]string{"invalid", "bool", "number", "text", "duration", "date", "timestamp"}[t]
}

// ParseType maps a declaration type name (text, number, bool, date,
// timestamp) to a Type; ok is false for an unknown name.
func ParseType(name string) (t Type, ok bool) {
	switch name {
	case "text":
		return Text, true
	case "number":
		return Number, true
	case "bool":
		return Bool, true
	case "date":
		return Date, true
	case "timestamp":
		return Timestamp, true
	}
	return Invalid, false
}

// Field is a typed field of an event type or of members.
type Field struct {
	Name string
	Type Type
	// Column is the physical column in events/members when the field is one
	// of the fixed columns of SPEC §6 (store, sku, amount, city, ...); empty
	// when the field lives in events.props / members.attrs JSON.
	Column string
	Decl   diag.Span // where it was declared (zero for built-in columns)
}

// EventType is a declared event type.
type EventType struct {
	Name   string
	Fields map[string]*Field // includes the built-in columns (ts, store, sku, ...)
	Decl   diag.Span
}

// Function is a predeclared function such as birthday_in(DURATION). The
// compiler maps it to SQL through the SQL template the stdlib provides.
type Function struct {
	Name   string
	Params []Type
	Result Type
	// SQL is a template: "{0}", "{1}"... are the compiled arguments,
	// "{member}" the current member alias, "{now}" the now expression and
	// "{brand}" the brand parameter, e.g. "nudge_birthday_in({member}.birthday, {now}, {0})".
	SQL string
	Doc string
	// Clock says how the result changes as time passes with the member's
	// data unchanged. The zero value, ClockAny, is the safe default.
	Clock Clock
}

// Clock is how a function's result depends on the evaluation instant. It
// lets the runtime re-evaluate a state rule only for the members whose
// verdict may have changed since its previous run (see tickform.Delta).
type Clock int

// Clock values.
const (
	// ClockAny: the result may change at any instant, or depends on other
	// members (percentiles, RFM scores): every member is re-evaluated.
	ClockAny Clock = iota
	// ClockNone: the result depends only on the arguments and the member's row.
	ClockNone
	// ClockDaily: the result changes only when the date of now changes.
	ClockDaily
	// ClockDailyForDates: ClockDaily when every argument is a DATE, else ClockAny.
	ClockDailyForDates
)

// Env holds what a program can refer to without declaring it: functions, and
// the parsed files of stdlib modules available to `import`. lang/check does
// not know which modules exist; the caller (stdlib) provides them.
type Env struct {
	Functions map[string]*Function
	// Import returns the parsed module for `import "name"`, or ok=false when
	// no such module exists. Modules may declare events, members, segments.
	Import func(name string) (file *ast.File, ok bool)
	// Modules lists the names Import accepts, for "did you mean" suggestions
	// and for hints such as `add import "crm"` on an unknown event type.
	Modules []string
	// SourceOf returns the text of a module file by the file name its
	// diagnostics carry (e.g. "stdlib/crm.nudge"), so that they render with
	// their source line; optional.
	SourceOf func(file string) ([]byte, bool)
	// Channels are the known channels (sms, email, app_push, wechat, phone);
	// a cap or send on another channel is a warning.
	Channels []string
}

// RefKind says what an identifier resolved to.
type RefKind int

// Reference kinds.
const (
	RefSegment     RefKind = iota // a segment name used as a condition
	RefEventField                 // a field of the current event (inside where / aggregates)
	RefMemberField                // member.x
	RefFunction                   // function name of a CallExpr
	RefEvent                      // event type name of an EventRef
)

// Ref is what one identifier means.
type Ref struct {
	Kind    RefKind
	Segment *ast.SegmentDecl // RefSegment
	Event   *EventType       // RefEventField, RefEvent: the event type
	Field   *Field           // RefEventField, RefMemberField
	Func    *Function        // RefFunction
}

// Rule is the checked view of one rule.
type Rule struct {
	Decl *ast.RuleDecl
	// Trigger is true when the condition contains a windowless event atom or
	// a not-followed-by atom (SPEC §5).
	Trigger bool
	// TriggerAtoms are the *ast.EventAtom (windowless) and *ast.FollowedAtom
	// nodes of the condition, after inlining segments, in source order. A
	// bare event name with no filters (`if queued then ...`) is parsed as an
	// *ast.Ident; when Refs gives it Kind RefEvent it is a trigger atom too and
	// appears here as that *ast.Ident.
	TriggerAtoms []ast.Expr
	// Limit is the rule's `limit` option, nil when absent.
	Limit *ast.LimitOption
	// Priority, HoldoutPercent, StopAfter are the options' values (0 when absent).
	Priority       int
	HoldoutPercent float64
	StopAfter      int
	// Convert is the rule's `convert on` option, nil when absent (the
	// conversion is then DefaultConvertEvent within DefaultConvertMinutes).
	Convert *ast.ConvertOption
	// Budget is the rule's `budget` option, nil when absent (money.go).
	Budget *Budget
	// Expire is the rule's `expire after` option and Transactional whether
	// it is `transactional` (SPEC §9, delivery.go); nil and false when absent.
	Expire        *ast.ExpireOption
	Transactional bool
	// Stratum orders the rules' evaluation within a tick (SPEC §5 Actions,
	// strata.go): a rule is evaluated after the rules of lower strata and
	// sees the tags they applied. 0 unless the rule reads a tag that another
	// rule writes.
	Stratum int
	// After are the other rules that write a tag this rule reads (`tagged`,
	// through segments too), in source order: each has a lower stratum.
	After []*Rule
}

// Cap is a checked `cap` declaration.
type Cap struct {
	Decl    *ast.CapDecl
	Channel string // "" for all
	Count   int
	Minutes int64 // length of the cap period in minutes (months = 30 days, years = 365 days)
}

// Quiet is a checked `quiet hours` declaration, in minutes after midnight.
type Quiet struct {
	Decl     *ast.QuietDecl
	From, To int
	Channel  string // "" for the plain line
}

// Info is the result of checking a program (the user's files plus the
// modules they import).
type Info struct {
	Brand    string                // from `brand`, "" when absent
	Events   map[string]*EventType // all declared event types
	Members  map[string]*Field     // member columns (built-in + declared)
	Segments map[string]*ast.SegmentDecl
	Rules    []*Rule // in source order (files in the given order)
	// Journeys are the program's journeys in source order (journeys.go).
	Journeys []*Journey
	Caps     []*Cap
	Quiet    []*Quiet
	// Costs is the cost of one send per channel, from `cost` declarations.
	Costs map[string]float64
	// ContentCosts, Stocks and GlobalHoldout are the money policies
	// (money.go): the cost of a send per kind and content, the stocks of
	// contents, and the global control group's percentage (0: none).
	ContentCosts  []ContentCost
	Stocks        []Stock
	GlobalHoldout float64
	// Types records the type of every expression.
	Types map[ast.Expr]Type
	// Refs records what every resolved identifier means (segment references,
	// event fields, member fields, functions, event type names).
	Refs map[*ast.Ident]*Ref
}
