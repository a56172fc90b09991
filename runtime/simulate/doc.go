// Package simulate replays ticks over historical data to show what rules
// would have done before they are switched on. It copies the members and
// events of a nudge database into a private in-memory scratch database
// (the real outbox, tags and rule state are never touched, and the replay
// starts from an empty outbox), runs runtime.(*DB).Run at every step from
// From to To, and aggregates per rule and day: decisions by status, how
// often caps bit, members hit by several rules, cost, and the baseline: how
// many targeted members bought anyway within the rule's conversion window.
//
// Because each step is an ordinary tick of the same runtime, the decisions
// of the last step are those `nudge run --now <last step>` makes on a
// database whose history of runs is the simulated one.
//
// Entry point: Run.
package simulate
