package report

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"sort"
	"strings"

	"nudge/compiler"
	"nudge/internal/sqlquote"
	"nudge/runtime/policy"
)

// This file builds the journeys section of the report (SPEC §8, Tools):
// per journey, its funnel and its split's variants side by side.
//
//   - The unit is an instance (one member's pass through the journey) that
//     entered in the period (its entry decision's fired_at).
//   - Entered counts the instances, HeldOut those of the journey's
//     holdout (their sends are recorded held_out, never dispatched).
//   - Each step that decides something (send, tag, ...) has a row:
//     Reached counts the instances with a decision at the step, whatever
//     its status; Sent those with a send recorded pending, scheduled or
//     sent (policy.Counted).
//   - Converted counts the instances not held out with a converted send:
//     one recorded pending, scheduled or sent after which the member had a
//     conversion event (the journey's `convert on`, else the default: a
//     purchase within 7 days) within the window from the send's due time
//     (compiler.Conversion.SendConvertedSQL, as the rules' section counts
//     the same sends; SPEC §8 counts a journey's conversions among its
//     sends).
//   - Exited, Completed and Active count the instances by their state.
//   - Variants compare, for the instances not held out that took a split
//     branch (their latest split's), the conversion rates: each branch
//     against the first one, the difference with its 95% interval (the
//     rules' lift), a winner named only when the groups are large enough
//     (see lift) and the interval excludes 0.

// Journey is the report of one journey of one brand.
type Journey struct {
	Brand      string         `json:"brand"`
	Journey    string         `json:"journey"`
	Title      string         `json:"title,omitempty"`
	Conversion string         `json:"conversion"`
	Entered    int64          `json:"entered"`
	HeldOut    int64          `json:"held_out"`
	Steps      []JourneyStep  `json:"steps"`
	Converted  int64          `json:"converted"`
	Exited     int64          `json:"exited"`
	Completed  int64          `json:"completed"`
	Active     int64          `json:"active"`
	Variants   []Variant      `json:"variants"`
	Winner     string         `json:"winner,omitempty"`
	WinnerNote string         `json:"winner_note,omitempty"`
	treatedN   int64          // instances not held out
	lines      map[int]string // step texts by line (from the program)
}

// JourneyStep is one funnel row of a journey's step.
type JourneyStep struct {
	Line    int    `json:"line"`
	Text    string `json:"step"`
	Reached int64  `json:"reached"`
	Sent    int64  `json:"sent"`
}

// Variant is one split branch of a journey.
type Variant struct {
	Name      string  `json:"variant"`
	Instances int64   `json:"instances"`
	Converted int64   `json:"converted"`
	Rate      float64 `json:"rate"`
	// VsFirst compares this branch's rate with the first branch's (nil for
	// the first branch itself).
	VsFirst *Lift `json:"vs_first,omitempty"`
}

// journeys builds the journeys section: every journey with an entry in
// the period, of opts.Brand (every brand when "").
func journeys(ctx context.Context, db *sql.DB, opts Options, end sql.NullTime) ([]*Journey, error) {
	from, to := bound(opts.From), bound(opts.To)
	convs := journeyConversions(opts.Program)
	args := []any{sql.Named("from", from), sql.Named("to", to), sql.Named("brand", opts.Brand), sql.Named("rule", opts.Rule),
		sql.Named("now", end)}
	// inst: the period's instances with their state and conversion.
	inst := `WITH e AS (
  SELECT brand, firing_id AS instance_id FROM outbox
  WHERE action = 'enter' AND journey IS NOT NULL AND ` + periodSQL + `
    AND ($brand::VARCHAR = '' OR brand = $brand::VARCHAR) AND ($rule::VARCHAR = '' OR journey = $rule::VARCHAR)
), i AS (
  SELECT ji.* FROM journey_instances ji JOIN e USING (brand, instance_id)
), c AS (
` + convertedSQL(convs) + `
)
`
	var out []*Journey
	byKey := map[[2]string]*Journey{}
	rows, err := db.QueryContext(ctx, inst+`SELECT i.brand, i.journey, count(*), count(*) FILTER (WHERE i.held_out),
  count(*) FILTER (WHERE c.converted AND NOT i.held_out),
  count(*) FILTER (WHERE i.status = 'exited'), count(*) FILTER (WHERE i.status = 'completed'), count(*) FILTER (WHERE i.status = 'active')
FROM i JOIN c USING (brand, instance_id) GROUP BY ALL ORDER BY ALL`, args...)
	if err != nil {
		return nil, fmt.Errorf("report: journeys: %w", err)
	}
	err = scanAll(rows, func() error {
		j := &Journey{lines: map[int]string{}}
		if err := rows.Scan(&j.Brand, &j.Journey, &j.Entered, &j.HeldOut, &j.Converted, &j.Exited, &j.Completed, &j.Active); err != nil {
			return err
		}
		j.Conversion = describeConversion(convs.of(j.Journey))
		j.treatedN = j.Entered - j.HeldOut
		out = append(out, j)
		byKey[[2]string{j.Brand, j.Journey}] = j
		return nil
	})
	if err != nil || len(out) == 0 {
		if err != nil {
			err = fmt.Errorf("report: journeys: %w", err)
		}
		return nil, err
	}
	// Order and step texts follow the program when there is one.
	order := map[string]int{}
	if opts.Program != nil {
		for k, pj := range opts.Program.Journeys {
			order[pj.Name] = k + 1
			for _, j := range out {
				if j.Journey == pj.Name {
					j.Title = pj.Title
					stepTexts(pj, j.lines)
				}
			}
		}
	}
	sort.SliceStable(out, func(a, b int) bool {
		return inProgramOrder(order, out[a].Brand, out[a].Journey, out[b].Brand, out[b].Journey)
	})
	// The steps: instances with a decision at each step line.
	rows, err = db.QueryContext(ctx, inst+`SELECT i.brand, i.journey, o.step,
  count(DISTINCT i.instance_id), count(DISTINCT i.instance_id) FILTER (WHERE o.action = 'send' AND o.status IN (`+policy.CountedSQL+`)),
  min(CASE WHEN o.action = 'send' THEN 'send ' || coalesce(o.kind, '') || ' "' || coalesce(o.content, '') || '" via ' || coalesce(o.channel, '')
           ELSE o.action || ' "' || coalesce(o.content, '') || '"' END)
FROM i JOIN outbox o ON `+instanceRowsSQL+` AND o.action NOT IN ('exit')
GROUP BY ALL ORDER BY ALL`, args...)
	if err != nil {
		return nil, fmt.Errorf("report: journey steps: %w", err)
	}
	err = scanAll(rows, func() error {
		var brand, name, text string
		var s JourneyStep
		if err := rows.Scan(&brand, &name, &s.Line, &s.Reached, &s.Sent, &text); err != nil {
			return err
		}
		j := byKey[[2]string{brand, name}]
		s.Text = text
		if t := j.lines[s.Line]; t != "" {
			s.Text = t
		}
		j.Steps = append(j.Steps, s)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report: journey steps: %w", err)
	}
	// The variants of the instances not held out.
	rows, err = db.QueryContext(ctx, inst+`SELECT i.brand, i.journey, i.variant, count(*), count(*) FILTER (WHERE c.converted)
FROM i JOIN c USING (brand, instance_id) WHERE i.variant IS NOT NULL AND NOT i.held_out GROUP BY ALL ORDER BY ALL`, args...)
	if err != nil {
		return nil, fmt.Errorf("report: journey variants: %w", err)
	}
	err = scanAll(rows, func() error {
		var brand, name string
		var v Variant
		if err := rows.Scan(&brand, &name, &v.Name, &v.Instances, &v.Converted); err != nil {
			return err
		}
		j := byKey[[2]string{brand, name}]
		v.Rate = float64(v.Converted) / float64(v.Instances)
		j.Variants = append(j.Variants, v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report: journey variants: %w", err)
	}
	for _, j := range out {
		if opts.Program != nil {
			sortVariants(opts.Program, j)
		}
		compareVariants(j)
	}
	return out, nil
}

// journeyConvs are the conversions of a program's journeys by name; a
// journey the program does not name has the default conversion.
type journeyConvs struct {
	names []string // in the program's order
	by    map[string]*compiler.Conversion
}

// journeyConversions reads each journey's conversion from prog (nil: none).
func journeyConversions(prog *compiler.Program) journeyConvs {
	cs := journeyConvs{by: map[string]*compiler.Conversion{}}
	if prog == nil {
		return cs
	}
	for _, pj := range prog.Journeys {
		if _, dup := cs.by[pj.Name]; dup || pj.Convert == nil {
			continue
		}
		cs.names = append(cs.names, pj.Name)
		cs.by[pj.Name] = pj.Convert
	}
	return cs
}

// of is the conversion of the journey named name.
func (cs journeyConvs) of(name string) *compiler.Conversion {
	if c := cs.by[name]; c != nil {
		return c
	}
	return compiler.DefaultConversion()
}

// instanceRowsSQL joins the outbox rows o of the instance i (brand,
// journey, member_id, entered_at, ended_at): those due from its entry to
// its end.
const instanceRowsSQL = `o.brand = i.brand AND o.journey = i.journey AND o.member_id = i.member_id
  AND o.step IS NOT NULL AND o.due_at >= i.entered_at AND (i.ended_at IS NULL OR o.due_at <= i.ended_at)`

// convertedSQL is the query of the instances of i (brand, instance_id)
// with whether each converted (converted): one of its sends recorded
// pending, scheduled or sent (held_out, for a held-out instance) converted
// as a rule's send does (compiler.Conversion.SendConvertedSQL: from the
// send's due time, within its journey's conversion window, up to the end
// of observation $now), the one definition the rules' section uses for the
// same sends. One branch per journey of cs, and one with the default
// conversion for the others.
func convertedSQL(cs journeyConvs) string {
	branch := func(c *compiler.Conversion, where string) string {
		return `  SELECT i.brand, i.instance_id, EXISTS (
    SELECT 1 FROM outbox o
    WHERE ` + instanceRowsSQL + ` AND o.action = 'send'
      AND (o.status IN (` + policy.CountedSQL + `) OR (i.held_out AND o.status = ` + policy.HeldOut.SQL() + `))
      AND ` + c.SendConvertedSQL("i.brand", "i.member_id", "o.due_at", "$now::TIMESTAMP") + `) AS converted
  FROM i WHERE ` + where
	}
	var parts, names []string
	for _, n := range cs.names {
		parts = append(parts, branch(cs.by[n], "i.journey = "+sqlquote.Checked(n)))
		names = append(names, sqlquote.Checked(n))
	}
	others := "true"
	if len(names) > 0 {
		others = "i.journey NOT IN (" + strings.Join(names, ", ") + ")"
	}
	parts = append(parts, branch(compiler.DefaultConversion(), others))
	return strings.Join(parts, "\n  UNION ALL\n")
}

// stepTexts records the text of each action step of pj by source line.
func stepTexts(pj *compiler.Journey, lines map[int]string) {
	for _, n := range pj.Nodes {
		if n.Kind != compiler.StepActions {
			continue
		}
		var parts []string
		for _, a := range n.Actions {
			if a.Verb == "send" {
				parts = append(parts, fmt.Sprintf("send %s %q via %s", a.Kind, a.Content, a.Channel))
			} else {
				parts = append(parts, fmt.Sprintf("%s %q", a.Verb, a.Content))
			}
		}
		lines[n.Line] = strings.Join(parts, " and ")
	}
}

// sortVariants puts a journey's variants in the source order of the
// branches of its splits.
func sortVariants(prog *compiler.Program, j *Journey) {
	rank := map[string]int{}
	for _, pj := range prog.Journeys {
		if pj.Name != j.Journey {
			continue
		}
		for _, n := range pj.Nodes {
			for _, b := range n.Branches {
				if _, ok := rank[b.Name]; !ok {
					rank[b.Name] = len(rank)
				}
			}
		}
	}
	sort.SliceStable(j.Variants, func(a, b int) bool { return rank[j.Variants[a].Name] < rank[j.Variants[b].Name] })
}

// compareVariants compares each variant's conversion rate with the first
// variant's (the rules' lift: difference, 95% Wald interval, validity) and
// names a winner only when a comparison is concluded and its interval
// excludes 0.
func compareVariants(j *Journey) {
	if len(j.Variants) < 2 {
		return
	}
	base := j.Variants[0]
	best, bestDiff := "", 0.0
	for k := 1; k < len(j.Variants); k++ {
		v := &j.Variants[k]
		l := lift(v.Instances, v.Converted, base.Instances, base.Converted)
		switch {
		case !l.Conclusive:
			// lift words its validity conditions for a treated and a control group
			words := strings.NewReplacer("control has", base.Name+" has", "treated has", v.Name+" has",
				"the control group of", base.Name+"'s", "the treated group of", v.Name+"'s", "firings", "instances")
			l.Note = "too small to conclude" + words.Replace(strings.TrimPrefix(l.Note, "holdout too small to conclude"))
		case l.Low > 0:
			l.Note = fmt.Sprintf("significant: %s converts better than %s", v.Name, base.Name)
			if l.Diff > bestDiff {
				best, bestDiff = v.Name, l.Diff
			}
		case l.High < 0:
			l.Note = fmt.Sprintf("significant: %s converts better than %s", base.Name, v.Name)
			if best == "" {
				best = base.Name
			}
		default:
			l.Note = "not significant: the interval contains 0"
		}
		v.VsFirst = &l
	}
	if best != "" {
		j.Winner = best
		j.WinnerNote = "winner " + best + " (the 95% interval of its difference excludes 0)"
		return
	}
	j.WinnerNote = "no winner: no difference with " + base.Name + " is significant"
}

// DiffText is "+7.9 pp (95% CI -6.2 .. +22.0 pp): note" for a variant
// against the first one, "" for the first.
func (v Variant) DiffText() string {
	if v.VsFirst == nil {
		return "(reference)"
	}
	l := v.VsFirst
	return fmt.Sprintf("%+.1f pp (95%% CI %+.1f .. %+.1f pp): %s", 100*l.Diff, 100*l.Low, 100*l.High, l.Note)
}

// Funnel is the journey's funnel, top to bottom, for the charts: label,
// count and its share of the entered instances.
func (j *Journey) Funnel() []FunnelRow {
	share := func(n int64) float64 {
		if j.Entered == 0 {
			return 0
		}
		return float64(n) / float64(j.Entered)
	}
	rows := []FunnelRow{{Label: "entered", Count: j.Entered}}
	for _, s := range j.Steps {
		rows = append(rows, FunnelRow{Label: fmt.Sprintf("step %d reached", s.Line), Detail: s.Text, Count: s.Reached})
		rows = append(rows, FunnelRow{Label: fmt.Sprintf("step %d sent", s.Line), Detail: s.Text, Count: s.Sent})
	}
	rows = append(rows, FunnelRow{Label: "converted", Detail: j.Conversion, Count: j.Converted},
		FunnelRow{Label: "exited", Count: j.Exited}, FunnelRow{Label: "completed", Count: j.Completed})
	for i := range rows {
		rows[i].Share = share(rows[i].Count)
	}
	return rows
}

// FunnelRow is one row of a journey's funnel.
type FunnelRow struct {
	Label  string
	Detail string
	Count  int64
	Share  float64 // of the entered instances
}

// writeJourneysText writes the journeys section for a terminal, the funnel
// drawn as bars.
func (r *Report) writeJourneysText(b *strings.Builder) {
	for _, j := range r.Journeys {
		title := ""
		if j.Title != "" {
			title = fmt.Sprintf(" %q", j.Title)
		}
		fmt.Fprintf(b, "\njourney %s%s (brand %s), conversion: %s\n", j.Journey, title, j.Brand, j.Conversion)
		fmt.Fprintf(b, "  entered %d (held out %d), active %d\n", j.Entered, j.HeldOut, j.Active)
		for _, f := range j.Funnel() {
			n := int(math.Round(f.Share * 30))
			detail := ""
			if f.Detail != "" && f.Label != "converted" {
				detail = "  " + f.Detail
			}
			line := fmt.Sprintf("    %-16s %7d %6.1f%% %-30s%s", f.Label, f.Count, 100*f.Share, strings.Repeat("█", n), detail)
			b.WriteString(strings.TrimRight(line, " ") + "\n")
		}
		if len(j.Variants) > 0 {
			fmt.Fprintf(b, "  variants (instances not held out):\n")
			for _, v := range j.Variants {
				fmt.Fprintf(b, "    %-16s %7d instances %7d converted %6.1f%%  %s\n", v.Name, v.Instances, v.Converted, 100*v.Rate, v.DiffText())
			}
			if j.WinnerNote != "" {
				fmt.Fprintf(b, "  %s\n", j.WinnerNote)
			}
		}
	}
}

// funnel geometry of the HTML report's journey SVGs.
const (
	funnelRowH   = 22
	funnelLabelW = 130
	funnelBarW   = 360
)

// FunnelChart lays out the journey's funnel as horizontal bars, one per
// row, widths proportional to the share of entered instances.
func (j *Journey) FunnelChart() svgChart {
	rows := j.Funnel()
	c := svgChart{Title: "Funnel of journey " + j.Journey + " (instances)", Width: funnelLabelW + funnelBarW + 90,
		Height: float64(len(rows)*funnelRowH + 8)}
	for i, f := range rows {
		y := float64(4 + i*funnelRowH)
		w := math.Round(f.Share*funnelBarW*10) / 10
		class := "bar funnel"
		switch f.Label {
		case "converted":
			class = "bar funnel converted"
		case "exited":
			class = "bar funnel exited"
		}
		c.Bars = append(c.Bars, svgBar{X: funnelLabelW, Y: y, W: w, H: funnelRowH - 6, Label: f.Label,
			Value: fmt.Sprintf("%d (%.1f%%)", f.Count, 100*f.Share), TextY: y + funnelRowH - 10, LabelY: funnelLabelW + w + 6, Class: class})
	}
	return c
}

// journeysHTML is the HTML of the journeys section (a template of
// htmlTmpl): per journey its funnel table, the funnel drawn as horizontal
// bars, and the variants side by side.
const journeysHTML = `{{define "journey"}}
<section class="journey" data-journey="{{.Journey}}">
<style>rect.funnel { fill: #2b7bb9; } rect.converted { fill: #3a9d5d; } rect.exited { fill: #c0504d; }</style>
<h2>journey {{.Journey}}{{if .Title}} “{{.Title}}”{{end}} <small>(brand {{.Brand}})</small></h2>
<p class="note">instances entered in the period; conversion: {{.Conversion}} after a send (from its due time). Entered {{.Entered}} (held out {{.HeldOut}}), active {{.Active}}.</p>
<table class="funnel">
<tr><th>funnel</th><th>instances</th><th>of entered</th><th></th></tr>
{{range .Funnel}}<tr><th>{{.Label}}</th><td class="n">{{.Count}}</td><td class="n">{{printf "%.1f%%" (pct .Share)}}</td><td class="note">{{.Detail}}</td></tr>
{{end}}</table>
{{with .FunnelChart}}<figure>
<svg xmlns="http://www.w3.org/2000/svg" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="{{.Title}}">
{{range .Bars}}<text x="0" y="{{.TextY}}">{{.Label}}</text><rect class="{{.Class}}" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{.Label}}: {{.Value}}</title></rect><text x="{{.LabelY}}" y="{{.TextY}}">{{.Value}}</text>
{{end}}</svg>
<figcaption class="note">{{.Title}}</figcaption>
</figure>{{end}}
{{if .Variants}}<table class="variants">
<tr><th>variant</th><th>instances</th><th>converted</th><th>rate</th><th>difference with {{(index .Variants 0).Name}}</th></tr>
{{range .Variants}}<tr><th>{{.Name}}</th><td class="n">{{.Instances}}</td><td class="n">{{.Converted}}</td><td class="n">{{printf "%.1f%%" (pct .Rate)}}</td><td>{{.DiffText}}</td></tr>
{{end}}</table>
<p class="note winner">{{.WinnerNote}}</p>{{end}}
</section>
{{end}}`
