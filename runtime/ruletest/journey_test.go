package ruletest_test

import (
	"context"
	"strings"
	"testing"

	"nudge/runtime/ruletest"
	"nudge/runtime/runtimetest"
)

// TestJourneyExpectations runs the journey expectations of SPEC §8 against
// runtimetest's unpaid-order journey (on line 4 of j.nudge): entering, a
// send at a step with its channel and content, the split's variant, an
// exit (the step it preempted), a completion, and the negative forms; a failing expectation shows the
// journey's decisions of the tick in the expectation's words.
func TestJourneyExpectations(t *testing.T) {
	cases := []struct {
		name, test string
		failures   []string // "line: message | diff lines"
	}{
		{"passing", `test "p"
  now 2024-11-10 10:00
  member "m1" with consent_sms true, consent_wechat true, consent_app_push true
  member "m2" with consent_sms true, consent_wechat true, consent_app_push true
  member "m3" with consent_sms true
  "m1" order_placed with amount 80, order_id "o1"
  "m2" order_placed with amount 80, order_id "o2"
  "m3" order_placed with amount 20, order_id "o3"
  tick
  expect unpaid enters for "m1" with status applied
  expect unpaid enters for "m2"
  expect unpaid does not enter for "m3"
  expect unpaid does not send
  expect unpaid fires for "m1"
  tick 30 minutes later
  expect unpaid sends reminder "PAY-1" for "m1" via app_push at step 8 with status pending
  expect unpaid sends for "m2"
  expect unpaid does not complete
  "m2" paid with amount 80, order_id "o2"
  tick 1 hour later
  expect unpaid exits for "m2" at step 10 with status applied
  expect unpaid does not exit for "m1"
  tick 6 hours later
  expect unpaid sends reminder "PAY-2" for "m1" via sms at step 12 in variant sms_only
  expect unpaid completes for "m1" in variant sms_only
  expect unpaid does not fire for "m2"
  tick 1 hour later
  expect nothing fires`, nil},
		{"failing", `test "f"
  now 2024-11-10 10:00
  member "m1" with consent_sms true
  "m1" order_placed with amount 80, order_id "o1"
  tick
  expect unpaid does not enter
  tick 7 hours later
  expect unpaid sends reminder "PAY-2" for "m1" via wechat
  expect unpaid completes for "m1" in variant wechat_first
  expect unpaid exits
  expect unpiad enters
  expect unpaid sends at step 6
  expect unpaid enters at step 8
  expect unpaid exits via sms
  expect unpaid sends at step 0`, []string{
			`6: expect unpaid does not enter | -(no enter decision of unpaid) +unpaid enters for "m1" with status applied`,
			`8: expect unpaid sends reminder "PAY-2" for "m1" via wechat | -unpaid sends reminder "PAY-2" for "m1" via wechat +unpaid sends reminder "PAY-1" for "m1" via app_push at step 8 with status no_consent (no consent_app_push) +unpaid sends reminder "PAY-2" for "m1" via sms at step 12 in variant sms_only with status pending +unpaid completes for "m1" in variant sms_only with status applied`,
			`9: expect unpaid completes for "m1" in variant wechat_first | -unpaid completes for "m1" in variant wechat_first +unpaid sends reminder "PAY-1" for "m1" via app_push at step 8 with status no_consent (no consent_app_push) +unpaid sends reminder "PAY-2" for "m1" via sms at step 12 in variant sms_only with status pending +unpaid completes for "m1" in variant sms_only with status applied`,
			`10: expect unpaid exits | -unpaid exits +unpaid sends reminder "PAY-1" for "m1" via app_push at step 8 with status no_consent (no consent_app_push) +unpaid sends reminder "PAY-2" for "m1" via sms at step 12 in variant sms_only with status pending +unpaid completes for "m1" in variant sms_only with status applied`,
			`11: expect unpiad enters: there is no journey unpiad; did you mean "unpaid"? | `,
			`12: expect unpaid sends at step 6: journey unpaid has no step at line 6 (its steps: 7, 8, 9, 10, 12, 14) | `,
			`13: expect unpaid enters at step 8: an entry has no step and no variant yet | `,
			`14: expect unpaid exits via sms: only ` + "`sends`" + ` names a kind, content or channel | `,
			// (line 0 is that of the journey's jumps and end, no step)
			`15: expect unpaid sends at step 0: journey unpaid has no step at line 0 (its steps: 7, 8, 9, 10, 12, 14) | `,
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := suite(t, map[string]string{"j.nudge": runtimetest.UnpaidJourneyFor("acme")}, map[string]string{"j_test.nudge": c.test})
			res, _, err := ruletest.Run(context.Background(), s, ruletest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range res[0].Failures {
				var diff []string
				for _, l := range f.Diff {
					diff = append(diff, string(l.Op)+l.Text)
				}
				got = append(got, f.Span.Start.String()[:strings.Index(f.Span.Start.String(), ":")]+": "+f.Message+" | "+strings.Join(diff, " "))
			}
			if strings.Join(got, "\n") != strings.Join(c.failures, "\n") {
				t.Errorf("failures:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.failures, "\n"))
			}
		})
	}
}
