package tick

import (
	"context"
	"strings"

	"nudge/runtime/policy"
)

// setup creates the tick's temp tables (the journeys' too) and loads the
// program's rules (and the journeys' sending nodes), actions and caps into
// them, so every policy is a join.
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
	if t.feat.journeys {
		ddl = append(ddl, journeyTablesSQL)
	}
	if _, err := t.exec(ctx, strings.Join(ddl, ";\n")); err != nil {
		return err
	}
	rules, actions := rulesRows(), actionsRows()
	caps := jsonRows{param: "caps", columns: []string{"ci INTEGER", "channel VARCHAR", "cnt BIGINT", "per_us BIGINT", "label VARCHAR"}}
	for i, r := range t.prog.Rules {
		hasLimit := r.Limit != nil || !r.Trigger
		var every int64
		if r.Limit != nil {
			every = r.Limit.Every.Microseconds()
		}
		rules.add(i, r.Name, r.Trigger, hasLimit, every, r.Priority, r.Holdout, r.StopAfter, r.Transactional, r.Expire.Microseconds())
		for j, a := range r.Actions {
			actions.add(i, j, a.Verb, nullString(a.Kind), nullString(a.Content), nullString(a.Channel), a.Channels())
		}
	}
	if t.feat.journeys {
		t.journeyRules(&rules, &actions)
	}
	for i, c := range t.prog.Caps {
		caps.add(i, nullString(c.Channel), c.Count, c.Per.Microseconds(), policy.CapLabel(c))
	}
	for table, rows := range map[string]*jsonRows{"_nudge_rules": &rules, "_nudge_actions": &actions, "_nudge_caps": &caps} {
		if len(rows.rows) == 0 {
			continue
		}
		if _, err := t.exec(ctx, "INSERT INTO "+table+" SELECT * FROM "+rows.sql(), rows.arg()); err != nil {
			return err
		}
	}
	return nil
}

// nullString is s, or JSON's null for "" (SQL's NULL).
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// rulesRows and actionsRows are the rows of _nudge_rules and _nudge_actions,
// filled by setup with the program's rules and the journeys' send steps
// (journeyRules).
func rulesRows() jsonRows {
	return jsonRows{param: "rules", columns: []string{"ri INTEGER", "name VARCHAR", "trig BOOLEAN", "has_limit BOOLEAN",
		"every_us BIGINT", "priority INTEGER", "holdout DOUBLE", "stop_after INTEGER", "transactional BOOLEAN", "expire_us BIGINT"}}
}

func actionsRows() jsonRows {
	return jsonRows{param: "actions", columns: []string{"ri INTEGER", "ai INTEGER", "verb VARCHAR", "kind VARCHAR", "content VARCHAR", "channel VARCHAR", "channels VARCHAR[]"}}
}
