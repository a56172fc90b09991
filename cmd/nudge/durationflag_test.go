package main

import (
	"io"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// TestParseDuration: Go's units, whole days and both; what is not a
// duration is an error naming the text.
func TestParseDuration(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90m", 90 * time.Minute, true},
		{"7d", 7 * 24 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true},
		{"0d", 0, true},
		{"d", 0, false},
		{"1.5d", 0, false},
		{"1x", 0, false},
		{"-1d", 0, false},
		{"7dd", 0, false},
		{"-1h", 0, false},
		{"1d-1h", 0, false},
	} {
		got, err := parseDuration(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v (ok %v)", c.in, got, err, c.want, c.ok)
		}
	}
}

// TestLookbackFlag: --lookback 0 is refused (the runtime reads 0 as its
// default of a day, so it replayed a day of events where the user meant
// none); a negative one too; 1s is taken.
func TestLookbackFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		want time.Duration
		ok   bool
	}{
		{nil, 24 * time.Hour, true},
		{[]string{"--lookback", "1s"}, time.Second, true},
		{[]string{"--lookback", "7d"}, 7 * 24 * time.Hour, true},
		{[]string{"--lookback", "0"}, 0, false},
		{[]string{"--lookback", "0s"}, 0, false},
		{[]string{"--lookback=-1h"}, 0, false},
	} {
		f := pflag.NewFlagSet("run", pflag.ContinueOnError)
		f.SetOutput(io.Discard)
		var lookback time.Duration
		lookbackVar(f, &lookback, "lookback")
		err := f.Parse(c.args)
		if (err == nil) != c.ok || (c.ok && lookback != c.want) {
			t.Errorf("%v: lookback %v, error %v; want %v (ok %v)", c.args, lookback, err, c.want, c.ok)
		}
	}
}
