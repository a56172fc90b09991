package report

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"nudge/compiler"
	nrt "nudge/runtime"
	"nudge/runtime/policy"
)

// MinGroup is the smallest treated or control group (in firings) the lift
// is concluded on.
const MinGroup = 30

// z95 is the two-sided 95% normal quantile.
const z95 = 1.959963984540054

// Options selects what a report covers.
type Options struct {
	// From and To bound the firings' fired_at: From <= fired_at < To. Zero
	// values leave that side open.
	From, To time.Time
	// Rule restricts the report to one rule; "" reports every rule.
	Rule string
	// Brand restricts the report to one brand; "" reports every brand.
	Brand string
	// Program gives the rules' conversions and the costs per channel; nil
	// (or a rule it does not know) means the defaults: any purchased within
	// 7 days, sends cost nothing. A program speaks of one brand's rules
	// (another brand's may have the same names), so with a program the
	// report covers its brand only: the program's `brand`, else Brand, else
	// the only brand in the outbox (several are an error, as for run).
	Program *compiler.Program
	// End is the end of observation: conversions after it are not seen
	// (yet). Zero means the latest event time in the database.
	End time.Time
}

// Report is the closed-loop report of a database.
type Report struct {
	From  *time.Time `json:"from,omitempty"`
	To    *time.Time `json:"to,omitempty"`
	End   time.Time  `json:"observed_until"`
	Rules []*Rule    `json:"rules"`
	// noEvents is set when the database had no event to end observation
	// at (End is then maxTime, a bound, not a time to show).
	noEvents bool
	// Programme is the programme section (programme.go), nil without a
	// global control group.
	Programme *Programme `json:"programme,omitempty"`
	// Journeys is the journeys section (journey.go): each journey's funnel
	// and variants.
	Journeys []*Journey `json:"journeys"`
	// Money is the budgets and stocks section (money.go), nil without
	// either.
	Money *Money `json:"money,omitempty"`
}

// Rule is the report of one rule of one brand.
type Rule struct {
	Brand string `json:"brand"`
	Rule  string `json:"rule"`
	Title string `json:"title,omitempty"`
	// Conversion describes the rule's conversion, e.g. "purchased within 7d".
	Conversion string `json:"conversion"`
	// Decisions counts outbox rows (all actions) by status.
	Decisions map[string]int64 `json:"decisions"`
	// Sends counts treated sends (rows, not firings) by channel.
	Sends map[string]int64 `json:"sends"`
	// TreatedRule is "sent" or "pending": which statuses made a firing treated
	// (see the package documentation).
	TreatedRule string   `json:"treated_statuses"`
	Treated     Group    `json:"treated"`
	Control     Group    `json:"control"`
	Lift        *Lift    `json:"lift,omitempty"`
	Cost        float64  `json:"cost"`
	Revenue     float64  `json:"revenue"` // of the treated group's conversions
	ROI         *float64 `json:"roi"`     // nil when the cost is 0
	Days        []Bucket `json:"time_to_conversion"`
}

// Group is the treated or the control group of a rule.
type Group struct {
	Firings   int64   `json:"firings"`
	Converted int64   `json:"converted"`
	Revenue   float64 `json:"revenue"`
	Rate      float64 `json:"rate"` // Converted / Firings, 0 when empty
}

// Lift compares the treated group's conversion rate with the control's.
type Lift struct {
	Diff       float64 `json:"diff"` // rate(treated) - rate(control)
	Low        float64 `json:"ci95_low"`
	High       float64 `json:"ci95_high"`
	Conclusive bool    `json:"conclusive"`
	// Note says why the lift is not conclusive, or whether the interval
	// excludes zero.
	Note string `json:"note"`
}

// Bucket is one bar of the time-to-conversion histogram.
type Bucket struct {
	Label string  `json:"days"`
	Count int64   `json:"conversions"`
	Share float64 `json:"share"` // of the treated conversions
}

// bucketLabels are the histogram's buckets of whole days after the firing.
var bucketLabels = []string{"0", "1", "2", "3", "4-7", "8+"}

// conversionOf returns the conversion of a rule and its title, or the
// conversion of a journey (whose sends are recorded under its name); the
// default when the program does not know the name.
func conversionOf(prog *compiler.Program, rule string) (*compiler.Conversion, string) {
	if prog != nil {
		for _, r := range prog.Rules {
			if r.Name == rule && r.Convert != nil {
				return r.Convert, r.Title
			}
		}
		for _, j := range prog.Journeys {
			if j.Name == rule && j.Convert != nil {
				return j.Convert, ""
			}
		}
	}
	return compiler.DefaultConversion(), ""
}

// describeConversion renders a conversion for people.
func describeConversion(c *compiler.Conversion) string {
	if c.Label != "" {
		return c.Label
	}
	return c.EventType + " within " + fmtDuration(c.Within)
}

func fmtDuration(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return fmt.Sprintf("%dm", d/time.Minute)
}

// maxTime is the end of observation when the database has no events.
var maxTime = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// sendDueSQL is a send's due time, from which its conversion is measured
// (compiler.Conversion.SendConvertedSQL): the outbox's due_at, or for a
// state rule's firing, which has none, the tick's now it was decided at.
const sendDueSQL = "coalesce(due_at, fired_at)"

// periodSQL selects the firings of the period: $from <= fired_at < $to,
// either side open when its parameter is NULL (Options.From, To zero).
const periodSQL = `($from::TIMESTAMP IS NULL OR fired_at >= $from::TIMESTAMP) AND ($to::TIMESTAMP IS NULL OR fired_at < $to::TIMESTAMP)`

// bound is a period bound as a parameter: NULL for the zero time (open).
func bound(t time.Time) sql.NullTime { return sql.NullTime{Time: t, Valid: !t.IsZero()} }

// ruleInOutbox returns an error naming the rules that have decisions when
// rule has none at all (of brand, when not ""): a misspelt rule name, not an
// empty period.
func ruleInOutbox(ctx context.Context, db *sql.DB, rule, brand string) error {
	rows, err := db.QueryContext(ctx, `SELECT DISTINCT rule FROM outbox WHERE ($brand::VARCHAR = '' OR brand = $brand::VARCHAR) ORDER BY rule`,
		sql.Named("brand", brand))
	if err != nil {
		return fmt.Errorf("report: reading the outbox: %w", err)
	}
	var names []string
	err = scanAll(rows, func() error {
		var name string
		if err := rows.Scan(&name); err != nil {
			return err
		}
		names = append(names, name)
		return nil
	})
	if err != nil {
		return fmt.Errorf("report: reading the outbox: %w", err)
	}
	if slices.Contains(names, rule) {
		return nil
	}
	if len(names) == 0 {
		return fmt.Errorf("report: rule %q has no decisions: the outbox is empty (run ticks with `nudge run` or `nudge demo` first)", rule)
	}
	return fmt.Errorf("report: rule %q has no decisions in the outbox; rules with decisions: %s", rule, strings.Join(names, ", "))
}

// programBrand is the brand a report with a program covers (see
// Options.Program): runtime's rule for a tick's brand, over the brands of
// the outbox.
func programBrand(ctx context.Context, db *sql.DB, fileBrand, optBrand string) (string, error) {
	brand, err := nrt.ResolveBrand(ctx, db, fileBrand, optBrand, `SELECT DISTINCT brand FROM outbox ORDER BY brand LIMIT 11`, "the outbox")
	if err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	return brand, nil
}

// Build computes the report over db (a nudge database's handle).
func Build(ctx context.Context, db *sql.DB, opts Options) (*Report, error) {
	rep := &Report{}
	if opts.Program != nil {
		brand, err := programBrand(ctx, db, opts.Program.Brand, opts.Brand)
		if err != nil {
			return nil, err
		}
		opts.Brand = brand
	}
	from, to := bound(opts.From), bound(opts.To)
	if from.Valid {
		rep.From = &opts.From
	}
	if to.Valid {
		rep.To = &opts.To
	}
	rep.End = opts.End
	if rep.End.IsZero() {
		var end sql.NullTime
		if err := db.QueryRowContext(ctx, `SELECT max(ts) FROM events`).Scan(&end); err != nil {
			return nil, fmt.Errorf("report: reading the latest event: %w", err)
		}
		rep.End, rep.noEvents = maxTime, !end.Valid
		if end.Valid {
			rep.End = end.Time
		}
	}
	where := periodSQL + `
	  AND ($rule::VARCHAR = '' OR rule = $rule::VARCHAR)
	  AND ($brand::VARCHAR = '' OR brand = $brand::VARCHAR)`
	args := []any{sql.Named("from", from), sql.Named("to", to), sql.Named("rule", opts.Rule), sql.Named("brand", opts.Brand)}

	byKey := map[[2]string]*Rule{}
	get := func(brand, rule string) *Rule {
		k := [2]string{brand, rule}
		r := byKey[k]
		if r == nil {
			conv, title := conversionOf(opts.Program, rule)
			r = &Rule{Brand: brand, Rule: rule, Title: title, Conversion: describeConversion(conv),
				Decisions: map[string]int64{}, Sends: map[string]int64{}}
			byKey[k] = r
			rep.Rules = append(rep.Rules, r)
		}
		return r
	}
	rows, err := db.QueryContext(ctx, `SELECT brand, rule, status, count(*) FROM outbox WHERE `+where+` GROUP BY ALL ORDER BY ALL`, args...)
	if err != nil {
		return nil, fmt.Errorf("report: reading the outbox: %w", err)
	}
	err = scanAll(rows, func() error {
		var brand, rule, status string
		var n int64
		if err := rows.Scan(&brand, &rule, &status, &n); err != nil {
			return err
		}
		get(brand, rule).Decisions[status] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report: reading the outbox: %w", err)
	}
	if opts.Rule != "" && len(rep.Rules) == 0 {
		if err := ruleInOutbox(ctx, db, opts.Rule, opts.Brand); err != nil {
			return nil, err
		}
	}
	order := map[string]int{}
	if opts.Program != nil {
		for i, r := range opts.Program.Rules {
			order[r.Name] = i + 1
		}
	}
	sort.SliceStable(rep.Rules, func(i, j int) bool {
		return inProgramOrder(order, rep.Rules[i].Brand, rep.Rules[i].Rule, rep.Rules[j].Brand, rep.Rules[j].Rule)
	})
	for _, r := range rep.Rules {
		if err := measure(ctx, db, opts, r, from, to, rep.End); err != nil {
			return nil, err
		}
	}
	if rep.Programme, err = programme(ctx, db, opts, rep); err != nil {
		return nil, err
	}
	if rep.Journeys, err = journeys(ctx, db, opts, sql.NullTime{Time: rep.End, Valid: true}); err != nil {
		return nil, err
	}
	if rep.Money, err = money(ctx, db, opts); err != nil {
		return nil, err
	}
	return rep, nil
}

// measure fills the treated/control groups, lift, cost, ROI and histogram
// of one rule.
func measure(ctx context.Context, db *sql.DB, opts Options, r *Rule, from, to sql.NullTime, end time.Time) error {
	conv, _ := conversionOf(opts.Program, r.Rule)
	// A firing's due time is its sends' (the first, should they differ).
	q := `WITH f AS (
  SELECT firing_id, member_id, min(` + sendDueSQL + `) AS due,
         bool_or(status = ` + policy.Sent.SQL() + `) AS s_sent,
         bool_or(status IN (` + policy.SQLList(policy.Pending, policy.Scheduled) + `)) AS s_queued,
         bool_or(status = ` + policy.HeldOut.SQL() + `) AS s_held
  FROM outbox
  WHERE brand = $brand::VARCHAR AND rule = $rule::VARCHAR AND action = 'send'
    AND ` + periodSQL + `
  GROUP BY firing_id, member_id
), d AS (
  SELECT f.*, c.ts AS conv_ts, coalesce(c.amount, 0)::DOUBLE AS amount,
         floor(epoch(c.ts - f.due) / 86400)::BIGINT AS day
  FROM f, LATERAL (` + conv.FirstConversionSQL("$brand::VARCHAR", "f.member_id", "f.due", "$now::TIMESTAMP") + `) c
)
SELECT CASE WHEN s_sent THEN ` + policy.Sent.SQL() + ` WHEN s_queued THEN ` + policy.Pending.SQL() + ` WHEN s_held THEN ` + policy.HeldOut.SQL() + ` ELSE 'other' END AS grp,
       count(*), count(conv_ts), coalesce(sum(amount) FILTER (WHERE conv_ts IS NOT NULL), 0),
       count(*) FILTER (WHERE day = 0), count(*) FILTER (WHERE day = 1), count(*) FILTER (WHERE day = 2),
       count(*) FILTER (WHERE day = 3), count(*) FILTER (WHERE day BETWEEN 4 AND 7), count(*) FILTER (WHERE day >= 8)
FROM d GROUP BY grp`
	rows, err := db.QueryContext(ctx, q,
		sql.Named("brand", r.Brand), sql.Named("rule", r.Rule), sql.Named("from", from), sql.Named("to", to),
		sql.Named("now", end))
	if err != nil {
		return fmt.Errorf("report: rule %s: measuring conversions: %w", r.Rule, err)
	}
	type grp struct {
		g    Group
		days [6]int64
	}
	groups := map[string]*grp{}
	err = scanAll(rows, func() error {
		var name string
		g := &grp{}
		if err := rows.Scan(&name, &g.g.Firings, &g.g.Converted, &g.g.Revenue,
			&g.days[0], &g.days[1], &g.days[2], &g.days[3], &g.days[4], &g.days[5]); err != nil {
			return err
		}
		groups[name] = g
		return nil
	})
	if err != nil {
		return fmt.Errorf("report: rule %s: measuring conversions: %w", r.Rule, err)
	}
	treated := groups[string(policy.Sent)]
	r.TreatedRule = string(policy.Sent)
	if treated == nil {
		treated = groups[string(policy.Pending)]
		r.TreatedRule = string(policy.Pending)
	}
	if treated == nil {
		treated = &grp{}
	}
	r.Treated = withRate(treated.g)
	if c := groups[string(policy.HeldOut)]; c != nil {
		r.Control = withRate(c.g)
	}
	r.Revenue = r.Treated.Revenue
	for i, l := range bucketLabels {
		b := Bucket{Label: l, Count: treated.days[i]}
		if r.Treated.Converted > 0 {
			b.Share = float64(b.Count) / float64(r.Treated.Converted)
		}
		r.Days = append(r.Days, b)
	}
	if r.Control.Firings > 0 || r.Treated.Firings > 0 {
		l := lift(r.Treated.Firings, r.Treated.Converted, r.Control.Firings, r.Control.Converted)
		r.Lift = &l
	}
	// cost: treated sends by channel
	statuses := policy.Sent.SQL()
	if r.TreatedRule == string(policy.Pending) {
		statuses = policy.SQLList(policy.Pending, policy.Scheduled)
	}
	rows, err = db.QueryContext(ctx, `SELECT coalesce(channel, ''), coalesce(kind, ''), coalesce(content, ''), count(*) FROM outbox
WHERE brand = $brand::VARCHAR AND rule = $rule::VARCHAR AND action = 'send' AND status IN (`+statuses+`)
  AND `+periodSQL+`
GROUP BY ALL ORDER BY ALL`, sql.Named("brand", r.Brand), sql.Named("rule", r.Rule), sql.Named("from", from), sql.Named("to", to))
	if err != nil {
		return fmt.Errorf("report: rule %s: counting sends: %w", r.Rule, err)
	}
	err = scanAll(rows, func() error {
		var ch, kind, content string
		var n int64
		if err := rows.Scan(&ch, &kind, &content, &n); err != nil {
			return err
		}
		r.Sends[ch] += n
		if opts.Program != nil {
			r.Cost += float64(n) * opts.Program.SendCost(ch, kind, content)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("report: rule %s: counting sends: %w", r.Rule, err)
	}
	r.Cost = math.Round(r.Cost*1e6) / 1e6
	if r.Cost > 0 {
		roi := math.Round((r.Revenue-r.Cost)/r.Cost*1e6) / 1e6
		r.ROI = &roi
	}
	return nil
}

func withRate(g Group) Group {
	if g.Firings > 0 {
		g.Rate = float64(g.Converted) / float64(g.Firings)
	}
	return g
}

// lift computes the difference of conversion rates with its 95% Wald
// interval and says whether the groups are large enough to conclude.
func lift(n1, x1, n0, x0 int64) Lift {
	var p1, p0 float64
	if n1 > 0 {
		p1 = float64(x1) / float64(n1)
	}
	if n0 > 0 {
		p0 = float64(x0) / float64(n0)
	}
	l := Lift{Diff: p1 - p0}
	if n1 > 0 && n0 > 0 {
		se := math.Sqrt(p1*(1-p1)/float64(n1) + p0*(1-p0)/float64(n0))
		l.Low, l.High = l.Diff-z95*se, l.Diff+z95*se
	}
	var why []string
	if n0 == 0 {
		l.Note = "no control group: add `holdout P%` to the rule to measure lift (holdout too small to conclude)"
		return l
	}
	if n0 < MinGroup {
		why = append(why, fmt.Sprintf("control has %d firings (< %d)", n0, MinGroup))
	}
	if n1 < MinGroup {
		why = append(why, fmt.Sprintf("treated has %d firings (< %d)", n1, MinGroup))
	}
	if len(why) == 0 {
		pool := float64(x1+x0) / float64(n1+n0)
		for i, n := range []int64{n1, n0} {
			group := [...]string{"the treated group", "the control group"}[i]
			if e := float64(n) * pool; e < 5 {
				why = append(why, fmt.Sprintf("only %.1f conversions expected in %s of %d firings", e, group, n))
				break
			}
			if e := float64(n) * (1 - pool); e < 5 {
				why = append(why, fmt.Sprintf("only %.1f non-conversions expected in %s of %d firings", e, group, n))
				break
			}
		}
	}
	if len(why) > 0 {
		l.Note = "holdout too small to conclude: " + strings.Join(why, "; ")
		return l
	}
	l.Conclusive = true
	switch {
	case l.Low > 0:
		l.Note = "significant: the rule raises conversion"
	case l.High < 0:
		l.Note = "significant: the rule lowers conversion"
	default:
		l.Note = "not significant: the interval contains 0"
	}
	return l
}

// scanAll calls fn for every row and closes rows.
func scanAll(rows *sql.Rows, fn func() error) error {
	defer rows.Close()
	for rows.Next() {
		if err := fn(); err != nil {
			return err
		}
	}
	return rows.Err()
}

// inProgramOrder orders the report's rows of rules or journeys: by brand,
// then as the program declares them (order: a name's 1-based place), names
// the program does not declare last, by name.
func inProgramOrder(order map[string]int, brandA, nameA, brandB, nameB string) bool {
	if brandA != brandB {
		return brandA < brandB
	}
	oa, ob := order[nameA], order[nameB]
	if oa == 0 {
		oa = math.MaxInt
	}
	if ob == 0 {
		ob = math.MaxInt
	}
	if oa != ob {
		return oa < ob
	}
	return nameA < nameB
}
