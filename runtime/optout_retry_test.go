package runtime

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestCappedRetryAfterDispatchRefusal: a send refused at dispatch (the
// member unsubscribed from its channel before delivery) gives its place
// in the caps back (SPEC §9: "one that later ends failed, expired or
// refused at dispatch gives its share back"), so the state-rule firing it
// capped is tried again at the next tick and sent, incrementally as in a
// full evaluation (the incremental tick kept the refusal blocked, as if
// the refused send still counted, until it left the cap's window).
func TestCappedRetryAfterDispatchRefusal(t *testing.T) {
	t.Parallel()
	prog := compileSource(t, `brand "acme"
import "crm"
rule a
  if member.tier = "gold"
  then send greeting "A" via sms
  priority 1
rule b
  if member.tier = "gold"
  then send greeting "B" via email
cap all to 1 per 1 day
`)
	for _, full := range []bool{false, true} {
		t.Run(fmt.Sprintf("full=%v", full), func(t *testing.T) {
			db := fixture(t, "member_id,brand,tier,consent_sms,consent_email\nm,acme,gold,true,true\n", "")
			sinks := []Sink{&JSONLSink{Path: filepath.Join(t.TempDir(), "out.jsonl")}}
			at := func(now string, sink bool) string {
				var got []string
				for _, d := range run(t, db, prog, now, func(o *RunOptions) {
					o.EvaluateAll = full
					if sink {
						o.Sinks = sinks
					}
				}).Decisions {
					got = append(got, d.Rule+" "+d.Status)
				}
				slices.Sort(got)
				return strings.Join(got, ", ")
			}
			if got := at("2024-11-11 10:00", false); got != "a pending, b capped" {
				t.Fatalf("10:00: %s", got)
			}
			importEvents(t, db, "member_id,brand,type,ts,channel\nm,acme,unsubscribed,2024-11-11 10:30,sms\n")
			// The tick at 11:00 still counts a's pending send; its
			// dispatch refuses it.
			if got := at("2024-11-11 11:00", true); got != "" {
				t.Fatalf("11:00: %s", got)
			}
			if got := queryStrings(t, db, `SELECT status FROM outbox WHERE rule = 'a'`); len(got) != 1 || got[0] != "no_consent" {
				t.Fatalf("a's send after the 11:00 dispatch: %v", got)
			}
			if got := at("2024-11-11 12:00", true); got != "b sent" {
				t.Errorf("12:00: %q, want b sent", got)
			}
		})
	}
}
