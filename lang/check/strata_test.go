package check_test

import (
	"strings"
	"testing"

	"nudge/lang/check"
)

// TestStrata pins each rule's stratum and the rules it comes after: a rule
// reading a tag another rule writes (directly or through segments) comes
// after it; reading its own tag orders nothing.
func TestStrata(t *testing.T) {
	cases := []struct {
		name, src string
		want      string // per rule in source order: name=stratum[<after,...]
	}{
		{"no tags", `
rule a if member.tier = "gold" then send coupon "A" via sms
rule b if member.tier = "gold" then send coupon "B" via sms`,
			"a=0 b=0"},
		{"two waves, reader first", `
rule wave2 if member.tier = "gold" and not tagged "reached" then send coupon "B" via sms
rule wave1 if member.tier = "gold" then tag "reached" and send coupon "A" via sms`,
			"wave2=1<wave1 wave1=0"},
		{"self read", `
rule greet if not tagged "seen" then tag "seen"`,
			"greet=0"},
		{"self read and another writer", `
rule a if not tagged "x" then tag "x"
rule b if member.tier = "gold" then untag "x"`,
			"a=1<b b=0"},
		{"chain through a segment", `
segment reached = tagged "r1" or tagged "r2"
segment again = reached and member.city = "长沙"
rule c if again then tag "r3"
rule a if member.tier = "gold" then tag "r1"
rule b if not tagged "r1" then tag "r2"
rule d if tagged "r3" and tagged "r1" then send coupon "D" via sms`,
			"c=2<a,b a=0 b=1<a d=3<c,a"},
		{"tag nobody writes", `
rule a if tagged "imported" then tag "y"`,
			"a=0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			info, diags, _ := checkSrc(t, c.src)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			var got []string
			for _, r := range info.Rules {
				s := r.Decl.Name.Name + "=" + string(rune('0'+r.Stratum))
				var after []string
				for _, a := range r.After {
					after = append(after, a.Decl.Name.Name)
				}
				if len(after) > 0 {
					s += "<" + strings.Join(after, ",")
				}
				got = append(got, s)
			}
			if g := strings.Join(got, " "); g != c.want {
				t.Errorf("got  %s\nwant %s", g, c.want)
			}
		})
	}
}

// TestTagCycle: rules reading each other's tags in a cycle get one error,
// at the rule of the cycle declared first, naming every rule and tag.
func TestTagCycle(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"two rules", `
rule a if not tagged "x" then tag "y"
rule b if tagged "y" then tag "x"`,
			`t.nudge:2:6: rules a -> b -> a read each other's tags in a cycle (a reads "x", which b writes; b reads "y", which a writes)`},
		{"two rules sharing a tag", `
rule a if not tagged "done" then tag "done" and send coupon "A" via sms
rule b if not tagged "done" then tag "done" and send coupon "B" via email`,
			`t.nudge:2:6: rules a -> b -> a read each other's tags in a cycle (a reads "done", which b writes; b reads "done", which a writes)`},
		{"three rules through a segment, entered in the middle", `
segment s = tagged "z"
rule c if tagged "y" then untag "z"
rule a if s then tag "x"
rule b if tagged "x" then tag "y"`,
			`t.nudge:3:6: rules c -> b -> a -> c read each other's tags in a cycle (c reads "y", which b writes; b reads "x", which a writes; a reads "z", which c writes)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, diags, _ := checkSrc(t, c.src)
			if len(diags) != 1 || diags[0].Code != check.CodeTagCycle {
				t.Fatalf("want one %s error, got %v", check.CodeTagCycle, diags)
			}
			got := diags[0].Span.File + ":" + itoa(diags[0].Span.Start.Line) + ":" + itoa(diags[0].Span.Start.Col) + ": " + diags[0].Message
			if !strings.HasPrefix(got, c.want) {
				t.Errorf("got  %s\nwant %s...", got, c.want)
			}
		})
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
