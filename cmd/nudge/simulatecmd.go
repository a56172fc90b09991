package main

import (
	"bufio"
	"encoding/json"
	"os"
	"time"

	"github.com/spf13/cobra"

	nrt "nudge/runtime"
	"nudge/runtime/simulate"
)

func newSimulateCmd(s *streams) *cobra.Command {
	var (
		dbPath, fromFlag, toFlag, brand, format, lastPath, keepPath string
		keepBefore                                                  string
		step, lookback                                              time.Duration
	)
	c := &cobra.Command{
		Use:   "simulate --from D --to D [--step 1h] [--db F] PATH...",
		Short: "Replay ticks over historical events to see what rules would have done",
		Long: `simulate copies the members and events of the database into a scratch
database in memory (the real outbox, tags and rule state are never touched;
the replay starts with an empty outbox), runs a tick every --step from --from
to --to exactly as 'nudge run --now' would, and reports per rule per day the
decisions by status, how often caps bit, the members hit by several rules,
the total cost (cost CHANNEL AMOUNT) and how many targeted members bought
anyway within the rule's conversion window: the baseline a rule must beat.
Nothing is dispatched. Ctrl-C stops at once (the tick in progress is rolled
back) and reports the ticks completed so far.

--last-decisions FILE writes the last tick's decisions as 'run --output jsonl'
lines; --keep FILE saves the scratch database (a new file) at the end, and
--keep-before-last FILE saves it as it was before the last tick, so that
'nudge run --db FILE --now <last tick>' can be compared with the simulation.`,
		Args: needArgs("PATH"),
		RunE: func(c *cobra.Command, args []string) error {
			if format != "text" && format != "json" {
				return usageError("--format: unknown format %q; use text or json", format)
			}
			if fromFlag == "" || toFlag == "" {
				return usageError("simulate: --from and --to are required")
			}
			from, err := parseTimestamp("from", fromFlag)
			if err != nil {
				return err
			}
			to, err := parseTimestamp("to", toFlag)
			if err != nil {
				return err
			}
			if to.Before(from) {
				return usageError("--to %s is before --from %s", toFlag, fromFlag)
			}
			if step <= 0 {
				return usageError("--step: must be positive, got %s", step)
			}
			// A marketer who asks for 100 years at 1m steps has mistyped
			// a date or the step: refused, not started (it would run for
			// days); a million ticks is a year at 1m.
			if n := to.Sub(from)/step + 1; n > maxSimulateTicks {
				return usageError("--step %s makes %d ticks from --from to --to, more than the %d a simulation takes; use a larger --step or a shorter period", step, n, maxSimulateTicks)
			}
			compiled, err := compileProgram(s, args) // (Compile attaches conversions and costs)
			if err != nil {
				return err
			}
			if err := checkBrandFlag(compiled, brand); err != nil {
				return err
			}
			opts := simulate.Options{Source: dbPath, From: from, To: to, Step: step, Brand: brand, Lookback: lookback, Keep: keepPath, KeepBeforeLast: keepBefore}
			if lastPath != "" {
				f, err := os.Create(lastPath)
				if err != nil {
					return problemError("--last-decisions: %v", err)
				}
				defer f.Close()
				bw := bufio.NewWriter(f)
				defer bw.Flush()
				enc := json.NewEncoder(bw)
				opts.LastDecisions = func(d nrt.Decision) error { return enc.Encode(d) }
			}
			bar := newProgressPrinter(s.err, "simulating")
			opts.Progress = bar.update
			res, err := simulate.Run(c.Context(), compiled, opts)
			bar.done()
			if err != nil {
				return problemError("%v", err)
			}
			printWarning(s, res.Warning)
			if format == "json" {
				err = res.WriteJSON(s.out)
			} else {
				err = res.WriteText(s.out)
			}
			if err != nil {
				return err
			}
			if res.Interrupted {
				s.err.Write([]byte("nudge: simulation interrupted; the figures cover the ticks simulated so far\n"))
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&dbPath, "db", defaultDB, "DuckDB database file holding the members and events to replay (only read)")
	f.StringVar(&fromFlag, "from", "", "time of the first tick (2024-10-01, 2024-10-01 10:00, ...)")
	f.StringVar(&toFlag, "to", "", "time of the last tick (included when it falls on a step)")
	durationVar(f, &step, "step", time.Hour, "time between ticks")
	f.StringVar(&brand, "brand", "", "brand to simulate (required when the database holds several and the rules name none)")
	lookbackVar(f, &lookback, "on the first tick, consider trigger events this far back")
	f.StringVar(&format, "format", "text", "output format: text or json")
	f.StringVar(&lastPath, "last-decisions", "", "write the last tick's decisions to this file (jsonl)")
	f.StringVar(&keepPath, "keep", "", "save the scratch database to this new file at the end")
	f.StringVar(&keepBefore, "keep-before-last", "", "save the scratch database to this new file before the last tick")
	return c
}

// maxSimulateTicks is the most ticks one simulate runs (about two years
// at one tick a minute).
const maxSimulateTicks = 1_000_000
