package check

import (
	"fmt"
	"sort"
	"strings"

	"nudge/lang/ast"
)

// delivery checks a rule's delivery policies (SPEC §9): fallback channels,
// `with` parameters, `expire after` and `transactional`, and fills the
// Rule's Expire and Transactional.
func (c *checker) delivery(r *ast.RuleDecl, rr *Rule) {
	for _, o := range r.Options {
		switch o := o.(type) {
		case *ast.ExpireOption:
			if rr.Expire != nil {
				c.errorf(o, CodeDuplicateOption, "expire after given twice in %s %q; first at line %d", c.declKind(), name(r.Name), rr.Expire.Pos().Start.Line)
				continue
			}
			rr.Expire = o
			if o.After != nil && c.expr(o.After, nil) == Duration && o.After.N != nil && o.After.N.Value == 0 {
				c.errorf(o.After, CodeBadDuration, "`expire after 0 %ss` expires every send before it can go out; use a positive duration", o.After.Unit)
			}
		case *ast.TransactionalOption:
			if rr.Transactional {
				c.errorf(o, CodeDuplicateOption, "transactional given twice in %s %q", c.declKind(), name(r.Name))
			}
			rr.Transactional = true
		}
	}
	for _, a := range r.Actions {
		if a == nil || a.Kind != ast.Send {
			continue
		}
		c.fallback(a)
		c.params(r, rr, a)
		if rr.Transactional && a.SendKind != nil {
			switch a.SendKind.Name {
			case "coupon", "voucher", "cashback":
				c.warnf(a.SendKind, CodeTransactionalPromo, "transactional %s %q sends a %s: a service message must not carry marketing content (it skips consent, caps and quiet hours); send it from a marketing %[1]s",
					c.declKind(), name(r.Name), a.SendKind.Name)
			}
		}
	}
}

// fallback checks the channels of `via CH1 else CH2 ...`.
func (c *checker) fallback(a *ast.Action) {
	seen := map[string]*ast.Ident{}
	if a.Channel != nil {
		seen[a.Channel.Name] = a.Channel
	}
	for _, e := range a.Else {
		if e == nil {
			continue
		}
		c.checkChannel(e, "send via")
		if prev, dup := seen[e.Name]; dup {
			c.errorf(e, CodeDuplicateChannel, "the fallback names channel %q twice (first at column %d): each channel is tried once", e.Name, prev.Pos().Start.Col)
			continue
		}
		seen[e.Name] = e
	}
}

// params checks a send's `with` parameters: an event field must be a field
// of every trigger event type of a trigger rule; a state rule has no
// triggering event.
func (c *checker) params(r *ast.RuleDecl, rr *Rule, a *ast.Action) {
	seen := map[string]*ast.Param{}
	for _, p := range a.Params {
		if p == nil || p.Name == nil {
			continue
		}
		if prev, dup := seen[p.Name.Name]; dup {
			c.errorf(p.Name, CodeDuplicateParam, "parameter %q given twice; first at column %d", p.Name.Name, prev.Pos().Start.Col)
		} else {
			seen[p.Name.Name] = p
		}
		switch v := p.Value.(type) {
		case *ast.Ident:
			c.paramField(r, rr, v)
		case *ast.MemberField:
			c.set(v, c.memberField(v))
		default:
			t := c.expr(v, nil)
			if t == Duration {
				c.errorf(v, CodeTypeMismatch, "a parameter is a text, number, bool, date or timestamp, not a duration")
			}
		}
	}
}

// triggerEvents returns the event types of a trigger rule's trigger atoms
// (for `A not followed by B`, A), in name order.
func (c *checker) triggerEvents(rr *Rule) []*EventType {
	byName := map[string]*EventType{}
	for _, a := range rr.TriggerAtoms {
		var n *ast.Ident
		switch a := a.(type) {
		case *ast.Ident:
			n = a
		case *ast.EventAtom:
			if a.Ref != nil {
				n = a.Ref.Event
			}
		case *ast.FollowedAtom:
			if a.First != nil {
				n = a.First.Event
			}
		}
		if n == nil {
			continue
		}
		if et, ok := c.info.Events[n.Name]; ok {
			byName[n.Name] = et
		}
	}
	out := make([]*EventType, 0, len(byName))
	for _, n := range sortedKeys(byName) {
		out = append(out, byName[n])
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := keys(m)
	sort.Strings(ks)
	return ks
}

// paramField resolves a bare name in a `with` value: a field of the
// triggering event.
func (c *checker) paramField(r *ast.RuleDecl, rr *Rule, id *ast.Ident) {
	memberHint := ""
	if _, ok := c.info.Members[id.Name]; ok {
		memberHint = fmt.Sprintf("; for the member's field write `member.%s`", id.Name)
	}
	if !rr.Trigger && c.journeyScope != nil {
		c.set(id, Invalid)
		c.errorf(id, CodeParamEventField, "journey %q is entered with `enter when`, so it has no entering event: a parameter cannot read the event field %q%s", name(r.Name), id.Name, memberHint)
		return
	}
	if !rr.Trigger {
		c.set(id, Invalid)
		c.errorf(id, CodeParamEventField, "rule %q has no triggering event (it is a state rule), so a parameter cannot read the event field %q%s", name(r.Name), id.Name, memberHint)
		return
	}
	ets := c.triggerEvents(rr)
	if len(ets) == 0 {
		c.set(id, Invalid)
		return
	}
	var missing []string
	var cands []string
	var first *Field
	for _, et := range ets {
		f, ok := et.Fields[id.Name]
		cands = append(cands, keys(et.Fields)...)
		if !ok {
			missing = append(missing, fmt.Sprintf("%q", et.Name))
			continue
		}
		if first == nil {
			first = f
			c.info.Refs[id] = &Ref{Kind: RefEventField, Event: et, Field: f}
		} else if f.Type != first.Type {
			c.set(id, Invalid)
			c.errorf(id, CodeTypeMismatch, "parameter field %q is a %s in one trigger event and a %s in %q", id.Name, first.Type, f.Type, et.Name)
			return
		}
	}
	if len(missing) > 0 {
		delete(c.info.Refs, id)
		c.set(id, Invalid)
		hint := memberHint
		if hint == "" {
			hint = didYouMean(id.Name, cands)
		}
		what := "trigger event " + missing[0] + " has"
		if len(missing) > 1 {
			what = "trigger events " + strings.Join(missing, " and ") + " have"
		}
		c.errorf(id, CodeUnknownParam, "unknown parameter value %q: %s no such field%s", id.Name, what, hint)
		return
	}
	c.set(id, first.Type)
}
