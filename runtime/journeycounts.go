package runtime

import (
	"context"
	"database/sql"
	"fmt"

	"nudge/compiler"
)

// JourneyCount is where a journey's instances of one brand stand: how many
// entered in all, and how many are active, exited and completed now.
type JourneyCount struct {
	Journey   string
	Entered   int64
	Active    int64
	Exited    int64
	Completed int64
}

// JourneyCounts returns the counts of every journey of prog for brand, in
// the program's order (a journey nobody entered has zeros), for summaries
// such as `nudge demo`'s.
func (db *DB) JourneyCounts(ctx context.Context, prog *compiler.Program, brand string) ([]JourneyCount, error) {
	return journeyCounts(ctx, db.sql, prog, brand)
}

// journeyCounts is JourneyCounts read with q (a dry run's transaction).
func journeyCounts(ctx context.Context, q queryer, prog *compiler.Program, brand string) ([]JourneyCount, error) {
	byName := map[string]*JourneyCount{}
	out := make([]JourneyCount, len(prog.Journeys))
	for i, j := range prog.Journeys {
		out[i].Journey = j.Name
		byName[j.Name] = &out[i]
	}
	if len(out) == 0 {
		return out, nil
	}
	rows, err := q.QueryContext(ctx, `
SELECT journey, count(*), count(*) FILTER (WHERE status = 'active'), count(*) FILTER (WHERE status = 'exited'),
       count(*) FILTER (WHERE status = 'completed')
FROM journey_instances WHERE brand = $brand::VARCHAR GROUP BY journey`, sql.Named("brand", brand))
	if err != nil {
		return nil, fmt.Errorf("reading journey instances: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c JourneyCount
		if err := rows.Scan(&c.Journey, &c.Entered, &c.Active, &c.Exited, &c.Completed); err != nil {
			return nil, fmt.Errorf("reading journey instances: %w", err)
		}
		if p := byName[c.Journey]; p != nil {
			*p = c
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading journey instances: %w", err)
	}
	return out, nil
}
