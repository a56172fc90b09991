package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"nudge/compiler"
	"nudge/lang/diag"
	nrt "nudge/runtime"
	"nudge/runtime/why"
)

func newWhyCmd(s *streams) *cobra.Command {
	var (
		dbPath, nowFlag, rule, brand, output string
		lookback                             time.Duration
	)
	c := &cobra.Command{
		Use:   "why MEMBER [--rule NAME] [--now TS] [--db F] [--output text|json] PATH...",
		Short: "Explain why a member would or would not get each rule's action",
		Long: `why explains, for one member at --now, each rule (or the one named by --rule):
the condition as a tree with each atom's value and verdict, the trigger events
the rule would consider, each policy's state for the member (holdout group,
consent, unanswered sends, cap usage, quiet hours, last firing and limit), and
a closing line: would fire / would not fire, and why. It uses the rules' own
SQL and a dry run of the runtime, so it agrees with 'nudge run --dry-run'.
Nothing is written: the database is opened read-only (a file the user may
only read will do; one written by an older nudge must first be upgraded with
'nudge migrate'). When one of the member's sends competes for a stock or a
budget, the whole brand's dry run is a transaction on the file rolled back,
as the REPL's (a file the user may only read: on a copy of every member's
rows). --output json prints the same as one line of JSON.
A member the rules' brand does not have is an error (exit 1) naming the
brands that have it.`,
		Args: needArgs("MEMBER", "PATH"),
		RunE: func(c *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return usageError("--output: unknown format %q; use text or json", output)
			}
			now, err := nowFlagValue(c, nowFlag)
			if err != nil {
				return err
			}
			member, paths := args[0], args[1:]
			if n, ok := servedNote(dbPath); ok {
				return whyViaService(c.Context(), s, n, member, rule, brand, nowFlag, output)
			}
			prog, err := loadProgram(s, paths)
			if err != nil {
				return err
			}
			compiled, diags := compiler.Compile(prog.Info)
			exps, wdiags := compiler.Why(prog.Info)
			diags = append(diags, wdiags...)
			if diags.HasErrors() {
				diag.RenderText(s.err, diags.Dedup(), prog.Sources)
				return silentExit(exitProblems)
			}
			if err := checkRuleFlag(compiled, rule); err != nil {
				return err
			}
			if err := checkBrandFlag(compiled, brand); err != nil {
				return err
			}
			// Read-only: the file is never written or migrated, and opens
			// when the user may only read it. The scratch holds the
			// member's rows; when the member's sends compete for a stock
			// or a budget, the dry run decides for the whole brand, as the
			// tick would, on the file (Whole).
			db, err := nrt.OpenScratch(c.Context(), dbPath, []string{member})
			if err != nil {
				return problemError("%v", err)
			}
			defer db.Close()
			if now, err = wallClock(c.Context(), db, now); err != nil {
				return err
			}
			if err := warnBrand(c.Context(), s, db, compiled.Brand, brand); err != nil {
				return err
			}
			// An unknown member is a problem (exit 1), not a report of
			// rules that do not fire for no one.
			if err := why.CheckMember(c.Context(), db, compiled, member, why.Options{Brand: brand}); err != nil {
				return problemError("why: %v", err)
			}
			whole, closeWhole := wholeOnFile(dbPath)
			defer closeWhole()
			opts := why.Options{Now: now, Brand: brand, Rule: rule, Lookback: lookback, Whole: whole}
			if opts.Verdicts, err = why.DryRun(c.Context(), db, compiled, []string{member}, opts); err != nil {
				return problemError("why: %v", err)
			}
			journeys, err := explainJourneys(c.Context(), db, compiled, prog.Info, member, &opts)
			if err != nil {
				return problemError("why: %v", err)
			}
			if opts.Rule == journeyOnly || (len(compiled.Rules) == 0 && len(journeys) > 0) {
				if output == "json" {
					return problemError("why: --output json explains rules only; drop --rule %s or use text", rule)
				}
				fmt.Fprintf(s.out, "member %s at %s\n", member, now.Format("2006-01-02 15:04:05"))
				why.WriteJourneysText(s.out, journeys)
				return nil
			}
			reps, err := why.Explain(c.Context(), db, compiled, exps, []string{member}, opts)
			if err != nil {
				return problemError("why: %v", err)
			}
			for _, r := range reps {
				if output == "json" {
					if err := r.WriteJSON(s.out); err != nil {
						return err
					}
					continue
				}
				r.WriteText(s.out)
				why.WriteJourneysText(s.out, journeys)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&dbPath, "db", defaultDB, "DuckDB database file")
	f.StringVar(&nowFlag, "now", "", "evaluation time (2024-11-11T12:00:00, 2024-11-11 12:00, 2024-11-11); default: wall clock")
	f.StringVar(&rule, "rule", "", "explain only this rule")
	f.StringVar(&output, "output", "text", "output format: text or json (one line)")
	f.StringVar(&brand, "brand", "", "brand (required when the database holds several and the rules name none)")
	lookbackVar(f, &lookback, "on a rule's first run, consider trigger events this far back")
	return c
}

// wholeOnFile returns why's Whole for the database file at path: the
// whole brand's dry run on the file itself, as the REPL's dry runs (a
// rolled-back transaction writes nothing, and no member's rows are
// copied). A file this user may not write (or one another process holds)
// takes a scratch of every member's rows, and so does one with a
// write-ahead log left by a process that died: an open for writing would
// replay it into the file. done closes what Whole opened and left open.
//
// What Whole opens stays open until done, once why has finished reading:
// POSIX locks belong to the process, so closing a handle on the file
// (the file itself, or a scratch that attaches it) would release the
// lock of why's own scratch on it as well, and another process could
// then write the file while why still reads it.
func wholeOnFile(path string) (whole func(context.Context) (*nrt.DB, func(), error), done func()) {
	var held *nrt.DB
	whole = func(ctx context.Context) (*nrt.DB, func(), error) {
		if held != nil {
			return held, func() {}, nil
		}
		if db, err := nrt.OpenDryRun(ctx, path); err == nil {
			held = db
			return held, func() {}, nil
		}
		all, err := nrt.OpenScratch(ctx, path, nil)
		if err != nil {
			return nil, nil, err
		}
		held = all
		return held, func() {}, nil
	}
	return whole, func() {
		if held != nil {
			held.Close()
		}
	}
}
