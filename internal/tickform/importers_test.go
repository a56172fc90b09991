package tickform_test

import (
	"bufio"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// mayImport reports whether the package pkg (an import path below the
// module mod) may import tickform: compiler produces its forms, runtime and
// the packages under it consume them.
func mayImport(mod, pkg string) bool {
	switch {
	case pkg == mod+"/compiler", pkg == mod+"/runtime", strings.HasPrefix(pkg, mod+"/runtime/"),
		pkg == mod+"/internal/tickform":
		return true
	}
	return false
}

func TestMayImport(t *testing.T) {
	for _, tt := range []struct {
		pkg  string
		want bool
	}{
		{"nudge/compiler", true},
		{"nudge/runtime", true},
		{"nudge/runtime/internal/tick", true},
		{"nudge/runtime/why", true},
		{"nudge/compiler/x", false},
		{"nudge/runtimex", false},
		{"nudge/repl/engine", false},
		{"nudge/cmd/nudge", false},
		{"nudge/lang/check", false},
		{"nudge/internal/sqlquote", false},
	} {
		if got := mayImport("nudge", tt.pkg); got != tt.want {
			t.Errorf("mayImport(%q) = %v, want %v", tt.pkg, got, tt.want)
		}
	}
}

// TestImporters scans every Go file of the module (tests included) and
// fails when a package mayImport refuses imports tickform.
func TestImporters(t *testing.T) {
	root := filepath.Join("..", "..")
	mod := modulePath(t, filepath.Join(root, "go.mod"))
	self := mod + "/internal/tickform"
	allowed := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (n == "testdata" || n == "vendor" || strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			if err != nil || p != self {
				continue
			}
			rel, err := filepath.Rel(root, filepath.Dir(path))
			if err != nil {
				return err
			}
			pkg := mod + "/" + filepath.ToSlash(rel)
			if !mayImport(mod, pkg) {
				t.Errorf("%s: package %s imports %s; only compiler and runtime/... may (see the package doc)", filepath.ToSlash(path), pkg, self)
			} else {
				allowed++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if allowed == 0 {
		t.Fatalf("no file imports %s: the scan of %s found nothing", self, root)
	}
}

// modulePath reads the module line of go.mod.
func modulePath(t *testing.T, gomod string) string {
	f, err := os.Open(gomod)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if m, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(m), `"`)
		}
	}
	t.Fatalf("%s: no module line", gomod)
	return ""
}
