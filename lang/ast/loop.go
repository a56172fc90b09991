package ast

// This file holds the nodes of the closed loop: how a rule's success is
// measured (`convert on`) and what a send costs (`cost`). `nudge report`
// and `nudge simulate` read them through lang/check and compiler.

// ConvertOption is `convert on EVENT {filter} within DURATION`: a member
// converted when a matching event of theirs happened within DURATION after
// a firing. A rule without it converts on any `purchased` within 7 days.
type ConvertOption struct {
	Span
	Event  *EventRef
	Within *DurationLit
}

func (*ConvertOption) optionNode() {}

// CostDecl is `cost CHANNEL AMOUNT`: what one send on CHANNEL costs, in the
// data's currency (CNY in the source material), e.g. `cost sms 0.05`; or
// `cost KIND "CONTENT" AMOUNT`: what one send of that kind and content
// costs on top of its channel (a coupon's face value), e.g.
// `cost coupon "A-10OFF" 10`. Exactly one of Channel and Kind is set;
// Content goes with Kind.
type CostDecl struct {
	Span
	Channel *Ident
	Kind    *Ident
	Content *StringLit
	Amount  *NumberLit
}

func (*CostDecl) declNode() {}
