package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"nudge/compiler"
	"nudge/lang/diag"
)

func newExplainCmd(s *streams) *cobra.Command {
	var rule string
	c := &cobra.Command{
		Use:   "explain [--rule NAME] PATH...",
		Short: "Print the SQL each rule compiles to",
		Args:  needArgs(1, "PATH"),
		RunE: func(c *cobra.Command, args []string) error {
			prog, err := compileProgram(s, args)
			if err != nil {
				return err
			}
			text, ok := compiler.Explain(prog, rule)
			if !ok {
				names := make([]string, 0, len(prog.Rules))
				for _, r := range prog.Rules {
					names = append(names, r.Name)
				}
				return problemError("--rule: no rule named %q in %v", rule, names)
			}
			fmt.Fprint(s.out, text)
			return nil
		},
	}
	c.Flags().StringVar(&rule, "rule", "", "explain only the rule with this name")
	return c
}

// compileProgram loads, checks and compiles rule files, printing diagnostics.
func compileProgram(s *streams, paths []string) (*compiler.Program, error) {
	prog, err := loadProgram(s, paths)
	if err != nil {
		return nil, err
	}
	compiled, diags := compiler.Compile(prog.Info)
	if len(diags) > 0 {
		diag.RenderText(s.err, diags, prog.Sources)
	}
	if diags.HasErrors() {
		return nil, silentExit(exitProblems)
	}
	return compiled, nil
}
