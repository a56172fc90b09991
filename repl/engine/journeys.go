package engine

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"nudge/compiler"
	"nudge/runtime/why"
)

// journeys runs `:journeys [MEMBER [JOURNEY]]`: without a member, the
// loaded and session journeys with their instances in the database by
// state; with one, where the member stands in each journey and why (the
// journeys' part of `nudge why`, runtime/why).
func (e *Engine) journeys(ctx context.Context, arg string) (*Result, error) {
	fields := strings.Fields(arg)
	if len(fields) > 2 {
		return &Result{Kind: Text, Text: "usage: :journeys [MEMBER [JOURNEY]]"}, nil
	}
	if len(e.prog.Info.Journeys) == 0 {
		return &Result{Kind: Text, Text: "no journeys: :load a file that declares one (journey NAME ... end)"}, nil
	}
	prog, diags := compiler.Compile(e.prog.Info)
	if diags.HasErrors() {
		return &Result{Kind: Diagnostics, Text: render(diags.Dedup(), e.prog, "")}, nil
	}
	if len(fields) == 0 {
		return e.listJourneys(ctx, prog)
	}
	opts := why.Options{Now: e.evalNow(), Brand: e.opts.Brand, Lookback: e.lookback}
	if len(fields) == 2 {
		opts.Rule = fields[1]
		found := false
		var names []string
		for _, j := range prog.Journeys {
			found = found || j.Name == opts.Rule
			names = append(names, j.Name)
		}
		if !found {
			return &Result{Kind: Text, Text: fmt.Sprintf("no journey %q (journeys: %s)", opts.Rule, strings.Join(names, ", "))}, nil
		}
	}
	jws, _ := compiler.WhyJourneys(e.prog.Info)
	db, err := e.database(ctx, true) // a dry run: it writes in a transaction it rolls back
	if err != nil {
		return nil, err
	}
	reps, err := why.ExplainJourneys(ctx, db, prog, jws, fields[0], opts)
	if err != nil {
		return explainError(ctx, "journeys", err)
	}
	brand, exists, err := e.memberExists(ctx, fields[0])
	if err != nil {
		return nil, fmt.Errorf("journeys: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "member %s at %s", fields[0], opts.Now.Format("2006-01-02 15:04"))
	if brand != "" {
		fmt.Fprintf(&b, " (brand %s)", brand)
	}
	if !exists {
		// As :why says it: a mistyped id otherwise reads as a member who
		// simply never entered.
		fmt.Fprintf(&b, "\n  no member %q in brand %q", fields[0], brand)
	}
	why.WriteJourneysText(&b, reps)
	return &Result{Kind: Text, Text: strings.TrimRight(b.String(), "\n")}, nil
}

// listJourneys lists the program's journeys: name, entry, steps, and the
// instances of the database's brand by state.
func (e *Engine) listJourneys(ctx context.Context, prog *compiler.Program) (*Result, error) {
	fileBrand, optBrand := e.brands()
	brand := fileBrand
	if brand == "" {
		brand = optBrand
	}
	counts := map[string]map[string]int64{}
	err := e.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT journey, status, count(*) FROM journey_instances
WHERE $brand::VARCHAR = '' OR brand = $brand::VARCHAR GROUP BY ALL`, sql.Named("brand", brand))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var j, s string
			var n int64
			if err := rows.Scan(&j, &s, &n); err != nil {
				return err
			}
			if counts[j] == nil {
				counts[j] = map[string]int64{}
			}
			counts[j][s] = n
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("journeys: %w", err)
	}
	var lines []string
	for _, j := range prog.Journeys {
		kind := "enter when"
		if j.EnterOn {
			kind = "enter on"
		}
		steps := journeySteps(j)
		title := ""
		if j.Title != "" {
			title = fmt.Sprintf(" %q", j.Title)
		}
		c := counts[j.Name]
		lines = append(lines, fmt.Sprintf("%s%s (%s:%d): %s, %d %s; instances: %s active, %s exited, %s completed",
			j.Name, title, j.File, j.Line, kind, steps, pluralWord(steps, "step", "steps"),
			Thousands(c["active"]), Thousands(c["exited"]), Thousands(c["completed"])))
	}
	lines = append(lines, ":journeys MEMBER shows where a member stands in each")
	return &Result{Kind: Text, Text: strings.Join(lines, "\n")}, nil
}

// journeySteps counts the steps of j (its nodes with a source line).
func journeySteps(j *compiler.Journey) int {
	steps := 0
	for _, n := range j.Nodes {
		if n.Line > 0 {
			steps++
		}
	}
	return steps
}

// memberExists reports whether the session's brand has a member id, and
// names the brand.
func (e *Engine) memberExists(ctx context.Context, id string) (brand string, exists bool, err error) {
	err = e.readTx(ctx, func(tx *sql.Tx) error {
		if brand, err = e.brandFor(ctx, tx); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT count(*) > 0 FROM members WHERE brand = $brand::VARCHAR AND member_id = $id::VARCHAR`,
			sql.Named("brand", brand), sql.Named("id", id)).Scan(&exists)
	})
	return brand, exists, err
}
