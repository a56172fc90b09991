// Package lang is the façade of the nudge language: it loads rule files
// (files and directories), parses them with lang/parser and checks them with
// lang/check against an Env handed in by the caller (normally stdlib.Env()).
//
// It owns file discovery and the Program value; it does not compile, open
// databases or know which stdlib modules exist.
package lang

import (
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"nudge/lang/ast"
	"nudge/lang/check"
	"nudge/lang/diag"
)

// Program is a loaded, parsed and checked set of rule files.
type Program struct {
	// Files are the parsed user files, in load order.
	Files []*ast.File
	// Sources holds the text of every file by name (for rendering
	// diagnostics), including the stdlib modules when the Env's importer
	// exposes them through SourceOf.
	Sources diag.Sources
	// Info is the checker's result.
	Info *check.Info
}

// Source is one named source text for LoadSources.
type Source struct {
	Name string
	Src  []byte
}

// Ext is the extension of rule files; files ending in TestSuffix are test
// files for `nudge test` and are skipped by Load.
const (
	Ext        = ".nudge"
	TestSuffix = "_test.nudge"
)

// Load reads the given files and directories (searched recursively for
// *.nudge files, skipping *_test.nudge and hidden directories), then parses
// and checks them. A path named explicitly is loaded whatever its extension.
// The limits of files.go apply: a file that is not a regular file or is too
// large is a diagnostic (a warning, skipped, when found in a directory).
// Other I/O problems (a missing path, an unreadable file) are returned as
// error; language problems as diagnostics. The Program is nil only with an
// error.
func Load(paths []string, env *check.Env) (*Program, diag.List, error) {
	files, diags, err := Discover(paths, IsRuleFile)
	if err != nil {
		return nil, nil, err
	}
	// A directory without rule files is a mistyped path, not an empty
	// program that checks clean. (Discover keeps a path that is not a
	// directory as given: a path under which it found nothing is one.)
	for _, p := range paths {
		if !slices.ContainsFunc(files, func(f string) bool {
			rel, err := filepath.Rel(p, f)
			return err == nil && !strings.HasPrefix(rel, "..")
		}) {
			return nil, nil, fmt.Errorf("load %s: no rule files (*%s) in this directory", p, Ext)
		}
	}
	var srcs []Source
	for _, p := range files {
		b, ds, err := ReadFile(p)
		if err != nil {
			return nil, nil, err
		}
		diags = append(diags, ds...)
		if b != nil {
			srcs = append(srcs, Source{Name: p, Src: b})
		}
	}
	prog, ds := LoadSources(srcs, env)
	return prog, append(diags, ds...).Dedup(), nil
}

// LoadSources parses and checks in-memory sources, in the given order.
func LoadSources(srcs []Source, env *check.Env) (*Program, diag.List) {
	prog := &Program{Sources: diag.Sources{}}
	var diags diag.List
	for i, p := range parseAll(srcs) {
		prog.Sources[srcs[i].Name] = srcs[i].Src
		diags = append(diags, p.diags...)
		if p.file != nil {
			prog.Files = append(prog.Files, p.file)
		}
	}
	info, ds := check.Check(prog.Files, env)
	diags = append(diags, withoutCascades(prog.Files, diags, ds)...)
	prog.Info = info
	if env != nil && env.SourceOf != nil {
		for _, d := range diags {
			if _, ok := prog.Sources[d.Span.File]; !ok {
				if src, ok := env.SourceOf(d.Span.File); ok {
					prog.Sources[d.Span.File] = src
				}
			}
		}
	}
	return prog, diags.Dedup()
}

// withoutCascades drops the checker's diagnostics inside a declaration that
// has a syntax error: the parser's recovery may have left a tree whose
// problems are consequences of the syntax error, not news for the user.
func withoutCascades(files []*ast.File, syntax, checked diag.List) diag.List {
	if len(syntax) == 0 {
		return checked
	}
	var tainted []diag.Span
	for _, f := range files {
		for _, d := range f.Decls {
			if d == nil {
				continue
			}
			ds := d.Pos()
			for _, e := range syntax {
				if e.Span.File == ds.File && inSpan(e.Span.Start, ds) {
					tainted = append(tainted, ds)
					break
				}
			}
		}
	}
	out := checked[:0:0]
	for _, d := range checked {
		keep := true
		for _, t := range tainted {
			if d.Span.File == t.File && inSpan(d.Span.Start, t) {
				keep = false
				break
			}
		}
		if keep {
			out = append(out, d)
		}
	}
	return out
}

// inSpan reports whether p lies within s (inclusive of its end, where a
// syntax error at the end of a declaration is reported).
func inSpan(p diag.Pos, s diag.Span) bool {
	return !p.Before(s.Start) && !s.End.Before(p)
}

// parsed is the parser's result for one source.
type parsed struct {
	file  *ast.File
	diags diag.List
}

// parseAll parses srcs on up to GOMAXPROCS goroutines and returns the
// results in the order of srcs, so the outcome does not depend on
// scheduling.
func parseAll(srcs []Source) []parsed {
	out := make([]parsed, len(srcs))
	workers := min(runtime.GOMAXPROCS(0), len(srcs))
	if workers <= 1 {
		for i, s := range srcs {
			out[i].file, out[i].diags = ParseFile(s.Name, s.Src)
		}
		return out
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				out[i].file, out[i].diags = ParseFile(srcs[i].Name, srcs[i].Src)
			}
		})
	}
	for i := range srcs {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}
