package why

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"nudge/compiler"
	nrt "nudge/runtime"
	"nudge/runtime/policy"
)

// policies fills in RuleReport.Policies for every report: read-only
// queries of the tables the runtime's policies read, with the policies'
// own definitions (package policy).
func policies(ctx context.Context, q queryer, prog *compiler.Program, brand string, now time.Time, reps []*Report, everyOutbox string) error {
	if len(reps) == 0 {
		return nil
	}
	var ids []string
	for _, r := range reps {
		ids = append(ids, r.Member)
	}
	list := inList(ids)
	p := func(extra ...any) []any {
		return append([]any{sql.Named("now", now), sql.Named("brand", brand)}, extra...)
	}

	// Last firings per rule and member (limits, repeated refusals), and
	// what refused the latest firing when it was refused: its sends'
	// statuses.
	last := map[string]time.Time{}
	refused := map[string]bool{}
	refusal := map[string]string{}
	if err := scan(ctx, q, `SELECT rm.rule, rm.member_id, rm.last_effective_at, NOT rm.last_effective,
		  (SELECT string_agg(DISTINCT o.status, ', ' ORDER BY o.status) FROM outbox o
		   WHERE NOT rm.last_effective AND o.brand = rm.brand AND o.rule = rm.rule AND o.member_id = rm.member_id
		     AND o.fired_at = rm.last_fired_at AND o.action = 'send')
		FROM rule_members rm WHERE rm.brand = $brand::VARCHAR AND rm.member_id IN `+list, p(), func(r *sql.Rows) error {
		var rule, id string
		var at sql.NullTime
		var ref bool
		var statuses sql.NullString
		if err := r.Scan(&rule, &id, &at, &ref, &statuses); err != nil {
			return err
		}
		if at.Valid {
			last[rule+"\x00"+id] = at.Time
		}
		refused[rule+"\x00"+id] = ref
		refusal[rule+"\x00"+id] = statuses.String
		return nil
	}); err != nil {
		return err
	}

	// Consent columns.
	var consentCols []string
	if err := scan(ctx, q, `SELECT column_name FROM information_schema.columns
		WHERE table_name = 'members' AND column_name LIKE 'consent\_%' ESCAPE '\' ORDER BY column_name`, nil, func(r *sql.Rows) error {
		var c string
		if err := r.Scan(&c); err != nil {
			return err
		}
		consentCols = append(consentCols, c)
		return nil
	}); err != nil {
		return err
	}
	consent := map[string]string{} // member \x00 channel -> true/false/null
	if len(consentCols) > 0 {
		var sel []string
		for _, c := range consentCols {
			sel = append(sel, `coalesce(CAST("`+c+`" AS VARCHAR), 'null')`)
		}
		if err := scan(ctx, q, `SELECT member_id, `+strings.Join(sel, ", ")+` FROM members WHERE brand = $brand::VARCHAR AND member_id IN `+list, p(), func(r *sql.Rows) error {
			vals := make([]string, len(consentCols)+1)
			dest := make([]any, len(vals))
			for i := range vals {
				dest[i] = &vals[i]
			}
			if err := r.Scan(dest...); err != nil {
				return err
			}
			for i, c := range consentCols {
				consent[vals[0]+"\x00"+strings.TrimPrefix(c, "consent_")] = vals[i+1]
			}
			return nil
		}); err != nil {
			return err
		}
	}

	optouts, err := optOuts(ctx, q, brand, now, ids)
	if err != nil {
		return err
	}

	// Cap usage per cap and member.
	capUse := map[string]int64{}
	for i, c := range prog.Caps {
		chanCond := "true"
		args := p(sql.Named("per", c.Per.Microseconds()))
		if c.Channel != "" {
			chanCond = "channel = $ch::VARCHAR"
			args = append(args, sql.Named("ch", c.Channel))
		}
		if err := scan(ctx, q, `SELECT member_id, count(*) FROM outbox
			WHERE brand = $brand::VARCHAR AND `+policy.CountedSendSQL("")+` AND `+chanCond+`
			  AND fired_at > $now::TIMESTAMP - to_microseconds($per::BIGINT) AND fired_at <= $now::TIMESTAMP
			  AND member_id IN `+list+` GROUP BY member_id`, args, func(r *sql.Rows) error {
			var id string
			var n int64
			if err := r.Scan(&id, &n); err != nil {
				return err
			}
			capUse[fmt.Sprint(i)+"\x00"+id] = n
			return nil
		}); err != nil {
			return err
		}
	}

	// Unanswered sends and holdout groups per rule.
	unanswered := map[string]int64{}
	gaveUp := map[string]bool{} // the rule already gave up on the member since its last event
	held := map[string]bool{}
	for _, rule := range prog.Rules {
		if rule.StopAfter > 0 {
			// The tick's own definition (policy.StopAfterSQL), for the
			// members at now.
			pairs := `SELECT 0 AS ri, $rule::VARCHAR AS rule, unnest($ids::VARCHAR[]) AS member_id, $now::TIMESTAMP AS now`
			args := append(policy.StopAfterArgs(brand, now), sql.Named("rule", rule.Name), sql.Named("ids", ids), sql.Named("now", now))
			if err := scan(ctx, q, policy.StopAfterSQL(pairs, "events", []string{rule.Name}), args, func(r *sql.Rows) error {
				var ri int
				var id string
				var n int64
				var again bool
				if err := r.Scan(&ri, &id, &n, &again); err != nil {
					return err
				}
				unanswered[rule.Name+"\x00"+id] = n
				gaveUp[rule.Name+"\x00"+id] = again
				return nil
			}); err != nil {
				return err
			}
		}
		if rule.Holdout > 0 {
			if err := scan(ctx, q, `SELECT member_id, `+policy.HeldOutSQL("$rule::VARCHAR", "member_id", "$h::DOUBLE")+`
				FROM members WHERE brand = $brand::VARCHAR AND member_id IN `+list, p(sql.Named("rule", rule.Name), sql.Named("h", rule.Holdout)), func(r *sql.Rows) error {
				var id string
				var in bool
				if err := r.Scan(&id, &in); err != nil {
					return err
				}
				held[rule.Name+"\x00"+id] = in
				return nil
			}); err != nil {
				return err
			}
		}
	}

	money, err := readMoney(ctx, q, prog, brand, now, list, everyOutbox) // money.go
	if err != nil {
		return err
	}
	quiet, quietText := inQuiet(now, prog.Quiet)
	for _, rep := range reps {
		for _, rr := range rep.Rules {
			r := rr.Rule
			key := r.Name + "\x00" + rep.Member
			rr.LastRefused, rr.LastRefusal = refused[key], refusal[key]
			var ps []Policy
			// limit
			switch {
			case r.Limit == nil && r.Trigger:
				ps = append(ps, Policy{"limit", true, "no limit: each trigger event fires once"})
			default:
				every := time.Duration(0)
				if r.Limit != nil {
					every = r.Limit.Every
				}
				what := "limit once per member ever"
				if every > 0 {
					what = "limit once per member every " + policy.FmtDuration(every)
				}
				at, ok := last[key]
				allowed := policy.LimitAllows(at, ok, every, now)
				switch {
				case !ok:
					ps = append(ps, Policy{"limit", allowed, what + ": never fired"})
				case every == 0:
					ps = append(ps, Policy{"limit", allowed, what + ": fired at " + fmtTime(at)})
				case at.Add(every).Before(now):
					ps = append(ps, Policy{"limit", allowed, what + ": last fired at " + fmtTime(at)})
				default:
					ps = append(ps, Policy{"limit", allowed, what + ": last fired at " + fmtTime(at) + ", allowed again after " + fmtTime(at.Add(every))})
				}
			}
			var sends []compiler.Action
			for _, a := range r.Actions {
				if a.Verb == "send" {
					sends = append(sends, a)
				}
			}
			if len(sends) > 0 {
				if gp, ok := money.globalPolicy(rep.Member); ok {
					ps = append(ps, gp)
				}
				if r.Holdout > 0 {
					if held[key] {
						ps = append(ps, Policy{"holdout", false, fmt.Sprintf("holdout %g%%: in the control group (held_out, never sent)", r.Holdout)})
					} else {
						ps = append(ps, Policy{"holdout", true, fmt.Sprintf("holdout %g%%: not in the control group", r.Holdout)})
					}
				}
				ps = append(ps, deliveryPolicies(r, sends, rep.Member, consent, optouts)...)
				if r.StopAfter > 0 {
					n := unanswered[key]
					text := fmt.Sprintf("stop after %d unanswered: %d unanswered send(s) since the member's last event", r.StopAfter, n)
					if n >= int64(r.StopAfter) && gaveUp[key] {
						rr.GaveUp = true
						text += "; gave up already (recorded once: no send until an event of the member)"
					}
					ps = append(ps, Policy{"stop after", n < int64(r.StopAfter), text})
				}
				ps = append(ps, money.stockPolicies(sends)...)
				if bp, ok := money.budgetPolicy(r, sends); ok {
					ps = append(ps, bp)
				}
				for i, c := range prog.Caps {
					covers := c.Channel == ""
					for _, a := range sends {
						covers = covers || slices.Contains(a.Channels(), c.Channel)
					}
					if !covers {
						continue
					}
					n := capUse[fmt.Sprint(i)+"\x00"+rep.Member]
					ps = append(ps, Policy{"cap", n < int64(c.Count), fmt.Sprintf("cap %s to %d per %s: %d used before this tick", policy.CapChannel(c), c.Count, policy.FmtDuration(c.Per), n)})
				}
				if policy.QuietPerChannel(prog.Quiet) {
					for _, ch := range channelsOf(sends) {
						if qs := policy.QuietFor(prog.Quiet, ch); len(qs) > 0 {
							in, text := inQuiet(now, qs)
							ps = append(ps, Policy{"quiet hours", !in, ch + ": " + text})
						}
					}
				} else if len(prog.Quiet) > 0 {
					ps = append(ps, Policy{"quiet hours", !quiet, quietText})
				}
			}
			rr.Policies = competedFor(ps, rr.Decisions)
		}
	}
	return nil
}

// competedFor amends the stock and budget lines ps (the state before the
// tick) with the verdicts of the dry run decisions: a send refused
// out_of_stock or over_budget while some was left lost to the firings
// before it in the tick (SPEC §9: priority, rule, member).
func competedFor(ps []Policy, decisions []nrt.Decision) []Policy {
	for _, d := range decisions {
		name := map[string]string{string(policy.OutOfStock): "stock", string(policy.OverBudget): "budget"}[d.Status]
		if name == "" {
			continue
		}
		for i := range ps {
			if ps[i].Name == name && ps[i].OK {
				ps[i].OK = false
				ps[i].Text += "; the firings before this one in the tick (priority, rule, member) take what is left: " + d.Status
			}
		}
	}
	return ps
}

func scan(ctx context.Context, q queryer, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// inQuiet reports whether now falls in quiet hours (policy.QuietEnd) and
// says so.
func inQuiet(now time.Time, quiet []compiler.Quiet) (bool, string) {
	if _, q, in := policy.QuietEnd(now, quiet); in {
		return true, fmt.Sprintf("%s: %s is inside, sends are scheduled for the end", policy.QuietReason(q), now.Format("15:04"))
	}
	var ps []string
	for _, q := range quiet {
		ps = append(ps, policy.QuietPeriod(q))
	}
	return false, fmt.Sprintf("quiet hours %s: %s is outside", strings.Join(ps, ", "), now.Format("15:04"))
}

func fmtTime(t time.Time) string {
	if t.Second() == 0 && t.Nanosecond() == 0 {
		return t.Format("2006-01-02 15:04")
	}
	return t.Format("2006-01-02 15:04:05")
}
