package main

import (
	"fmt"
	"strings"

	"nudge/compiler"
	"nudge/lang/check"
)

// checkRuleFlag refuses a --rule that names no rule or journey of prog
// (rules and journeys share one namespace): a usage error naming the flag,
// the names there are and, for a plausible typo, the closest one. It is
// checked before the database is opened, in explain, why and report alike.
func checkRuleFlag(prog *compiler.Program, rule string) error {
	if rule == "" || prog == nil {
		return nil
	}
	var names []string
	for _, r := range prog.Rules {
		names = append(names, r.Name)
	}
	for _, j := range prog.Journeys {
		names = append(names, j.Name)
	}
	for _, n := range names {
		if n == rule {
			return nil
		}
	}
	hint := ""
	if s := check.Suggest(rule, names); s != "" {
		hint = fmt.Sprintf("; did you mean %q?", s)
	}
	there := "the files hold no rules or journeys"
	if len(names) > 0 {
		there = "rules and journeys: " + strings.Join(names, ", ")
	}
	return usageError("--rule: no rule or journey %q in the files (%s)%s", rule, there, hint)
}

// checkBrandFlag refuses a --brand that contradicts the brand the rule
// files name: a usage error before the database is opened (it was found
// by the tick, exit 1, and simulate named the first tick's time).
func checkBrandFlag(prog *compiler.Program, brand string) error {
	if prog == nil || brand == "" || prog.Brand == "" || prog.Brand == brand {
		return nil
	}
	return usageError("--brand %q: the rules say brand %q; drop --brand, or give it %q", brand, prog.Brand, prog.Brand)
}
