package simulate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"nudge/compiler"
	"nudge/internal/sqlquote"
	nrt "nudge/runtime"
	"nudge/runtime/policy"
	"nudge/runtime/report"
)

// Options configures a simulation.
type Options struct {
	// Source is the database file whose members and events are replayed.
	Source string
	// From and To are the first and the last tick (To is included when it
	// falls on a step). Step is the time between ticks (default 1 hour).
	From, To time.Time
	Step     time.Duration
	// Brand and Lookback are passed to every tick (see runtime.RunOptions).
	Brand    string
	Lookback time.Duration
	// Progress, when set, is called after every step with the steps done
	// and the total.
	Progress func(done, total int)
	// LastDecisions, when set, receives every decision of the last step.
	LastDecisions func(nrt.Decision) error
	// Keep, when not empty, is a database file the scratch database is
	// written to at the end (it must not exist), for inspection or for
	// running further ticks on the simulated history.
	Keep string
	// KeepBeforeLast, when not empty, is a new database file the scratch
	// database is written to right before the last tick: running
	// `nudge run --db KeepBeforeLast --now <last tick>` makes the decisions
	// of the simulation's last tick.
	KeepBeforeLast string
	// TickByTick runs every tick with runtime.DB.Run instead of replaying
	// the ticks of a day in rounds (runtime.DB.Replay), which gives the
	// same decisions sooner; for tests that compare the two.
	TickByTick bool
}

// Result is what a simulation found.
type Result struct {
	From, To    time.Time
	Step        time.Duration
	Steps       int  // ticks run
	Total       int  // ticks planned
	Interrupted bool // the context ended before the last step
	// Replayed counts the ticks replayed in rounds (runtime.DB.Replay);
	// the others were run one by one.
	Replayed int
	Brand    string
	// Days holds one row per rule and day with decisions, in day then
	// program order.
	Days []Day
	// Rules holds the totals per rule, in program order.
	Rules []RuleTotal
	// Journeys holds the totals per journey, in program order (SPEC §8:
	// simulate includes journeys).
	Journeys []JourneyTotal
	// Overlap counts, per day, members who got sends from two or more rules
	// that day; OverlapTotal counts members hit by several rules over the
	// whole period.
	Overlap      map[string]int64
	OverlapTotal int64
	// Cost is the total cost of the sends, rules' and journeys' (pending
	// or scheduled: nothing is dispatched in a simulation) at the
	// program's `cost` per channel and per kind and content.
	Cost float64
	// Elapsed is the wall time of the simulation.
	Elapsed time.Duration
	// LastRunNow is the time of the last tick run.
	LastRunNow time.Time
	// Warning is runtime.BrandWarning for the simulated brand: it has no
	// members in the database ("" when it has, or none is named).
	Warning string
}

// Day is what one rule did on one day.
type Day struct {
	Day      string // 2006-01-02
	Rule     string
	Firings  int64
	Statuses map[string]int64 // decisions by status
	// Repeats are refusals (capped, no_consent) not recorded again because
	// the previous tick refused the same member (see runtime's outbox docs).
	Repeats int64
}

// RuleTotal sums one rule over the period.
type RuleTotal struct {
	Rule     string
	Firings  int64
	Statuses map[string]int64
	Repeats  int64
	// Capped counts the sends caps refused (recorded decisions; refusals
	// repeated tick after tick are in Repeats).
	Capped int64
	// Sends are the sends that would have gone out (pending or scheduled).
	Sends int64
	Cost  float64
	// Targeted firings (would-be sends) and, of those, the members who
	// converted anyway within the rule's conversion window (the baseline a
	// rule must beat); Conversion describes the window.
	Targeted     int64
	BoughtAnyway int64
	BaselineRate float64
	Conversion   string
}

// JourneyTotal sums one journey over the period: its enter, exit and
// complete decisions (held-out entries included, as `run` counts them)
// and its sends, as RuleTotal's.
type JourneyTotal struct {
	Journey   string
	Entered   int64
	Exited    int64
	Completed int64
	// Sends are the sends that would have gone out (pending or
	// scheduled), Capped those caps refused, Refused the other refusals
	// (held out, no consent, quiet hours expired, ...).
	Sends   int64
	Capped  int64
	Refused int64
	Cost    float64
}

// steps lists the tick times from from to to (inclusive) every step.
func steps(from, to time.Time, step time.Duration) []time.Time {
	var out []time.Time
	for t := from; !t.After(to); t = t.Add(step) {
		out = append(out, t)
	}
	return out
}

// Run runs the simulation. When ctx ends between or during steps, Run stops
// (a tick in progress is rolled back) and returns the result of the steps
// completed with Interrupted set and a nil error.
func Run(ctx context.Context, prog *compiler.Program, opts Options) (*Result, error) {
	start := time.Now()
	if opts.Step <= 0 {
		opts.Step = time.Hour
	}
	if opts.To.Before(opts.From) {
		return nil, fmt.Errorf("simulate: --to %s is before --from %s", opts.To.Format(tsLayout), opts.From.Format(tsLayout))
	}
	for _, p := range []string{opts.Keep, opts.KeepBeforeLast} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return nil, fmt.Errorf("simulate: %s already exists; the scratch copy is only written to a new file", p)
		}
		// Its directory must be there before the ticks, not found
		// missing after them.
		if st, err := os.Stat(filepath.Dir(p)); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("simulate: %s: the directory %s does not exist; the scratch copy is written to a new file in an existing directory", p, filepath.Dir(p))
		}
	}
	ticks := steps(opts.From, opts.To, opts.Step)
	res := &Result{From: opts.From, To: opts.To, Step: opts.Step, Total: len(ticks), Overlap: map[string]int64{}}
	brand := opts.Brand
	if brand == "" {
		brand = prog.Brand
	}
	db, err := scratch(ctx, opts.Source, brand, &res.Warning)
	if err != nil {
		return nil, err
	}
	defer db.Close()

	type key struct{ day, rule string }
	days := map[key]*Day{}
	record := func(r *nrt.RunResult) {
		res.Steps++
		res.Brand = r.Brand
		res.LastRunNow = r.Now
		day := r.Now.Format("2006-01-02")
		for _, s := range r.Rules {
			if s.Firings == 0 && s.Repeats == 0 && len(s.Statuses) == 0 {
				continue
			}
			k := key{day, s.Rule}
			d := days[k]
			if d == nil {
				d = &Day{Day: day, Rule: s.Rule, Statuses: map[string]int64{}}
				days[k] = d
			}
			d.Firings += s.Firings
			d.Repeats += s.Repeats
			for st, n := range s.Statuses {
				d.Statuses[st] += n
			}
		}
		if opts.Progress != nil {
			opts.Progress(res.Steps, len(ticks))
		}
	}
	// A program that can be replayed in rounds runs its ticks without the
	// budget skip (a replay starts only from ticks that skipped nothing,
	// and rounds count every refusal of a spent budget as a repeat). One
	// that cannot (journeys, strata, a rule without a lane form) runs
	// every tick as `nudge run` does, skip included: the same decisions,
	// the refusals a skip spares not counted as repeats, about half the
	// time of a tick on the examples.
	canReplay := nrt.CanReplay(prog)
	var last *nrt.RunResult
	for i := 0; i < len(ticks); {
		if ctx.Err() != nil {
			res.Interrupted = true
			break
		}
		// The ticks after the first of a day, but the last, replayed in
		// rounds (the first of a day may re-evaluate everyone; the last is
		// run on its own for its decisions and KeepBeforeLast).
		if j := replayable(ticks, i, opts.TickByTick || !canReplay); j > i {
			rs, err := db.Replay(ctx, prog, nrt.RunOptions{Brand: opts.Brand, Lookback: opts.Lookback}, ticks[i-1], ticks[i:j])
			switch {
			case err == nil:
				for _, r := range rs {
					record(r)
				}
				res.Replayed += len(rs)
				i = j
				continue
			case ctx.Err() != nil:
				res.Interrupted = true
			case !nrt.IsNotReplayable(err):
				return nil, fmt.Errorf("simulate: ticks %s to %s: %w", ticks[i].Format(tsLayout), ticks[j-1].Format(tsLayout), err)
			}
			if res.Interrupted {
				break
			}
		}
		now := ticks[i]
		if i == len(ticks)-1 && opts.KeepBeforeLast != "" {
			if err := keep(ctx, db, opts.KeepBeforeLast); err != nil {
				return nil, err
			}
		}
		r, err := db.Run(ctx, prog, nrt.RunOptions{Now: now, Brand: opts.Brand, Lookback: opts.Lookback, SkipDecisions: true, NoBudgetSkip: canReplay})
		if err != nil {
			if ctx.Err() != nil {
				res.Interrupted = true
				break
			}
			return nil, fmt.Errorf("simulate: tick at %s: %w", now.Format(tsLayout), err)
		}
		last = r
		record(r)
		i++
	}
	// Aggregates read the scratch database: use a context that is not the
	// (possibly interrupted) caller's, bounded in time.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	if last != nil && !res.Interrupted && opts.LastDecisions != nil {
		if err := db.Decisions(actx, last.RunID, opts.LastDecisions); err != nil {
			return nil, fmt.Errorf("simulate: reading the last step's decisions: %w", err)
		}
	}
	order := map[string]int{}
	for i, r := range prog.Rules {
		order[r.Name] = i
	}
	for _, d := range days {
		res.Days = append(res.Days, *d)
	}
	sort.Slice(res.Days, func(i, j int) bool {
		a, b := res.Days[i], res.Days[j]
		if a.Day != b.Day {
			return a.Day < b.Day
		}
		return order[a.Rule] < order[b.Rule]
	})
	if err := totals(actx, db, prog, res); err != nil {
		return nil, err
	}
	if opts.Keep != "" {
		if err := keep(actx, db, opts.Keep); err != nil {
			return nil, err
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

const tsLayout = "2006-01-02 15:04:05"

// replayable returns the end (exclusive) of the run of ticks from i that
// Run may replay in rounds: ticks after the first, on the date of the tick
// before i, not the last one; i when there are none.
func replayable(ticks []time.Time, i int, tickByTick bool) int {
	if tickByTick || i == 0 {
		return i
	}
	day := ticks[i-1].Format("2006-01-02")
	j := i
	for j < len(ticks)-1 && ticks[j].Format("2006-01-02") == day {
		j++
	}
	return j
}

// scratch opens an in-memory nudge database holding the members and events
// of the file at source, with empty runtime state. With a brand, only that
// brand's rows are copied: a program for one brand can read no others
// (brand isolation), so the ticks are the same and cheaper; *warning is
// set to runtime.BrandWarning for that brand in source.
func scratch(ctx context.Context, source, brand string, warning *string) (*nrt.DB, error) {
	if err := nrt.CheckDatabaseFile(source); err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	db, err := nrt.Open(ctx, ":memory:")
	if err != nil {
		return nil, fmt.Errorf("simulate: scratch database: %w", err)
	}
	src, err := sqlquote.String(source)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("simulate: database %q %w", source, err)
	}
	only := ""
	if brand != "" {
		b, err := sqlquote.String(brand)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("simulate: brand %q %w", brand, err)
		}
		only = " WHERE brand = " + b
	}
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		db.Close()
		return nil, err
	}
	defer conn.Close()
	stmts := []string{
		"ATTACH " + src + " AS nudge_src (READ_ONLY)",
		"INSERT INTO members BY NAME SELECT * FROM nudge_src.members" + only,
		"INSERT INTO events BY NAME SELECT * FROM nudge_src.events" + only + " ORDER BY seq",
		"UPDATE counters SET value = (SELECT coalesce(max(seq), 0) FROM nudge_src.events) WHERE name = 'event_seq'",
		"DETACH nudge_src",
	}
	for i, q := range stmts {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			db.Close()
			if i == 0 { // the file's problems, worded as every open words them
				return nil, fmt.Errorf("simulate: %w", nrt.OpenError(source, err))
			}
			return nil, fmt.Errorf("simulate: copying %s into the scratch database: %w", source, err)
		}
		if i == 0 { // (attached: the source's brands are readable)
			if *warning, err = nrt.BrandWarning(ctx, conn, "nudge_src.members", brand); err != nil {
				db.Close()
				return nil, fmt.Errorf("simulate: %s: %w", source, err)
			}
		}
	}
	return db, nil
}

// keep writes the scratch database to a new file.
func keep(ctx context.Context, db *nrt.DB, path string) error {
	lit, err := sqlquote.String(path)
	if err != nil {
		return fmt.Errorf("simulate: %q %w", path, err)
	}
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, q := range []string{
		"ATTACH " + lit + " AS nudge_keep",
		"COPY FROM DATABASE memory TO nudge_keep",
		"DETACH nudge_keep",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("simulate: writing the scratch database to %s: %w", path, err)
		}
	}
	return nil
}

// journeyTotals fills res.Journeys (one row per journey of prog, in
// program order) from the scratch outbox, but for their costs, and
// returns them by name for totals to add the costs to.
func journeyTotals(ctx context.Context, db *nrt.DB, prog *compiler.Program, res *Result) (map[string]*JourneyTotal, error) {
	res.Journeys = make([]JourneyTotal, len(prog.Journeys))
	byJourney := map[string]*JourneyTotal{}
	for i, j := range prog.Journeys {
		res.Journeys[i].Journey = j.Name
		byJourney[j.Name] = &res.Journeys[i]
	}
	if len(prog.Journeys) == 0 {
		return byJourney, nil
	}
	rows, err := db.SQL().QueryContext(ctx, `SELECT journey, count(*) FILTER (WHERE action = 'enter'), count(*) FILTER (WHERE action = 'exit'),
       count(*) FILTER (WHERE action = 'complete'), count(*) FILTER (WHERE `+policy.CountedSendSQL("")+`),
       count(*) FILTER (WHERE action = 'send' AND status = '`+string(policy.Capped)+`'),
       count(*) FILTER (WHERE action = 'send' AND status NOT IN (`+policy.CountedSQL+`, '`+string(policy.Capped)+`'))
FROM outbox WHERE journey IS NOT NULL GROUP BY journey`)
	if err != nil {
		return nil, fmt.Errorf("simulate: journeys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var j JourneyTotal
		if err := rows.Scan(&j.Journey, &j.Entered, &j.Exited, &j.Completed, &j.Sends, &j.Capped, &j.Refused); err != nil {
			return nil, err
		}
		if p := byJourney[j.Journey]; p != nil {
			*p = j
		}
	}
	return byJourney, rows.Err()
}

// totals fills the per-rule totals, overlap, cost and baseline.
func totals(ctx context.Context, db *nrt.DB, prog *compiler.Program, res *Result) error {
	q := db.SQL()
	byRule := map[string]*RuleTotal{}
	for _, r := range prog.Rules {
		byRule[r.Name] = &RuleTotal{Rule: r.Name, Statuses: map[string]int64{}}
	}
	for _, d := range res.Days {
		t := byRule[d.Rule]
		if t == nil {
			continue
		}
		t.Firings += d.Firings
		t.Repeats += d.Repeats
		for st, n := range d.Statuses {
			t.Statuses[st] += n
		}
	}
	// Capped counts the recorded cap refusals; repeated refusals (cap or
	// consent, not recorded again) are in Repeats.
	for _, t := range byRule {
		t.Capped = t.Statuses[string(policy.Capped)]
		t.Sends = t.Statuses[string(policy.Pending)] + t.Statuses[string(policy.Scheduled)]
	}
	byJourney, err := journeyTotals(ctx, db, prog, res)
	if err != nil {
		return err
	}
	rows, err := q.QueryContext(ctx, `SELECT rule, coalesce(channel, ''), coalesce(kind, ''), coalesce(content, ''), count(*) FROM outbox
WHERE `+policy.CountedSendSQL("")+` GROUP BY ALL`)
	if err != nil {
		return fmt.Errorf("simulate: costs: %w", err)
	}
	for rows.Next() {
		var rule, ch, kind, content string
		var n int64
		if err := rows.Scan(&rule, &ch, &kind, &content, &n); err != nil {
			rows.Close()
			return err
		}
		// Every send counts in the total: a rule's or a journey's.
		c := float64(n) * prog.SendCost(ch, kind, content)
		res.Cost += c
		if t := byRule[rule]; t != nil {
			t.Cost += c
		} else if j := byJourney[rule]; j != nil {
			j.Cost += c
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = q.QueryContext(ctx, `WITH hit AS (
  SELECT fired_at::DATE AS day, member_id FROM outbox
  WHERE `+policy.CountedSendSQL("")+`
  GROUP BY ALL HAVING count(DISTINCT rule) >= 2
) SELECT strftime(day, '%Y-%m-%d'), count(*) FROM hit GROUP BY ALL`)
	if err != nil {
		return fmt.Errorf("simulate: overlap: %w", err)
	}
	for rows.Next() {
		var day string
		var n int64
		if err := rows.Scan(&day, &n); err != nil {
			rows.Close()
			return err
		}
		res.Overlap[day] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT member_id FROM outbox
WHERE `+policy.CountedSendSQL("")+`
GROUP BY member_id HAVING count(DISTINCT rule) >= 2)`).Scan(&res.OverlapTotal); err != nil {
		return fmt.Errorf("simulate: overlap: %w", err)
	}
	// baseline: the report's treated group is the would-be sends (nothing
	// is dispatched in a simulation), its conversions the members who
	// bought anyway.
	rep, err := report.Build(ctx, q, report.Options{Program: prog, Brand: res.Brand})
	if err != nil {
		return fmt.Errorf("simulate: baseline: %w", err)
	}
	for _, r := range rep.Rules {
		if t := byRule[r.Rule]; t != nil {
			t.Targeted = r.Treated.Firings
			t.BoughtAnyway = r.Treated.Converted
			t.BaselineRate = r.Treated.Rate
			t.Conversion = r.Conversion
		}
	}
	for _, r := range prog.Rules {
		t := byRule[r.Name]
		if t.Conversion == "" && r.Convert != nil {
			t.Conversion = r.Convert.Label
		}
		res.Rules = append(res.Rules, *t)
	}
	return nil
}
