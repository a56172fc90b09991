package tick

import (
	"context"
	"database/sql"
	"fmt"
)

// applyTags applies the rules' tag and untag actions of the tick. Within
// one tick untag wins over tag of the same member and tag. A program with
// strata (or a journey reading or writing tags) applied them stratum by
// stratum as it evaluated its rules (stratumTags), but for retries of
// refusals, which apply theirs now unless refused again. The journeys applied theirs as
// their steps ran (journeyTags).
func (t *tick) applyTags(ctx context.Context) error {
	if !t.feat.tags {
		return nil // no decision tags or untags
	}
	rules := fmt.Sprintf("ri < %d", len(t.prog.Rules))
	if t.feat.stratumTags {
		return t.tagsFrom(ctx, "(SELECT * FROM _nudge_dec WHERE "+rules+" AND firing_id IN (SELECT firing_id FROM _nudge_retry))")
	}
	return t.tagsFrom(ctx, "(SELECT * FROM _nudge_dec WHERE "+rules+")")
}

// stratumTags applies the tag and untag actions of the firings of the
// rules of stratum s (candidates their limit and dedupe let fire: see
// fire), before the next stratum is evaluated. Tags are applied whatever
// becomes of a firing's sends (SPEC §5: the send policies only decide
// sends), so they are known before the policies run, which see every
// stratum's sends together (caps compete by priority across strata).
//
// But for a retry: a state rule's firing for a member whose previous
// firing of the rule was refused (all its sends capped or without
// consent). Refused again, it is a repeated refusal, which records and
// changes nothing (see repeats), and whether it is depends on the caps,
// which every stratum's sends compete for. A retry's tags are applied
// with the decisions (applyTags), when it was not refused again; later
// strata see them at the next tick. Incremental evaluation relies on
// this: it does not evaluate a member whose refusal would repeat, where a
// full evaluation does.
func (t *tick) stratumTags(ctx context.Context, s int) error {
	var rules []int
	for i, r := range t.prog.Rules {
		if r.Stratum != s || t.candidates[i] == 0 {
			continue
		}
		for _, a := range r.Actions {
			if a.Verb == "tag" || a.Verb == "untag" {
				rules = append(rules, i)
				break
			}
		}
	}
	if len(rules) == 0 {
		return nil
	}
	if _, err := t.selectFirings(ctx, "_nudge_sfire", rules); err != nil {
		return err
	}
	if _, err := t.exec(ctx, `
INSERT INTO _nudge_retry
SELECT f.firing_id FROM _nudge_sfire f
JOIN _nudge_rules r ON r.ri = f.ri AND NOT r.trig
JOIN rule_members rm ON rm.rule = f.name AND rm.member_id = f.member_id AND rm.brand = $brand::VARCHAR AND NOT rm.last_effective`,
		sql.Named("brand", t.brand)); err != nil {
		return err
	}
	return t.tagsFrom(ctx, `(SELECT f.member_id, a.verb AS action, a.content, f.now, f.name AS rule
    FROM _nudge_sfire f JOIN _nudge_actions a ON a.ri = f.ri
    WHERE a.verb IN ('tag', 'untag') AND f.firing_id NOT IN (SELECT firing_id FROM _nudge_retry))`)
}

// tagsFrom applies the tag and untag actions of src, a table or subquery
// of decisions (member_id, action, content, now, rule); untag wins over tag
// of the same member and tag.
func (t *tick) tagsFrom(ctx context.Context, src string) error {
	if _, err := t.exec(ctx, `
INSERT INTO member_tags (brand, member_id, tag, tagged_at, rule)
SELECT $brand::VARCHAR, member_id, content, min(now), min(rule)
FROM `+src+` d WHERE action = 'tag'
GROUP BY member_id, content
ON CONFLICT DO NOTHING`, sql.Named("brand", t.brand)); err != nil {
		return err
	}
	_, err := t.exec(ctx, `
DELETE FROM member_tags
WHERE brand = $brand::VARCHAR
  AND EXISTS (SELECT 1 FROM `+src+` d WHERE d.action = 'untag' AND d.member_id = member_tags.member_id AND d.content = member_tags.tag)`, t.params()...)
	return err
}
