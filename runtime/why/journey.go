package why

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"nudge/compiler"
	nrt "nudge/runtime"
)

// This file explains, for one member, where they stand in each journey
// (SPEC §8, Tools) and why: not entered (the entry condition's verdict),
// active at a step and what it waits for, the branches and variant taken,
// exited or completed, and every step's sends with their policies'
// statuses. The recorded path is read from journey_instances and the
// outbox; what the next tick at now would decide comes from the same dry
// run as the rules' verdicts.

// JourneyReport explains one journey for one member.
type JourneyReport struct {
	Journey *compiler.Journey
	Why     *compiler.JourneyWhy
	// Rows are the entry condition's explanation rows at now (one for
	// `enter when`, one per entering event considered for `enter on`).
	Rows []Row
	// Instances are the member's instances of the journey, oldest first.
	Instances []*Instance
	// Next is what a tick at now would decide for the member in this
	// journey (a dry run).
	Next []nrt.Decision
	// Stand is where the member stands, one line.
	Stand string
}

// Instance is one instance of a journey and its recorded decisions.
type Instance struct {
	ID        string
	EnteredAt time.Time
	HeldOut   bool
	Status    string // active, exited, completed
	PC        int    // the next node to run
	DueAt     time.Time
	Variant   string
	EndedAt   *time.Time
	Decisions []nrt.Decision
}

// ExplainJourneys explains every journey of prog (or only opts.Rule when
// it names one) for member at opts.Now. jws are compiler.WhyJourneys of
// the same program.
func ExplainJourneys(ctx context.Context, db *nrt.DB, prog *compiler.Program, jws []*compiler.JourneyWhy, member string, opts Options) ([]*JourneyReport, error) {
	if len(prog.Journeys) == 0 {
		return nil, nil
	}
	now, lookback := opts.instant()
	brand, err := resolveBrand(ctx, db.SQL(), prog.Brand, opts.Brand)
	if err != nil {
		return nil, err
	}
	byName := map[string]*compiler.JourneyWhy{}
	for _, w := range jws {
		byName[w.Journey] = w
	}
	var out []*JourneyReport
	for _, j := range prog.Journeys {
		if opts.Rule == "" || opts.Rule == j.Name {
			out = append(out, &JourneyReport{Journey: j, Why: byName[j.Name]})
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	dec, err := opts.verdicts(ctx, db, prog, brand, now, lookback, []string{member})
	if err != nil {
		return nil, err
	}
	tx, err := arrived(ctx, db, brand, now, lookback)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	for _, jr := range out {
		jr.Next = inJourneyOrder(dec[jr.Journey.Name+"\x00"+member])
		if jr.Why != nil {
			rows, err := explainRows(ctx, tx, jr.Why.Enter, brand, now, lookback, member, map[string]*Report{member: {}})
			if err != nil {
				return nil, fmt.Errorf("journey %s (%s:%d): %w", jr.Journey.Name, jr.Journey.File, jr.Journey.Line, err)
			}
			jr.Rows = rows[member]
		}
		if jr.Instances, err = instances(ctx, tx, brand, jr.Journey.Name, member); err != nil {
			return nil, fmt.Errorf("journey %s: %w", jr.Journey.Name, err)
		}
		jr.Stand = stand(jr, now)
	}
	return out, nil
}

// instances reads the member's instances of a journey and their decisions.
func instances(ctx context.Context, q queryer, brand, journey, member string) ([]*Instance, error) {
	args := []any{sql.Named("brand", brand), sql.Named("j", journey), sql.Named("m", member)}
	var out []*Instance
	byID := map[string]*Instance{}
	err := scan(ctx, q, `SELECT instance_id, entered_at, held_out, status, pc, due_at, coalesce(variant, ''), ended_at
FROM journey_instances WHERE brand = $brand::VARCHAR AND journey = $j::VARCHAR AND member_id = $m::VARCHAR
ORDER BY entered_at, instance_id`, args, func(r *sql.Rows) error {
		in := &Instance{}
		var ended sql.NullTime
		if err := r.Scan(&in.ID, &in.EnteredAt, &in.HeldOut, &in.Status, &in.PC, &in.DueAt, &in.Variant, &ended); err != nil {
			return err
		}
		if ended.Valid {
			t := ended.Time
			in.EndedAt = &t
		}
		out = append(out, in)
		byID[in.ID] = in
		return nil
	})
	if err != nil {
		return nil, err
	}
	// A journey's decisions carry their instance as firing_id (enter, exit,
	// complete) or belong to it by time: sends fall between its entry and end.
	err = scan(ctx, q, `SELECT firing_id, action, coalesce(kind, ''), coalesce(content, ''), coalesce(channel, ''), status, coalesce(reason, ''),
       fired_at, due_at, step, coalesce(variant, '')
FROM outbox WHERE brand = $brand::VARCHAR AND journey = $j::VARCHAR AND member_id = $m::VARCHAR
ORDER BY due_at, CASE action WHEN 'enter' THEN 0 WHEN 'exit' THEN 2 WHEN 'complete' THEN 3 ELSE 1 END, step, action_index`, args, func(r *sql.Rows) error {
		d := nrt.Decision{Rule: journey, Journey: journey, MemberID: member}
		var firing string
		var due sql.NullTime
		var step sql.NullInt64
		if err := r.Scan(&firing, &d.Action, &d.Kind, &d.Content, &d.Channel, &d.Status, &d.Reason, &d.FiredAt, &due, &step, &d.Variant); err != nil {
			return err
		}
		if due.Valid {
			t := due.Time
			d.DueAt = &t
		}
		if step.Valid {
			v := step.Int64
			d.Step = &v
		}
		in := byID[firing]
		if in == nil && d.DueAt != nil {
			for _, c := range out {
				if !d.DueAt.Before(c.EnteredAt) && (c.EndedAt == nil || !d.DueAt.After(*c.EndedAt)) {
					in = c
				}
			}
		}
		if in != nil {
			in.Decisions = append(in.Decisions, d)
		}
		return nil
	})
	return out, err
}

// inJourneyOrder sorts decisions of a journey as instances reads the
// recorded ones: by due time, then enter, the steps' actions, exit and
// complete, then step. (A dry run lists a tick's decisions in the order
// its policy steps left them, not the journey's: a catch-up's later step
// could come before an earlier one.)
func inJourneyOrder(ds []nrt.Decision) []nrt.Decision {
	rank := func(d nrt.Decision) int {
		switch d.Action {
		case "enter":
			return 0
		case "exit":
			return 2
		case "complete":
			return 3
		}
		return 1
	}
	step := func(d nrt.Decision) int64 {
		if d.Step == nil {
			return -1
		}
		return *d.Step
	}
	due := func(d nrt.Decision) time.Time {
		if d.DueAt == nil {
			return time.Time{}
		}
		return *d.DueAt
	}
	slices.SortStableFunc(ds, func(a, b nrt.Decision) int {
		return cmp.Or(due(a).Compare(due(b)), cmp.Compare(rank(a), rank(b)), cmp.Compare(step(a), step(b)))
	})
	return ds
}

// stand words where the member stands in the journey.
func stand(jr *JourneyReport, now time.Time) string {
	j := jr.Journey
	if len(jr.Instances) == 0 {
		return "not entered: " + notEntered(jr)
	}
	in := jr.Instances[len(jr.Instances)-1]
	held := ""
	if in.HeldOut {
		held = " (held out: its sends are recorded, not dispatched)"
	}
	switch in.Status {
	case "completed":
		return fmt.Sprintf("completed at %s%s", fmtTime(endedAt(in)), variantText(in.Variant))
	case "exited":
		for _, d := range in.Decisions {
			if d.Action != "exit" {
				continue
			}
			why := "`exit when " + jr.exitText() + "` held"
			if d.Status == "gave_up" {
				why = "it gave up (stop after unanswered sends)"
			}
			before := ""
			if d.Step != nil {
				before = fmt.Sprintf(" before step %d", *d.Step)
			}
			return fmt.Sprintf("exited at %s%s: %s", fmtTime(endedAt(in)), before, why)
		}
		return fmt.Sprintf("exited at %s", fmtTime(endedAt(in)))
	}
	if in.PC < 0 || in.PC >= len(j.Nodes) {
		return fmt.Sprintf("active since %s%s", fmtTime(in.EnteredAt), held)
	}
	n := j.Nodes[in.PC]
	when := "due at " + fmtTime(in.DueAt)
	if !in.DueAt.After(now) {
		when = "due now (" + fmtTime(in.DueAt) + ")"
	}
	var what string
	switch n.Kind {
	case compiler.StepWaitUntil:
		until := "for ever"
		if n.Wait > 0 {
			until = "at the latest until " + fmtTime(in.DueAt.Add(n.Wait))
		}
		what = fmt.Sprintf("waiting at step %d until %s holds, %s", n.Line, jr.condText(n.Line), until)
		return fmt.Sprintf("active since %s%s%s, %s", fmtTime(in.EnteredAt), held, variantText(in.Variant), what)
	case compiler.StepEnd:
		what = "completing, " + when
	default:
		what = fmt.Sprintf("next step %d (%s), %s", n.Line, jr.nodeText(in.PC), when)
	}
	return fmt.Sprintf("active since %s%s%s: %s", fmtTime(in.EnteredAt), held, variantText(in.Variant), what)
}

func endedAt(in *Instance) time.Time {
	if in.EndedAt != nil {
		return *in.EndedAt
	}
	return in.DueAt
}

func variantText(v string) string {
	if v == "" {
		return ""
	}
	return ", variant " + v
}

// notEntered says why a member without an instance has none.
func notEntered(jr *JourneyReport) string {
	for _, d := range jr.Next {
		if d.Action == "enter" {
			return "the entry condition holds; the next tick enters the member (" + d.Status + ")"
		}
	}
	cond := false
	for _, r := range jr.Rows {
		cond = cond || r.Fires
	}
	switch {
	case jr.Journey.EnterOn && len(jr.Rows) == 0:
		return "no entering event to consider (none since the journey's last tick; a first tick looks back over the lookback window)"
	case jr.Journey.EnterOn && !cond:
		return "the entry condition is false for every event considered"
	case !cond && len(jr.Rows) > 0 && jr.Why != nil:
		if f := firstFalse(jr.Why.Enter.Root, jr.Rows[0]); f != "" {
			return "the entry condition is false (" + f + ")"
		}
		return "the entry condition is false"
	case !cond:
		return "the entry condition is false"
	}
	return "the entry condition holds, but the re-entry limit or an earlier decision keeps the member out"
}

func (jr *JourneyReport) exitText() string {
	if jr.Why != nil {
		return jr.Why.Exit
	}
	return "..."
}

func (jr *JourneyReport) condText(line int) string {
	if jr.Why != nil && jr.Why.Conds[line] != "" {
		return jr.Why.Conds[line]
	}
	return "its condition"
}

// nodeText words node pc of the journey.
func (jr *JourneyReport) nodeText(pc int) string {
	n := jr.Journey.Nodes[pc]
	switch n.Kind {
	case compiler.StepActions:
		var parts []string
		for _, a := range n.Actions {
			switch a.Verb {
			case "send":
				parts = append(parts, fmt.Sprintf("send %s %q via %s", a.Kind, a.Content, a.Channel))
			default:
				parts = append(parts, fmt.Sprintf("%s %q", a.Verb, a.Content))
			}
		}
		return strings.Join(parts, " and ")
	case compiler.StepWait:
		return "wait " + n.Wait.String()
	case compiler.StepWaitAt:
		return "wait until " + fmtTime(n.At)
	case compiler.StepWaitUntil:
		return "wait until " + jr.condText(n.Line)
	case compiler.StepIf:
		return "if " + jr.condText(n.Line)
	case compiler.StepSplit:
		var parts []string
		for _, b := range n.Branches {
			parts = append(parts, fmt.Sprintf("%g%% %s", b.Percent, b.Name))
		}
		return "split " + strings.Join(parts, ", ")
	case compiler.StepWinner:
		return "send winner"
	}
	return ""
}

// branches says, for each if step the instance has passed or is inside,
// which branch it took, judged by the lines of its decisions and its
// current node.
func (jr *JourneyReport) branches(in *Instance) []string {
	nodes := jr.Journey.Nodes
	lines := map[int]bool{}
	for _, d := range in.Decisions {
		if d.Step != nil {
			lines[int(*d.Step)] = true
		}
	}
	inRange := func(from, to int) bool {
		for pc := from; pc < to && pc < len(nodes); pc++ {
			if (nodes[pc].Line > 0 && lines[nodes[pc].Line]) || (in.Status == "active" && in.PC == pc) {
				return true
			}
		}
		return false
	}
	var out []string
	for i, n := range nodes {
		if n.Kind != compiler.StepIf {
			continue
		}
		thenEnd, elseEnd := n.Target, n.Target
		if n.Target > 0 && nodes[n.Target-1].Kind == compiler.StepJump {
			thenEnd, elseEnd = n.Target-1, nodes[n.Target-1].Target
		}
		switch {
		case inRange(i+1, thenEnd):
			out = append(out, fmt.Sprintf("step %d if %s: took the first branch", n.Line, jr.condText(n.Line)))
		case elseEnd > n.Target && inRange(n.Target, elseEnd):
			out = append(out, fmt.Sprintf("step %d if %s: took the else branch", n.Line, jr.condText(n.Line)))
		}
	}
	return out
}

// journeyDecisionText words one recorded decision of an instance.
func journeyDecisionText(d nrt.Decision) string {
	at := ""
	if d.DueAt != nil {
		at = fmtTime(*d.DueAt) + " "
	}
	step := ""
	if d.Step != nil {
		step = fmt.Sprintf("step %d: ", *d.Step)
	}
	var s string
	switch d.Action {
	case "enter":
		s = "entered → " + d.Status
	case "exit":
		s = "exited → " + d.Status
	case "complete":
		s = "completed → " + d.Status
	default:
		s = decisionText(d)
	}
	if d.Variant != "" && d.Action != "enter" {
		s += " [variant " + d.Variant + "]"
	}
	return at + step + s
}

// WriteJourneysText prints the journeys' explanations of one member after
// the rules' (Report.WriteText).
func WriteJourneysText(w io.Writer, reps []*JourneyReport) {
	for _, jr := range reps {
		j := jr.Journey
		kind := "enter when"
		if j.EnterOn {
			kind = "enter on"
		}
		title := ""
		if j.Title != "" {
			title = fmt.Sprintf(" %q", j.Title)
		}
		fmt.Fprintf(w, "\njourney %s%s (%s:%d), %s\n", j.Name, title, j.File, j.Line, kind)
		if jr.Why != nil && len(jr.Instances) == 0 {
			for i, row := range jr.Rows {
				if i == maxEvents {
					fmt.Fprintf(w, "  ... and %d more\n", len(jr.Rows)-maxEvents)
					break
				}
				if j.EnterOn {
					seq := "?"
					if row.TriggerSeq != nil {
						seq = fmt.Sprint(*row.TriggerSeq)
					}
					fmt.Fprintf(w, "  entering event #%s:\n", seq)
				} else {
					fmt.Fprintln(w, "  entry condition:")
				}
				writeNode(w, jr.Why.Enter.Root, row, "    ")
			}
		}
		for k, in := range jr.Instances {
			held := ""
			if in.HeldOut {
				held = ", held out"
			}
			fmt.Fprintf(w, "  instance %d, entered %s%s, %s\n", k+1, fmtTime(in.EnteredAt), held, in.Status)
			for _, d := range in.Decisions {
				fmt.Fprintf(w, "    %s\n", journeyDecisionText(d))
			}
			for _, b := range jr.branches(in) {
				fmt.Fprintf(w, "    %s\n", b)
			}
			if in.Variant != "" {
				fmt.Fprintf(w, "    split: variant %s\n", in.Variant)
			}
		}
		if len(jr.Next) > 0 {
			fmt.Fprintln(w, "  the next tick would decide:")
			for _, d := range jr.Next {
				fmt.Fprintf(w, "    %s\n", journeyDecisionText(d))
			}
		}
		fmt.Fprintf(w, "  → %s\n", jr.Stand)
	}
}
