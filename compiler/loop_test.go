package compiler

import (
	"testing"
	"time"

	"nudge/lang"
	"nudge/stdlib"
)

func TestLoopCompiled(t *testing.T) {
	prog, diags := lang.LoadSources([]lang.Source{{Name: "l.nudge", Src: []byte(`import "crm"
cost sms 0.05
rule a if queued then send coupon "X" via sms convert on purchased at store "A" where amount > 10 within 2 days
rule b if queued then send coupon "X" via sms`)}}, stdlib.Env())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	p, diags := Compile(prog.Info)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	tests := []struct {
		name string
		got  *Conversion
		want Conversion
	}{
		{"a", p.Rules[0].Convert, Conversion{EventType: "purchased", Label: `purchased at store "A" where amount > 10 within 2 days`,
			FilterSQL: `(COALESCE(cv.store = 'A', false) AND COALESCE(cv.amount > 10, false))`, Within: 48 * time.Hour}},
		{"b default", p.Rules[1].Convert, Conversion{EventType: "purchased", Label: "purchased within 7 days", Within: 7 * 24 * time.Hour, Default: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got == nil {
				t.Fatal("Convert is nil: Compile did not call AttachLoop")
			}
			if *tc.got != tc.want {
				t.Fatalf("got %+v\nwant %+v", *tc.got, tc.want)
			}
		})
	}
	if p.Costs["sms"] != 0.05 {
		t.Errorf("costs %v", p.Costs)
	}
}
