package compiler

import (
	"fmt"
	"time"

	"nudge/internal/sqlquote"
	"nudge/lang/check"
	"nudge/lang/diag"
)

// This file carries the closed-loop constructs (lang/ast/loop.go) into the
// Program: each rule's conversion and the cost of a send per channel, read
// by runtime/report and runtime/simulate.

// Aliases the SQL of Conversion.FilterSQL refers to.
const (
	ConversionAlias       = "cv" // the candidate conversion event (a row of events)
	ConversionMemberAlias = "m"  // the converting member (a row of members)
)

// Conversion says when a firing of a rule converted: the member had an
// event of EventType matching FilterSQL within Within after the firing.
type Conversion struct {
	EventType string
	// Label is the conversion in nudge syntax, e.g.
	// `purchased at store "A" within 7 days`.
	Label string
	// FilterSQL is a boolean SQL expression over the event row aliased
	// ConversionAlias and the member row aliased ConversionMemberAlias; it
	// may use the parameters now and brand. "" when the option has no filter.
	FilterSQL string
	Within    time.Duration
	// Default is true when the rule has no `convert on` option: any
	// purchased within 7 days.
	Default bool
}

// SendConvertedSQL is the one definition of "a send converted" that the
// report's rules and journeys sections and the tick's `send winner` share
// (the winner with end its own due time): a boolean SQL condition that
// the member (brandSQL, memberSQL) had an event of the conversion's type
// matching its filter at a time ts with due < ts <= due + Within and
// ts <= end, where due (dueSQL) is the send's due time (the outbox's
// due_at: the triggering event's time or deadline, the journey step's due
// time; the tick's now for a state rule), never the tick that recorded it,
// so the answer does not depend on when ticks ran; end is the end of
// observation. The event row is aliased ConversionAlias and the member row
// ConversionMemberAlias.
func (c *Conversion) SendConvertedSQL(brandSQL, memberSQL, dueSQL, endSQL string) string {
	return "EXISTS (" + c.firstSQL("1", brandSQL, memberSQL, dueSQL, endSQL) + ")"
}

// FirstConversionSQL is SendConvertedSQL's events as a subquery of one
// row: the first conversion's time and amount (NULLs without one).
func (c *Conversion) FirstConversionSQL(brandSQL, memberSQL, dueSQL, endSQL string) string {
	cv := ConversionAlias
	return c.firstSQL("min("+cv+".ts) AS ts, arg_min("+cv+".amount, ("+cv+".ts, "+cv+".seq)) AS amount", brandSQL, memberSQL, dueSQL, endSQL)
}

func (c *Conversion) firstSQL(cols, brandSQL, memberSQL, dueSQL, endSQL string) string {
	cv, cm := ConversionAlias, ConversionMemberAlias
	from := "events " + cv
	filter := ""
	if c.FilterSQL != "" {
		from += " LEFT JOIN members " + cm + " ON " + cm + ".brand = " + cv + ".brand AND " + cm + ".member_id = " + cv + ".member_id"
		filter = " AND (" + c.FilterSQL + ")"
	}
	return "SELECT " + cols + " FROM " + from +
		" WHERE " + cv + ".brand = " + brandSQL + " AND " + cv + ".member_id = " + memberSQL +
		" AND " + cv + ".type = " + sqlquote.Checked(c.EventType) +
		" AND " + cv + ".ts > " + dueSQL + " AND " + cv + ".ts <= " + dueSQL + " + to_microseconds(" + fmt.Sprint(c.Within.Microseconds()) + ")" +
		" AND " + cv + ".ts <= " + endSQL + filter
}

// DefaultConversion is the conversion of a rule without `convert on`.
func DefaultConversion() *Conversion {
	return &Conversion{EventType: check.DefaultConvertEvent, Label: check.DefaultConvertEvent + " within 7 days",
		Within: check.DefaultConvertMinutes * time.Minute, Default: true}
}

// conversion compiles a rule's `convert on` option (or the default).
func (rc *ruleCompiler) conversion(r *check.Rule) *Conversion {
	o := r.Convert
	if o == nil || o.Event == nil || o.Within == nil {
		return DefaultConversion()
	}
	et := rc.eventType(o.Event)
	out := &Conversion{EventType: eventName(et, o.Event), Within: rc.durationOf(o.Within),
		Label: label(o.Event) + " within " + label(o.Within)}
	s := &scope{ev: ConversionAlias, evType: et, member: ConversionMemberAlias, memberID: ConversionAlias + ".member_id"}
	var parts []string
	for _, f := range o.Event.Filters {
		parts = append(parts, rc.filter(f, s))
	}
	if len(parts) > 0 {
		out.FilterSQL = boolAnd(parts...)
	}
	return out
}

// AttachLoop sets each compiled rule's Convert and the program's Costs from
// the checked program. Compile calls it once its rules are compiled; it is
// idempotent, so tools that need the closed-loop data (report, simulate) may
// call it again on a Program they compiled.
func AttachLoop(info *check.Info, p *Program) diag.List {
	var diags diag.List
	byName := make(map[string]*check.Rule, len(info.Rules))
	for _, r := range info.Rules {
		if r.Decl != nil && r.Decl.Name != nil {
			byName[r.Decl.Name.Name] = r
		}
	}
	for _, out := range p.Rules {
		if r := byName[out.Name]; r != nil {
			out.Convert = newRuleCompiler(info, &diags).conversion(r)
		} else {
			out.Convert = DefaultConversion()
		}
	}
	p.Costs = costsOf(info)
	return diags
}

// costsOf copies the checked costs per channel.
func costsOf(info *check.Info) map[string]float64 {
	out := make(map[string]float64, len(info.Costs))
	for ch, v := range info.Costs {
		out[ch] = v
	}
	return out
}
