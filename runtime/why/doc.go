// Package why explains, for one member (or a few), what each rule would do
// at a given now and why: the rule's condition as a tree with every atom's
// value and verdict, the trigger events the rule would consider, each
// policy's state for the member, and a one-line verdict.
//
// Everything is computed by SQL the rest of nudge already uses: the
// condition by the compiler's explanation queries (compiler.Why: the rule's
// own candidates, aggregates and atom SQL), the verdict by a dry run of the
// runtime (runtime.(*DB).Run with DryRun) restricted to the explained
// members, so `nudge why` cannot disagree with `nudge run --dry-run`. The
// policy details (consent, caps, unanswered sends, limits) are read-only
// queries of the same tables the runtime's policies read.
package why
