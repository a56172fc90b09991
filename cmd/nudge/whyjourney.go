package main

import (
	"context"

	"nudge/compiler"
	"nudge/lang/check"
	nrt "nudge/runtime"
	"nudge/runtime/why"
)

// journeyOnly is the rule filter why.Explain gets when --rule names a
// journey: it matches no rule's name (rules and journeys share one
// namespace, and a name cannot hold a space), so only the journey is
// explained.
const journeyOnly = " journey"

// explainJourneys explains the program's journeys for member (only the one
// --rule names, when it names a journey; none when it names a rule). When
// --rule names a journey, opts.Rule becomes journeyOnly.
func explainJourneys(ctx context.Context, db *nrt.DB, prog *compiler.Program, info *check.Info, member string, opts *why.Options) ([]*why.JourneyReport, error) {
	jopts := *opts
	if opts.Rule != "" {
		found := false
		for _, j := range prog.Journeys {
			found = found || j.Name == opts.Rule
		}
		if !found {
			return nil, nil
		}
	}
	jws, _ := compiler.WhyJourneys(info)
	reps, err := why.ExplainJourneys(ctx, db, prog, jws, member, jopts)
	if err != nil {
		return nil, err
	}
	if opts.Rule != "" {
		opts.Rule = journeyOnly
	}
	return reps, nil
}
