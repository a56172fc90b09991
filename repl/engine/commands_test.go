package engine

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"90m", 90 * time.Minute, ""},
		{"24 hours", 24 * time.Hour, ""},
		{"7d", 7 * 24 * time.Hour, ""},
		{"2 weeks", 14 * 24 * time.Hour, ""},
		{"15250 weeks", 15250 * 7 * 24 * time.Hour, ""},
		{"15251 weeks", 0, "15251 weeks is too long; the most is 15250 weeks"},
		{"99999999999 weeks", 0, "99999999999 weeks is too long; the most is 15250 weeks"},
		{"99999999999999999999999 days", 0, "99999999999999999999999 days is too long; the most is 106751 days"},
		{"2562048 hours", 0, "2562048 hours is too long; the most is 2562047 hours"},
		{"153722868m", 0, "153722868 minutes is too long; the most is 153722867 minutes"},
		{"0 days", 0, `cannot read "0 days" as a duration`},
		{"-5 days", 0, `cannot read "-5 days" as a duration`},
		{"1.5h", 0, `cannot read "1.5h" as a duration`},
		{"days", 0, `cannot read "days" as a duration`},
		{"5 fortnights", 0, `cannot read "5 fortnights" as a duration`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDuration(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseDuration(%q) = %v, %v; want error %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

// TestLookbackLimit: a lookback past the most time.Duration holds is
// refused, naming the command and the most; the most itself works.
func TestLookbackLimit(t *testing.T) {
	e := newTestEngine(t)
	res := eval(t, e, ":lookback 99999999999 weeks")
	if want := ":lookback: 99999999999 weeks is too long; the most is 15250 weeks"; res.Text != want {
		t.Errorf("got %q, want %q", res.Text, want)
	}
	if res := eval(t, e, ":lookback"); res.Text != "trigger conditions look 24 hours back" {
		t.Errorf("lookback changed by a refused value: %q", res.Text)
	}
	eval(t, e, ":lookback 15250 weeks")
	res = eval(t, e, `queued at store "A" or visited at store "A"`)
	if res.Kind != Audience || res.Count != 2 {
		t.Errorf("with the longest lookback: kind %s, count %d: %s", res.Kind, res.Count, res.Text)
	}
}

// TestSessionBrand: the brand the session speaks for follows the runtime's
// rule (runtime.ResolveBrand): the program's brand, else --brand, else the
// database's only brand; a brand declared in the session takes over from
// --brand for audiences, \sql and :run alike.
func TestSessionBrand(t *testing.T) {
	e, _ := newFileEngine(t) // brands acme and bistro; --brand acme
	if res := eval(t, e, "purchased ever"); res.Count != 3 {
		t.Errorf("acme: %d purchasers, want 3", res.Count)
	}
	eval(t, e, `brand "bistro"`)
	eval(t, e, `rule hi if purchased ever then send coupon "HI" via sms`)
	if res := eval(t, e, "purchased ever"); strings.Join(memberIDs(res), ",") != "m1" || res.Rows[0][1] != "Zed" {
		t.Errorf("bistro audience: %q", res.Rows)
	}
	res, err := e.Eval(t.Context(), ":run")
	if err != nil {
		t.Fatalf(":run with a session brand over --brand: %v", err)
	}
	if res.Kind != Decisions || len(res.Rows) != 1 || res.Rows[0][1] != "m1" {
		t.Errorf(":run decisions: %q", res.Rows)
	}

	e.opts.Brand = ""
	eval(t, e, ":reset")
	_, err = e.Eval(t.Context(), "purchased ever")
	if want := `the database holds several brands (acme, bistro); name one with brand "..." in the rules or --brand`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("no brand over two: %v, want %q", err, want)
	}
}

// TestHelpAligned: every command's help starts in one column, also after
// the longest synopsis (":journeys [MEMBER [JOURNEY]]" ran into its text).
func TestHelpAligned(t *testing.T) {
	e := newTestEngine(t)
	help := eval(t, e, ":help").Text
	col := -1
	for _, c := range Commands() {
		for _, line := range strings.Split(help, "\n") {
			if !strings.HasPrefix(line, "  :"+c.Name) {
				continue
			}
			i := strings.Index(line, "  "+c.Help)
			if i < 0 {
				t.Fatalf("no two spaces before the help of :%s: %q", c.Name, line)
			}
			if col < 0 {
				col = i
			}
			if i != col {
				t.Errorf("the help of :%s starts at %d, the first at %d:\n%s", c.Name, i, col, help)
			}
		}
	}
}
