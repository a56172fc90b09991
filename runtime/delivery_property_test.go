package runtime

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestPropertyDelivery holds the tick's delivery policies (SPEC §9) against
// a plain Go reference: random members with random consent_<channel>,
// random opt-in and opt-out events (some after the tick, some at the same
// instant as another), and a queue event each; a marketing rule with a
// random fallback and expiry and a transactional rule. Per member the
// reference says which channel the coupon takes (the first whose latest
// opt-in/opt-out at or before the tick allows it, else consent_<channel>;
// else the first channel, no_consent), whether the service message goes
// (only an opt-out on its channel refuses it) and whether the coupon is
// expired (decided after its due time + expiry, or scheduled past it by
// quiet hours).
func TestPropertyDelivery(t *testing.T) {
	t.Parallel() // long; independent of the other tests
	chans := []string{"sms", "wechat", "app_push"}
	for seed := uint64(1); seed <= 6; seed++ {
		rng := rand.New(rand.NewPCG(seed, 99))
		now := ts("2024-11-11 10:00")
		if seed%3 == 0 {
			now = ts("2024-11-11 23:00") // quiet hours: deferred to 08:00
		}
		// The rules.
		var fb []string
		for _, c := range rng.Perm(3)[:1+rng.IntN(3)] {
			fb = append(fb, chans[c])
		}
		if seed == 4 {
			fb = []string{"wechat", "app_push", "sms"} // two capped channels first
		}
		expire := []int{0, 1, 3, 12}[rng.IntN(4)]
		src := "brand \"acme\"\nimport \"crm\"\nrule coupon\n  if queued\n  then send coupon \"C\" via " + strings.Join(fb, " else ") + " with store = store\n"
		if expire > 0 {
			src += fmt.Sprintf("  expire after %d hours\n", expire)
		}
		src += "rule service\n  if order_placed\n  then send reminder \"PAY\" via sms\n  transactional\nquiet hours 22:00 to 08:00\n"
		capped := map[string]bool{"wechat": seed%2 == 0, "app_push": seed%4 == 0 || seed == 5}
		for _, c := range chans {
			if capped[c] {
				src += "cap " + c + " to 0 per 1 day\n"
			}
		}
		prog := compileSource(t, src)

		// Members, consent and events.
		var members, events strings.Builder
		members.WriteString("member_id,brand,consent_sms,consent_wechat,consent_app_push\n")
		events.WriteString("member_id,brand,type,ts,store,channel\n")
		type opt struct {
			at  time.Time
			sub bool
		}
		consent := map[string]map[string]string{}
		opts := map[string]map[string][]opt{} // in ingest order
		queuedAt := map[string]time.Time{}
		const n = 40
		for i := range n {
			id := fmt.Sprintf("m%02d", i)
			consent[id] = map[string]string{}
			var row []string
			for _, c := range chans {
				v := []string{"true", "false", ""}[rng.IntN(3)]
				consent[id][c] = v
				row = append(row, v)
			}
			fmt.Fprintf(&members, "%s,acme,%s\n", id, strings.Join(row, ","))
			opts[id] = map[string][]opt{}
			for range rng.IntN(4) {
				c := chans[rng.IntN(3)]
				at := now.Add(time.Duration(rng.IntN(6)-4) * time.Hour)
				if rng.IntN(4) == 0 && len(opts[id][c]) > 0 {
					at = opts[id][c][len(opts[id][c])-1].at // a tie: the later ingested wins
				}
				sub := rng.IntN(2) == 0
				opts[id][c] = append(opts[id][c], opt{at, sub})
				typ := "unsubscribed"
				if sub {
					typ = "subscribed"
				}
				fmt.Fprintf(&events, "%s,acme,%s,%s,,%s\n", id, typ, at.Format(time.DateTime), c)
			}
			q := now.Add(-time.Duration(rng.IntN(20*60)) * time.Minute)
			queuedAt[id] = q
			fmt.Fprintf(&events, "%s,acme,queued,%s,A,\n", id, q.Format(time.DateTime))
			fmt.Fprintf(&events, "%s,acme,order_placed,%s,,\n", id, q.Format(time.DateTime))
		}
		db := fixture(t, members.String(), events.String())
		res, err := db.Run(context.Background(), prog, RunOptions{Now: now, Lookback: 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}

		// The reference.
		allows := func(id, c string, transactional bool) bool {
			var latest *opt
			for i, o := range opts[id][c] {
				if !o.at.After(now) && (latest == nil || !o.at.Before(latest.at)) {
					latest = &opts[id][c][i]
				}
			}
			if latest != nil {
				return latest.sub
			}
			return transactional || consent[id][c] == "true"
		}
		type verdict struct{ channel, status string }
		want := map[string]verdict{}
		for id := range consent {
			v := verdict{fb[0], "no_consent"}
			tried := ""
			for _, c := range fb {
				if !allows(id, c, false) {
					continue
				}
				if capped[c] {
					if tried == "" {
						tried = c
					}
					continue
				}
				v = verdict{c, "pending"}
				break
			}
			if v.status != "pending" && tried != "" {
				v = verdict{tried, "capped"}
			}
			if v.status == "pending" {
				out := now
				if now.Hour() >= 22 || now.Hour() < 8 {
					v.status = "scheduled"
					out = time.Date(now.Year(), now.Month(), now.Day()+1, 8, 0, 0, 0, now.Location())
				}
				if expire > 0 && out.After(queuedAt[id].Add(time.Duration(expire)*time.Hour)) {
					v.status = "expired"
				}
			}
			want["coupon "+id] = v
			sv := verdict{"sms", "pending"}
			if !allows(id, "sms", true) {
				sv.status = "no_consent"
			}
			want["service "+id] = sv
		}
		got := map[string]verdict{}
		for _, d := range res.Decisions {
			got[d.Rule+" "+d.MemberID] = verdict{d.Channel, d.Status}
			if d.Rule == "coupon" && string(d.Params) != `{"store":"A"}` {
				t.Errorf("seed %d: %s params %s", seed, d.MemberID, d.Params)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("seed %d: %d decisions, want %d", seed, len(got), len(want))
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("seed %d (%s, expire %dh, now %s, capped %v): %s: got %v, want %v", seed, strings.Join(fb, " else "), expire, now.Format("15:04"), capped, k, got[k], w)
			}
		}
	}
}
