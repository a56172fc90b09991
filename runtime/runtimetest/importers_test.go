package runtimetest_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImporters fails when a package of the module imports runtimetest
// from a non-test file: go list's Imports leave test files out, so any
// importer it names is production code.
func TestImporters(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	const self = "nudge/runtime/runtimetest"
	cmd := exec.Command(goTool, "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "nudge/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	pkgs := 0
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		pkgs++
		for _, imp := range f[1:] {
			if imp == self {
				t.Errorf("package %s imports %s outside its tests; only _test.go files may (see the package doc)", f[0], self)
			}
		}
	}
	if pkgs < 10 {
		t.Fatalf("go list named %d packages: the scan found too few\n%s", pkgs, out)
	}
}
