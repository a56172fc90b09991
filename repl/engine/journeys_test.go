package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nudge/compiler"
	"nudge/lang"
	"nudge/runtime"
	"nudge/stdlib"
)

const journeyFile = `brand "acme"
import "crm"

journey unpaid "Unpaid order: remind twice"
  enter on order_placed where amount >= 50
  exit when paid matching order_id
  wait 30 minutes
  send reminder "PAY-1" via app_push
  wait 6 hours
  split
    50% sms_only
      send reminder "PAY-2" via sms
    50% wechat_first
      send reminder "PAY-2" via wechat
  end
end
`

// journeyEngine returns an engine over a database where the unpaid
// journey ran (ticks at 10:00 and 12:00 on 2024-11-10): j1 waits for the
// split, j2 exited by paying, j3 (amount 20) never entered; the journey
// file is loaded and now is 12:00.
func journeyEngine(t *testing.T) *Engine {
	t.Helper()
	ctx := context.Background()
	db, err := runtime.Open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.SQL().ExecContext(ctx, `
INSERT INTO members (member_id, brand, consent_sms, consent_app_push) VALUES
  ('j1', 'acme', true, true), ('j2', 'acme', true, true), ('j3', 'acme', true, true);
INSERT INTO events (seq, member_id, brand, type, ts, amount, order_id) VALUES
  (1, 'j1', 'acme', 'order_placed', TIMESTAMP '2024-11-10 10:00', 80, 'o1'),
  (2, 'j2', 'acme', 'order_placed', TIMESTAMP '2024-11-10 10:00', 80, 'o2'),
  (3, 'j3', 'acme', 'order_placed', TIMESTAMP '2024-11-10 10:00', 20, 'o3'),
  (4, 'j2', 'acme', 'paid', TIMESTAMP '2024-11-10 11:00', 80, 'o2');`); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "unpaid.nudge")
	if err := os.WriteFile(file, []byte(journeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	p, diags := lang.LoadSources([]lang.Source{{Name: file, Src: []byte(journeyFile)}}, stdlib.Env())
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	prog, diags := compiler.Compile(p.Info)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	for _, at := range []string{"2024-11-10 10:00", "2024-11-10 12:00"} {
		now, _ := time.Parse("2006-01-02 15:04", at)
		if _, err := db.Run(ctx, prog, runtime.RunOptions{Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2024, 11, 10, 12, 0, 0, 0, time.UTC)
	e := New(db, Options{Now: &now})
	t.Cleanup(func() { e.Close() })
	if res := eval(t, e, ":load "+file); !strings.Contains(res.Text, "loaded") {
		t.Fatalf(":load: %s", res.Text)
	}
	return e
}

// TestJourneysCommand lists the journeys with their instances, and shows
// where members stand (the explanation of runtime/why).
func TestJourneysCommand(t *testing.T) {
	e := journeyEngine(t)
	cases := []struct {
		name, input string
		want, not   []string
	}{
		{"list", ":journeys", []string{
			`unpaid "Unpaid order: remind twice" (`, "enter on, 6 steps; instances: 1 active, 1 exited, 0 completed"}, nil},
		{"waiting", ":journeys j1", []string{
			"member j1 at 2024-11-10 12:00",
			`step 8: send reminder "PAY-1" via app_push → pending`,
			"→ active since 2024-11-10 10:00: next step 10 (split 50% sms_only, 50% wechat_first), due at 2024-11-10 16:30"}, nil},
		{"exited", ":journeys j2 unpaid", []string{"→ exited at 2024-11-10 11:00 before step 10: `exit when paid` held"}, nil},
		{"not entered", ":journeys j3", []string{"→ not entered: "}, []string{"instance 1"}},
		{"unknown journey", ":journeys j1 nope", []string{`no journey "nope" (journeys: unpaid)`}, nil},
		{"usage", ":journeys a b c", []string{"usage: :journeys [MEMBER [JOURNEY]]"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := eval(t, e, c.input)
			for _, w := range c.want {
				if !strings.Contains(res.Text, w) {
					t.Errorf("output lacks %q:\n%s", w, res.Text)
				}
			}
			for _, w := range c.not {
				if strings.Contains(res.Text, w) {
					t.Errorf("output has %q:\n%s", w, res.Text)
				}
			}
		})
	}
}

// TestJourneysCommandWithout says how to get a journey when none is loaded.
func TestJourneysCommandWithout(t *testing.T) {
	e := newTestEngine(t)
	if res := eval(t, e, ":journeys"); !strings.Contains(res.Text, "no journeys: :load a file") {
		t.Errorf(":journeys without journeys: %s", res.Text)
	}
}

// TestJourneysCompletes: the command completes after a colon.
func TestJourneysCompletes(t *testing.T) {
	e := newTestEngine(t)
	got := e.Complete(":jo")
	if len(got) != 1 || got[0] != ":journeys" {
		t.Errorf("Complete(\":jo\") = %v, want [:journeys]", got)
	}
}
