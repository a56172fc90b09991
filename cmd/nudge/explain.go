package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"nudge/compiler"
	"nudge/lang"
	"nudge/lang/diag"
	"nudge/stdlib"
)

func newExplainCmd(s *streams) *cobra.Command {
	var rule string
	c := &cobra.Command{
		Use:   "explain [--rule NAME] PATH...",
		Short: "Print the SQL each rule compiles to",
		Args:  needArgs("PATH"),
		RunE: func(c *cobra.Command, args []string) error {
			prog, err := compileProgram(s, args)
			if err != nil {
				return err
			}
			if err := checkRuleFlag(prog, rule); err != nil {
				return err
			}
			text, ok := compiler.Explain(prog, rule)
			if !ok {
				return problemError("--rule: nothing to explain for %q", rule)
			}
			fmt.Fprint(s.out, text)
			return nil
		},
	}
	c.Flags().StringVar(&rule, "rule", "", "explain only the rule with this name")
	return c
}

// compileProgram loads, checks and compiles rule files, printing the
// diagnostics of all three once.
func compileProgram(s *streams, paths []string) (*compiler.Program, error) {
	prog, diags, err := lang.Load(paths, stdlib.Env())
	if err != nil {
		return nil, problemError("%v", err)
	}
	var compiled *compiler.Program
	if !diags.HasErrors() {
		var cdiags diag.List
		compiled, cdiags = compiler.Compile(prog.Info)
		diags = append(diags, cdiags...)
	}
	if err := printDiagnostics(s, diags, prog.Sources); err != nil {
		return nil, err
	}
	return compiled, nil
}
