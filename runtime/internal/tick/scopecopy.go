package tick

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"nudge/compiler"
	"nudge/internal/tickform"
)

// scopeCopy describes a copy of the rows of some members into the tables
// of a scope, which scoped forms (compiler.Rule.Tick.ScopedSQL) read in
// place of members and events: the rules' copy (03_scope.go) and the
// journeys' entries' (04c_entry_scope.go).
type scopeCopy struct {
	scope tickform.Scope
	// in is the table of the members to copy (its column member_id).
	in string
	// read is the SQL that reads the copy (the scoped forms, and whatever
	// else reads it): the columns of members it names are copied, besides
	// always.
	read   string
	always []string
	// reads maps each event type read from the copy of events to the
	// columns read of it (tickform.Forms.ScopeEventReads, merged); since,
	// each of those types whose every reader reads only events after a
	// bound at now, to the bounds (tickform.Forms.ScopeEventsSince).
	reads map[string][]string
	since map[string][]string
	// unbounded holds the types some reader reads without a bound.
	unbounded map[string]bool
}

// addReads adds the event reads of a scoped form f to the copy;
// candidatesFrom is the SQL of the earliest ts of f's candidate events
// (candidatesFrom), which stands for tickform.CandidatesFrom in its bounds
// ("": unknown, a bound relative to it bounds nothing).
func (c *scopeCopy) addReads(f tickform.Forms, candidatesFrom string) {
	if c.reads == nil {
		c.reads, c.since, c.unbounded = map[string][]string{}, map[string][]string{}, map[string]bool{}
	}
	for e, cols := range f.ScopeEventReads {
		c.reads[e] = append(c.reads[e], cols...)
		bound, ok := f.ScopeEventsSince[e]
		if strings.Contains(bound, tickform.CandidatesFrom) {
			bound, ok = strings.ReplaceAll(bound, tickform.CandidatesFrom, candidatesFrom), candidatesFrom != ""
		}
		if ok {
			c.since[e] = append(c.since[e], bound)
		} else {
			c.unbounded[e] = true
		}
	}
}

// candidatesFrom is the SQL of a ts at or before every candidate event of
// the trigger rule r at this tick, whose watermarks are wmSeq and wmNow
// (see the candidates in compiler's triggerQuery: the events ingested
// since wmSeq, and older ones due since wmNow, whose ts is after wmNow
// less the rule's lag): "" when none of r's bounds is relative to its
// candidates.
func (t *tick) candidatesFrom(ctx context.Context, r *compiler.Rule, wmSeq int64, wmNow time.Time) (string, error) {
	if !r.Trigger || !slices.ContainsFunc(slices.Collect(maps.Values(r.Tick.ScopeEventsSince)), func(b string) bool {
		return strings.Contains(b, tickform.CandidatesFrom)
	}) {
		return "", nil
	}
	from := wmNow.Add(-r.Lag)
	var fresh sql.NullTime
	err := t.tx.QueryRowContext(ctx, fmt.Sprintf("SELECT min(ts) FROM events WHERE seq > %d AND %s", wmSeq,
		t.ofBrandAndType("type IN ("+quoteStrings(r.Events)+")")), sql.Named("brand", t.brand)).Scan(&fresh)
	if err != nil {
		return "", err
	}
	if fresh.Valid && Naive(fresh.Time).Before(from) {
		from = Naive(fresh.Time)
	}
	return timestampSQL(from), nil
}

// sinceSQL is the condition on ts of the events of type e the copy
// holds: "" for all of them; otherwise those after the earliest bound of
// its readers (a literal once $now is bound, which DuckDB applies as a
// table filter, skipping the row groups of older events).
func (c *scopeCopy) sinceSQL(e string) string {
	if c.unbounded[e] || len(c.since[e]) == 0 {
		return ""
	}
	return " AND ts > " + tickform.EarliestBound(c.since[e])
}

// copyScope fills the tables of c.scope with the rows of the members of
// c.in: of members, the columns read; of events, those of the types read
// and, of each, the columns read (brand is the same in every row: a
// constant costs no decoding), and of a type all of whose readers read
// only events after a bound at now, the events after it (on clustered
// events). It reports whether the copy of events holds events of every
// type.
func (t *tick) copyScope(ctx context.Context, c scopeCopy) (allTypes bool, err error) {
	brand := sql.Named("brand", t.brand)
	inScope := " IN (SELECT member_id FROM " + c.in + ")"
	mcols := scopeColumns(t.memberCols, c.read, "m.", c.always...)
	if _, err := t.exec(ctx, `CREATE OR REPLACE TEMP TABLE `+c.scope.Members+` AS
SELECT `+strings.Join(mcols, ", ")+` FROM members m WHERE m.brand = $brand::VARCHAR AND m.member_id`+inScope, brand); err != nil {
		return false, err
	}
	columns := func(extra ...string) []string {
		cols := scopeColumns(t.eventCols, "", "", append([]string{"member_id", "brand", "type", "ts", "seq"}, extra...)...)
		for i, col := range cols {
			if col == quoteIdent("brand") {
				cols[i] = "$brand::VARCHAR AS " + col
			}
		}
		return cols
	}
	scopeFilter := " AND member_id" + inScope
	types := slices.Sorted(maps.Keys(c.reads))
	var q string
	switch {
	case !strings.Contains(c.read, c.scope.Events):
		// Nothing reads the copy (a trigger rule reads its candidates
		// from the events table): it stays empty.
		q = `SELECT ` + strings.Join(columns(), ", ") + ` FROM events WHERE false`
	case t.clustered() && len(types) > 0:
		// One scan per type, which reads the row groups of that type
		// only, and decodes only the columns read of it (the union fills
		// the others with NULL): the cheapest of the ways measured
		// (docs/performance.md, "Clustered events").
		var parts []string
		for _, e := range types {
			parts = append(parts, `SELECT `+strings.Join(columns(c.reads[e]...), ", ")+` FROM events WHERE brand = $brand::VARCHAR AND type = `+quoteString(e)+c.sinceSQL(e)+scopeFilter)
		}
		q = strings.Join(parts, "\nUNION ALL BY NAME\n")
	default:
		// In ingest order a filter on a few types saves more than it
		// costs; on many, the IN list becomes a join over every event of
		// the brand and costs more than copying the events of the other
		// types (and so does a scan per type).
		var all []string
		for _, cols := range c.reads {
			all = append(all, cols...)
		}
		typeFilter := ""
		switch {
		case len(types) == 0:
			typeFilter = " AND false"
		case len(types) <= 2:
			typeFilter = " AND type IN (" + quoteStrings(types) + ")"
		}
		allTypes = typeFilter == ""
		q = `SELECT ` + strings.Join(columns(all...), ", ") + ` FROM events WHERE brand = $brand::VARCHAR` + typeFilter + scopeFilter
	}
	q = `CREATE OR REPLACE TEMP TABLE ` + c.scope.Events + ` AS
` + q
	_, err = t.exec(ctx, q, usedArgs(q, t.params())...)
	return allTypes, err
}
