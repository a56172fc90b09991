package why

import (
	"encoding/json"
	"io"

	"nudge/compiler"
	nrt "nudge/runtime"
)

// The JSON form of a Report (`nudge why --output json`): the same content
// as WriteText, for tools. Times are "2006-01-02T15:04:05" (naive, as in
// the database and in `nudge run --output jsonl`).

type jsonReport struct {
	Member string     `json:"member"`
	Now    string     `json:"now"`
	Brand  string     `json:"brand"`
	Exists bool       `json:"exists"`
	Rules  []jsonRule `json:"rules"`
}

type jsonRule struct {
	Rule    string `json:"rule"`
	Title   string `json:"title,omitempty"`
	File    string `json:"file"`
	Line    int    `json:"line"`
	Trigger bool   `json:"trigger"`
	// Fires: the rule would fire for the member at now; Verdict says why
	// (or why not) in words.
	Fires   bool   `json:"fires"`
	Verdict string `json:"verdict"`
	// State rules: the condition with the member's values and verdicts.
	Condition *jsonNode `json:"condition,omitempty"`
	// Trigger rules: each event considered, with the condition for it, and
	// the member's latest events of the trigger types with the reason each
	// was or was not considered.
	Events    []jsonEvent    `json:"events,omitempty"`
	Recent    []jsonRecent   `json:"recent,omitempty"`
	Policies  []jsonPolicy   `json:"policies,omitempty"`
	Decisions []nrt.Decision `json:"decisions,omitempty"`
}

type jsonNode struct {
	Text     string      `json:"text"` // as in the text form, values included
	Holds    bool        `json:"holds"`
	Children []*jsonNode `json:"children,omitempty"`
}

type jsonEvent struct {
	Seq       *int64    `json:"seq"`
	DueAt     *string   `json:"due_at"`
	Fires     bool      `json:"fires"`
	Condition *jsonNode `json:"condition"`
}

type jsonRecent struct {
	Seq    int64  `json:"seq"`
	Type   string `json:"type"`
	TS     string `json:"ts"`
	Reason string `json:"reason"`
}

type jsonPolicy struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	Text string `json:"text"`
}

const jsonTime = "2006-01-02T15:04:05"

func jsonTree(n *compiler.Node, row Row) *jsonNode {
	out := &jsonNode{Text: nodeText(n, row), Holds: row.Bool[n.Verdict]}
	if n.Trigger && n.TypeVerdict != "" && !row.Bool[n.TypeVerdict] {
		out.Text += " (not a " + n.Event + " event)"
		return out
	}
	for _, c := range n.Children {
		out.Children = append(out.Children, jsonTree(c, row))
	}
	return out
}

// WriteJSON writes the report as one line of JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	out := jsonReport{Member: r.Member, Now: r.Now.Format(jsonTime), Brand: r.Brand, Exists: r.Exists, Rules: []jsonRule{}}
	for _, rr := range r.Rules {
		jr := jsonRule{Rule: rr.Rule.Name, Title: rr.Rule.Title, File: rr.Rule.File, Line: rr.Rule.Line,
			Trigger: rr.Rule.Trigger, Fires: rr.Fires, Verdict: rr.Verdict, Decisions: rr.Decisions}
		if r.Exists {
			if rr.Rule.Trigger {
				for _, row := range rr.Rows {
					ev := jsonEvent{Seq: row.TriggerSeq, Fires: row.Fires, Condition: jsonTree(rr.Exp.Root, row)}
					if row.DueAt != nil {
						s := row.DueAt.Format(jsonTime)
						ev.DueAt = &s
					}
					jr.Events = append(jr.Events, ev)
				}
				for _, ev := range rr.Recent {
					jr.Recent = append(jr.Recent, jsonRecent{Seq: ev.Seq, Type: ev.Type, TS: ev.TS.Format(jsonTime), Reason: ev.Reason})
				}
			} else if len(rr.Rows) > 0 {
				jr.Condition = jsonTree(rr.Exp.Root, rr.Rows[0])
			}
			for _, p := range rr.Policies {
				jr.Policies = append(jr.Policies, jsonPolicy{Name: p.Name, OK: p.OK, Text: p.Text})
			}
		}
		out.Rules = append(out.Rules, jr)
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // conditions hold > and <
	return enc.Encode(out)
}
