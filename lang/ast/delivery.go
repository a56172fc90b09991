package ast

// This file holds the nodes of the delivery policies (SPEC §9): a send's
// fallback channels (Action.Else) and template parameters (Action.Params),
// and the rule options `expire after D` and `transactional`.

// Param is one `NAME = VALUE` of a send's `with`: Value is an *Ident (a
// field of the triggering event), a *MemberField or a literal.
type Param struct {
	Span
	Name  *Ident
	Value Expr
}

// ExpireOption is `expire after DURATION`: a send not dispatched by its due
// time plus After ends expired.
type ExpireOption struct {
	Span
	After *DurationLit
}

// TransactionalOption is `transactional`: the rule's sends are service
// messages (no marketing consent, caps or quiet hours).
type TransactionalOption struct {
	Span
}

func (*ExpireOption) optionNode()        {}
func (*TransactionalOption) optionNode() {}
