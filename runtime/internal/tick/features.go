package tick

import "nudge/compiler"

// features are the policies of SPEC §9 a program uses, read from the
// program once per tick. A step of a policy no rule or journey uses finds
// nothing to do in the tick's working tables, whose policy columns
// (expires_at, transactional, the tag actions, stop_after) come only from
// the program; so the tick skips its statements. The steps that depend on
// data rather than on the program (consent, opt-outs, the delivery
// re-check) always run.
type features struct {
	expire        bool // some send may expire (`expire after`): 11_expiry.go
	transactional bool // some send is transactional: 09_transactional.go
	tags          bool // some action tags or untags: 14_tags.go
	stopAfter     bool // some rule stops after unanswered sends: 09_unanswered.go
}

// programFeatures reads the features of p's rules and journeys.
func programFeatures(p *compiler.Program) features {
	var f features
	actions := func(as []compiler.Action) {
		for _, a := range as {
			if a.Verb == "tag" || a.Verb == "untag" {
				f.tags = true
			}
		}
	}
	for _, r := range p.Rules {
		f.expire = f.expire || r.Expire > 0
		f.transactional = f.transactional || r.Transactional
		f.stopAfter = f.stopAfter || r.StopAfter > 0
		actions(r.Actions)
	}
	for _, j := range p.Journeys {
		f.expire = f.expire || j.Expire > 0
		f.transactional = f.transactional || j.Transactional
		for _, n := range j.Nodes {
			actions(n.Actions)
		}
	}
	return f
}
