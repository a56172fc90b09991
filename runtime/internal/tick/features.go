package tick

import "nudge/compiler"

// features are the policies of SPEC §5 and §9 and the journeys a program
// uses, read from the program once per tick: the one place that answers
// "does the program use X" for the steps that skip themselves when it
// does not. A step of a policy no rule or journey uses finds nothing to do
// in the tick's working tables, whose policy columns (expires_at,
// transactional, the tag actions, stop_after, the caps, the fallback
// channels, ...) come only from the program; so the tick skips its
// statements. The steps that depend on data rather than on the program
// (consent, opt-outs, quiet hours, the delivery re-check) always run.
type features struct {
	journeys      bool // the program has journeys: 04a_journeys.go
	globalHoldout bool // a global control group (`holdout P% of members`): 06b_global_holdout.go, 04a_journeys.go
	stopAfter     bool // some rule stops after unanswered sends: 09_unanswered.go
	transactional bool // some send is transactional: 09_transactional.go
	stock         bool // some content has a stock (`stock`): 09b_stock_budget.go
	budget        bool // some rule or journey has a budget: 09b_stock_budget.go, 10_fallback.go
	caps          bool // the program caps a channel (`cap`): 10_caps.go, 10_fallback.go, replay.go
	fallback      bool // some send has fallback channels (`via A else B`): 10_fallback.go
	expire        bool // some send may expire (`expire after`): 11_expiry.go
	tags          bool // some action tags or untags: 14_tags.go, 04a_journeys.go
	multiAction   bool // some rule or journey step has several actions, a firing several decisions: 12_refusals.go, 13_outbox.go
	// stratumTags: the rules' tags are applied stratum by stratum as the
	// rules are evaluated, before the journeys run, not with the
	// decisions: the rules have strata, or a rule tags and a journey
	// reads or writes tags (SPEC §5 Actions, §8): 04_evaluate.go,
	// 14_tags.go.
	stratumTags bool
}

// programFeatures reads the features of p's rules and journeys.
func programFeatures(p *compiler.Program) features {
	f := features{
		journeys:      len(p.Journeys) > 0,
		globalHoldout: p.GlobalHoldout > 0,
		stock:         len(p.Stocks) > 0,
		budget:        p.HasBudgets(),
		caps:          len(p.Caps) > 0,
	}
	for _, a := range p.Sends() {
		f.fallback = f.fallback || len(a.Else) > 0
	}
	// actions notes the features of a rule's or step's actions and
	// reports whether they tag or untag.
	actions := func(as []compiler.Action) (tags bool) {
		f.multiAction = f.multiAction || len(as) > 1
		for _, a := range as {
			tags = tags || a.Verb == "tag" || a.Verb == "untag"
		}
		f.tags = f.tags || tags
		return tags
	}
	for _, r := range p.Rules {
		f.expire = f.expire || r.Expire > 0
		f.transactional = f.transactional || r.Transactional
		f.stopAfter = f.stopAfter || r.StopAfter > 0
		actions(r.Actions)
	}
	rulesTag := f.tags
	// A journey that reads tags must see the rules'; one whose steps tag
	// applies them as they run (journeyTags), and the rules' go first, or
	// a rule's tag would undo a journey's untag of the same tick.
	journeysTags := false
	for _, j := range p.Journeys {
		f.expire = f.expire || j.Expire > 0
		f.transactional = f.transactional || j.Transactional
		journeysTags = journeysTags || j.ReadsTags
		for _, n := range j.Nodes {
			journeysTags = actions(n.Actions) || journeysTags
		}
	}
	f.stratumTags = p.Strata() > 1 || (rulesTag && journeysTags)
	return f
}
