package ast

// This file holds the nodes of `test` blocks (files ending in _test.nudge,
// run by `nudge test`). A test is a script of steps read top to bottom:
// set the clock, declare members and events, run ticks, check expectations
// about the latest tick.

// TestDecl is `test "name" {step}`. The block ends at the next top-level
// declaration (normally the next `test`).
type TestDecl struct {
	Span
	Name  *StringLit
	Steps []TestStep
}

func (*TestDecl) declNode() {}

// TestStep is one step of a test block.
type TestStep interface {
	Node
	testStepNode()
}

// NowStep is `now TIMESTAMP`: sets the test clock (the time of the next
// tick and the reference of relative event times).
type NowStep struct {
	Span
	At *DateLit
}

// MemberStep is `member "ID" [with FIELD VALUE {, FIELD VALUE}]`: a member
// of the test's brand. Unset consent columns stay NULL (no consent).
type MemberStep struct {
	Span
	ID     *StringLit
	Fields []*FieldValue
}

// EventStep is `"ID" EVENT [at TIMESTAMP | DURATION ago] [with FIELD VALUE
// {, FIELD VALUE}]`: an event of member ID at the given time (default: the
// test clock when the step is read).
type EventStep struct {
	Span
	Member *StringLit
	Event  *Ident
	At     *DateLit     // optional absolute time
	Ago    *DurationLit // optional time relative to the test clock
	Fields []*FieldValue
}

// FieldValue is `FIELD VALUE` in a member or event step; Value is a
// literal (string, number, duration, date, timestamp or boolean).
type FieldValue struct {
	Span
	Name  *Ident
	Value Expr
}

// TickStep is `tick [at TIMESTAMP | DURATION later]`: moves the test clock
// (when a time is given) and runs one tick of every rule.
type TickStep struct {
	Span
	At    *DateLit     // optional: tick at this time
	Later *DurationLit // optional: tick this long after the test clock
}

// ExpectKind says what an ExpectStep checks.
type ExpectKind int

// Expectation kinds.
const (
	ExpectFires     ExpectKind = iota // expect RULE fires [for "ID"] [with status S]
	ExpectNoFire                      // expect RULE does not fire [for "ID"]
	ExpectNothing                     // expect nothing fires
	ExpectTagged                      // expect "ID" tagged "T"
	ExpectNotTagged                   // expect "ID" not tagged "T"
	ExpectJourney                     // expect JOURNEY enters|sends|exits|completes ... (Journey)
	ExpectNoJourney                   // expect JOURNEY does not enter|send|exit|complete [for "ID"] (Journey)
)

// ExpectStep is an expectation about the latest tick (or, for tags, the
// state after it).
type ExpectStep struct {
	Span
	Kind   ExpectKind
	Rule   *Ident     // ExpectFires, ExpectNoFire
	Member *StringLit // optional for ExpectFires/ExpectNoFire; required for tags
	Status *Ident     // optional, ExpectFires only
	Tag    *StringLit // ExpectTagged, ExpectNotTagged
	// Via and Params are optional, ExpectFires only: the channel a send
	// took (a fallback's, SPEC §9) and `with` parameters it carries
	// (`params NAME VALUE, ...`).
	Via    *Ident
	Params []*FieldValue
	// Journey is the journey part of ExpectJourney and ExpectNoJourney
	// (Rule names the journey; Member, Status and Via apply as for fires).
	Journey *JourneyExpect
}

func (*NowStep) testStepNode()    {}
func (*MemberStep) testStepNode() {}
func (*EventStep) testStepNode()  {}
func (*TickStep) testStepNode()   {}
func (*ExpectStep) testStepNode() {}
