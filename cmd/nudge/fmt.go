package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

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
		Args: needArgs(1, "PATH"),
		RunE: func(c *cobra.Command, args []string) error {
			files, err := nudgeFiles(args, true)
			if err != nil {
				return problemError("%v", err)
			}
			var all diag.List
			sources := diag.Sources{}
			changed := 0
			for _, name := range files {
				src, err := os.ReadFile(name)
				if err != nil {
					return problemError("%v", err)
				}
				out, diags := format.Source(name, src)
				if diags.HasErrors() {
					sources[name] = src
					all = append(all, diags...)
					continue
				}
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
			if len(all) > 0 {
				diag.RenderText(s.err, all, sources)
				return silentExit(exitProblems)
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

// nudgeFiles expands paths: files are kept as given, directories are walked
// for *.nudge files (test files included when withTests).
func nudgeFiles(paths []string, withTests bool) ([]string, error) {
	var out []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%s: no such file or directory", p)
		}
		if !info.IsDir() {
			out = append(out, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.HasSuffix(path, ".nudge") {
				return nil
			}
			if !withTests && strings.HasSuffix(path, "_test.nudge") {
				return nil
			}
			found = append(found, path)
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}
