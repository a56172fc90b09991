package report

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"time"

	"nudge/lang/check"
	"nudge/runtime/policy"
)

// Programme is the report's programme section (SPEC §9): with a global
// control group (`holdout P% of members`), whether the whole programme
// pays. Every member of the brand is in one of two groups, decided by the
// global control group's hash: treated (the programme may send to them)
// and control (no marketing send). The comparison is by intent to treat:
// a treated member counts whether or not a rule sent them anything, so the
// difference measures the programme, not the selection of its audiences.
// Conversion is a purchase in the period, revenue the purchases' amounts.
type Programme struct {
	Brand   string    `json:"brand"`
	Percent float64   `json:"control_percent"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Treated Cohort    `json:"treated"`
	Control Cohort    `json:"control"`
	// Lift compares the conversion rates (pp), with its 95% interval.
	Lift Lift `json:"lift"`
	// RevenueLift is the difference of revenue per member, with its 95%
	// (Welch) interval.
	RevenueLift     float64 `json:"revenue_per_member_diff"`
	RevenueLow      float64 `json:"revenue_per_member_ci95_low"`
	RevenueHigh     float64 `json:"revenue_per_member_ci95_high"`
	Incremental     float64 `json:"incremental_revenue"` // RevenueLift x treated members
	IncrementalLow  float64 `json:"incremental_revenue_ci95_low"`
	IncrementalHigh float64 `json:"incremental_revenue_ci95_high"`
	// Cost is the cost of the programme's sends recorded pending,
	// scheduled or sent in the period (channel plus content costs).
	Cost float64  `json:"cost"`
	ROI  *float64 `json:"roi"` // (Incremental - Cost) / Cost; nil when the cost is 0
	// Sends and Refused count the programme's sends in the period: those
	// that go out, and the refusals of the money policies.
	Sends   int64            `json:"sends"`
	Refused map[string]int64 `json:"refused"`
}

// Cohort is the treated or the control group of the programme.
type Cohort struct {
	Members          int64   `json:"members"`
	Converted        int64   `json:"converted"`
	Rate             float64 `json:"rate"`
	Revenue          float64 `json:"revenue"`
	RevenuePerMember float64 `json:"revenue_per_member"`
	variance         float64 // of revenue per member
}

// programme builds the programme section, or nil when the program has no
// global control group (or there is no brand or period to speak of).
func programme(ctx context.Context, db *sql.DB, opts Options, rep *Report) (*Programme, error) {
	prog := opts.Program
	if prog == nil || prog.GlobalHoldout <= 0 || opts.Brand == "" {
		return nil, nil
	}
	p := &Programme{Brand: opts.Brand, Percent: prog.GlobalHoldout, Refused: map[string]int64{}}
	var first, last sql.NullTime
	if err := db.QueryRowContext(ctx, `SELECT min(fired_at), max(fired_at) FROM outbox WHERE brand = $brand::VARCHAR AND action = 'send' AND `+periodSQL,
		sql.Named("brand", opts.Brand), sql.Named("from", bound(opts.From)), sql.Named("to", bound(opts.To))).Scan(&first, &last); err != nil {
		return nil, fmt.Errorf("report: programme: %w", err)
	}
	if !first.Valid {
		return nil, nil
	}
	p.From, p.To = first.Time, rep.End
	if !opts.From.IsZero() {
		p.From = opts.From
	}
	if !opts.To.IsZero() && opts.To.Before(p.To) {
		p.To = opts.To
	}
	rows, err := db.QueryContext(ctx, `
WITH m AS (
  SELECT member_id, `+policy.GlobalHeldOutSQL("$brand::VARCHAR", "member_id", prog.GlobalHoldout)+` AS control
  FROM members WHERE brand = $brand::VARCHAR
), r AS (
  SELECT member_id, count(*) AS n, sum(coalesce(amount, 0))::DOUBLE AS revenue
  FROM events
  WHERE brand = $brand::VARCHAR AND type = $type::VARCHAR AND ts >= $from::TIMESTAMP AND ts <= $to::TIMESTAMP
  GROUP BY member_id
)
SELECT m.control, count(*), count(r.member_id), coalesce(sum(r.revenue), 0), coalesce(sum(r.revenue * r.revenue), 0)
FROM m LEFT JOIN r USING (member_id)
GROUP BY m.control`, sql.Named("brand", opts.Brand), sql.Named("type", check.DefaultConvertEvent),
		sql.Named("from", p.From), sql.Named("to", p.To))
	if err != nil {
		return nil, fmt.Errorf("report: programme: %w", err)
	}
	err = scanAll(rows, func() error {
		var control bool
		var c Cohort
		var sumsq float64
		if err := rows.Scan(&control, &c.Members, &c.Converted, &c.Revenue, &sumsq); err != nil {
			return err
		}
		if c.Members > 0 {
			c.Rate = float64(c.Converted) / float64(c.Members)
			c.RevenuePerMember = c.Revenue / float64(c.Members)
		}
		if c.Members > 1 {
			c.variance = max((sumsq-c.Revenue*c.Revenue/float64(c.Members))/float64(c.Members-1), 0)
		}
		if control {
			p.Control = c
		} else {
			p.Treated = c
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report: programme: %w", err)
	}
	p.Lift = lift(p.Treated.Members, p.Treated.Converted, p.Control.Members, p.Control.Converted)
	if p.Control.Members == 0 {
		p.Lift.Note = "no member is in the global control group yet"
	}
	p.RevenueLift = p.Treated.RevenuePerMember - p.Control.RevenuePerMember
	if p.Treated.Members > 0 && p.Control.Members > 0 {
		se := math.Sqrt(p.Treated.variance/float64(p.Treated.Members) + p.Control.variance/float64(p.Control.Members))
		p.RevenueLow, p.RevenueHigh = p.RevenueLift-z95*se, p.RevenueLift+z95*se
	}
	n := float64(p.Treated.Members)
	p.Incremental, p.IncrementalLow, p.IncrementalHigh = round2(p.RevenueLift*n), round2(p.RevenueLow*n), round2(p.RevenueHigh*n)
	// What the programme's sends cost, and what the money policies refused.
	rows, err = db.QueryContext(ctx, `SELECT status, count(*), coalesce(CAST(sum(`+policy.SendCostSQL(prog, "")+`) AS DOUBLE), 0) FROM outbox
WHERE brand = $brand::VARCHAR AND action = 'send' AND `+periodSQL+`
GROUP BY status`, sql.Named("brand", opts.Brand), sql.Named("from", bound(opts.From)), sql.Named("to", bound(opts.To)))
	if err != nil {
		return nil, fmt.Errorf("report: programme: %w", err)
	}
	err = scanAll(rows, func() error {
		var status string
		var n int64
		var cost float64
		if err := rows.Scan(&status, &n, &cost); err != nil {
			return err
		}
		switch policy.Status(status) {
		case policy.Pending, policy.Scheduled, policy.Sent:
			p.Sends += n
			p.Cost += cost
		case policy.OverBudget, policy.OutOfStock:
			p.Refused[status] = n
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report: programme: %w", err)
	}
	p.Cost = round2(p.Cost)
	if p.Cost > 0 {
		roi := math.Round((p.Incremental-p.Cost)/p.Cost*1e4) / 1e4
		p.ROI = &roi
	}
	return p, nil
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }

// LiftText is the conversion lift as the rules' is written.
func (p *Programme) LiftText() string {
	l := p.Lift
	if p.Control.Members == 0 || p.Treated.Members == 0 {
		return fmt.Sprintf("%+.2f pp: %s", 100*l.Diff, l.Note)
	}
	return fmt.Sprintf("%+.2f pp (95%% CI %+.2f .. %+.2f pp): %s", 100*l.Diff, 100*l.Low, 100*l.High, l.Note)
}

// RevenueText is the revenue lift per member and the incremental revenue.
func (p *Programme) RevenueText() string {
	return fmt.Sprintf("%+.2f per member (95%% CI %+.2f .. %+.2f); incremental revenue %.2f (95%% CI %.2f .. %.2f)",
		p.RevenueLift, p.RevenueLow, p.RevenueHigh, p.Incremental, p.IncrementalLow, p.IncrementalHigh)
}

// ROIText is the programme's return on its cost.
func (p *Programme) ROIText() string {
	if p.ROI == nil {
		return "n/a (sends cost nothing: declare `cost CHANNEL AMOUNT`)"
	}
	return fmt.Sprintf("%.2f (%.0f%%) = (incremental revenue - cost) / cost", *p.ROI, 100**p.ROI)
}

// RefusedText lists the refusals of the money policies.
func (p *Programme) RefusedText() string {
	var parts []string
	for _, s := range []policy.Status{policy.OutOfStock, policy.OverBudget} {
		if n := p.Refused[string(s)]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", s, n))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// writeText writes the programme section for a terminal.
func (p *Programme) writeText(b *strings.Builder) {
	fmt.Fprintf(b, "\nprogramme (brand %s): global control group %g%% of members, purchases from %s to %s\n", p.Brand, p.Percent, p.From.Format(tsLayout), p.To.Format(tsLayout))
	fmt.Fprintf(b, "  treated    %7d members %7d converted %6.2f%%  revenue %.2f (%.2f per member)\n", p.Treated.Members, p.Treated.Converted, 100*p.Treated.Rate, p.Treated.Revenue, p.Treated.RevenuePerMember)
	fmt.Fprintf(b, "  control    %7d members %7d converted %6.2f%%  revenue %.2f (%.2f per member)\n", p.Control.Members, p.Control.Converted, 100*p.Control.Rate, p.Control.Revenue, p.Control.RevenuePerMember)
	fmt.Fprintf(b, "  lift       %s\n", p.LiftText())
	fmt.Fprintf(b, "  revenue    %s\n", p.RevenueText())
	fmt.Fprintf(b, "  cost       %.2f for %d sends (refused by stock or budget: %s)\n", p.Cost, p.Sends, p.RefusedText())
	fmt.Fprintf(b, "  ROI        %s\n", p.ROIText())
}

// programmeHTML is the HTML of the programme section (a template of
// htmlTmpl).
const programmeHTML = `{{define "programme"}}
<section class="programme">
<h2>programme <small>(brand {{.Brand}})</small></h2>
<p class="note">global control group: {{.Percent}}% of members get no marketing send; purchases from {{.From.Format "2006-01-02 15:04"}} to {{.To.Format "2006-01-02 15:04"}}, every member of each group counted (intent to treat).</p>
<table>
<tr><th></th><th>members</th><th>converted</th><th>rate</th><th>revenue</th><th>per member</th></tr>
<tr><th>treated</th><td class="n">{{.Treated.Members}}</td><td class="n">{{.Treated.Converted}}</td><td class="n">{{printf "%.2f%%" (pct .Treated.Rate)}}</td><td class="n">{{printf "%.2f" .Treated.Revenue}}</td><td class="n">{{printf "%.2f" .Treated.RevenuePerMember}}</td></tr>
<tr><th>control</th><td class="n">{{.Control.Members}}</td><td class="n">{{.Control.Converted}}</td><td class="n">{{printf "%.2f%%" (pct .Control.Rate)}}</td><td class="n">{{printf "%.2f" .Control.Revenue}}</td><td class="n">{{printf "%.2f" .Control.RevenuePerMember}}</td></tr>
<tr><th>lift</th><td colspan="5">{{.LiftText}}</td></tr>
<tr><th>revenue</th><td colspan="5">{{.RevenueText}}</td></tr>
<tr><th>cost</th><td colspan="5">{{printf "%.2f" .Cost}} for {{.Sends}} sends (refused by stock or budget: {{.RefusedText}})</td></tr>
<tr><th>ROI</th><td colspan="5">{{.ROIText}}</td></tr>
</table>
</section>
{{end}}`
