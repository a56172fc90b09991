package parser

import (
	"fmt"
	"testing"

	"nudge/lang/ast"
)

// TestJourneyFallbackElse holds the two meanings of `else` apart: after a
// send, `else CHANNEL` is a fallback channel (SPEC §9); the `else` of an
// if step that follows a send, then a step word, is the if's (SPEC §8).
func TestJourneyFallbackElse(t *testing.T) {
	for _, tc := range []struct {
		name, elseStep string
		want           string // the then-branch send's fallback channels, then the else part's first step
	}{
		{"wait", "wait 1 day", "[wechat] *ast.WaitStep"},
		{"send", "send coupon \"B\" via wechat", "[wechat] *ast.ActionStep"},
		{"split", "split\n      50% a\n        send coupon \"B\" via sms\n      50% b\n        send coupon \"C\" via sms\n    end", "[wechat] *ast.SplitStep"},
		{"empty", "", "[wechat] <nil>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "journey j\n  enter on purchased\n  if member.tier = \"gold\"\n    send coupon \"A\" via sms else wechat\n  else\n    " + tc.elseStep + "\n  end\nend\n"
			f, diags := ParseFile("j.nudge", []byte(src))
			if len(diags) > 0 {
				t.Fatalf("%s:\n%s", diags, src)
			}
			j := f.Decls[0].(*ast.JourneyDecl)
			ifs := j.Steps[0].(*ast.IfStep)
			var chans []string
			for _, e := range ifs.Then[0].(*ast.ActionStep).Actions[0].Else {
				chans = append(chans, e.Name)
			}
			var first ast.Step
			if len(ifs.Else) > 0 {
				first = ifs.Else[0]
			}
			if got := fmt.Sprintf("%v %T", chans, first); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}
