package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"nudge/lang"
	"nudge/lang/diag"
	"nudge/lang/format"
)

func newFmtCmd(s *streams) *cobra.Command {
	var write, check bool
	c := &cobra.Command{
		Use:   "fmt [-w] [--check] PATH...",
		Short: "Print rule files in the canonical layout",
		Long: `fmt reformats .nudge files into the one canonical layout. Without flags it
prints the result; -w rewrites the files; --check lists the files that would
change and exits 1 if there are any.`,
		Args: needArgs("PATH"),
		RunE: func(c *cobra.Command, args []string) error {
			files, all, err := lang.Discover(args, lang.IsNudgeFile)
			if err != nil {
				return problemError("%v", err)
			}
			sources := diag.Sources{}
			changed := 0
			for _, name := range files {
				src, diags, err := lang.ReadFile(name)
				if err != nil {
					return problemError("%v", err)
				}
				if src == nil {
					all = append(all, diags...)
					continue
				}
				f, diags := lang.ParseFile(name, src)
				if diags.HasErrors() {
					sources[name] = src
					all = append(all, diags...)
					continue
				}
				out := format.File(f)
				same := bytes.Equal(out, src)
				switch {
				case check:
					if !same {
						changed++
						fmt.Fprintln(s.out, name)
					}
				case write:
					if !same {
						info, err := os.Stat(name)
						if err != nil {
							return problemError("%v", err)
						}
						if err := os.WriteFile(name, out, info.Mode().Perm()); err != nil {
							return problemError("%v", err)
						}
					}
				default:
					s.out.Write(out)
				}
			}
			if err := printDiagnostics(s, all, sources); err != nil {
				return err
			}
			if check && changed > 0 {
				return silentExit(exitProblems)
			}
			return nil
		},
	}
	c.Flags().BoolVarP(&write, "write", "w", false, "write the result to the files instead of printing it")
	c.Flags().BoolVar(&check, "check", false, "list files whose layout differs and exit 1 if any")
	return c
}
