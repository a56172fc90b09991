package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets testscript run "nudge" in-process (CUE's pattern): the test
// binary re-executes itself as the nudge command.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"nudge": func() { os.Exit(Main()) },
	})
}

// TestScripts runs every cmd/nudge/testdata/script/*.txtar: the CLI's
// behaviour (inputs, command lines, expected output and exit codes).
func TestScripts(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			// Scripts may refer to the repository's examples as $REPO/examples.
			env.Setenv("REPO", root)
			env.Setenv("NUDGE_HISTORY", filepath.Join(env.WorkDir, ".nudge_history"))
			return nil
		},
		RequireExplicitExec: false,
	})
}
