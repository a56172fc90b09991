package main

import (
	"github.com/spf13/cobra"

	"nudge/lang"
	"nudge/lang/diag"
	"nudge/stdlib"
)

func newCheckCmd(s *streams) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "check [--format text|json|github] PATH...",
		Short: "Parse and check rule files and directories",
		Long: `check parses and checks .nudge files (directories are searched recursively)
and prints every problem found. Exit status: 0 no errors, 1 diagnostics, 2 usage.`,
		Args: needArgs("PATH"),
		RunE: func(c *cobra.Command, args []string) error {
			switch format {
			case "text", "json", "github":
			default:
				return usageError("--format: unknown format %q; use text, json or github", format)
			}
			prog, diags, err := lang.Load(args, stdlib.Env())
			if err != nil {
				return problemError("%v", err)
			}
			var sources diag.Sources
			if prog != nil {
				sources = prog.Sources
			}
			renderDiagnostics(s, format, diags, sources)
			if diags.HasErrors() {
				return silentExit(exitProblems)
			}
			return nil
		},
	}
	c.Flags().StringVar(&format, "format", "text", "output format: text, json or github")
	return c
}

// renderDiagnostics prints diagnostics once, in the chosen format: text goes
// to standard error, json and github (machine formats) to standard output.
func renderDiagnostics(s *streams, format string, diags diag.List, sources diag.Sources) {
	switch format {
	case "json":
		_ = diag.RenderJSON(s.out, diags)
	case "github":
		diag.RenderGitHub(s.out, diags)
	default:
		diag.RenderText(s.err, diags, sources)
	}
}

// loadProgram loads and checks rule files for the commands that go on to
// compile them; diagnostics are printed as text, and errors stop the command.
func loadProgram(s *streams, paths []string) (*lang.Program, error) {
	prog, diags, err := lang.Load(paths, stdlib.Env())
	if err != nil {
		return nil, problemError("%v", err)
	}
	return prog, printDiagnostics(s, diags, prog.Sources)
}

// printDiagnostics prints diagnostics once, as text, and returns the error
// that stops the command when there is an error among them.
func printDiagnostics(s *streams, diags diag.List, sources diag.Sources) error {
	diags = diags.Dedup()
	if len(diags) > 0 {
		diag.RenderText(s.err, diags, sources)
	}
	if diags.HasErrors() {
		return silentExit(exitProblems)
	}
	return nil
}
