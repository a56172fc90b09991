package runtime

import (
	"testing"
	"time"

	"nudge/compiler"
)

// TestCapUseCountsEveryOpenMember checks that the caps count, for every
// member with an open send, that member's earlier sends in each cap's
// window, whichever channel and rule sent them, and only those: the cap
// step reads the outbox for the open members alone (10_caps.go), so a
// member it left out would get a send its cap refuses, and another
// member's sends must not fill it. m1 and m2 were sent to twice, m3 once,
// m4 three times; at 14:00 m1 has one open send (the
// single-send path), m2 and m3 two (the competing path), m4 one that its cap refuses.
func TestCapUseCountsEveryOpenMember(t *testing.T) {
	t.Parallel()
	members := "member_id,brand,consent_sms,consent_wechat,consent_app_push\nm1,acme,true,true,true\nm2,acme,true,true,true\nm3,acme,true,true,true\nm4,acme,true,true,true\n"
	only := func(ids ...string) string {
		in := ""
		for i, id := range ids {
			if i > 0 {
				in += ", "
			}
			in += "'" + id + "'"
		}
		return `SELECT m.member_id, CAST(NULL AS BIGINT) AS trigger_seq, CAST(NULL AS TIMESTAMP) AS due_at
FROM members m WHERE m.brand = $brand::VARCHAR AND m.member_id IN (` + in + `) AND $now::TIMESTAMP >= TIMESTAMP '`
	}
	rule := func(name, channel, sql, from string, prio int) *compiler.Rule {
		r := sendRule(name, sql+from+`'`, false, channel)
		r.Priority = prio
		r.Limit = &compiler.Limit{Every: 7 * 24 * time.Hour} // each fires once
		return r
	}
	prog := &compiler.Program{
		Rules: []*compiler.Rule{
			rule("a_sms", "sms", only("m1", "m2", "m3", "m4"), "2024-11-01 10:00", 0),
			rule("b_wechat", "wechat", only("m1", "m2", "m4"), "2024-11-01 12:00", 0),
			rule("c_push", "app_push", only("m4"), "2024-11-01 13:00", 0),
			rule("d_push", "app_push", only("m1", "m2", "m3"), "2024-11-01 14:00", 2),
			rule("e_wechat", "wechat", only("m2", "m3"), "2024-11-01 14:00", 1),
			rule("f_sms", "sms", only("m4"), "2024-11-01 14:00", 0),
		},
		Caps: []compiler.Cap{{Count: 3, Per: 24 * time.Hour}},
	}
	db := fixture(t, members, "")
	expect(t, "10:00", run(t, db, prog, "2024-11-01 10:00").Decisions,
		"a_sms m1 send pending\na_sms m2 send pending\na_sms m3 send pending\na_sms m4 send pending\n")
	expect(t, "12:00", run(t, db, prog, "2024-11-01 12:00").Decisions,
		"b_wechat m1 send pending\nb_wechat m2 send pending\nb_wechat m4 send pending\n")
	expect(t, "13:00", run(t, db, prog, "2024-11-01 13:00").Decisions, "c_push m4 send pending\n")
	// Sends of every counted status count (the step scans each status
	// apart): as dispatch and quiet hours would, m2's sms went out and
	// m4's wechat waits for its time.
	for _, q := range []string{
		`UPDATE outbox SET status = 'sent' WHERE member_id = 'm2' AND rule = 'a_sms'`,
		`UPDATE outbox SET status = 'scheduled', scheduled_at = TIMESTAMP '2024-11-01 15:00' WHERE member_id = 'm4' AND rule = 'b_wechat'`,
	} {
		if _, err := db.sql.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	// m1: 2 sent + d = 3, allowed. m2: 2 sent + d = 3, then e is the
	// fourth: capped. m3: 1 sent + d + e = 3, both allowed (m4's sends
	// are not m3's). m4: 3 sent, f is capped.
	expect(t, "14:00", run(t, db, prog, "2024-11-01 14:00").Decisions,
		"d_push m1 send pending\nd_push m2 send pending\nd_push m3 send pending\n"+
			"e_wechat m2 send capped\ne_wechat m3 send pending\nf_sms m4 send capped\n")
}
