package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// durationValue is a duration flag that takes Go's units (90m, 12h) and
// whole days (7d, 1d12h), the unit lookbacks and simulation steps are
// counted in; Go's own duration syntax has no days.
type durationValue time.Duration

func (d *durationValue) Set(s string) error {
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = durationValue(v)
	return nil
}

// String is the value as help shows its default ("0" for none, which
// help leaves out).
func (d *durationValue) String() string {
	if *d == 0 {
		return "0"
	}
	return time.Duration(*d).String()
}
func (d *durationValue) Type() string { return "duration" }

// durationVar defines a durationValue flag.
func durationVar(f *pflag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	f.Var((*durationValue)(p), name, usage)
}

// lookbackValue is a --lookback: a duration more than zero. (The runtime
// reads a lookback of 0 as its default, so --lookback 0 replayed a day of
// events where the user meant none.)
type lookbackValue time.Duration

func (d *lookbackValue) Set(s string) error {
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	if v == 0 {
		return fmt.Errorf("a lookback must be more than 0 (to consider almost no earlier events, give 1s)")
	}
	*d = lookbackValue(v)
	return nil
}

func (d *lookbackValue) String() string { return (*durationValue)(d).String() }
func (d *lookbackValue) Type() string   { return "duration" }

// lookbackVar defines the --lookback flag, with its default (24h) and usage.
func lookbackVar(f *pflag.FlagSet, p *time.Duration, usage string) {
	*p = 24 * time.Hour
	f.Var((*lookbackValue)(p), "lookback", usage)
}

// parseDuration reads a Go duration with an optional leading count of
// days: 7d, 1d12h, 36h, 90m.
func parseDuration(s string) (time.Duration, error) {
	days, rest := time.Duration(0), s
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 || n > 100*366 {
			return 0, fmt.Errorf("cannot read %q as a duration: give days as a whole number, e.g. 7d or 1d12h", s)
		}
		days, rest = time.Duration(n)*24*time.Hour, s[i+1:]
		if rest == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(rest)
	if err != nil {
		return 0, fmt.Errorf("cannot read %q as a duration: use 90m, 12h, 7d or 1d12h", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative; a duration here is 0 or more, e.g. 90m, 12h, 7d", s)
	}
	return days + d, nil
}
