package ast

// This file holds the journey expectations of test blocks (SPEC §8,
// Tools): `expect JOURNEY enters|sends|exits|completes ...` and `expect
// JOURNEY does not enter|send|exit|complete ...`, checked against the
// decisions of the latest tick.

// JourneyExpect is the journey part of an ExpectStep of kind
// ExpectJourney or ExpectNoJourney.
type JourneyExpect struct {
	Span
	// Action is the decision's action: enter, send, exit or complete.
	Action string
	// SendKind and Content are a send's kind and content (`sends
	// reminder "PAY-2"`); both nil when not given.
	SendKind *Ident
	Content  *StringLit
	// Step is the source line of the step (`at step 11`), Variant the
	// split branch the decision carries (`in variant sms_only`); optional.
	Step    *NumberLit
	Variant *Ident
}
