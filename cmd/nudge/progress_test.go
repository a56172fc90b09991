package main

import (
	"strings"
	"testing"
	"time"
)

// TestProgressTimeLeft checks the plain progress lines: one per quarter,
// each with the time left at the pace so far, and the last with the time
// the whole took.
func TestProgressTimeLeft(t *testing.T) {
	var out strings.Builder
	p := newProgressPrinter(&out, "simulating")
	clock := time.Date(2024, 11, 11, 10, 0, 0, 0, time.UTC)
	p.start = clock
	p.now = func() time.Time { return clock }
	for done := 1; done <= 8; done++ {
		clock = clock.Add(10 * time.Second) // every step takes 10 s
		p.update(done, 8)
	}
	want := "simulating: 25% (2/8), about 1m0s left\n" +
		"simulating: 50% (4/8), about 40s left\n" +
		"simulating: 75% (6/8), about 20s left\n" +
		"simulating: 100% (8/8) in 1m20s\n"
	if out.String() != want {
		t.Errorf("progress lines:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestProgressTimeLeftEdges: nothing is estimated before the first step,
// after the last, or for an empty run.
func TestProgressTimeLeftEdges(t *testing.T) {
	p := newProgressPrinter(&strings.Builder{}, "x")
	for _, c := range []struct{ done, total int }{{0, 10}, {10, 10}, {0, 0}} {
		if got := p.timeLeft(c.done, c.total); got != "" {
			t.Errorf("timeLeft(%d, %d) = %q, want empty", c.done, c.total, got)
		}
	}
}
