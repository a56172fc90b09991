package runtimetest_test

import (
	"os/exec"
	"strings"
	"testing"
)

// moduleImports returns, per package of the module, the packages its
// non-test files import (go list's Imports leave test files out).
func moduleImports(t *testing.T) map[string][]string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	cmd := exec.Command(goTool, "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "nudge/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	pkgs := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		pkgs[f[0]] = f[1:]
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list named %d packages: the scan found too few\n%s", len(pkgs), out)
	}
	return pkgs
}

// TestImporters fails when a package of the module imports runtimetest
// from a non-test file: any importer go list names is production code.
func TestImporters(t *testing.T) {
	const self = "nudge/runtime/runtimetest"
	for pkg, imps := range moduleImports(t) {
		for _, imp := range imps {
			if imp == self {
				t.Errorf("package %s imports %s outside its tests; only _test.go files may (see the package doc)", pkg, self)
			}
		}
	}
}

// TestEngineImportsNoREPL fails when a package of the engine (all but
// repl and cmd/nudge, docs/design.md) imports the REPL's packages.
func TestEngineImportsNoREPL(t *testing.T) {
	for pkg, imps := range moduleImports(t) {
		if pkg == "nudge/repl" || strings.HasPrefix(pkg, "nudge/repl/") || strings.HasPrefix(pkg, "nudge/cmd/") {
			continue
		}
		for _, imp := range imps {
			if imp == "nudge/repl" || strings.HasPrefix(imp, "nudge/repl/") {
				t.Errorf("package %s imports %s: the engine never imports the REPL (wire it in cmd/nudge)", pkg, imp)
			}
		}
	}
}
