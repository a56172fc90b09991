package check

import "testing"

func TestEditDistance(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"queud", "queued", 1},
		{"qeueud", "queued", 2},
		{"ab", "ba", 1},
		{"amount", "amount", 0},
		{"排对", "排队", 1},
		{"kitten", "sitting", 3},
	}
	for _, c := range cases {
		if got := editDistance(c.a, c.b); got != c.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	cands := []string{"queued", "booked", "visited", "purchased", "ts", "sms"}
	cases := []struct{ name, want string }{
		{"queud", "queued"},
		{"purchsed", "purchased"},
		{"bookd", "booked"},
		{"x", ""},
		{"smss", "sms"},
		{"zzzzzz", ""},
		{"queued", ""}, // an exact match is not a suggestion
	}
	for _, c := range cases {
		if got := suggest(c.name, cands); got != c.want {
			t.Errorf("suggest(%q) = %q, want %q", c.name, got, c.want)
		}
	}
}
