// Package simulate replays ticks over historical data to show what rules
// would have done before they are switched on. It copies the members and
// events of a nudge database into a private in-memory scratch database
// (the real outbox, tags and rule state are never touched, and the replay
// starts from an empty outbox), runs a tick at every step from From to To,
// and aggregates per rule and day: decisions by status, how often caps bit,
// members hit by several rules, cost, and the baseline: how many targeted
// members bought anyway within the rule's conversion window.
//
// The first tick of each day and the last are ordinary ticks
// (runtime.(*DB).Run); the others of a day are replayed in rounds
// (runtime.(*DB).Replay), which gives the same decisions with far fewer
// statements (Options.TickByTick runs them one by one, for comparison).
// So the decisions of the last step are those `nudge run --now <last
// step>` makes on a database whose history of runs is the simulated one.
//
// Entry point: Run.
package simulate
