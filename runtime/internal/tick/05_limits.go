package tick

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"nudge/internal/tickform"
	"nudge/runtime/policy"
)

// blocked returns the condition, over blockedFrom, under which rule i may
// not fire for member rm.member_id at this tick, or "" when it always may:
// the limit has not run out; or (state rules) the latest firing was refused
// and would be refused again: no consent on any channel it sends on, or
// all its sends capped and the caps still full for sure.
func (t *tick) blocked(i int) string {
	r := t.prog.Rules[i]
	var block []string
	if r.Limit != nil || !r.Trigger {
		every := int64(0)
		if r.Limit != nil {
			every = r.Limit.Every.Microseconds()
		}
		cond := "rm.last_effective_at IS NOT NULL"
		if every > 0 {
			cond += fmt.Sprintf(" AND rm.last_effective_at > %s - to_microseconds(%d)", t.blockedNow(), every)
		}
		block = append(block, "("+cond+")")
	}
	if !r.Trigger {
		if noConsent := policy.NoConsentOnAnySQL(t.consent, r); noConsent != "" {
			block = append(block, "(NOT rm.last_effective AND "+noConsent+" AND "+t.noOptInSQL()+")")
		}
		if t.plans[i].capBlock {
			_, maxPer := t.capWindows()
			cond := fmt.Sprintf(`NOT rm.last_effective AND rm.last_capped
         AND (f.latest IS NULL OR f.latest <= rm.last_fired_at - to_microseconds(%d))`, maxPer.Microseconds())
			if _, ok := t.retryHorizon(); ok {
				cond += fmt.Sprintf("\n         AND rm.last_fired_at > %s - to_microseconds(%d)", t.blockedNow(), maxPer.Microseconds())
			}
			if r.StopAfter > 0 {
				cond += "\n         AND (g.ended IS NULL OR g.ended <= rm.last_fired_at)"
			}
			if hasFallback(r) {
				// An opt-in may open a fallback channel the caps do not
				// fill (changedChannels).
				cond += "\n         AND " + t.noOptInSQL()
			}
			block = append(block, "("+cond+")")
		}
		if budget := t.budgetBlocked(i); budget != "" {
			block = append(block, budget)
		}
	}
	return strings.Join(block, "\n         OR ")
}

// blockedFrom is the FROM clause the blocked predicate cond reads:
// rule_members rm with the member m, the retry tables f and g, and the
// opt-ins oi when cond reads them; with scoped, the rows of the scope's
// members only.
func (t *tick) blockedFrom(scoped bool, cond string) string {
	from := "(SELECT * FROM rule_members WHERE brand = " + t.brandSQL() + ") rm LEFT JOIN members m ON m.member_id = rm.member_id AND m.brand = " + t.brandSQL()
	if scoped {
		from = "_nudge_scope_rm rm LEFT JOIN " + tickform.ScopeMembers + " m ON m.member_id = rm.member_id"
	}
	if t.retryBlock {
		from += `
    LEFT JOIN _nudge_freed f ON f.member_id = rm.member_id
    LEFT JOIN _nudge_resp g ON g.rule = rm.rule AND g.member_id = rm.member_id`
	}
	if readsOptIns(cond) {
		from += t.optInsJoin()
	}
	return from
}

// blockedNow is the instant blocked judges at: the tick's, or in a
// replay's lanes each lane's (its copy of rule_members carries it).
func (t *tick) blockedNow() string {
	if t.mode.has(Lanes) {
		return "rm." + tickform.LaneNow
	}
	return "$now::TIMESTAMP"
}

// fire turns candidates (already allowed by their rule's limit, see
// evaluate) into firings: one per dedupe key, not already in the outbox; a
// limited rule fires at most once per member per tick (its earliest
// candidate).
func (t *tick) fire(ctx context.Context) error {
	var err error
	t.firings, err = t.selectFirings(ctx, "_nudge_fire", nil)
	return err
}

// selectFirings creates the table table of the firings (see fire) of the
// candidates of the rules rules (of every rule when nil).
func (t *tick) selectFirings(ctx context.Context, table string, rules []int) (int64, error) {
	only := ""
	if rules != nil {
		var ris []string
		for _, i := range rules {
			ris = append(ris, fmt.Sprint(i))
		}
		only = " AND ri IN (" + strings.Join(ris, ", ") + ")"
	}
	// Which kinds of candidates there are, and the lowest trigger seq (the
	// outbox rows a trigger candidate may repeat have no lower one).
	var minSeq, states, triggers int64
	if err := t.tx.QueryRowContext(ctx, `SELECT coalesce(min(trigger_seq), 0), count(*) FILTER (WHERE NOT trig), count(*) FILTER (WHERE trig)
FROM (SELECT trigger_seq, ri IN (SELECT ri FROM _nudge_rules WHERE trig) AS trig FROM _nudge_cand WHERE true`+only+`)`).Scan(&minSeq, &states, &triggers); err != nil {
		return 0, err
	}
	// State candidates are one per member (the compiler's contract) and
	// their dedupe key is the run's now, so they only need an anti-join
	// with this now's state firings; when the outbox has none (a tick's
	// first decisions at this instant, always but in a replay's round or a
	// tick run again at the same now), none is needed. Trigger candidates
	// are deduped by event seq, and a limited trigger rule keeps each
	// member's earliest: the earliest candidate (by due_at, NULL last, then
	// seq) of each group of the rule, the member and, without a limit, the
	// seq. (An aggregate rather than row_number() windows, whose fixed cost
	// is several times that of the whole statement on a tick's few
	// candidates.) A kind of candidate the tick has none of is left out, so
	// that the candidates are read once, as they come.
	args := []any{sql.Named("lo", t.lo()), sql.Named("hi", t.hi())}
	var kinds []string
	if states > 0 {
		// (Of the state rules of the candidates only, a semi join however
		// many rules the program has: a rule evaluated again at the same
		// instant, as a new rule's first evaluation next to the others'
		// firings, anti-joins none of theirs.)
		repeats := `SELECT rule, member_id, fired_at FROM outbox WHERE fired_at >= $lo::TIMESTAMP AND fired_at <= $hi::TIMESTAMP AND trigger_seq IS NULL AND ` + afterScan("brand = "+t.brandSQL()) + `
      AND rule IN (SELECT r.name FROM _nudge_cand JOIN _nudge_rules r USING (ri) WHERE NOT r.trig` + only + `)`
		var again bool
		if err := t.tx.QueryRowContext(ctx, `SELECT EXISTS (`+repeats+`)`, args...).Scan(&again); err != nil {
			return 0, err
		}
		antiJoin := ""
		if again {
			antiJoin = `
    ANTI JOIN (` + repeats + `) o
        ON o.rule = c.name AND o.member_id = c.member_id AND o.fired_at = c.now`
		}
		kinds = append(kinds, `
    SELECT c.ri, c.name, c.member_id, c.trigger_seq, c.due_at, c.vals, c.params, c.now, `+t.stateDedupeKeySQL("c.now")+` AS dedupe_key
    FROM c`+antiJoin+`
    WHERE NOT c.trig`)
	}
	if triggers > 0 {
		args = append(args, sql.Named("minseq", minSeq))
		kinds = append(kinds, `
    SELECT ri, name, member_id, trigger_seq, due_at, vals, params, now, CAST(trigger_seq AS VARCHAR) AS dedupe_key
    FROM (
        SELECT unnest(arg_min(c, (c.due_at, c.trigger_seq)))
        FROM c
        ANTI JOIN (SELECT rule, member_id, trigger_seq FROM outbox WHERE trigger_seq >= $minseq::BIGINT AND `+afterScan("brand = "+t.brandSQL())+`) o
            ON o.rule = c.name AND o.member_id = c.member_id AND o.trigger_seq = c.trigger_seq
        WHERE c.trig
        GROUP BY c.ri, c.member_id, CASE WHEN c.has_limit THEN NULL ELSE c.trigger_seq END)`)
	}
	if len(kinds) == 0 {
		// No candidate: the table with the columns of firings.
		kinds = append(kinds, `
    SELECT c.ri, c.name, c.member_id, c.trigger_seq, c.due_at, c.vals, c.params, c.now, CAST(NULL AS VARCHAR) AS dedupe_key FROM c WHERE false`)
	}
	q := `
CREATE OR REPLACE TEMP TABLE ` + table + ` AS
WITH c AS (
    SELECT c.ri, r.name, c.member_id, c.trigger_seq, c.due_at, c.vals, c.params, c.now, r.has_limit, r.trig
    FROM _nudge_cand c JOIN _nudge_rules r USING (ri)
    WHERE c.member_id IS NOT NULL AND (NOT r.trig OR c.trigger_seq IS NOT NULL)` + only + `
)
SELECT *, 'f' || substr(md5(` + t.brandSQL() + ` || chr(31) || name || chr(31) || member_id || chr(31) || dedupe_key), 1, 16) AS firing_id
FROM (` + strings.Join(kinds, "\n    UNION ALL") + `)`
	return t.create(ctx, q, usedArgs(q, args)...)
}

// stateDedupeKeySQL is the dedupe key of a state firing at the instant now
// (a SQL TIMESTAMP): the instant as text. At the tick's own instant it is a
// literal, which spares formatting the instant on every firing of a first
// evaluation.
func (t *tick) stateDedupeKeySQL(now string) string {
	return "CASE WHEN " + now + " = " + timestampSQL(t.now) + " THEN " + quoteString(stateDedupeKey(t.now)) +
		" ELSE strftime(" + now + ", " + quoteString(stateDedupeKeyFormat) + ") END"
}

// stateDedupeKeyFormat is the strftime format of the dedupe key of what
// is decided at an instant: a state firing's, and an `enter when`
// journey's entry (04a_journeys.go). stateDedupeKey formats an instant so
// in Go.
const stateDedupeKeyFormat = "%Y-%m-%dT%H:%M:%S.%f"

func stateDedupeKey(now time.Time) string { return now.Format("2006-01-02T15:04:05.000000") }
