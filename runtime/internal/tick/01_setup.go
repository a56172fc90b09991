package tick

import (
	"context"
	"fmt"
	"strings"

	"nudge/runtime/policy"
)

// setup creates the tick's temp tables and loads the program's rules,
// actions and caps into them, so every policy is a join.
func (t *tick) setup(ctx context.Context) error {
	ddl := []string{
		`CREATE OR REPLACE TEMP TABLE _nudge_rules (ri INTEGER, name VARCHAR, trig BOOLEAN, has_limit BOOLEAN,
			every_us BIGINT, priority INTEGER, holdout DOUBLE, stop_after INTEGER, transactional BOOLEAN, expire_us BIGINT)`,
		`CREATE OR REPLACE TEMP TABLE _nudge_actions (ri INTEGER, ai INTEGER, verb VARCHAR, kind VARCHAR, content VARCHAR, channel VARCHAR, channels VARCHAR[])`,
		`CREATE OR REPLACE TEMP TABLE _nudge_caps (ci INTEGER, channel VARCHAR, cnt BIGINT, per_us BIGINT, label VARCHAR)`,
		// now: the instant a candidate was evaluated at, the tick's (a
		// replay's lanes give each its own, see replay.go).
		`CREATE OR REPLACE TEMP TABLE _nudge_cand (ri INTEGER, member_id VARCHAR, trigger_seq BIGINT, due_at TIMESTAMP, vals JSON, params JSON,
			now TIMESTAMP DEFAULT ` + timestampSQL(t.now) + `)`,
	}
	if _, err := t.exec(ctx, strings.Join(ddl, ";\n")); err != nil {
		return err
	}
	var rules, actions, caps []string
	for i, r := range t.prog.Rules {
		hasLimit := r.Limit != nil || !r.Trigger
		var every int64
		if r.Limit != nil {
			every = r.Limit.Every.Microseconds()
		}
		rules = append(rules, fmt.Sprintf("(%d, %s, %t, %t, %d, %d, %g, %d, %t, %d)", i, quoteString(r.Name), r.Trigger, hasLimit,
			every, r.Priority, r.Holdout, r.StopAfter, r.Transactional, r.Expire.Microseconds()))
		for j, a := range r.Actions {
			actions = append(actions, fmt.Sprintf("(%d, %d, %s, %s, %s, %s, %s)", i, j, quoteString(a.Verb),
				sqlNullString(a.Kind), sqlNullString(a.Content), sqlNullString(a.Channel), channelList(a.Channels())))
		}
	}
	for i, c := range t.prog.Caps {
		caps = append(caps, fmt.Sprintf("(%d, %s, %d, %d, %s)", i, sqlNullString(c.Channel), c.Count, c.Per.Microseconds(), quoteString(policy.CapLabel(c))))
	}
	for table, rows := range map[string][]string{"_nudge_rules": rules, "_nudge_actions": actions, "_nudge_caps": caps} {
		if len(rows) == 0 {
			continue
		}
		if _, err := t.exec(ctx, "INSERT INTO "+table+" VALUES "+strings.Join(rows, ", ")); err != nil {
			return err
		}
	}
	return nil
}
