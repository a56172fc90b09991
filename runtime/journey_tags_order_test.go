package runtime

import (
	"context"
	"testing"
	"time"
)

// TestJourneyUntagAfterRuleTag: a rule tags x and a journey untags x for
// the same member in one tick. The journeys run after the rules (SPEC §5
// strata with the journeys last, docs/decisions.md "Tags within a tick:
// journeys"), so the member ends without x; and whether another journey
// of the program reads some tag must not change that. Before, the rules'
// tags were applied after the journeys' unless a journey read tags, so
// the member kept x in the first program and not in the second.
func TestJourneyUntagAfterRuleTag(t *testing.T) {
	t.Parallel()
	base := `brand "acme"
import "crm"

rule r
  if purchased at store "S"
  then tag "x"

journey j
  enter on purchased at store "S"
  untag "x"
end
`
	reader := `
journey other
  enter on purchased at store "T"
  if tagged "z"
    tag "w"
  end
end
`
	for _, c := range []struct{ name, src string }{
		{"no journey reads tags", base},
		{"another journey reads tags", base + reader},
	} {
		db := fixture(t, "member_id,brand,consent_sms\nm1,acme,true\n",
			"member_id,brand,type,ts,store\nm1,acme,purchased,2024-11-11 10:00,S\n")
		run(t, db, compileJourneys(t, c.src), "2024-11-11 12:00", func(o *RunOptions) { o.Lookback = 30 * 24 * time.Hour })
		var tags []string
		rows, err := db.sql.QueryContext(context.Background(), `SELECT tag FROM member_tags WHERE member_id = 'm1' ORDER BY tag`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var tag string
			if err := rows.Scan(&tag); err != nil {
				t.Fatal(err)
			}
			tags = append(tags, tag)
		}
		rows.Close()
		if len(tags) != 0 {
			t.Errorf("%s: tags %v, want none (the journey's untag runs after the rule's tag); decisions %v", c.name, tags, tagDecisions(t, db, "m1"))
		}
	}
}
