package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/progress"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"nudge/compiler"
	"nudge/examples"
	"nudge/lang"
	"nudge/lang/diag"
	nrt "nudge/runtime"
	"nudge/runtime/demodata"
	"nudge/stdlib"
)

func newDemoCmd(s *streams) *cobra.Command {
	var (
		dbPath  string
		members int
		seed    int64
	)
	c := &cobra.Command{
		Use:   "demo [--db F] [--members N] [--seed S]",
		Short: "Generate realistic demo data and run the example rules on it",
		Long: `demo fills an empty database with deterministic, realistic members and events
(two brands; the shape of the source figures: most members buy once, the
average order is about 73 CNY, many are dormant) and runs the example rules at
the demo clock ` + formatTimestamp(demodata.DefaultNow) + `, printing what fired per rule.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if members <= 0 || members > demodata.MaxMembers {
				return usageError("--members: must be a number from 1 to %d, got %d", demodata.MaxMembers, members)
			}
			ctx := c.Context()
			db, err := nrt.Open(ctx, dbPath)
			if err != nil {
				return problemError("%v", err)
			}
			defer db.Close()
			var existing int64
			if err := db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM members`).Scan(&existing); err != nil {
				return problemError("reading %s: %v", dbPath, err)
			}
			if existing > 0 {
				return problemError("%s already holds %d members; demo needs an empty database (remove the file or pass another --db)", dbPath, existing)
			}

			bar := newProgressPrinter(s.err, "generating members")
			stats, err := demodata.Generate(ctx, db.SQL(), demodata.Options{Members: members, Seed: seed, Progress: bar.update})
			bar.done()
			if err != nil {
				return problemError("%v", err)
			}
			rows := stats.Members + stats.Events
			fmt.Fprintf(s.out, "generated %d members and %d events in %s (%.0f rows/s) into %s\n",
				stats.Members, stats.Events, stats.Elapsed.Round(time.Millisecond),
				float64(rows)/stats.Elapsed.Seconds(), dbPath)
			for _, b := range stats.BrandNames() {
				bs := stats.Brands[b]
				fmt.Fprintf(s.out, "  brand %-8s %8d members %10d events\n", b, bs.Members, bs.Events)
			}

			prog, err := loadExamples(s)
			if err != nil {
				return err
			}
			compiled, diags := compiler.Compile(prog.Info)
			if diags.HasErrors() {
				diag.RenderText(s.err, diags, prog.Sources)
				return silentExit(exitProblems)
			}
			start := time.Now()
			res, err := db.Run(ctx, compiled, nrt.RunOptions{Now: demodata.DefaultNow, Brand: "acme", SkipDecisions: true})
			if err != nil {
				return problemError("%v", err)
			}
			fmt.Fprintf(s.out, "\nran %d example rules and %d journeys at %s for brand %s in %s\n\n",
				len(compiled.Rules), len(compiled.Journeys), formatTimestamp(res.Now), res.Brand, time.Since(start).Round(time.Millisecond))
			if err := printTables(ctx, s.out, db, compiled, res); err != nil {
				return problemError("%v", err)
			}
			next := demodata.DefaultNow.Add(24 * time.Hour)
			fmt.Fprintf(s.out, "\nnext:\n  nudge repl --db %s --now %q examples/          explore audiences\n", dbPath, formatTimestamp(demodata.DefaultNow))
			fmt.Fprintf(s.out, "  nudge run --db %s --now %q --dry-run examples/   what the next day would decide\n", dbPath, formatTimestamp(next))
			return nil
		},
	}
	c.Flags().StringVar(&dbPath, "db", defaultDB, "DuckDB database file to create")
	c.Flags().IntVar(&members, "members", demodata.DefaultMembers, "number of members to generate (both brands together)")
	c.Flags().Int64Var(&seed, "seed", 1, "random seed; the same seed gives the same data")
	return c
}

// loadExamples checks the example rule files embedded in the binary.
func loadExamples(s *streams) (*lang.Program, error) {
	names, err := fs.Glob(examples.Files, "*.nudge")
	if err != nil {
		return nil, problemError("%v", err)
	}
	sort.Strings(names)
	var srcs []lang.Source
	for _, n := range names {
		if strings.HasSuffix(n, lang.TestSuffix) {
			continue
		}
		b, err := fs.ReadFile(examples.Files, n)
		if err != nil {
			return nil, problemError("%v", err)
		}
		srcs = append(srcs, lang.Source{Name: "examples/" + n, Src: b})
	}
	prog, diags := lang.LoadSources(srcs, stdlib.Env())
	if len(diags) > 0 {
		diag.RenderText(s.err, diags, prog.Sources)
	}
	if diags.HasErrors() {
		return nil, silentExit(exitProblems)
	}
	return prog, nil
}

// progressPrinter draws a bubbles progress bar on a terminal and plain
// percentage lines elsewhere (CI logs, pipes). Both say about how long is
// left, extrapolated from the steps done so far (a 30-day simulation runs
// for minutes), and the plain lines end with the time it took.
type progressPrinter struct {
	w     io.Writer
	label string
	tty   bool
	bar   progress.Model
	last  int
	now   func() time.Time // the clock (replaced in tests)
	start time.Time        // when the printer was made
}

func newProgressPrinter(w io.Writer, label string) *progressPrinter {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = isatty.IsTerminal(f.Fd())
	}
	return &progressPrinter{w: w, label: label, tty: tty, bar: progress.New(progress.WithDefaultGradient(), progress.WithWidth(40)), last: -1,
		now: time.Now, start: time.Now()}
}

// timeLeft estimates the time the remaining steps take at the pace of the
// steps done so far: ", about 3m10s left", or "" before the first step and
// after the last.
func (p *progressPrinter) timeLeft(done, total int) string {
	if done <= 0 || done >= total {
		return ""
	}
	elapsed := p.now().Sub(p.start)
	left := elapsed * time.Duration(total-done) / time.Duration(done)
	return ", about " + left.Round(time.Second).String() + " left"
}

func (p *progressPrinter) update(done, total int) {
	if total <= 0 {
		return
	}
	frac := float64(done) / float64(total)
	pct := int(frac * 100)
	if p.tty {
		// \x1b[K clears what a longer previous line left behind.
		fmt.Fprintf(p.w, "\r%s %s %d/%d%s\x1b[K", p.label, p.bar.ViewAs(frac), done, total, p.timeLeft(done, total))
		return
	}
	switch {
	case done == total:
		fmt.Fprintf(p.w, "%s: %d%% (%d/%d) in %s\n", p.label, pct, done, total, p.now().Sub(p.start).Round(time.Millisecond))
	case pct/25 != p.last/25:
		fmt.Fprintf(p.w, "%s: %d%% (%d/%d)%s\n", p.label, pct, done, total, p.timeLeft(done, total))
	}
	p.last = pct
}

func (p *progressPrinter) done() {
	if p.tty {
		fmt.Fprintln(p.w)
	}
}
