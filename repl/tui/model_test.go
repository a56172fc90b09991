package tui

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"nudge/lang/diag"
	"nudge/repl/engine"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fakeEval is an Evaluator with canned answers, so the model is tested
// without a database. The real engine has its own tests against DuckDB.
type fakeEval struct {
	vocab []string
	calls []string
}

func (f *fakeEval) Eval(ctx context.Context, input string) (*engine.Result, error) {
	f.calls = append(f.calls, input)
	now := time.Date(2024, 11, 11, 12, 0, 0, 0, time.UTC)
	switch strings.TrimSpace(input) {
	case "purchased in last 30 days":
		return &engine.Result{
			Kind: engine.Audience, Input: input, Now: now, Count: 3, Elapsed: 12 * time.Millisecond,
			Columns: []string{"member_id", "name", "count(purchased in last 30 days)"},
			Rows: [][]string{
				{"m001", "王小明", "2"},
				{"m002", "Alice", "1"},
				{"m003", "Bob", "5"},
			},
		}, nil
	case "purchsed in last 30 days":
		var l diag.List
		l.Errorf(diag.Span{File: "<input>", Start: diag.Pos{Line: 1, Col: 1}, End: diag.Pos{Line: 1, Col: 9}},
			"unknown-event", `unknown event type "purchsed"; did you mean "purchased"?`)
		var b bytes.Buffer
		diag.RenderText(&b, l, diag.Sources{"<input>": []byte(input)})
		return &engine.Result{Kind: engine.Diagnostics, Input: input, Text: b.String(), Elapsed: time.Millisecond}, nil
	case "wide":
		res := &engine.Result{Kind: engine.Table, Input: input, Count: 100, Elapsed: 3 * time.Millisecond}
		for c := 0; c < 8; c++ {
			res.Columns = append(res.Columns, fmt.Sprintf("column_%d_xxxxxxx", c))
		}
		for r := 0; r < 100; r++ {
			var row []string
			for c := 0; c < 8; c++ {
				row = append(row, fmt.Sprintf("r%03d-c%d", r, c))
			}
			res.Rows = append(res.Rows, row)
		}
		return res, nil
	case ":run":
		// As a dry run of a large program answers: a line per rule and
		// journey above the decisions.
		res := &engine.Result{Kind: engine.Decisions, Input: input, Now: now, Count: 100, Elapsed: 40 * time.Millisecond,
			Columns: []string{"rule", "member_id", "action", "status"}}
		var lines []string
		for i := 1; i <= 60; i++ {
			lines = append(lines, fmt.Sprintf("rule_%02d: %d candidates, %d firings (%d pending)", i, 10*i, i, i))
		}
		lines = append(lines, "welcome (journey): 3 enter, 3 sends (3 pending); after the tick: 3 active, 0 exited, 0 completed")
		res.Text = strings.Join(lines, "\n")
		for r := 0; r < 100; r++ {
			res.Rows = append(res.Rows, []string{fmt.Sprintf("rule_%02d", r%60+1), fmt.Sprintf("m%03d", r), "send", "pending"})
		}
		return res, nil
	case ":run few":
		res := &engine.Result{Kind: engine.Decisions, Input: input, Now: now, Count: 2, Columns: []string{"rule", "member_id"},
			Rows: [][]string{{"rule_01", "m001"}, {"rule_02", "m002"}}}
		var lines []string
		for i := 1; i <= 30; i++ {
			lines = append(lines, fmt.Sprintf("rule_%02d: %d candidates", i, i))
		}
		res.Text = strings.Join(lines, "\n")
		return res, nil
	case "slow":
		<-ctx.Done()
		return nil, ctx.Err()
	case ":sql":
		return &engine.Result{Kind: engine.Text, Input: input, Code: "sql", Text: "SELECT m.member_id\nFROM members m -- all of them\nWHERE m.brand = $brand::VARCHAR"}, nil
	case ":quit":
		return &engine.Result{Kind: engine.Text, Input: input, Quit: true}, nil
	}
	return &engine.Result{Kind: engine.Text, Input: input, Text: "ok: " + input, Elapsed: time.Millisecond}, nil
}

func (f *fakeEval) Complete(before string) []string {
	word := engine.WordBefore(before)
	var out []string
	for _, v := range f.vocab {
		if strings.HasPrefix(v, word) {
			out = append(out, v)
		}
	}
	return out
}

func (f *fakeEval) EventTypes() []string { return []string{"purchased", "queued", "paid"} }
func (f *fakeEval) Segments() []string   { return []string{"loyal"} }

func (f *fakeEval) Status() string { return "test.duckdb · now 2024-11-11 12:00" }

func newFake() *fakeEval {
	return &fakeEval{vocab: []string{"paid", "purchased", "priority", "per", "member", "queued", ":quit", ":run"}}
}

// driver feeds messages to a model and runs its commands the way the
// bubbletea runtime would, but synchronously enough to assert on.
type driver struct {
	t    *testing.T
	m    Model
	msgs chan tea.Msg
}

func newDriver(t *testing.T, ev Evaluator, profile termenv.Profile, hist *History) *driver {
	t.Helper()
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(profile)
	m := New(ev, Options{Renderer: r, Width: 80, Height: 20, History: hist})
	return &driver{t: t, m: m, msgs: make(chan tea.Msg, 256)}
}

func (d *driver) send(msg tea.Msg) {
	d.t.Helper()
	m, cmd := d.m.Update(msg)
	d.m = m.(Model)
	d.spawn(cmd)
}

func (d *driver) spawn(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go func() { d.msgs <- cmd() }()
}

func (d *driver) typ(s string) {
	d.t.Helper()
	for _, r := range s {
		d.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
	}
}

func (d *driver) key(t tea.KeyType) { d.send(tea.KeyMsg{Type: t}) }

// settle delivers command results until no evaluation is running.
func (d *driver) settle() {
	d.t.Helper()
	deadline := time.After(5 * time.Second)
	for d.m.running {
		select {
		case msg := <-d.msgs:
			d.deliver(msg)
		case <-deadline:
			d.t.Fatal("evaluation did not finish")
		}
	}
}

func (d *driver) deliver(msg tea.Msg) {
	switch msg := msg.(type) {
	case nil:
	case tea.BatchMsg:
		for _, c := range msg {
			d.spawn(c)
		}
	default:
		d.send(msg)
	}
}

func (d *driver) view() string { return d.m.View() }

// plain is the view without ANSI styling and trailing blanks, as golden
// screens store it.
func (d *driver) plain() string {
	lines := strings.Split(ansi.Strip(d.view()), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("screen %s differs from golden file (run go test -update)\n--- got ---\n%s\n--- want ---\n%s", name, got, want)
	}
}

func TestHighlightingInView(t *testing.T) {
	d := newDriver(t, newFake(), termenv.TrueColor, nil)
	d.typ(`rule hi if purchased in last 30 days then send coupon "A" via sms`)
	v := d.view()
	st := d.m.st
	for _, want := range []string{
		st.keyword.Render("rule"),
		st.keyword.Render("if"),
		st.number.Render("30"),
		st.str.Render(`"A"`),
		st.event.Render("purchased"),
	} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks styled %q (%q)\nview:\n%q", ansi.Strip(want), want, v)
		}
	}
	if !strings.Contains(st.keyword.Render("rule"), "\x1b[") {
		t.Fatalf("keyword style renders no ANSI escape: %q", st.keyword.Render("rule"))
	}
	// An identifier is not a keyword.
	if strings.Contains(v, st.keyword.Render("hi")) {
		t.Errorf("identifier hi styled as keyword")
	}
}

func TestSQLHighlighted(t *testing.T) {
	d := newDriver(t, newFake(), termenv.TrueColor, nil)
	d.typ(":sql")
	d.key(tea.KeyEnter)
	d.settle()
	v := d.view()
	st := d.m.st
	for _, want := range []string{st.keyword.Render("SELECT"), st.keyword.Render("WHERE"), st.comment.Render("-- all of them")} {
		if !strings.Contains(v, want) {
			t.Errorf("view lacks styled %q:\n%q", ansi.Strip(want), v)
		}
	}
}

func TestLexLine(t *testing.T) {
	type tok struct {
		text  string
		class tokenClass
	}
	tests := []struct {
		name  string
		line  string
		sql   bool
		first bool
		want  []tok
	}{
		{"condition", `purchased in last 3 months`, false, true, []tok{
			{"purchased", tokEvent}, {"in", tokKeyword}, {"last", tokKeyword}, {"3", tokNumber}, {"months", tokKeyword}}},
		{"segment and unknown name", `loyal and vip`, false, true, []tok{
			{"loyal", tokSegment}, {"and", tokKeyword}, {"vip", tokPlain}}},
		{"declaration types", `event refund_requested { reason text }`, false, true, []tok{
			{"event", tokKeyword}, {"refund_requested", tokPlain}, {"{", tokPlain}, {"reason", tokPlain}, {"text", tokKeyword}, {"}", tokPlain}}},
		{"member field and string", `member.city = "长沙"`, false, true, []tok{
			{"member", tokKeyword}, {".", tokOperator}, {"city", tokField}, {"=", tokOperator}, {`"长沙"`, tokString}}},
		{"comment", `visited ever # who came`, false, true, []tok{
			{"visited", tokEvent}, {"ever", tokKeyword}, {"# who came", tokComment}}},
		{"date and clock", `quiet hours 22:00 to 08:00`, false, true, []tok{
			{"quiet", tokKeyword}, {"hours", tokKeyword}, {"22:00", tokNumber}, {"to", tokKeyword}, {"08:00", tokNumber}}},
		{"command", `:now 2024-11-11`, false, true, []tok{
			{":now", tokCommand}, {"2024-11-11", tokNumber}}},
		{"colon not first line", `:now`, false, false, []tok{
			{":", tokPlain}, {"now", tokPlain}}},
		{"sql", `\sql select count(*) FROM members`, true, true, []tok{
			{`\sql`, tokCommand}, {"select", tokKeyword}, {"count", tokKeyword}, {"(", tokOperator}, {"*", tokOperator},
			{")", tokOperator}, {"FROM", tokKeyword}, {"members", tokPlain}}},
		{"unterminated string", `tagged "vip`, false, true, []tok{
			{"tagged", tokKeyword}, {`"vip`, tokString}}},
		{"capitalised word is not a keyword", `Rule`, false, true, []tok{{"Rule", tokPlain}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			line := []rune(tc.line)
			var got []tok
			nm := names{events: map[string]bool{"purchased": true, "visited": true}, segments: map[string]bool{"loyal": true}}
			for _, tk := range lexLine(line, tc.sql, tc.first, nm) {
				if strings.TrimSpace(string(line[tk.start:tk.end])) == "" {
					continue
				}
				got = append(got, tok{string(line[tk.start:tk.end]), tk.class})
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("token %d: got %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestAudienceScreen(t *testing.T) {
	d := newDriver(t, newFake(), termenv.Ascii, nil)
	d.typ("purchased in last 30 days")
	d.key(tea.KeyEnter)
	if !d.m.running {
		t.Fatal("enter did not start an evaluation")
	}
	d.settle()
	got := d.plain()
	for _, want := range []string{"3 members match at 2024-11-11 12:00:00", "member_id", "王小明", "m003", " nudge  3 members │ 12ms │ test.duckdb"} {
		if !strings.Contains(got, want) {
			t.Errorf("screen lacks %q:\n%s", want, got)
		}
	}
	if d.m.input.Value() != "" {
		t.Errorf("input not cleared after submit: %q", d.m.input.Value())
	}
	golden(t, "audience", got)
}

func TestDiagnosticScreen(t *testing.T) {
	d := newDriver(t, newFake(), termenv.Ascii, nil)
	d.typ("purchsed in last 30 days")
	d.key(tea.KeyEnter)
	d.settle()
	got := d.plain()
	for _, want := range []string{`did you mean "purchased"?`, "purchsed in last 30 days\n^^^^^^^^"} {
		if !strings.Contains(got, want) {
			t.Errorf("screen lacks %q:\n%s", want, got)
		}
	}
	golden(t, "diagnostic", got)
}

func TestWelcomeScreen(t *testing.T) {
	d := newDriver(t, newFake(), termenv.Ascii, nil)
	golden(t, "welcome", d.plain())
}

func TestCompletion(t *testing.T) {
	tests := []struct {
		name, typed, want, hint string
	}{
		{"unique", "purch", "purchased ", ""},
		{"after other words", "not purch", "not purchased ", ""},
		{"common prefix and candidates", "p", "p", "paid  purchased  priority  per"},
		{"command", ":q", ":quit ", ""},
		{"none", "zzz", "zzz", "no completions"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDriver(t, newFake(), termenv.Ascii, nil)
			d.typ(tc.typed)
			d.key(tea.KeyTab)
			if got := d.m.input.Value(); got != tc.want {
				t.Errorf("input after tab = %q, want %q", got, tc.want)
			}
			if d.m.hint != tc.hint {
				t.Errorf("hint = %q, want %q", d.m.hint, tc.hint)
			}
			if tc.hint != "" && !strings.Contains(d.plain(), tc.hint) {
				t.Errorf("hint not on screen:\n%s", d.plain())
			}
		})
	}
}

func TestHistoryRecall(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nudge", "history")
	hist, err := LoadHistory(path)
	if err != nil {
		t.Fatal(err)
	}
	ev := newFake()
	d := newDriver(t, ev, termenv.Ascii, hist)
	for _, in := range []string{"visited ever", "purchased in last 30 days"} {
		d.typ(in)
		d.key(tea.KeyEnter)
		d.settle()
	}
	d.typ("draft")
	steps := []struct {
		key  tea.KeyType
		want string
	}{
		{tea.KeyUp, "purchased in last 30 days"},
		{tea.KeyUp, "visited ever"},
		{tea.KeyUp, "visited ever"}, // oldest: stays
		{tea.KeyDown, "purchased in last 30 days"},
		{tea.KeyDown, "draft"},
	}
	for i, s := range steps {
		d.key(s.key)
		if got := d.m.input.Value(); got != s.want {
			t.Fatalf("step %d: input = %q, want %q", i, got, s.want)
		}
	}
	// Recalled text is on screen.
	d.key(tea.KeyUp)
	if !strings.Contains(d.plain(), "nudge> purchased in last 30 days") {
		t.Errorf("recalled entry not shown:\n%s", d.plain())
	}

	// A multi-line entry survives the file, and a new session sees it all.
	d.key(tea.KeyCtrlC) // clear
	d.typ("visited ever and")
	d.send(tea.KeyMsg{Type: tea.KeyEnter, Alt: true})
	d.typ("not purchased ever")
	d.key(tea.KeyEnter)
	d.settle()
	deadline := time.Now().Add(2 * time.Second)
	for {
		reloaded, err := LoadHistory(path)
		if err != nil {
			t.Fatal(err)
		}
		got := reloaded.Entries()
		want := []string{"visited ever", "purchased in last 30 days", "visited ever and\nnot purchased ever"}
		if strings.Join(got, "|") == strings.Join(want, "|") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("history file holds %q, want %q", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMultiLineInput(t *testing.T) {
	ev := newFake()
	d := newDriver(t, ev, termenv.Ascii, nil)
	d.typ(`visited ever \`)
	d.key(tea.KeyEnter)
	if d.m.running {
		t.Fatal("trailing backslash submitted the input")
	}
	d.typ("and not purchased ever")
	if got, want := d.m.input.Value(), "visited ever \nand not purchased ever"; got != want {
		t.Fatalf("input = %q, want %q", got, want)
	}
	if !strings.Contains(d.plain(), "   ..> and not purchased ever") {
		t.Errorf("continuation prompt missing:\n%s", d.plain())
	}
	d.key(tea.KeyEnter)
	d.settle()
	if len(ev.calls) != 1 || ev.calls[0] != "visited ever \nand not purchased ever" {
		t.Errorf("evaluated %q", ev.calls)
	}
}

// TestWordsReadAtOnceAreText: a terminal read of several characters (a
// paste without bracketed paste, typing over a slow link, tmux send-keys)
// arrives as one KeyMsg of runes, whose String() is the text itself: the
// words "end", "delete", "enter", "home" or "up" must be typed, not taken
// for the keys of those names.
func TestWordsReadAtOnceAreText(t *testing.T) {
	ev := newFake()
	d := newDriver(t, ev, termenv.Ascii, nil)
	words := []string{"if", " ", "tagged", " ", `"x"`, " ", "enter", " ", "delete", " ", "end", " ", "home", " ", "up", " ", "left", " ", "tab", " ", "esc", " ", "ctrl+c", " ", "pgdown"}
	var want strings.Builder
	for _, w := range words {
		d.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(w)})
		want.WriteString(w)
	}
	if d.m.running || len(ev.calls) > 0 {
		t.Fatalf("a typed word ran the input (running %v, evaluated %q)", d.m.running, ev.calls)
	}
	if got := d.m.input.Value(); got != want.String() {
		t.Fatalf("input = %q, want %q", got, want.String())
	}
	if !strings.Contains(d.plain(), "nudge> "+want.String()) {
		t.Errorf("input row does not show the text:\n%s", d.plain())
	}
}

// TestHistoryErrorShown: when saving the history fails during an
// evaluation, the hint line says so after the result arrives (the result
// used to clear it at once) and until the next key.
func TestHistoryErrorShown(t *testing.T) {
	d := newDriver(t, newFake(), termenv.Ascii, nil)
	d.typ("visited ever")
	d.key(tea.KeyEnter)
	d.send(historyErrorMsg{errors.New("save history: disk full")})
	d.settle()
	if !strings.Contains(d.plain(), "ok: visited ever") {
		t.Fatalf("no result:\n%s", d.plain())
	}
	if !strings.Contains(d.plain(), "save history: disk full") {
		t.Errorf("the history error is not shown:\n%s", d.plain())
	}
	d.typ("x")
	if strings.Contains(d.plain(), "save history") {
		t.Errorf("the history error outlived the next key:\n%s", d.plain())
	}
}

// TestInputFollowsCursor: an input taller than the input area shows the
// cursor's row when the cursor walks up into its start (a pasted rule
// being edited), not always the last rows.
func TestInputFollowsCursor(t *testing.T) {
	d := newDriver(t, newFake(), termenv.Ascii, nil)
	var lines []string
	for i := 0; i < 15; i++ {
		lines = append(lines, fmt.Sprintf("member.city = \"c%d\" or", i))
	}
	d.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(strings.Join(lines, "\n") + "\nmember.city = \"last\""), Paste: true})
	if !strings.Contains(d.plain(), `member.city = "last"`) {
		t.Fatalf("the last line is not shown after the paste:\n%s", d.plain())
	}
	for i := 0; i < 12; i++ {
		d.key(tea.KeyUp)
	}
	d.typ("XYZ")
	if !strings.Contains(d.plain(), "XYZ") {
		t.Errorf("the row being edited is not shown:\n%s", d.plain())
	}
	// One long line: Home goes to its start, which must be in sight.
	d.key(tea.KeyCtrlC)
	d.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(strings.Repeat("purchased in last 30 days or ", 40) + "visited ever"), Paste: true})
	d.key(tea.KeyHome)
	d.typ("START ")
	if !strings.Contains(d.plain(), "nudge> START purchased") {
		t.Errorf("the start of a long line is not shown after Home:\n%s", d.plain())
	}
}

func TestCtrlCCancelsQuery(t *testing.T) {
	d := newDriver(t, newFake(), termenv.Ascii, nil)
	d.typ("slow")
	d.key(tea.KeyEnter)
	if !d.m.running {
		t.Fatal("not running")
	}
	if !strings.Contains(d.plain(), "running") {
		t.Errorf("status does not say running:\n%s", d.plain())
	}
	d.key(tea.KeyCtrlC)
	d.settle()
	if d.m.quitting {
		t.Fatal("ctrl+c left the REPL")
	}
	if !strings.Contains(d.plain(), "› slow\ncancelled") {
		t.Errorf("cancellation not reported:\n%s", d.plain())
	}
	// The REPL still works.
	d.typ("visited ever")
	d.key(tea.KeyEnter)
	d.settle()
	if !strings.Contains(d.plain(), "ok: visited ever") {
		t.Errorf("REPL unusable after cancel:\n%s", d.plain())
	}
}

// waitingEval is a fakeEval whose inputs wait, as the engine's do for a
// database file another process holds (Waiter).
type waitingEval struct {
	*fakeEval
	notice string
}

func (w *waitingEval) Waiting() string { return w.notice }

// TestStatusSaysWaiting: while an input waits, the status line says what
// for, after how to cancel it; Ctrl+C cancels it as any running input.
func TestStatusSaysWaiting(t *testing.T) {
	ev := &waitingEval{fakeEval: newFake(), notice: "waiting for t.duckdb, held by another process (pid 7, nudge); up to 30s"}
	d := newDriver(t, ev, termenv.Ascii, nil)
	d.m.resize(160, 20)
	d.typ("slow")
	d.key(tea.KeyEnter)
	if want := "Ctrl+C cancels · " + ev.notice; !strings.Contains(d.plain(), want) {
		t.Errorf("status does not say %q:\n%s", want, d.plain())
	}
	d.key(tea.KeyCtrlC)
	d.settle()
	if !strings.Contains(d.plain(), "› slow\ncancelled") {
		t.Errorf("cancellation not reported:\n%s", d.plain())
	}
}

func TestQuit(t *testing.T) {
	tests := []struct {
		name string
		do   func(d *driver)
	}{
		{"ctrl+d on empty input", func(d *driver) { d.key(tea.KeyCtrlD) }},
		{":quit", func(d *driver) { d.typ(":quit"); d.key(tea.KeyEnter); d.settle() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDriver(t, newFake(), termenv.Ascii, nil)
			tc.do(d)
			if !d.m.quitting {
				t.Errorf("did not quit")
			}
		})
	}
	t.Run("ctrl+d with text does not quit", func(t *testing.T) {
		d := newDriver(t, newFake(), termenv.Ascii, nil)
		d.typ("visited")
		d.key(tea.KeyCtrlD)
		if d.m.quitting {
			t.Errorf("quit with text in the input")
		}
	})
}

func TestClearScreen(t *testing.T) {
	d := newDriver(t, newFake(), termenv.Ascii, nil)
	d.typ("purchased in last 30 days")
	d.key(tea.KeyEnter)
	d.settle()
	d.key(tea.KeyCtrlL)
	if got := d.plain(); !strings.HasPrefix(got, "nudge repl: try an idea") || strings.Contains(got, "members match") {
		t.Errorf("ctrl+l did not clear the results:\n%s", got)
	}
}

func TestResizeReflows(t *testing.T) {
	d := newDriver(t, newFake(), termenv.Ascii, nil)
	d.typ("purchased in last 30 days")
	d.key(tea.KeyEnter)
	d.settle()
	for _, size := range []struct{ w, h int }{{60, 15}, {120, 35}, {40, 10}} {
		d.send(tea.WindowSizeMsg{Width: size.w, Height: size.h})
		lines := strings.Split(d.view(), "\n")
		if len(lines) != size.h {
			t.Errorf("%dx%d: view has %d lines", size.w, size.h, len(lines))
		}
		for i, l := range lines {
			if w := ansi.StringWidth(l); w > size.w {
				t.Errorf("%dx%d: line %d is %d cells wide: %q", size.w, size.h, i, w, ansi.Strip(l))
			}
		}
	}
	golden(t, "audience-40x10", d.plain())
}

func TestScrollTable(t *testing.T) {
	d := newDriver(t, newFake(), termenv.Ascii, nil)
	d.typ("wide")
	d.key(tea.KeyEnter)
	d.settle()
	// 80x20: 20 - status - hint - input - separator = 16 rows of pane; echo,
	// summary and header leave 13 rows.
	steps := []struct {
		name  string
		do    func()
		first string // first cell of the first row shown
		pos   string
	}{
		{"start", func() {}, "r000-c0", "rows 1-13/100 · cols 1-5/8"},
		{"page down", func() { d.key(tea.KeyPgDown) }, "r013-c0", "rows 14-26/100"},
		{"line down", func() { d.key(tea.KeyShiftDown) }, "r014-c0", "rows 15-27/100"},
		{"page up past top", func() { d.key(tea.KeyPgUp); d.key(tea.KeyPgUp) }, "r000-c0", "rows 1-13/"},
		{"end", func() {
			for i := 0; i < 10; i++ {
				d.key(tea.KeyPgDown)
			}
		}, "r087-c0", "rows 88-100/100"},
		{"columns right", func() { d.key(tea.KeyShiftRight) }, "r087-c1", "cols 2-6/8"},
		{"arrow right on empty input", func() { d.key(tea.KeyRight) }, "r087-c2", "cols 3-7/8"},
		{"columns left", func() { d.key(tea.KeyShiftLeft); d.key(tea.KeyShiftLeft); d.key(tea.KeyShiftLeft) }, "r087-c0", "cols 1-5/8"},
	}
	for _, s := range steps {
		s.do()
		screen := d.plain()
		lines := strings.Split(screen, "\n")
		if len(lines) < 4 || !strings.HasPrefix(strings.TrimSpace(lines[3]), s.first) {
			t.Errorf("%s: first row is not %s:\n%s", s.name, s.first, screen)
		}
		if !strings.Contains(lines[1], s.pos) {
			t.Errorf("%s: summary %q lacks %q", s.name, lines[1], s.pos)
		}
	}
	golden(t, "scrolled", d.plain())
}

// TestRunSummaryScrolls: the per-rule summary of :run on a program of many
// rules is all on screen in turn. PgDn pages through it to its last line
// (it was cut to a third of the screen, "… N more lines", and the rest
// could not be reached), then through the decisions; PgUp comes back the
// same way. A summary with few decisions under it takes the room they
// leave.
func TestRunSummaryScrolls(t *testing.T) {
	ruleLine := func(l string) (int, bool) {
		var n int
		if _, err := fmt.Sscanf(strings.TrimSpace(l), "rule_%02d: ", &n); err != nil || !strings.Contains(l, "candidates") {
			return 0, false
		}
		return n, true
	}
	// seen lists the summary lines of rules on screen, in order.
	seen := func(screen string) []int {
		var out []int
		for _, l := range strings.Split(screen, "\n") {
			if n, ok := ruleLine(l); ok {
				out = append(out, n)
			}
		}
		return out
	}
	firstRow := func(d *driver) string {
		lines := strings.Split(d.plain(), "\n")
		for i, l := range lines {
			if strings.HasPrefix(strings.TrimSpace(l), "rule  ") && i+1 < len(lines) { // the table's header
				return strings.Fields(lines[i+1])[1]
			}
		}
		t.Fatalf("no decisions table on screen:\n%s", d.plain())
		return ""
	}

	d := newDriver(t, newFake(), termenv.Ascii, nil)
	d.send(tea.WindowSizeMsg{Width: 100, Height: 24})
	d.typ(":run")
	d.key(tea.KeyEnter)
	d.settle()
	// 24 rows: 20 of pane, 18 under the echo and summary; a third of the
	// screen was 6 lines.
	first := seen(d.plain())
	if len(first) < 8 || first[0] != 1 {
		t.Fatalf("the summary shows rules %v at first, want at least 8 from rule_01:\n%s", first, d.plain())
	}
	if !strings.Contains(d.plain(), fmt.Sprintf("lines 1-%d of 61 · PgUp/PgDn scroll", len(first))) {
		t.Errorf("no line says which summary lines are shown:\n%s", d.plain())
	}
	if got := firstRow(d); got != "m000" {
		t.Fatalf("first decision %s, want m000", got)
	}
	all := map[int]bool{}
	journey := false
	for i := 0; i < 20 && !journey; i++ {
		for _, n := range seen(d.plain()) {
			all[n] = true
		}
		journey = strings.Contains(d.plain(), "welcome (journey): 3 enter")
		if firstRow(d) != "m000" {
			t.Fatalf("PgDn %d scrolled the decisions before the summary's end:\n%s", i, d.plain())
		}
		d.key(tea.KeyPgDown)
	}
	for n := 1; n <= 60; n++ {
		if !all[n] {
			t.Errorf("rule_%02d's summary line never came on screen", n)
		}
	}
	if !journey {
		t.Fatalf("the journey's line, the summary's last, never came on screen:\n%s", d.plain())
	}
	// At the summary's end, PgDn moves on to the decisions.
	for i := 0; i < 3 && firstRow(d) == "m000"; i++ {
		d.key(tea.KeyPgDown)
	}
	if firstRow(d) == "m000" {
		t.Fatalf("PgDn at the summary's end does not scroll the decisions:\n%s", d.plain())
	}
	// PgUp: the decisions back to their first row, then the summary to its top.
	for i := 0; i < 30 && (firstRow(d) != "m000" || len(seen(d.plain())) == 0 || seen(d.plain())[0] != 1); i++ {
		d.key(tea.KeyPgUp)
	}
	if firstRow(d) != "m000" || seen(d.plain())[0] != 1 {
		t.Fatalf("PgUp does not come back to the top:\n%s", d.plain())
	}
	// Shift+Down moves the summary by one line.
	d.key(tea.KeyShiftDown)
	if got := seen(d.plain()); got[0] != 2 {
		t.Errorf("after Shift+Down the summary starts at rule_%02d, want rule_02", got[0])
	}

	// Two decisions under 30 summary lines at 100x40: the summary takes
	// all the pane but the table's three lines.
	d = newDriver(t, newFake(), termenv.Ascii, nil)
	d.send(tea.WindowSizeMsg{Width: 100, Height: 40})
	d.typ(":run few")
	d.key(tea.KeyEnter)
	d.settle()
	// 40 rows: 36 of pane, 34 under the echo and summary, 3 for the table.
	if got := seen(d.plain()); len(got) != 30 {
		t.Errorf("the summary shows %d of its 30 lines with room for all:\n%s", len(got), d.plain())
	}
	if strings.Contains(d.plain(), "PgUp/PgDn scroll") {
		t.Errorf("a summary that fits says it scrolls:\n%s", d.plain())
	}
}
