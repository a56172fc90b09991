package check

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"nudge/lang/ast"
)

// This file checks the test blocks of *_test.nudge files (docs/language.md,
// Tests) as far as the program's text tells: `nudge test` checks its test
// files with the rule files of their directory, and `nudge check` checks a
// test file named on its command line. What needs the data (members,
// events, decisions) is left to `nudge test` (runtime/ruletest).

// Diagnostic codes of the test checks.
const (
	CodeBadTestStep   = "bad-test-step"  // `at step N` names no step of the journey
	CodeTimeBackwards = "time-backwards" // a tick earlier than the test's previous tick
)

// checkTests is the pass over the test blocks of the user's files.
func (c *checker) checkTests() {
	journeys := map[string]*ast.JourneyDecl{}
	for _, j := range c.info.Journeys {
		if j.Decl != nil && j.Decl.Name != nil {
			journeys[j.Decl.Name.Name] = j.Decl
		}
	}
	for _, f := range c.files {
		for _, d := range f.Decls {
			if t, ok := d.(*ast.TestDecl); ok {
				c.testDecl(t, journeys)
			}
		}
	}
}

func (c *checker) testDecl(t *ast.TestDecl, journeys map[string]*ast.JourneyDecl) {
	var clock, last time.Time // zero: not known
	var lastTick *ast.TickStep
	for _, s := range t.Steps {
		switch s := s.(type) {
		case *ast.NowStep:
			clock = testTime(s.At)
		case *ast.TickStep:
			switch {
			case s.At != nil:
				clock = testTime(s.At)
			case s.Later != nil:
				clock = addTestDuration(clock, s.Later)
			}
			if clock.IsZero() {
				continue // `nudge test` reports the missing clock
			}
			if lastTick != nil && !last.IsZero() && clock.Before(last) {
				// (refused, as `nudge run` refuses it: the previous tick
				// stays the latest)
				c.errorf(s, CodeTimeBackwards, "this tick at %s is before the test's previous tick at %s (line %d): time cannot run backwards, as `nudge run` refuses it; tick at %[2]s or later",
					testTimeText(clock), testTimeText(last), lastTick.Span.Start.Line)
				continue
			}
			last, lastTick = clock, s
		case *ast.ExpectStep:
			c.testJourneyStep(s, journeys)
		}
	}
}

// testJourneyStep reports `expect J ... at step N` where J is a journey of
// the program with no step on line N of its file.
func (c *checker) testJourneyStep(s *ast.ExpectStep, journeys map[string]*ast.JourneyDecl) {
	if s.Journey == nil || s.Journey.Step == nil || s.Rule == nil {
		return
	}
	j := journeys[s.Rule.Name]
	if j == nil {
		return // `nudge test` names an unknown journey
	}
	var lines []int
	seen := map[int]bool{}
	forSteps(j.Steps, func(st ast.Step) {
		if l := st.Pos().Start.Line; l > 0 && !seen[l] {
			seen[l] = true
			lines = append(lines, l)
		}
	})
	sort.Ints(lines)
	n := s.Journey.Step
	if isInt(n) && seen[int(n.Value)] {
		return
	}
	file := j.Span.File
	if i := strings.LastIndexAny(file, `/\`); i >= 0 {
		file = file[i+1:]
	}
	if len(lines) == 0 {
		c.errorf(s, CodeBadTestStep, "journey %s has no steps, so no decision is at step %s", s.Rule.Name, n.Text)
		return
	}
	texts := make([]string, len(lines))
	near := lines[0]
	for i, l := range lines {
		texts[i] = strconv.Itoa(l)
		if math.Abs(float64(l)-n.Value) < math.Abs(float64(near)-n.Value) {
			near = l
		}
	}
	c.errorf(s, CodeBadTestStep, "journey %s has no step at line %s of %s; did you mean step %d? (its steps are on lines %s; `at step N` names the line of a step)",
		s.Rule.Name, n.Text, file, near, joinAnd(texts))
}

// testTime is the instant of a test's date literal, zero when the date does
// not exist (`nudge test` reports it).
func testTime(d *ast.DateLit) time.Time {
	if d == nil {
		return time.Time{}
	}
	if t, ok := d.Time(); ok {
		return t
	}
	return time.Time{}
}

// addTestDuration moves a known test clock (AddDuration). A zero clock
// stays unknown.
func addTestDuration(t time.Time, d *ast.DurationLit) time.Time {
	if t.IsZero() || d == nil || d.N == nil {
		return time.Time{}
	}
	return AddDuration(t, d)
}

// AddDuration returns t moved by d as a test's clock moves (`1 day later`;
// `2 hours ago` with d negated), as the check of a test and `nudge test`
// both count: minutes to weeks as fixed lengths, months and years as
// calendar steps (as the compiler's intervals do).
func AddDuration(t time.Time, d *ast.DurationLit) time.Time {
	n := d.N.Value
	switch d.Unit {
	case ast.Minute:
		return t.Add(time.Duration(n * float64(time.Minute)))
	case ast.Hour:
		return t.Add(time.Duration(n * float64(time.Hour)))
	case ast.Day:
		return t.Add(time.Duration(n * float64(24*time.Hour)))
	case ast.Week:
		return t.Add(time.Duration(n * float64(7*24*time.Hour)))
	case ast.Month:
		return t.AddDate(0, int(n), 0)
	}
	return t.AddDate(int(n), 0, 0)
}

func testTimeText(t time.Time) string {
	if t.Second() != 0 {
		return t.Format("2006-01-02 15:04:05")
	}
	return t.Format("2006-01-02 15:04")
}
