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
	return days + d, nil
}
