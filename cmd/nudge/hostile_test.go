package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rawMessage matches what must never reach a user: a panic, a Go runtime
// failure, or a DuckDB message passed through as it is.
var rawMessage = regexp.MustCompile(`(?i)(parser|binder|catalog|conversion|constraint|invalid input|out of range|internal|io|transaction|dependency|not implemented) error|panic|goroutine [0-9]|runtime error|out of memory|fatal error|max_expression_depth|stack overflow`)

// TestHostileCorpus runs every nasty rule file of lang/testdata/hostile, and
// a few made here (a file over 1 MiB, a named pipe, a device, a directory
// holding a pipe, 10,000 rules), through check, fmt, explain and run (on a
// small real database). Nothing panics, blocks or prints a raw library
// message, and check's verdict is run's: what check accepts runs, and what it
// rejects, run rejects with the same diagnostics (explain too).
func TestHostileCorpus(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "t.duckdb")
	for _, table := range []string{"members", "events"} {
		r := nudgeCmd(t, "import", "--db", db, table, filepath.Join("..", "..", "examples", "data", table+".csv"))
		if r.code != 0 {
			t.Fatalf("import %s: %s", table, r.stderr)
		}
	}
	inputs, err := filepath.Glob(filepath.Join("..", "..", "lang", "testdata", "hostile", "*.nudge"))
	if err != nil || len(inputs) < 40 {
		t.Fatalf("hostile corpus: %d files, %v", len(inputs), err)
	}
	made := filepath.Join(dir, "made")
	if err := os.MkdirAll(filepath.Join(made, "with_pipe"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) string {
		p := filepath.Join(made, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rule := "brand \"acme\"\nimport \"crm\"\nrule r if purchased then tag \"x\"\n"
	inputs = append(inputs,
		write("over_1mib.nudge", rule+"#"+strings.Repeat("x", 1<<20)+"\n"),
		write("with_pipe/ok.nudge", rule),
		filepath.Join(made, "with_pipe"),
	)
	// Many rules: 10,000 through check, fmt and explain; a tick of that many
	// takes minutes on a loaded machine, so run gets 1,000.
	manyRules := func(n int) string {
		var b strings.Builder
		b.WriteString("brand \"acme\"\nimport \"crm\"\n")
		for i := range n {
			fmt.Fprintf(&b, "rule r%d if purchased where amount > %d then tag \"t%d\"\n", i, i, i)
		}
		return b.String()
	}
	noRun := map[string]bool{}
	if !testing.Short() {
		inputs = append(inputs, write("10000_rules.nudge", manyRules(10000)), write("1000_rules.nudge", manyRules(1000)))
		noRun[inputs[len(inputs)-2]] = true
	}
	if runtime.GOOS != "windows" {
		pipe := filepath.Join(made, "with_pipe", "pipe.nudge")
		if err := syscall.Mkfifo(pipe, 0o644); err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, pipe, "/dev/zero")
	}
	for _, in := range inputs {
		name := strings.TrimPrefix(in, dir+string(filepath.Separator))
		t.Run(filepath.Base(name), func(t *testing.T) {
			check := nudgeCmd(t, "check", in)
			fmtd := nudgeCmd(t, "fmt", in)
			explain := nudgeCmd(t, "explain", in)
			// explain and run must give check's verdict.
			verdict := []cmdResult{explain}
			if !noRun[in] {
				verdict = append(verdict, nudgeCmd(t, "run", "--db", db, "--now", "2024-11-11 12:00", in))
			}
			for _, r := range append([]cmdResult{check, fmtd}, verdict...) {
				if r.code != exitOK && r.code != exitProblems {
					t.Errorf("nudge %s: exit %d\n%s", r.name, r.code, r.stderr)
				}
				if m := rawMessage.FindString(r.stderr); m != "" {
					t.Errorf("nudge %s prints a raw message (%q):\n%.2000s", r.name, m, r.stderr)
				}
			}
			switch check.code {
			case exitOK:
				for _, r := range verdict {
					if r.code != exitOK {
						t.Errorf("check accepts it, nudge %s fails:\n%.2000s", r.name, r.stderr)
					} else if !strings.HasPrefix(r.stderr, check.stderr) {
						t.Errorf("nudge %s does not print check's warnings once:\n%.2000s\ncheck:\n%.2000s", r.name, r.stderr, check.stderr)
					}
				}
				if fmtd.code != exitOK {
					t.Errorf("check accepts it, fmt fails:\n%.2000s", fmtd.stderr)
				}
			default:
				if check.stderr == "" {
					t.Errorf("check rejects it and says nothing")
				}
				for _, r := range verdict {
					if r.code != exitProblems || r.stderr != check.stderr {
						t.Errorf("check rejects it; nudge %s exits %d with other diagnostics:\n%.2000s\ncheck:\n%.2000s", r.name, r.code, r.stderr, check.stderr)
					}
				}
				// fmt only parses: what it reports, check reports too.
				for _, line := range strings.Split(strings.TrimSpace(fmtd.stderr), "\n") {
					if !strings.Contains(check.stderr, line) {
						t.Errorf("fmt reports %q, which check does not", line)
					}
				}
			}
		})
	}
}

// cmdResult is one in-process run of the nudge command.
type cmdResult struct {
	name           string
	code           int
	stdout, stderr string
}

// nudgeCmd runs nudge in-process with args, failing the test if it has not
// finished within two minutes (a command must never block on its input).
func nudgeCmd(t *testing.T, args ...string) cmdResult {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, strings.NewReader(""), &stdout, &stderr) }()
	select {
	case code := <-done:
		return cmdResult{name: args[0], code: code, stdout: stdout.String(), stderr: stderr.String()}
	case <-time.After(2 * time.Minute):
		t.Fatalf("nudge %q did not finish within 2 minutes", args)
		return cmdResult{}
	}
}
