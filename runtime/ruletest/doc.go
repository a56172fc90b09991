// Package ruletest runs the `test` blocks of *_test.nudge files for
// `nudge test`. Each test gets a fresh in-memory database (runtime.Open("")),
// its members and events are inserted as written, and every `tick` is one
// runtime.(*DB).Run of the same compiled program `nudge run` uses: there is
// no second evaluator. Expectations are checked against the tick's
// decisions (and, for tags, the member_tags table after it).
//
// The package owns the test script semantics (the clock, relative times,
// expectations, failure diffs) and branch coverage; it does not parse (see
// lang/parser) or print reports (cmd/nudge does).
package ruletest
