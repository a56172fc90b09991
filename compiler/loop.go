package compiler

import (
	"time"

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
