package report

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"nudge/runtime/policy"
)

const tsLayout = "2006-01-02 15:04:05"

// sortedStatuses lists m's statuses in the order of policy.Statuses,
// unknown ones last.
func sortedStatuses(m map[string]int64) []string {
	rank := map[string]int{}
	for i, s := range policy.Statuses {
		rank[string(s)] = i + 1
	}
	var out []string
	for s := range m {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		ri, rj := rank[out[i]], rank[out[j]]
		if ri == 0 {
			ri = 1 << 20
		}
		if rj == 0 {
			rj = 1 << 20
		}
		if ri != rj {
			return ri < rj
		}
		return out[i] < out[j]
	})
	return out
}

func sortedKeys(m map[string]int64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Period describes the report's period in words.
func (r *Report) Period() string {
	from, to := "the beginning", "the latest firing"
	if r.From != nil {
		from = r.From.Format(tsLayout)
	}
	if r.To != nil {
		to = r.To.Format(tsLayout)
	}
	if r.noEvents {
		return fmt.Sprintf("firings from %s to %s; no events yet, so no conversions", from, to)
	}
	return fmt.Sprintf("firings from %s to %s; conversions observed until %s", from, to, r.End.Format(tsLayout))
}

// TreatedText explains which firings count as treated.
func (r *Rule) TreatedText() string {
	if r.TreatedRule == string(policy.Pending) {
		return "treated = firings with a pending or scheduled send (nothing of this rule was dispatched); control = held_out"
	}
	return "treated = firings with a sent send; control = held_out"
}

// DecisionsText is "sent 3, held_out 1".
func (r *Rule) DecisionsText() string {
	var parts []string
	for _, s := range sortedStatuses(r.Decisions) {
		parts = append(parts, fmt.Sprintf("%s %d", s, r.Decisions[s]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// SendsText is "sms 3, email 1".
func (r *Rule) SendsText() string {
	var parts []string
	for _, ch := range sortedKeys(r.Sends) {
		name := ch
		if name == "" {
			name = "(none)"
		}
		parts = append(parts, fmt.Sprintf("%s %d", name, r.Sends[ch]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// LiftText is "+7.9 pp (95% CI -6.2 .. +22.0 pp)".
func (r *Rule) LiftText() string {
	if r.Lift == nil {
		return "n/a (no sends)"
	}
	l := r.Lift
	if r.Control.Firings == 0 || r.Treated.Firings == 0 {
		return fmt.Sprintf("%+.1f pp: %s", 100*l.Diff, l.Note)
	}
	return fmt.Sprintf("%+.1f pp (95%% CI %+.1f .. %+.1f pp): %s", 100*l.Diff, 100*l.Low, 100*l.High, l.Note)
}

// ROIText is "2.18 (218%)" or "n/a (no cost declared)".
func (r *Rule) ROIText() string {
	if r.ROI == nil {
		return "n/a (sends cost nothing: declare `cost CHANNEL AMOUNT`)"
	}
	return fmt.Sprintf("%.2f (%.0f%%)", *r.ROI, 100**r.ROI)
}

// WriteText writes the report for a terminal, with the time-to-conversion
// histogram drawn as bars.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "report: %s\n", r.Period())
	if len(r.Rules) == 0 {
		b.WriteString("no decisions in this period\n")
	}
	for _, rr := range r.Rules {
		title := ""
		if rr.Title != "" {
			title = fmt.Sprintf(" %q", rr.Title)
		}
		fmt.Fprintf(&b, "\nrule %s%s (brand %s), conversion: %s\n", rr.Rule, title, rr.Brand, rr.Conversion)
		fmt.Fprintf(&b, "  decisions  %s\n", rr.DecisionsText())
		fmt.Fprintf(&b, "  sends      %s (%s)\n", rr.SendsText(), rr.TreatedText())
		fmt.Fprintf(&b, "  treated    %6d firings %6d converted %6.1f%%  revenue %.2f\n", rr.Treated.Firings, rr.Treated.Converted, 100*rr.Treated.Rate, rr.Treated.Revenue)
		fmt.Fprintf(&b, "  control    %6d firings %6d converted %6.1f%%\n", rr.Control.Firings, rr.Control.Converted, 100*rr.Control.Rate)
		fmt.Fprintf(&b, "  lift       %s\n", rr.LiftText())
		fmt.Fprintf(&b, "  cost       %.2f   ROI %s\n", rr.Cost, rr.ROIText())
		if rr.Treated.Converted == 0 {
			fmt.Fprintf(&b, "  days from firing to conversion (treated): no conversions\n")
			continue
		}
		fmt.Fprintf(&b, "  days from firing to conversion (treated):\n")
		for _, bk := range rr.Days {
			n := int(math.Round(bk.Share * 40))
			fmt.Fprintf(&b, "    %-4s %-40s %5.1f%% (%d)\n", bk.Label, strings.Repeat("█", n), 100*bk.Share, bk.Count)
		}
	}
	if r.Programme != nil {
		r.Programme.writeText(&b)
	}
	r.writeJourneysText(&b)
	if r.Money != nil {
		r.Money.writeText(&b)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes the report as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	type out struct {
		*Report
		Period string  `json:"period"`
		From   *string `json:"from,omitempty"`
		To     *string `json:"to,omitempty"`
		End    string  `json:"observed_until"`
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	ts := func(t *time.Time) *string {
		if t == nil {
			return nil
		}
		s := t.Format(tsLayout)
		return &s
	}
	return enc.Encode(out{Report: r.withEmptyLists(), Period: r.Period(), From: ts(r.From), To: ts(r.To), End: r.End.Format(tsLayout)})
}

// withEmptyLists returns a copy of r whose lists and maps are empty where
// r's are nil, so that the JSON report says [] and {} for "none", never
// null: a reader iterates them without a check. Here, in one place, for
// every way a report is built.
func (r *Report) withEmptyLists() *Report {
	c := *r
	c.Rules = make([]*Rule, len(r.Rules)) // (r's own are not written)
	copy(c.Rules, r.Rules)
	c.Journeys = make([]*Journey, len(r.Journeys))
	for i, j := range r.Journeys {
		jc := *j
		jc.Steps = orEmpty(jc.Steps)
		jc.Variants = orEmpty(jc.Variants)
		c.Journeys[i] = &jc
	}
	for i, rule := range c.Rules {
		if rule.Decisions == nil || rule.Sends == nil || rule.Days == nil {
			rc := *rule
			rc.Decisions, rc.Sends, rc.Days = orEmptyMap(rc.Decisions), orEmptyMap(rc.Sends), orEmpty(rc.Days)
			c.Rules[i] = &rc
		}
	}
	if r.Programme != nil && r.Programme.Refused == nil {
		p := *r.Programme
		p.Refused = map[string]int64{}
		c.Programme = &p
	}
	if r.Money != nil {
		m := *r.Money
		m.Budgets, m.Stocks = orEmpty(m.Budgets), orEmpty(m.Stocks)
		c.Money = &m
	}
	return &c
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func orEmptyMap(m map[string]int64) map[string]int64 {
	if m == nil {
		return map[string]int64{}
	}
	return m
}

// chart geometry of the HTML report's SVGs.
const (
	chartH   = 160 // plot height in px
	barW     = 44
	barGap   = 16
	chartPad = 28
)

// svgBar is one bar of an SVG chart.
type svgBar struct {
	X, Y, W, H float64
	Label      string
	Value      string
	TextY      float64
	LabelY     float64
	Class      string
}

// svgChart is one inline SVG chart.
type svgChart struct {
	Title  string
	Width  float64
	Height float64
	Base   float64
	Bars   []svgBar
}

// chart lays out bars for values (fractions 0..1 scaled to the largest).
func chart(title string, labels, texts []string, vals []float64, classes []string) svgChart {
	max := 0.0
	for _, v := range vals {
		if v > max {
			max = v
		}
	}
	c := svgChart{Title: title, Width: float64(chartPad*2 + len(vals)*(barW+barGap)), Height: chartH + 2*chartPad, Base: chartPad + chartH}
	for i, v := range vals {
		h := 0.0
		if max > 0 {
			h = math.Round(v/max*chartH*10) / 10
		}
		x := float64(chartPad + i*(barW+barGap))
		c.Bars = append(c.Bars, svgBar{X: x, Y: c.Base - h, W: barW, H: h, Label: labels[i], Value: texts[i],
			TextY: c.Base - h - 4, LabelY: c.Base + 16, Class: classes[i]})
	}
	return c
}

// Charts returns the rule's conversion-rate and time-to-conversion charts.
func (r *Rule) Charts() []svgChart {
	rate := chart("Conversion rate", []string{"treated", "control"},
		[]string{fmt.Sprintf("%.1f%%", 100*r.Treated.Rate), fmt.Sprintf("%.1f%%", 100*r.Control.Rate)},
		[]float64{r.Treated.Rate, r.Control.Rate}, []string{"bar rate treated", "bar rate control"})
	var labels, texts, classes []string
	var vals []float64
	for _, b := range r.Days {
		labels = append(labels, b.Label)
		texts = append(texts, fmt.Sprintf("%.0f%%", 100*b.Share))
		vals = append(vals, b.Share)
		classes = append(classes, "bar day")
	}
	days := chart("Days from firing to conversion (share of treated conversions)", labels, texts, vals, classes)
	return []svgChart{rate, days}
}

var htmlTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct": func(f float64) float64 { return 100 * f },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>nudge report</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: .5em 0; } td, th { padding: .2em .8em; text-align: left; border-bottom: 1px solid #eee; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #555; font-size: .9em; }
.charts { display: flex; gap: 2em; flex-wrap: wrap; }
svg text { font-size: 11px; fill: #333; }
rect.treated { fill: #2b7bb9; } rect.control { fill: #aaa; } rect.day { fill: #e07b39; }
</style>
</head>
<body>
<h1>nudge report</h1>
<p class="note">{{.Period}}</p>
{{if not .Rules}}<p>No decisions in this period.</p>{{end}}
{{range .Rules}}
<section class="rule" data-rule="{{.Rule}}">
<h2>rule {{.Rule}}{{if .Title}} “{{.Title}}”{{end}} <small>(brand {{.Brand}})</small></h2>
<p class="note">conversion: {{.Conversion}}. {{.TreatedText}}.</p>
<table>
<tr><th>decisions</th><td colspan="4">{{.DecisionsText}}</td></tr>
<tr><th>sends</th><td colspan="4">{{.SendsText}}</td></tr>
<tr><th></th><th>firings</th><th>converted</th><th>rate</th><th>revenue</th></tr>
<tr><th>treated</th><td class="n">{{.Treated.Firings}}</td><td class="n">{{.Treated.Converted}}</td><td class="n">{{printf "%.1f%%" (pct .Treated.Rate)}}</td><td class="n">{{printf "%.2f" .Treated.Revenue}}</td></tr>
<tr><th>control</th><td class="n">{{.Control.Firings}}</td><td class="n">{{.Control.Converted}}</td><td class="n">{{printf "%.1f%%" (pct .Control.Rate)}}</td><td class="n">{{printf "%.2f" .Control.Revenue}}</td></tr>
<tr><th>lift</th><td colspan="4">{{.LiftText}}</td></tr>
<tr><th>cost</th><td colspan="4">{{printf "%.2f" .Cost}}; ROI {{.ROIText}}</td></tr>
</table>
<div class="charts">
{{range .Charts}}
<figure>
<svg xmlns="http://www.w3.org/2000/svg" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img" aria-label="{{.Title}}">
<line x1="0" y1="{{.Base}}" x2="{{.Width}}" y2="{{.Base}}" stroke="#666"/>
{{range .Bars}}<rect class="{{.Class}}" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}"><title>{{.Label}}: {{.Value}}</title></rect>
<text x="{{.X}}" y="{{.TextY}}">{{.Value}}</text><text x="{{.X}}" y="{{.LabelY}}">{{.Label}}</text>
{{end}}</svg>
<figcaption class="note">{{.Title}}</figcaption>
</figure>
{{end}}
</div>
</section>
{{end}}{{with .Programme}}{{template "programme" .}}{{end}}{{range .Journeys}}{{template "journey" .}}{{end}}{{with .Money}}{{template "money" .}}{{end}}
<p class="note">Generated by nudge at {{.Generated}}. Lift is the difference of conversion rates with a 95% Wald interval; ROI = (revenue - cost) / cost.</p>
</body>
</html>
` + programmeHTML + journeysHTML + moneyHTML))

// WriteHTML writes the report as one self-contained HTML file (inline CSS
// and SVG, no scripts or external assets). generated is printed in the footer.
func (r *Report) WriteHTML(w io.Writer, generated time.Time) error {
	return htmlTmpl.Execute(w, struct {
		*Report
		Generated string
	}{r, generated.Format(tsLayout)})
}
