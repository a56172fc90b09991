package compiler

import (
	"strconv"
	"time"

	"nudge/lang/ast"
	"nudge/lang/check"
)

// This file compiles the delivery policies of SPEC §9 that a rule carries
// to the runtime: fallback channels (Action.Else), `with` parameters
// (Action.Params, computed by the rule's query), `expire after`
// (Rule.Expire) and `transactional` (Rule.Transactional).

// Param is one `with NAME = VALUE` of a send: the rule's query returns its
// value in the column Column (p0, p1, ...), after the explanation values.
// The runtime stores the parameters of a decision as a JSON object (NULL
// as null, numbers as numbers) and sends it to sinks as `params`.
type Param struct {
	Name   string
	Column string
}

// Delivery is what a rule says about delivering its sends.
type Delivery struct {
	// Expire is `expire after D`: a send not dispatched by its due time
	// plus Expire ends expired (0: never).
	Expire time.Duration
	// Transactional is `transactional`: the sends skip marketing consent,
	// caps (and do not count toward them) and quiet hours.
	Transactional bool
}

// Channels is the send's channel followed by its fallback channels, in
// the order they are tried.
func (a Action) Channels() []string {
	if a.Channel == "" {
		return nil
	}
	return append([]string{a.Channel}, a.Else...)
}

// delivery fills the delivery fields of out (and of its actions) from the
// checked rule r, and the parameter columns every form of the rule's query
// returns (rc.paramCols, set on each compiler of the rule's forms).
func deliveryOf(r *check.Rule, out *Rule) {
	if r.Expire != nil && r.Expire.After != nil {
		rc := &ruleCompiler{}
		out.Expire = rc.durationOf(r.Expire.After)
	}
	out.Transactional = r.Transactional
	n := 0
	for i, a := range r.Decl.Actions {
		if a == nil || i >= len(out.Actions) {
			continue
		}
		for _, e := range a.Else {
			if e != nil {
				out.Actions[i].Else = append(out.Actions[i].Else, e.Name)
			}
		}
		for _, p := range a.Params {
			if p == nil || p.Name == nil {
				continue
			}
			out.Actions[i].Params = append(out.Actions[i].Params, Param{Name: p.Name.Name, Column: "p" + strconv.Itoa(n)})
			n++
		}
	}
}

// withParams sets the SQL of the parameter columns of rule r's query (in
// the order deliveryOf numbers them): a field of the triggering event
// (aliased candAlias), a member field (of m) or a literal.
func (rc *ruleCompiler) withParams(r *check.Rule) {
	rc.paramCols = nil
	n := 0
	s := &scope{member: "m", memberID: "m.member_id", top: true}
	for _, a := range r.Decl.Actions {
		if a == nil {
			continue
		}
		for _, p := range a.Params {
			if p == nil || p.Name == nil {
				continue
			}
			v := "NULL"
			switch x := p.Value.(type) {
			case *ast.Ident:
				ref := rc.info.Refs[x]
				if ref != nil && ref.Event != nil && r.Trigger {
					// (A field of the candidate: candidates come from the
					// events table, also in the scoped form, so the scope's
					// copy of events needs neither its type nor its column.)
					v, _ = rc.eventField(x, candAlias, ref.Event)
				}
			case *ast.MemberField:
				v = rc.memberField(x, s)
			default:
				v = rc.value(x, s)
			}
			rc.paramCols = append(rc.paramCols, v+" AS p"+strconv.Itoa(n))
			n++
		}
	}
}

// Sends are the send actions of the program's rules and of its journeys'
// steps.
func (p *Program) Sends() []Action {
	var out []Action
	for _, r := range p.Rules {
		for _, a := range r.Actions {
			if a.Verb == "send" {
				out = append(out, a)
			}
		}
	}
	for _, j := range p.Journeys {
		for _, n := range j.Nodes {
			for _, a := range n.Actions {
				if a.Verb == "send" {
					out = append(out, a)
				}
			}
		}
	}
	return out
}
