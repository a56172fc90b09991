package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"nudge/compiler"
	nrt "nudge/runtime"
	"nudge/runtime/policy"
	"nudge/runtime/redact"
)

func newRunCmd(s *streams) *cobra.Command {
	var (
		dbPath, nowFlag, output, brand    string
		sinks                             []string
		dryRun, full, allowFuture         bool
		lookback, watch, budget, lockWait time.Duration
	)
	c := &cobra.Command{
		Use:   "run [--db F] [--now TS] [--dry-run] [--output text|jsonl] [--sink SPEC]... PATH...",
		Short: "Run one tick: evaluate rules, apply policies, write the outbox, dispatch",
		Long: `run evaluates every rule at --now (default: the wall clock), applies limits and
the policies (holdout, consent, stop-after-unanswered, caps, quiet hours),
records every decision in the outbox in one transaction and then dispatches
due sends to the sinks (jsonl:PATH, webhook:URL). Without --sink sends stay
pending. --watch INTERVAL repeats ticks until interrupted.

A tick re-evaluates a state rule only for the members whose verdict may have
changed since the rule's previous tick (new events, windows that moved,
limits that ran out); --full evaluates every member, as after changing the
members table by hand.

Exit status: 0 when the tick ran and every delivery attempt succeeded (or
none was due); 4 when the tick was committed but at least one delivery
attempt of this run failed (some or all alike; a send that failed stays
pending for a retry by a later run, until its fifth attempt fails it for
good); 1 when the tick failed; 2 for bad flags. Quiet hours, caps and an
exhausted --dispatch-budget only delay sends: not a failure. Under --watch a
failed dispatch is reported on standard error and the loop goes on. Sink
credentials (a URL's password, token-like query parameters) are never
printed or stored.

Time only moves forward: a committed run (not --dry-run; every --watch tick)
whose now is earlier than the brand's last committed tick is refused (look
at the past with --dry-run, or replay it with 'nudge simulate'). A --now more
than a day after the wall clock needs --allow-future. Dry runs may look at
any time.`,
		Args: needArgs("PATH"),
		RunE: func(c *cobra.Command, args []string) error {
			if output != "text" && output != "jsonl" {
				return usageError("--output: unknown format %q; use text or jsonl", output)
			}
			if nowFlag != "" && watch > 0 {
				return usageError("--now and --watch cannot be combined: a watch loop follows the wall clock")
			}
			now, err := nowFlagValue(c, nowFlag)
			if err != nil {
				return err
			}
			ss, err := openSinks(sinks)
			if err != nil {
				return err
			}
			defer closeSinks(ss)
			prog, err := compileProgram(s, args)
			if err != nil {
				return err
			}
			if err := checkBrandFlag(prog, brand); err != nil {
				return err
			}
			if err := refuseServed(dbPath, "the service runs the ticks: stop it (SIGTERM) to run ticks by hand, or reload its rules with POST /v1/reload"); err != nil {
				return err
			}
			db, err := openWaiting(c.Context(), dbPath, lockWait, s.err)
			if err != nil {
				return problemError("%v", err)
			}
			defer db.Close()
			if !now.IsZero() && !dryRun {
				if err := checkFuture(c.Context(), db, now, allowFuture); err != nil {
					return err
				}
			}
			if now, err = wallClock(c.Context(), db, now); err != nil {
				return err
			}
			if err := warnBrand(c.Context(), s, db, prog.Brand, brand); err != nil {
				return err
			}
			// Committed runs stream their decisions from the outbox afterwards
			// (a tick may decide millions); a dry run writes nothing, so its
			// decisions are streamed from the tick before its rollback.
			opts := nrt.RunOptions{Now: now, Brand: brand, DryRun: dryRun, Lookback: lookback, Sinks: ss, DispatchBudget: budget, EvaluateAll: full,
				SkipDecisions: output == "text" || !dryRun}
			tick := func(ctx context.Context) (nrt.DispatchResult, error) {
				if !dryRun {
					if err := db.CheckTickTime(ctx, prog, brand, opts.Now); err != nil {
						return nrt.DispatchResult{}, err
					}
				}
				o := opts
				var dw *nrt.DecisionWriter
				if dryRun && output == "jsonl" {
					// Streamed from the tick's decisions as they are read.
					dw = nrt.NewDecisionWriter(s.out)
					o.OnDecision = dw.Write
				}
				res, err := db.Run(ctx, prog, o)
				if dw != nil {
					if ferr := dw.Flush(); err == nil {
						err = ferr
					}
				}
				if err != nil {
					return nrt.DispatchResult{}, err
				}
				return res.Dispatch, printRun(ctx, s.out, output, db, prog, res)
			}
			if watch <= 0 {
				d, err := tick(c.Context())
				if err != nil {
					return problemError("%v", err)
				}
				if d.Failed > 0 {
					return &exitError{code: exitDispatch, msg: dispatchFailure(d)}
				}
				return nil
			}
			return watchTicks(c.Context(), s, watch, func(ctx context.Context) error {
				opts.Now, _ = db.WallClock(ctx) // (the zero time on error: Run takes the machine's clock)
				d, err := tick(ctx)
				if err == nil && d.Failed > 0 {
					fmt.Fprintf(s.err, "nudge: %s\n", dispatchFailure(d))
				}
				return err
			})
		},
	}
	f := c.Flags()
	f.StringVar(&dbPath, "db", defaultDB, "DuckDB database file")
	lockWaitVar(f, &lockWait)
	f.StringVar(&nowFlag, "now", "", "evaluation time (2024-11-11T12:00:00, 2024-11-11 12:00, 2024-11-11); default: wall clock")
	f.BoolVar(&dryRun, "dry-run", false, "evaluate and print decisions, write nothing")
	f.BoolVar(&allowFuture, "allow-future", false, "allow a committed run with --now more than a day after the wall clock")
	f.BoolVar(&full, "full", false, "evaluate every state rule over every member (after editing members outside nudge import)")
	f.StringVar(&output, "output", "text", "output format: text (summary per rule) or jsonl (one decision per line)")
	f.StringArrayVar(&sinks, "sink", nil, "dispatch sends to jsonl:PATH or webhook:URL (repeatable; NAME=webhook:URL for notify)")
	f.StringVar(&brand, "brand", "", "brand to run for (required when the database holds several and the rules name none)")
	lookbackVar(f, &lookback, "on a rule's first run, consider trigger events this far back; an event whose member arrives later is considered if the member arrives within this after it")
	durationVar(f, &watch, "watch", 0, "run ticks every INTERVAL until interrupted (SIGINT/SIGTERM)")
	durationVar(f, &budget, "dispatch-budget", 0, "upper bound on dispatch time per tick (default 30s)")
	return c
}

// dispatchFailure says how a tick's dispatch failed, for standard error:
// run then exits with exitDispatch (under --watch the loop goes on).
func dispatchFailure(d nrt.DispatchResult) string {
	msg := fmt.Sprintf("dispatch failed for %d of %d message(s) tried", d.Failed, d.Attempted)
	if retry := d.Failed - d.GaveUp; retry > 0 {
		msg += fmt.Sprintf("; %d stay pending for a retry by a later run", retry)
	}
	if d.GaveUp > 0 {
		msg += fmt.Sprintf("; %d failed for good after %d attempts", d.GaveUp, nrt.MaxAttempts)
	}
	if d.Error != "" {
		msg += "; first error: " + d.Error
	}
	return msg
}

// watchTicks runs tick every interval until ctx ends; a failed tick is
// reported and the loop goes on.
func watchTicks(ctx context.Context, s *streams, interval time.Duration, tick func(context.Context) error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := tick(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			fmt.Fprintf(s.err, "nudge: tick failed: %s\n", redact.Error(err))
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(s.err, "nudge: stopped")
			return nil
		case <-t.C:
		}
	}
}

// printRun prints a tick's result: jsonl decisions or a text summary.
func printRun(ctx context.Context, w io.Writer, output string, db *nrt.DB, prog *compiler.Program, res *nrt.RunResult) error {
	if output == "jsonl" {
		dw := nrt.NewDecisionWriter(w)
		var err error
		if res.DryRun {
			for i := range res.Decisions {
				if err = dw.Write(&res.Decisions[i]); err != nil {
					break
				}
			}
		} else {
			err = db.Decisions(ctx, res.RunID, func(d nrt.Decision) error { return dw.Write(&d) })
		}
		if ferr := dw.Flush(); err == nil {
			err = ferr
		}
		return err
	}
	mode := "run"
	if res.DryRun {
		mode = "dry run"
	}
	fmt.Fprintf(w, "%s at %s for brand %s\n", mode, formatTimestamp(res.Now), res.Brand)
	if err := printTables(ctx, w, db, prog, res); err != nil {
		return err
	}
	if d := res.Dispatch; d.Attempted > 0 || d.Sent > 0 || d.Failed > 0 || d.Refused > 0 || d.Waiting > 0 {
		fmt.Fprintf(w, "dispatched: %d sent, %d failed", d.Sent, d.Failed)
		if d.GaveUp > 0 {
			fmt.Fprintf(w, " (%d given up)", d.GaveUp)
		}
		if d.Refused > 0 {
			fmt.Fprintf(w, ", %d refused at delivery (consent withdrawn, opted out or expired)", d.Refused)
		}
		if d.Waiting > 0 {
			fmt.Fprintf(w, ", %d waiting (quiet hours or caps)", d.Waiting)
		}
		fmt.Fprintln(w)
	}
	return nil
}

// printTables writes a tick's tables: the rules' decisions by status,
// then where each journey's instances stand after the tick (a dry run's
// as they would stand: it ran the journeys in its rolled-back
// transaction). A tick of a program of journeys alone has only theirs.
func printTables(ctx context.Context, w io.Writer, db *nrt.DB, prog *compiler.Program, res *nrt.RunResult) error {
	if len(prog.Rules) > 0 || len(prog.Journeys) == 0 {
		printSummary(w, prog, res.Rules)
	}
	if len(prog.Journeys) == 0 {
		return nil
	}
	counts := res.Journeys
	if !res.DryRun {
		var err error
		if counts, err = db.JourneyCounts(ctx, prog, res.Brand); err != nil {
			return err
		}
	}
	if len(prog.Rules) > 0 {
		fmt.Fprintln(w) // (after the rules' table)
	}
	printJourneyCounts(w, counts)
	return nil
}

// printSummary writes the per-rule table of decisions by status.
func printSummary(w io.Writer, prog *compiler.Program, rules []nrt.RuleSummary) {
	used := map[string]bool{}
	for _, r := range rules {
		for st, n := range r.Statuses {
			if n > 0 {
				used[st] = true
			}
		}
	}
	var cols []string
	for _, s := range policy.Statuses { // in SPEC order
		if st := string(s); used[st] {
			cols = append(cols, st)
			delete(used, st)
		}
	}
	var rest []string
	for st := range used {
		rest = append(rest, st)
	}
	sort.Strings(rest)
	cols = append(cols, rest...)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "rule\tkind\tfirings\t%s\t\n", strings.Join(cols, "\t"))
	var total int64
	for _, r := range rules {
		kind := "state"
		if r.Trigger {
			kind = "trigger"
		}
		row := []string{r.Rule, kind, fmt.Sprint(r.Firings)}
		for _, st := range cols {
			row = append(row, fmt.Sprint(r.Statuses[st]))
		}
		total += r.Firings
		fmt.Fprintf(tw, "%s\t\n", strings.Join(row, "\t"))
	}
	tw.Flush()
	fmt.Fprintf(w, "%d rule(s), %d firing(s)\n", len(rules), total)
}

// printJourneyCounts prints where each journey's instances stand.
func printJourneyCounts(w io.Writer, counts []nrt.JourneyCount) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "journey\tentered\tactive\texited\tcompleted\t\n")
	for _, c := range counts {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t\n", c.Journey, c.Entered, c.Active, c.Exited, c.Completed)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d journey(s)\n", len(counts))
}

// openSinks opens the sinks of the --sink flags (run and serve); a bad spec
// is a usage error naming the flag, and the sinks opened before it are
// closed.
func openSinks(specs []string) ([]nrt.Sink, error) {
	var ss []nrt.Sink
	for _, spec := range specs {
		sk, err := nrt.ParseSink(spec)
		if err != nil {
			closeSinks(ss)
			return nil, usageError("--sink: %v", err)
		}
		// A jsonl file that cannot be there (a directory, a missing
		// directory) would fail every delivery after the tick committed
		// its sends: refused before.
		if j, ok := sk.(*nrt.JSONLSink); ok {
			if st, err := os.Stat(j.Path); err == nil && st.IsDir() {
				closeSinks(ss)
				return nil, usageError("--sink %s: %s is a directory; give a file to append to", spec, j.Path)
			}
			if st, err := os.Stat(filepath.Dir(j.Path)); err != nil || !st.IsDir() {
				closeSinks(ss)
				return nil, usageError("--sink %s: the directory %s does not exist", spec, filepath.Dir(j.Path))
			}
		}
		ss = append(ss, sk)
	}
	return ss, nil
}

// closeSinks closes every sink of ss.
func closeSinks(ss []nrt.Sink) {
	for _, sk := range ss {
		sk.Close()
	}
}
