package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	nrt "nudge/runtime"
	"nudge/runtime/report"
)

func newReportCmd(s *streams) *cobra.Command {
	var (
		dbPath, fromFlag, toFlag, rule, brand, format, out string
		endFlag                                            string
	)
	c := &cobra.Command{
		Use:   "report [--db F] [--from D] [--to D] [--rule NAME] [--format text|json|html] [PATH...]",
		Short: "Measure each rule: conversions, lift against the holdout, cost and ROI",
		Long: `report reads the outbox and the events and prints, per rule, the decisions by
status, sends, conversions and revenue within the rule's attribution window
(` + "`convert on EVENT ... within D`" + `, default: any purchased within 7 days), the
conversion rate of treated firings against the holdout group with the lift
and its 95% confidence interval, cost (` + "`cost CHANNEL AMOUNT`" + `) and ROI, and
a histogram of the days from firing to conversion.

Treated firings are those with a sent send; for a rule that dispatched
nothing (no --sink), those with a pending or scheduled send. The control
group is the held_out firings. Give the rule files (PATH...) so the report
knows each rule's conversion and the costs; without them the defaults apply.

--from and --to select firings by fired_at (from inclusive, to exclusive; a
--to without a time of day includes that whole day; without --to the period
has no end). The database is opened read-only: a file the user may only read
will do; one written by an older nudge must first be upgraded with 'nudge
migrate'. --format html writes
one self-contained file (--out, default nudge-report.html) with SVG charts.`,
		RunE: func(c *cobra.Command, args []string) error {
			if format != "text" && format != "json" && format != "html" {
				return usageError("--format: unknown format %q; use text, json or html", format)
			}
			var opts report.Options
			var err error
			if fromFlag != "" {
				if opts.From, err = parseTimestamp("from", fromFlag); err != nil {
					return err
				}
			}
			if toFlag != "" {
				if opts.To, err = parseTimestamp("to", toFlag); err != nil {
					return err
				}
				if opts.To.Equal(opts.To.Truncate(24*time.Hour)) && len(toFlag) == len("2006-01-02") {
					opts.To = opts.To.Add(24 * time.Hour)
				}
			}
			if endFlag != "" {
				if opts.End, err = parseTimestamp("until", endFlag); err != nil {
					return err
				}
			}
			if !opts.From.IsZero() && !opts.To.IsZero() && !opts.From.Before(opts.To) {
				return usageError("--from %s is not before --to %s", fromFlag, toFlag)
			}
			opts.Rule, opts.Brand = rule, brand
			if len(args) > 0 {
				compiled, err := compileProgram(s, args) // (Compile attaches conversions and costs)
				if err != nil {
					return err
				}
				opts.Program = compiled
				if err := checkRuleFlag(compiled, rule); err != nil {
					return err
				}
				if err := checkBrandFlag(compiled, brand); err != nil {
					return err
				}
			}
			if err := nrt.CheckDatabaseFile(dbPath); err != nil {
				return problemError("%v", err)
			}
			if err := refuseServed(dbPath, "a report reads the whole file: stop the service (SIGTERM), report, and start it again; decisions are also at GET /v1/decisions"); err != nil {
				return err
			}
			db, err := nrt.OpenReadOnly(c.Context(), dbPath)
			if err != nil {
				return problemError("%v", err)
			}
			defer db.Close()
			fileBrand := ""
			if opts.Program != nil {
				fileBrand = opts.Program.Brand
			}
			if err := warnBrand(c.Context(), s, db, fileBrand, brand); err != nil {
				return err
			}
			rep, err := report.Build(c.Context(), db.SQL(), opts)
			if err != nil {
				return problemError("%v", err)
			}
			write := func(w io.Writer) error {
				switch format {
				case "json":
					return rep.WriteJSON(w)
				case "html":
					return rep.WriteHTML(w, time.Now())
				}
				return rep.WriteText(w)
			}
			// The html report goes to --out; text and json to stdout,
			// unless --out is given.
			if format != "html" && !c.Flags().Changed("out") {
				return write(s.out)
			}
			f, err := os.Create(out)
			if err != nil {
				return problemError("--out: %v", err)
			}
			if err := write(f); err != nil {
				f.Close()
				return problemError("writing %s: %v", out, err)
			}
			if err := f.Close(); err != nil {
				return problemError("writing %s: %v", out, err)
			}
			fmt.Fprintf(s.out, "wrote %s (%d rules)\n", out, len(rep.Rules))
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&dbPath, "db", defaultDB, "DuckDB database file")
	f.StringVar(&fromFlag, "from", "", "first firing time to include (2024-11-01, 2024-11-01 10:00, ...)")
	f.StringVar(&toFlag, "to", "", "end of the firings to include (exclusive; a date includes the whole day)")
	f.StringVar(&endFlag, "until", "", "end of observation for conversions (default: the latest event)")
	f.StringVar(&rule, "rule", "", "report only this rule")
	f.StringVar(&brand, "brand", "", "report only this brand")
	f.StringVar(&format, "format", "text", "output format: text, json or html")
	f.StringVar(&out, "out", "nudge-report.html", "file the report is written to (html: always; text and json: when given)")
	return c
}
