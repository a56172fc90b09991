package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/table"
	"github.com/charmbracelet/bubbles/textarea"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"

	"nudge/repl/engine"
)

// Evaluator is what the TUI needs from the REPL engine. engine.Engine
// implements it; tests use a fake.
type Evaluator interface {
	// Eval evaluates one input (possibly several lines). It must return
	// promptly with ctx.Err() when ctx is cancelled (Ctrl-C).
	Eval(ctx context.Context, input string) (*engine.Result, error)
	// Complete returns the candidates for the word that ends the text before
	// the cursor (see engine.WordBefore); each replaces that whole word.
	Complete(before string) []string
	// Status describes the session for the status line: database, brand, now.
	Status() string
}

// Namer is optionally implemented by an Evaluator to name the program's
// event types and segments, which the input then colours.
type Namer interface {
	EventTypes() []string
	Segments() []string
}

// Waiter is optionally implemented by an Evaluator whose input may wait
// for something before it runs (the database file another process holds):
// Waiting says what, "" when nothing. It is called while Eval runs.
type Waiter interface {
	Waiting() string
}

// Options configure a Model.
type Options struct {
	// Renderer makes every style; tests pin its colour profile. nil uses
	// lipgloss's default renderer.
	Renderer *lipgloss.Renderer
	// History holds earlier inputs for up/down and receives new ones. nil
	// keeps an in-memory history.
	History *History
	// Width and Height are the size until the first tea.WindowSizeMsg;
	// 0 means 80x24.
	Width, Height int
	// Context is the parent of every evaluation's context. nil: Background.
	Context context.Context
	// Welcome replaces the text shown before the first result.
	Welcome string
}

// Messages.
type (
	evalDoneMsg struct {
		id      int
		res     *engine.Result
		err     error
		elapsed time.Duration
	}
	tickMsg         struct{ id int }
	historyErrorMsg struct{ err error }
)

const (
	promptFirst = "nudge> "
	promptMore  = "   ..> "
	// maxInputRows is the most rows the input grows to before it scrolls.
	maxInputRows = 8
	tickEvery    = 100 * time.Millisecond
)

// Model is the bubbletea model of the REPL: an input editor with syntax
// highlighting, a results pane (a table for audiences, SQL rows and
// decisions; scrollable text otherwise) and a status line.
//
// Keys: Enter runs the input (when the character before the cursor is `\`,
// Enter instead replaces it by a new line); Alt+Enter or Ctrl+J inserts a new
// line; Tab completes; Up/Down on the first/last line walk the history;
// PgUp/PgDn and Shift+arrows scroll the results (the notes above a table
// that do not fit first, then its rows); Ctrl+L clears them; Ctrl+C
// cancels a running query or clears the input; Ctrl+D on an empty input or
// `:quit` leaves.
type Model struct {
	ev    Evaluator
	ctx   context.Context
	st    styles
	input textarea.Model
	table table.Model
	text  viewport.Model

	width, height int

	hist    *History
	histPos int    // index into hist entries; len(entries) = the draft
	draft   string // what was typed before walking the history

	running bool
	cancel  context.CancelFunc
	runID   int
	started time.Time
	now     func() time.Time

	rowOff    int // first table row shown
	colOff    int // first table column shown
	colsShown int // how many columns fit from colOff
	// Above a table, text holds its notes (warnings, the per-rule summary
	// of :run). notesLines is how many lines they have; notesScroll is set
	// when they do not all fit, so text scrolls them and a line under them
	// says which are shown.
	notesLines  int
	notesScroll bool

	last      *engine.Result
	lastErr   error
	lastInput string // the input of the result shown (or running)
	hint      string
	hintErr   bool
	welcome   string
	quitting  bool
}

// New returns a model over ev.
func New(ev Evaluator, opts Options) Model {
	r := opts.Renderer
	if r == nil {
		r = lipgloss.DefaultRenderer()
	}
	ctx := opts.Context
	if ctx == nil {
		ctx = context.Background()
	}
	hist := opts.History
	if hist == nil {
		hist = &History{}
	}
	ta := textarea.New()
	ta.ShowLineNumbers = false
	ta.Prompt = ""
	ta.CharLimit = 0
	ta.MaxHeight = 0
	ta.MaxWidth = 0
	ta.Placeholder = ""
	ta.KeyMap.InsertNewline = key.NewBinding(key.WithKeys("alt+enter", "ctrl+j"))
	ta.Cursor.SetMode(cursor.CursorHide) // we draw our own cursor over highlighted text
	ta.SetWidth(1 << 16)                 // never soft-wrap: we wrap when rendering
	ta.SetHeight(maxInputRows)
	ta.Focus()

	st := newStyles(r)
	tb := table.New()
	tb.SetStyles(table.Styles{Header: st.tableHeader, Cell: st.tableCell, Selected: st.tableSelected})
	tb.KeyMap = table.KeyMap{}

	welcome := opts.Welcome
	if welcome == "" {
		welcome = DefaultWelcome
	}
	m := Model{
		ev:      ev,
		ctx:     ctx,
		st:      st,
		input:   ta,
		table:   tb,
		text:    viewport.New(0, 0),
		hist:    hist,
		histPos: len(hist.Entries()),
		now:     time.Now,
		welcome: welcome,
	}
	m.text.KeyMap = viewport.KeyMap{}
	w, h := opts.Width, opts.Height
	if w <= 0 || h <= 0 {
		w, h = 80, 24 // until the terminal reports its size
	}
	m.resize(w, h)
	return m
}

// DefaultWelcome is the text shown before the first result.
const DefaultWelcome = `nudge repl: try an idea before it becomes a rule.

  purchased in last 30 days                          who bought this month?
  days since last purchased > 90 and member.city = "长沙"
  queued at store "A"                                what triggers it (last 24 hours)
  segment big = sum(purchased.amount in last 365 days) >= 500
  rule hi if big then send coupon "HI" via sms
  :run                                               dry-run the rules: who gets what

Enter runs, Alt+Enter (or a trailing \) continues on a new line, Tab completes,
Up/Down recall history, PgUp/PgDn and Shift+arrows scroll results, Ctrl+C
cancels a query, Ctrl+D leaves. :help lists commands.`

// Init implements tea.Model.
func (m Model) Init() tea.Cmd { return nil }

// Update implements tea.Model.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.resize(msg.Width, msg.Height)
		return m, nil
	case evalDoneMsg:
		if msg.id != m.runID || !m.running {
			return m, nil
		}
		m.running = false
		if m.cancel != nil {
			m.cancel()
			m.cancel = nil
		}
		if !m.hintErr {
			// "cancelling…" is done; an error (the history could not be
			// saved) stays until the next key, or nobody would see it.
			m.setHint("", false)
		}
		m.setResult(msg.res, msg.err, msg.elapsed)
		if msg.res != nil && msg.res.Quit {
			m.quitting = true
			return m, tea.Quit
		}
		return m, nil
	case tickMsg:
		if m.running && msg.id == m.runID {
			return m, m.tick()
		}
		return m, nil
	case historyErrorMsg:
		m.setHint(msg.err.Error(), true)
		return m, nil
	case tea.KeyMsg:
		return m.handleKey(msg)
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	return m, cmd
}

func (m Model) handleKey(msg tea.KeyMsg) (tea.Model, tea.Cmd) {
	if msg.Type == tea.KeyRunes && !msg.Paste && !msg.Alt && len(msg.Runes) > 1 {
		// Several characters in one read (a paste without bracketed paste,
		// input over a slow link, an input method's commit) are text, even
		// when they spell a key's name: the KeyMsg of the runes "end" prints
		// as "end", which the switch below and the textarea's key bindings
		// would take for the End key ("enter" would run the input, "delete"
		// would vanish).
		m.input.InsertString(string(msg.Runes))
		m.setHint("", false)
		m.layout()
		return m, nil
	}
	switch msg.String() {
	case "ctrl+c":
		switch {
		case m.running:
			m.cancel()
			m.setHint("cancelling…", false)
		case m.input.Value() != "":
			m.input.Reset()
			m.histPos = len(m.hist.Entries())
			m.setHint("", false)
		default:
			m.setHint("press Ctrl+D or type :quit to leave", false)
		}
		return m, nil
	case "ctrl+d":
		if m.input.Value() == "" {
			if m.cancel != nil {
				m.cancel()
			}
			m.quitting = true
			return m, tea.Quit
		}
	case "enter", "ctrl+m":
		return m.submit()
	case "tab":
		m.complete()
		return m, nil
	case "up":
		if m.input.Line() == 0 {
			m.historyMove(-1)
			return m, nil
		}
	case "down":
		if m.input.Line() == m.input.LineCount()-1 {
			m.historyMove(+1)
			return m, nil
		}
	case "pgup":
		m.scroll(-m.page(-1))
		return m, nil
	case "pgdown":
		m.scroll(m.page(+1))
		return m, nil
	case "shift+up":
		m.scroll(-1)
		return m, nil
	case "shift+down":
		m.scroll(+1)
		return m, nil
	case "shift+left":
		m.scrollColumns(-1)
		return m, nil
	case "shift+right":
		m.scrollColumns(+1)
		return m, nil
	case "left", "right":
		// With nothing typed the arrows scroll a wide table sideways.
		if m.input.Value() == "" && m.showsTable() {
			if msg.String() == "left" {
				m.scrollColumns(-1)
			} else {
				m.scrollColumns(+1)
			}
			return m, nil
		}
	case "esc":
		m.setHint("", false)
		return m, nil
	case "ctrl+l":
		// Clear the results pane, back to the welcome text.
		m.last, m.lastErr, m.lastInput = nil, nil, ""
		m.setHint("", false)
		m.layout()
		m.text.SetContent(m.textContent())
		m.text.GotoTop()
		return m, nil
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	m.setHint("", false)
	m.layout()
	return m, cmd
}

// submit runs the input, or continues it on a new line after a `\`.
func (m Model) submit() (tea.Model, tea.Cmd) {
	before := m.textBeforeCursor()
	if strings.HasSuffix(before, `\`) {
		m.input, _ = m.input.Update(tea.KeyMsg{Type: tea.KeyBackspace})
		m.input.InsertString("\n")
		m.layout()
		return m, nil
	}
	if m.running {
		m.setHint("a query is running; Ctrl+C cancels it", false)
		return m, nil
	}
	input := m.input.Value()
	if strings.TrimSpace(input) == "" {
		return m, nil
	}
	var cmds []tea.Cmd
	if hist := m.hist; hist.Add(input) {
		cmds = append(cmds, func() tea.Msg {
			if err := hist.Flush(); err != nil {
				return historyErrorMsg{err}
			}
			return nil
		})
	}
	m.histPos = len(m.hist.Entries())
	m.draft = ""
	m.input.Reset()
	m.setHint("", false)

	m.lastInput = input
	m.runID++
	id := m.runID
	ctx, cancel := context.WithCancel(m.ctx)
	m.running = true
	m.cancel = cancel
	m.started = m.now()
	ev := m.ev
	cmds = append(cmds, func() tea.Msg {
		start := time.Now()
		res, err := safeEval(ctx, ev, input)
		return evalDoneMsg{id: id, res: res, err: err, elapsed: time.Since(start)}
	}, m.tick())
	m.layout()
	return m, tea.Batch(cmds...)
}

// safeEval runs ev.Eval and turns a panic (a bug in nudge, never the user's
// fault) into an error so the session survives it.
func safeEval(ctx context.Context, ev Evaluator, input string) (res *engine.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("internal error evaluating %q: %v", input, p)
		}
	}()
	return ev.Eval(ctx, input)
}

func (m Model) tick() tea.Cmd {
	id := m.runID
	return tea.Tick(tickEvery, func(time.Time) tea.Msg { return tickMsg{id} })
}

// complete replaces the word before the cursor by its completion, or by the
// candidates' common prefix and lists them in the hint line.
func (m *Model) complete() {
	before := m.textBeforeCursor()
	word := engine.WordBefore(before)
	cands := m.ev.Complete(before)
	switch len(cands) {
	case 0:
		m.setHint("no completions", false)
		return
	case 1:
		c := cands[0]
		if !strings.HasSuffix(c, "/") {
			c += " "
		}
		m.replaceWord(word, c)
		m.setHint("", false)
		return
	}
	if p := engine.CommonPrefix(cands); len([]rune(p)) > len([]rune(word)) {
		m.replaceWord(word, p)
	}
	m.setHint(strings.Join(cands, "  "), false)
}

func (m *Model) replaceWord(word, with string) {
	for range []rune(word) {
		m.input, _ = m.input.Update(tea.KeyMsg{Type: tea.KeyBackspace})
	}
	m.input.InsertString(with)
	m.layout()
}

// historyMove walks the history by delta (-1 older, +1 newer).
func (m *Model) historyMove(delta int) {
	entries := m.hist.Entries()
	pos := m.histPos + delta
	if pos < 0 || pos > len(entries) {
		return
	}
	if m.histPos == len(entries) {
		m.draft = m.input.Value()
	}
	m.histPos = pos
	if pos == len(entries) {
		m.input.SetValue(m.draft)
	} else {
		m.input.SetValue(entries[pos])
	}
	m.layout()
}

// scroll moves the results by rows (a table) or lines (text). Notes that
// do not fit above a table come first, as in a document: scrolling down
// pages through them to their end, then through the table's rows; scrolling
// up brings the table back to its first row, then the notes to their top.
func (m *Model) scroll(rows int) {
	if m.showsTable() {
		if m.notesScroll && (rows > 0 && !m.text.AtBottom() || rows < 0 && m.rowOff == 0) {
			m.scrollText(rows)
			return
		}
		m.rowOff += rows
		m.layout()
		return
	}
	m.scrollText(rows)
}

func (m *Model) scrollText(lines int) {
	if lines < 0 {
		m.text.ScrollUp(-lines)
	} else {
		m.text.ScrollDown(lines)
	}
}

// page is how many rows or lines PgUp (dir -1) or PgDn (dir +1) move: a
// screenful of what scroll(dir) would move, less one line of text kept in
// sight.
func (m Model) page(dir int) int {
	if m.showsTable() {
		if m.notesScroll && (dir > 0 && !m.text.AtBottom() || dir < 0 && m.rowOff == 0) {
			return max(m.text.Height-1, 1)
		}
		return max(m.table.Height(), 1) // the table's Height excludes its header
	}
	return max(m.text.Height-1, 1)
}

// scrollColumns moves the first shown column of a table by n.
func (m *Model) scrollColumns(n int) {
	if !m.showsTable() {
		return
	}
	m.colOff += n
	m.layout()
}

func (m *Model) setHint(s string, isErr bool) { m.hint, m.hintErr = s, isErr }

// textBeforeCursor is the input from its start up to the cursor.
func (m Model) textBeforeCursor() string {
	lines := strings.Split(m.input.Value(), "\n")
	row := min(m.input.Line(), len(lines)-1)
	li := m.input.LineInfo()
	col := li.StartColumn + li.ColumnOffset
	cur := []rune(lines[row])
	col = min(max(col, 0), len(cur))
	return strings.Join(append(lines[:row:row], string(cur[:col])), "\n")
}

// setResult shows res (or err) in the results pane.
func (m *Model) setResult(res *engine.Result, err error, elapsed time.Duration) {
	if err != nil {
		m.last, m.lastErr = nil, err
		if res != nil {
			m.last = res
		}
	} else {
		if res != nil && res.Elapsed == 0 {
			res.Elapsed = elapsed
		}
		m.last, m.lastErr = res, nil
		m.rowOff, m.colOff = 0, 0
	}
	m.layout() // a table's notes go into text here
	if !m.showsTable() {
		m.text.SetContent(m.textContent())
	}
	m.text.GotoTop()
}

func (m Model) showsTable() bool {
	if m.last == nil || m.lastErr != nil {
		return false
	}
	switch m.last.Kind {
	case engine.Audience, engine.Table, engine.Decisions:
		return len(m.last.Columns) > 0
	}
	return false
}

// resize records the terminal size and reflows everything.
func (m *Model) resize(w, h int) {
	m.width, m.height = max(w, 20), max(h, 8)
	m.layout()
	if !m.showsTable() {
		off := m.text.YOffset
		m.text.SetContent(m.textContent())
		m.text.SetYOffset(off)
	}
}

// Layout: results pane, separator, input rows, hint line, status line.
func (m Model) inputRows() []string {
	rows, _ := m.renderInput()
	return rows
}

func (m Model) resultsHeight() int {
	in := min(len(m.inputRows()), maxInputRows)
	return max(m.height-in-3, 1)
}

// layout sizes the table and viewport to the current window and input. A
// table's notes (notes) go into the viewport, which then scrolls them.
func (m *Model) layout() {
	h := m.resultsHeight()
	bodyH := max(h-m.headerLines(), 1)
	m.text.Width = m.width
	m.text.Height = bodyH
	m.notesLines, m.notesScroll = 0, false
	m.table.SetRows(nil)
	if m.showsTable() {
		if notes := m.notes(); len(notes) > 0 {
			m.text.SetContent(strings.Join(notes, "\n"))
			m.notesLines = len(notes)
			m.text.Height, m.notesScroll = notesHeight(len(notes), len(m.last.Rows), bodyH)
			bodyH = max(bodyH-m.text.Height, 1)
			if m.notesScroll {
				bodyH = max(bodyH-1, 1)
			}
			m.text.SetYOffset(m.text.YOffset) // within the new height
		}
	}
	if m.last != nil && len(m.last.Columns) > 0 {
		all := m.last.Rows
		visRows := max(bodyH-1, 1) // one line for the header
		m.rowOff = min(max(m.rowOff, 0), max(len(all)-visRows, 0))
		m.colOff = min(max(m.colOff, 0), len(m.last.Columns)-1)
		vis, widths := visibleColumns(engine.ColumnWidths(m.last.Columns, all, 40), m.colOff, m.width)
		m.colsShown = len(vis)
		cols := make([]table.Column, len(vis))
		for j, i := range vis {
			cols[j] = table.Column{Title: m.last.Columns[i], Width: widths[j]}
		}
		end := min(m.rowOff+visRows, len(all))
		rows := make([]table.Row, 0, end-m.rowOff)
		for _, r := range all[m.rowOff:end] {
			row := make(table.Row, len(vis))
			for j, i := range vis {
				if i < len(r) {
					row[j] = engine.OneLine(r[i])
				}
			}
			rows = append(rows, row)
		}
		// The table only renders the visible window; we scroll it ourselves
		// (rowOff, colOff), so its cursor stays on the first row.
		m.table.SetColumns(cols)
		m.table.SetRows(rows)
		m.table.SetCursor(0)
	}
	m.table.SetWidth(m.width)
	m.table.SetHeight(bodyH)
}

// notesHeight shares body lines between n lines of notes and a table of
// rows rows (and its header). The notes get what the whole table leaves,
// and at least half the body when the table cannot fit anyway (the per-rule
// summary of :run matters as much as its first decisions), but never the
// table's header and first row. When they do not all fit in that, they
// scroll: h lines of them are shown and one more line says which.
func notesHeight(n, rows, body int) (h int, scrolls bool) {
	table := 1 + rows
	if n+table <= body {
		return n, false
	}
	room := max(min(max(body-table, body/2), body-2), 2)
	if n <= room {
		return n, false
	}
	return room - 1, true
}

// visibleColumns picks the columns shown from first on, in width cells
// (each cell padded by one space on both sides): whole columns while they
// fit, then the next one cut to the room left if at least 6 cells remain.
// It returns the column indexes and their widths. At least one column is
// shown, cut to the width if need be.
func visibleColumns(widths []int, first, width int) (idx, w []int) {
	used := 0
	for i := first; i < len(widths); i++ {
		need := widths[i] + 2
		if used+need <= width {
			idx, w = append(idx, i), append(w, widths[i])
			used += need
			continue
		}
		if room := width - used - 2; room >= min(widths[i], 6) || len(idx) == 0 {
			idx, w = append(idx, i), append(w, max(room, 1))
		}
		break
	}
	return idx, w
}

// headerLines is how many lines the results pane spends above the body: the
// echoed input and, for tables, the summary (the notes above a table are
// part of its body: layout shares it between them).
func (m Model) headerLines() int {
	if m.last == nil && m.lastErr == nil {
		return 0
	}
	if m.showsTable() {
		return 2
	}
	return 1
}

// notes are the styled lines shown above a table: the result's warnings
// and its note text (the per-rule summary of :run), all of them, wrapped
// to the width; layout decides how many are in sight at once.
func (m Model) notes() []string {
	var lines []string
	if w := strings.TrimRight(m.last.Warnings, "\n"); w != "" {
		for _, l := range strings.Split(w, "\n") {
			lines = append(lines, m.st.warnText.Render(l))
		}
	}
	if t := strings.TrimRight(m.last.Text, "\n"); t != "" {
		lines = append(lines, strings.Split(t, "\n")...)
	}
	if len(lines) == 0 {
		return nil
	}
	return strings.Split(wrap(strings.Join(lines, "\n"), m.width), "\n")
}

// notesPosition is the line under notes that do not all fit: which are
// shown, and how to see the others.
func (m Model) notesPosition() string {
	top := m.text.YOffset
	end := min(top+m.text.Height, m.notesLines)
	return m.st.hint.Render(fmt.Sprintf("… lines %d-%d of %d · PgUp/PgDn scroll", top+1, end, m.notesLines))
}

// textContent is the body of a non-table result, wrapped to the width.
func (m Model) textContent() string {
	var s string
	switch {
	case errors.Is(m.lastErr, context.Canceled):
		s = m.st.warnText.Render("cancelled")
	case m.lastErr != nil:
		s = m.st.errText.Render(wrap("error: "+m.lastErr.Error(), m.width))
	case m.last == nil:
		s = m.st.hint.Render(wrap(m.welcome, m.width))
	case m.last.Kind == engine.Diagnostics:
		s = m.st.errText.Render(wrap(strings.TrimRight(m.last.Text, "\n"), m.width))
	case m.last.Code == "sql":
		var lines []string
		for _, l := range strings.Split(strings.TrimRight(m.last.Text, "\n"), "\n") {
			lines = append(lines, m.highlight([]rune(l), true, false, -1))
		}
		s = wrap(strings.Join(lines, "\n"), m.width)
	default:
		body := strings.TrimRight(m.last.Text, "\n")
		if m.last.Kind != engine.Text {
			body = strings.TrimRight(m.last.Summary()+"\n"+body, "\n")
		}
		if m.last.Warnings != "" {
			body = m.st.warnText.Render(strings.TrimRight(m.last.Warnings, "\n")) + "\n" + body
		}
		s = wrap(body, m.width)
	}
	return s
}

// wrap word-wraps every line of s to width cells (ANSI-aware), breaking
// words only when they are longer than a line.
func wrap(s string, width int) string {
	if width <= 0 {
		return s
	}
	return ansi.Wrap(s, width, "")
}

// renderInput renders the input with highlighting and the cursor, one entry
// per screen row, and says which row holds the cursor.
func (m Model) renderInput() (out []string, cursorRow int) {
	value := m.input.Value()
	lines := strings.Split(value, "\n")
	row := m.input.Line()
	li := m.input.LineInfo()
	col := li.StartColumn + li.ColumnOffset
	sql := strings.HasPrefix(strings.TrimSpace(value), `\sql`)
	avail := max(m.width-len(promptFirst), 4)
	for i, line := range lines {
		c := -1
		if i == row {
			c = col
			// The cursor's cell wraps as it does in the whole line: after
			// the same text before it.
			before := string([]rune(line)[:min(max(col, 0), len([]rune(line)))])
			cursorRow = len(out) + strings.Count(ansi.Hardwrap(before+" ", avail, true), "\n")
		}
		hl := m.highlight([]rune(line), sql, i == 0, c)
		prompt := promptMore
		if i == 0 {
			prompt = promptFirst
		}
		for j, part := range strings.Split(ansi.Hardwrap(hl, avail, true), "\n") {
			p := prompt
			if j > 0 {
				p = strings.Repeat(" ", len(promptFirst))
			}
			out = append(out, m.st.prompt.Render(p)+part)
		}
	}
	return out, cursorRow
}

// highlight styles one input line by token class and draws the cursor (a
// reversed cell) at rune index cur (-1: no cursor on this line).
func (m Model) highlight(line []rune, sql, first bool, cur int) string {
	var b strings.Builder
	emit := func(start, end int, st lipgloss.Style, styled bool) {
		if start >= end {
			return
		}
		if cur >= start && cur < end {
			if start < cur {
				emit1(&b, string(line[start:cur]), st, styled)
			}
			b.WriteString(m.st.cursor.Render(string(line[cur])))
			if cur+1 < end {
				emit1(&b, string(line[cur+1:end]), st, styled)
			}
			return
		}
		emit1(&b, string(line[start:end]), st, styled)
	}
	pos := 0
	for _, t := range lexLine(line, sql, first, m.names()) {
		if t.start > pos {
			emit(pos, t.start, lipgloss.Style{}, false)
		}
		st, styled := m.st.class(t.class)
		emit(t.start, t.end, st, styled)
		pos = t.end
	}
	if pos < len(line) {
		emit(pos, len(line), lipgloss.Style{}, false)
	}
	if cur >= len(line) {
		b.WriteString(m.st.cursor.Render(" "))
	}
	return b.String()
}

// names asks the evaluator for its event types and segments, if it says.
func (m Model) names() names {
	nm, ok := m.ev.(Namer)
	if !ok {
		return names{}
	}
	set := func(ws []string) map[string]bool {
		out := make(map[string]bool, len(ws))
		for _, w := range ws {
			out[w] = true
		}
		return out
	}
	return names{events: set(nm.EventTypes()), segments: set(nm.Segments())}
}

func emit1(b *strings.Builder, s string, st lipgloss.Style, styled bool) {
	if styled {
		b.WriteString(st.Render(s))
	} else {
		b.WriteString(s)
	}
}

// View implements tea.Model.
func (m Model) View() string {
	if m.quitting {
		return ""
	}
	var b strings.Builder
	resH := m.resultsHeight()
	pane := m.resultsView()
	paneLines := strings.Split(pane, "\n")
	for i := 0; i < resH; i++ {
		if i < len(paneLines) {
			b.WriteString(ansi.Truncate(paneLines[i], m.width, "…"))
		}
		b.WriteByte('\n')
	}
	b.WriteString(m.st.separator.Render(strings.Repeat("─", m.width)))
	b.WriteByte('\n')
	rows, cur := m.renderInput()
	if len(rows) > maxInputRows {
		// Show the last rows, or from the cursor's row when it is above
		// them (walking up a long pasted input), so it stays in sight.
		start := min(len(rows)-maxInputRows, cur)
		rows = rows[start : start+maxInputRows]
	}
	for _, r := range rows {
		b.WriteString(r)
		b.WriteByte('\n')
	}
	hint := ""
	if m.hint != "" {
		st := m.st.hint
		if m.hintErr {
			st = m.st.errText
		}
		hint = st.Render(ansi.Truncate(m.hint, m.width, "…"))
	}
	b.WriteString(hint)
	b.WriteByte('\n')
	b.WriteString(m.statusView())
	return b.String()
}

// resultsView renders the results pane (without padding to its height).
func (m Model) resultsView() string {
	var parts []string
	if m.last != nil || m.lastErr != nil {
		first, _, more := strings.Cut(m.lastInput, "\n")
		if more {
			first += " …"
		}
		parts = append(parts, m.st.echo.Render(ansi.Truncate("› "+first, m.width, "…")))
	}
	if m.showsTable() {
		if m.notesLines > 0 {
			parts = append(parts, m.text.View())
		}
		if m.notesScroll {
			parts = append(parts, m.notesPosition())
		}
		parts = append(parts, m.st.summary.Render(m.last.Summary())+m.st.hint.Render(m.position()))
		parts = append(parts, m.table.View())
		return strings.Join(parts, "\n")
	}
	parts = append(parts, m.text.View())
	return strings.Join(parts, "\n")
}

// position says which rows and columns of a table are on screen when not
// all of them are, e.g. " · rows 28-54/164 · cols 1-4/9".
func (m Model) position() string {
	var out string
	n, shown := len(m.last.Rows), m.table.Height()
	if n > shown {
		out += fmt.Sprintf(" · rows %d-%d/%d", m.rowOff+1, min(m.rowOff+shown, n), n)
	}
	if c := len(m.last.Columns); m.colsShown < c {
		out += fmt.Sprintf(" · cols %d-%d/%d", m.colOff+1, m.colOff+m.colsShown, c)
	}
	return out
}

// statusView renders the status line: the session, rows and query time on
// the left, key hints on the right.
func (m Model) statusView() string {
	left := m.st.statusKey.Render(" nudge ")
	info := ""
	if m.running {
		waiting := ""
		if w, ok := m.ev.(Waiter); ok {
			if n := w.Waiting(); n != "" {
				waiting = "· " + n + " " // last: what a narrow screen cuts
			}
		}
		left += m.st.statusBusy.Render(fmt.Sprintf(" running %s · Ctrl+C cancels %s", engine.FormatDuration(m.now().Sub(m.started).Round(100*time.Millisecond)), waiting))
	} else if m.last != nil && m.lastErr == nil {
		switch m.last.Kind {
		case engine.Audience, engine.Table, engine.Decisions:
			info += fmt.Sprintf(" %s %s │", engine.Thousands(m.last.Count), unit(m.last))
		}
		info += " " + engine.FormatDuration(m.last.Elapsed) + " │"
	}
	info += " " + m.ev.Status()
	right := "Tab complete · :help "
	used := ansi.StringWidth(left) + ansi.StringWidth(info)
	gap := m.width - used - ansi.StringWidth(right)
	if gap < 1 {
		right = ""
		gap = max(m.width-used, 0)
	}
	line := info + strings.Repeat(" ", gap) + right
	return ansi.Truncate(left+m.st.status.Render(line), m.width, "…")
}

func unit(r *engine.Result) string {
	switch r.Kind {
	case engine.Audience:
		if r.Trigger {
			if r.Count == 1 {
				return "event"
			}
			return "events"
		}
		if r.Count == 1 {
			return "member"
		}
		return "members"
	case engine.Decisions:
		if r.Count == 1 {
			return "decision"
		}
		return "decisions"
	}
	if r.Count == 1 {
		return "row"
	}
	return "rows"
}
