// Package engine evaluates REPL input against a nudge database: conditions
// become audiences (who matches at now), segment and rule declarations are
// added to the session, `:` commands inspect and dry-run, `\sql` runs
// read-only SQL. Its entry point is the one-shot Engine.Eval; RunLines drives
// it line by line when stdin is not a terminal.
//
// It must not import any UI package (bubbletea, lipgloss): the TUI in
// repl/tui wraps it through a small interface. It never writes to the
// database: audience queries and `\sql` run in transactions that are rolled
// back, and `:run` is a dry run. Over a file (NewFile) it opens the file
// only while an input runs (open.go). `\sql` runs in a sandbox of its own (a
// separate in-memory DuckDB instance holding copies of the session brand's
// rows, with external access disabled and its configuration locked; see
// sandbox.go): it sees that brand's members, events, member_tags, outbox,
// runs and rule_members, and nothing else of the machine.
package engine

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"nudge/compiler"
	"nudge/lang"
	"nudge/lang/ast"
	"nudge/lang/check"
	"nudge/lang/diag"
	"nudge/runtime"
	"nudge/stdlib"
)

// InputFile is the file name diagnostics give the input being evaluated.
const InputFile = "<input>"

// preambleFile is the implicit first source of every session: it imports the
// stdlib module crm so that `purchased in last 30 days` works without files.
const (
	preambleFile = "<repl>"
	preambleSrc  = "import \"crm\"\n"
)

// inputName names the synthetic rule a typed condition is checked as. It
// cannot clash with a user's rule: the lexer never produces it.
const inputName = "<input>"

// DefaultPageSize is how many members or rows a result keeps.
const DefaultPageSize = 50

// Options configure an Engine.
type Options struct {
	// Now fixes the evaluation instant (--now). nil: the wall clock, read at
	// every evaluation (as a naive local timestamp in the database's time
	// zone, SPEC §5, as `nudge run` reads it).
	Now *time.Time
	// Brand is the brand to evaluate for (--brand) when the rule files do not
	// declare one.
	Brand string
	// PageSize is how many rows a result keeps; 0 means DefaultPageSize.
	PageSize int
	// Env is the checker environment; nil means stdlib.Env().
	Env *check.Env
	// Clock returns the wall-clock time; nil means time.Now. Tests pin it.
	Clock func() time.Time
	// Lookback is how far before now a trigger condition looks for events
	// (as on a rule's first run); 0 means runtime.DefaultLookback.
	Lookback time.Duration
	// Wait is how long an input waits for the database file while another
	// process holds it (--wait); 0 fails at once. Only for NewFile.
	Wait time.Duration
	// OnWait, when set, is called with a notice (Engine.Waiting) when an
	// input starts waiting for the file; line mode prints it.
	OnWait func(notice string)
}

// Engine is one REPL session over one database: the loaded rule files, the
// segments and rules typed so far, the evaluation instant and the last
// input's SQL. Eval calls must not overlap (a REPL evaluates one input at a
// time); Complete and Status may be called concurrently with Eval.
type Engine struct {
	held *runtime.DB // the database New was given; nil for NewFile
	path string      // the database file ("" or ":memory:" for memory)
	opts Options
	env  *check.Env

	// Of NewFile: the file opened for the input being evaluated (for
	// writing when curWrite), closed when it is done, and the file's stamp
	// when the engine last closed it (see open.go).
	cur      *runtime.DB
	curWrite bool
	stamp    fileStamp

	mu       sync.Mutex // guards the session state below during Eval
	files    []lang.Source
	session  []sessionDecl
	nextID   int
	now      *time.Time // :now override
	lookback time.Duration
	lastSQL  string
	prog     *lang.Program // loaded files + session, last good state
	sbx      *sandbox      // where \sql runs; nil until the first

	vmu   sync.Mutex // guards vocab, status and waiting, read by Complete/Status/Waiting
	vocab vocabulary
	// waiting is the notice of an input waiting for the file, "" when none.
	waiting string
	// zone is the database's time zone, in which the wall clock is read
	// when no --now is given (learnZone); nil until known: UTC.
	zone *time.Location
	// statusNow is the now shown by Status.
	statusNow string
	brand     string
}

// sessionDecl is one declaration input accepted into the session.
type sessionDecl struct {
	name  string   // source name: "<session 3>"
	src   []byte   // the text as typed
	names []string // "segment x", "rule y": what it declares, for redefinition
}

// New returns an engine over db. db must be open; the engine does not close
// it, and holds it for as long as it is used.
func New(db *runtime.DB, opts Options) *Engine {
	e := newEngine(db.Path(), opts)
	e.held = db
	e.learnZone(context.Background(), db)
	return e
}

// learnZone notes db's time zone, in which evalNow reads the wall clock
// (as runtime.DB.WallClock does for `nudge run`): the machine's own zone
// must not matter. A zone that cannot be read leaves the one known.
func (e *Engine) learnZone(ctx context.Context, db *runtime.DB) {
	zone, err := db.TimeZone(ctx)
	if err != nil {
		return
	}
	if loc, err := time.LoadLocation(zone); err == nil {
		e.zone = loc
	}
}

// NewFile returns an engine over the database file at path that holds the
// file only while an input needs it: each evaluation that reads the
// database opens it read-only, a dry run (:run, :why, :journeys) opens it
// for writing, and the file is closed before Eval returns. Between inputs
// other processes (nudge run, import, serve) may open it for writing; an
// input that finds it held fails with an error wrapping ErrBusy, and the
// session stays as it was (after Options.Wait). The file must exist with
// this nudge's schema (runtime.Open creates and migrates it; Check says
// what is wrong with it). See open.go.
func NewFile(path string, opts Options) *Engine {
	return newEngine(path, opts)
}

func newEngine(path string, opts Options) *Engine {
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultPageSize
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	env := opts.Env
	if env == nil {
		env = stdlib.Env()
	}
	if opts.Lookback <= 0 {
		opts.Lookback = runtime.DefaultLookback
	}
	e := &Engine{path: path, opts: opts, env: env, lookback: opts.Lookback}
	if opts.Now != nil {
		t := *opts.Now
		e.now = &t
	}
	prog, _ := e.build(nil, nil)
	e.prog = prog
	e.refreshVocab()
	return e
}

// Close releases what the engine holds besides the database (the `\sql`
// sandbox). It does not close the database given to New.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.sbx == nil {
		return nil
	}
	err := e.sbx.close()
	e.sbx = nil
	return err
}

// DBPath is the database file the engine reads ("" or ":memory:" for memory).
func (e *Engine) DBPath() string { return e.path }

// Status describes the session in one line: database, brand and now.
func (e *Engine) Status() string {
	e.vmu.Lock()
	defer e.vmu.Unlock()
	db := e.path
	if db == "" || db == ":memory:" {
		db = "(memory)"
	}
	parts := []string{db}
	if e.brand != "" {
		parts = append(parts, "brand "+e.brand)
	}
	parts = append(parts, "now "+e.statusNow)
	return strings.Join(parts, " · ")
}

// Now returns the evaluation instant the next input will use.
func (e *Engine) Now() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.evalNow()
}

func (e *Engine) evalNow() time.Time {
	if e.now != nil {
		return *e.now
	}
	n := e.opts.Clock().UTC()
	if e.zone != nil {
		n = n.In(e.zone)
	}
	return time.Date(n.Year(), n.Month(), n.Day(), n.Hour(), n.Minute(), n.Second(), 0, time.UTC)
}

// Eval evaluates one input: a condition, a declaration, a `:` command or
// `\sql`. Problems with the input (syntax, unknown names) come back as a
// Diagnostics result; the error is for failures of the evaluation itself
// (database errors, cancellation through ctx).
func (e *Engine) Eval(ctx context.Context, input string) (*Result, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	defer e.refreshStatus()
	res, err := e.eval(ctx, input)
	if cerr := e.release(); cerr != nil && err == nil {
		res, err = nil, cerr
	}
	if res != nil && res.Input == "" {
		res.Input = input
	}
	res.sanitize()
	return res, sanitizeError(err)
}

func (e *Engine) eval(ctx context.Context, input string) (*Result, error) {
	trimmed := strings.TrimSpace(input)
	switch {
	case trimmed == "" || strings.HasPrefix(trimmed, "#") && !strings.Contains(trimmed, "\n"):
		return &Result{Kind: Text}, nil
	case strings.HasPrefix(trimmed, `\`):
		return e.backslash(ctx, trimmed)
	case strings.HasPrefix(trimmed, ":"):
		return e.command(ctx, trimmed)
	case isDeclaration(trimmed):
		return e.declare(ctx, input)
	}
	return e.condition(ctx, input)
}

// declKeywords start a declaration rather than a condition.
var declKeywords = map[string]bool{
	"segment": true, "rule": true, "event": true, "cap": true, "quiet": true,
	"brand": true, "import": true, "journey": true, "cost": true, "stock": true,
	// `holdout P% of members`; no condition starts with the keyword
	"holdout": true,
}

// isDeclaration reports whether input is a top-level declaration. `member`
// starts one only when followed by `{` (else it is `member.city = ...`).
func isDeclaration(input string) bool {
	word := input
	if i := strings.IndexFunc(input, func(r rune) bool { return !isWordRune(r) }); i >= 0 {
		word = input[:i]
	}
	if declKeywords[word] {
		return true
	}
	return word == "member" && strings.HasPrefix(strings.TrimSpace(input[len(word):]), "{")
}

// sources returns the program's sources: the preamble, the loaded files, the
// session declarations, then extra.
func (e *Engine) sources(files []lang.Source, session []sessionDecl, extra ...lang.Source) []lang.Source {
	srcs := []lang.Source{{Name: preambleFile, Src: []byte(preambleSrc)}}
	srcs = append(srcs, files...)
	for _, d := range session {
		srcs = append(srcs, lang.Source{Name: d.name, Src: d.src})
	}
	return append(srcs, extra...)
}

// build loads and checks the preamble, files and session (nil: the current
// ones) and returns the program with its diagnostics.
func (e *Engine) build(files []lang.Source, session []sessionDecl, extra ...lang.Source) (*lang.Program, diag.List) {
	if files == nil {
		files = e.files
	}
	if session == nil {
		session = e.session
	}
	return lang.LoadSources(e.sources(files, session, extra...), e.env)
}

// render prints diagnostics with carets, the sources known to prog plus the
// input being evaluated.
func render(l diag.List, prog *lang.Program, input string) string {
	src := diag.Sources{InputFile: []byte(input)}
	if prog != nil {
		for k, v := range prog.Sources {
			src[k] = v
		}
	}
	var b bytes.Buffer
	diag.RenderText(&b, l, src)
	return b.String()
}

// only returns the diagnostics of file.
func only(l diag.List, file string) diag.List {
	var out diag.List
	for _, d := range l {
		if d.Span.File == file {
			out = append(out, d)
		}
	}
	return out
}

// condition evaluates a typed condition as an audience at now.
func (e *Engine) condition(ctx context.Context, input string) (*Result, error) {
	x, pdiags := lang.ParseCondition(InputFile, []byte(input))
	if pdiags.HasErrors() {
		return &Result{Kind: Diagnostics, Text: render(pdiags, e.prog, input)}, nil
	}
	aud, warns, diags := e.compileCondition(x)
	if diags.HasErrors() {
		return &Result{Kind: Diagnostics, Text: render(append(pdiags, diags...), e.prog, input)}, nil
	}
	e.lastSQL = aud.SQL
	res, err := e.audience(ctx, aud)
	if res != nil {
		res.Warnings = render(append(pdiags, warns...), e.prog, input)
	}
	return res, err
}

// cond is a compiled condition: its query, and whether it is a trigger
// (a windowless event), whose query returns triggering events rather than
// members.
type cond struct {
	*compiler.Audience
	trigger    bool
	watermarks compiler.Watermarks // of a trigger's query
}

// compileCondition checks x as the condition of a synthetic rule added to the
// session's program, then compiles it. It returns the query, the warnings
// and the errors about the input.
//
// A rule rather than compiler.CompileCondition: the checker's trigger
// analysis (SPEC §5) then says whether the condition is a state condition,
// whose query returns every member for whom it holds at $now, or a trigger,
// whose query returns the events that fire it since a watermark; either way
// the query is the very one `nudge run` would use.
func (e *Engine) compileCondition(x ast.Expr) (*cond, diag.List, diag.List) {
	span := ast.Span{Span: x.Pos()}
	decl := &ast.RuleDecl{
		Span:    span,
		Name:    &ast.Ident{Span: span, Name: inputName},
		Cond:    x,
		Actions: []*ast.Action{{Span: span, Kind: ast.Tag, Value: &ast.StringLit{Span: span, Value: "repl"}}},
	}
	files := append([]*ast.File(nil), e.prog.Files...)
	files = append(files, &ast.File{Span: span, Name: InputFile, Decls: []ast.Decl{decl}})
	info, cdiags := check.Check(files, e.env)
	cdiags = only(cdiags, InputFile)
	if cdiags.HasErrors() {
		return nil, nil, cdiags
	}
	var rule *check.Rule
	for _, r := range info.Rules {
		if r.Decl == decl {
			rule = r
		}
	}
	if rule == nil {
		cdiags.Errorf(x.Pos(), "repl", "internal error: the condition was not checked")
		return nil, nil, cdiags
	}
	sub := *info
	sub.Rules = []*check.Rule{rule}
	prog, comp := compiler.Compile(&sub)
	comp = only(comp, InputFile)
	if comp.HasErrors() || len(prog.Rules) != 1 {
		if !comp.HasErrors() {
			comp.Errorf(x.Pos(), "compile", "this condition cannot be compiled")
		}
		return nil, nil, append(cdiags, comp...)
	}
	r := prog.Rules[0]
	return &cond{Audience: &compiler.Audience{SQL: r.SQL, Values: r.Values}, trigger: r.Trigger, watermarks: r.Watermarks}, append(cdiags, comp...), nil
}

// declare adds a declaration input (segment, rule, event, ...) to the session,
// replacing earlier session declarations of the same names.
func (e *Engine) declare(ctx context.Context, input string) (*Result, error) {
	f, pdiags := lang.ParseFile(InputFile, []byte(input))
	if pdiags.HasErrors() {
		return &Result{Kind: Diagnostics, Text: render(pdiags, e.prog, input)}, nil
	}
	names := declNames(f)
	kept := e.session[:0:0]
	for _, d := range e.session {
		if !overlaps(d.names, names) {
			kept = append(kept, d)
		}
	}
	prog, diags := e.build(nil, kept, lang.Source{Name: InputFile, Src: []byte(input)})
	if mine := only(diags, InputFile); mine.HasErrors() {
		return &Result{Kind: Diagnostics, Text: render(mine, prog, input)}, nil
	} else if diags.HasErrors() {
		return &Result{Kind: Diagnostics, Text: render(diags, prog, input)}, nil
	}
	// A rule must also compile, or :run would fail on it later.
	compiled, comp := compiler.Compile(prog.Info)
	if mine := only(comp, InputFile); mine.HasErrors() {
		return &Result{Kind: Diagnostics, Text: render(mine, prog, input)}, nil
	}
	warnings := render(append(only(diags, InputFile), only(comp, InputFile)...), prog, input)

	// Accept: store under a stable session name and rebuild so spans name it.
	e.nextID++
	decl := sessionDecl{name: fmt.Sprintf("<session %d>", e.nextID), src: []byte(input), names: names}
	session := append(kept, decl)
	prog, diags = e.build(nil, session)
	if diags.HasErrors() {
		return &Result{Kind: Diagnostics, Text: render(diags, prog, input)}, nil
	}
	e.session, e.prog = session, prog
	e.refreshVocab()

	var msgs []string
	var res *Result
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.SegmentDecl:
			msgs = append(msgs, fmt.Sprintf("segment %s defined", d.Name.Name))
			// Show who is in it right away: a segment is a named audience.
			ref := &ast.Ident{Span: ast.Span{Span: diag.Span{File: InputFile, Start: diag.Pos{Line: 1, Col: 1}}}, Name: d.Name.Name}
			aud, _, errs := e.compileCondition(ref)
			if errs.HasErrors() {
				continue // it checked as a declaration; nothing to show
			}
			e.lastSQL = aud.SQL
			r, err := e.audience(ctx, aud)
			if err != nil {
				return nil, err
			}
			res = r
		case *ast.RuleDecl:
			msg, sql := describeRule(compiled, d.Name.Name)
			msgs = append(msgs, msg)
			if sql != "" {
				e.lastSQL = sql
			}
		case *ast.JourneyDecl:
			msgs = append(msgs, describeJourney(compiled, d.Name.Name))
		case *ast.EventDecl:
			msgs = append(msgs, fmt.Sprintf("event %s declared", d.Name.Name))
		case *ast.MemberDecl:
			msgs = append(msgs, "member fields declared")
		case *ast.CapDecl, *ast.QuietDecl, *ast.CostDecl, *ast.StockDecl, *ast.GlobalHoldoutDecl:
			msgs = append(msgs, "policy added to the session")
		case *ast.BrandDecl:
			msgs = append(msgs, fmt.Sprintf("brand %q", d.Name.Value))
		case *ast.ImportDecl:
			msgs = append(msgs, fmt.Sprintf("imported %q", d.Path.Value))
		}
	}
	if res == nil {
		res = &Result{Kind: Text}
	}
	res.Text = strings.Join(msgs, "\n")
	res.Warnings = warnings
	return res, nil
}

// describeRule says what kind of rule name is and returns its SQL.
func describeRule(p *compiler.Program, name string) (msg, sql string) {
	for _, r := range p.Rules {
		if r.Name != name {
			continue
		}
		kind := "state rule (evaluated over all members at each run)"
		if r.Trigger {
			kind = "trigger rule (fires once per matching event)"
		}
		acts := make([]string, len(r.Actions))
		for i, a := range r.Actions {
			acts[i] = describeAction(a)
		}
		return fmt.Sprintf("rule %s defined: %s; then %s. :run dry-runs it, :sql shows its SQL", name, kind, strings.Join(acts, " and ")), r.SQL
	}
	return fmt.Sprintf("rule %s defined", name), ""
}

// describeJourney says how name enters and how many steps it has.
func describeJourney(p *compiler.Program, name string) string {
	for _, j := range p.Journeys {
		if j.Name != name {
			continue
		}
		kind := "enter when (a state condition, evaluated at each run)"
		if j.EnterOn {
			kind = "enter on (once per entering event)"
		}
		steps := journeySteps(j)
		return fmt.Sprintf("journey %s defined: %s, %d %s. :journeys lists it, :journeys MEMBER shows where a member stands, :run dry-runs it",
			name, kind, steps, pluralWord(steps, "step", "steps"))
	}
	return fmt.Sprintf("journey %s defined", name)
}

func describeAction(a compiler.Action) string {
	switch a.Verb {
	case "send":
		return fmt.Sprintf("send %s %q via %s", a.Kind, a.Content, a.Channel)
	default:
		return fmt.Sprintf("%s %q", a.Verb, a.Content)
	}
}

// declNames lists what f declares ("segment x", "rule y", "event z").
func declNames(f *ast.File) []string {
	var out []string
	if f == nil {
		return nil
	}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.SegmentDecl:
			if d.Name != nil {
				out = append(out, "segment "+d.Name.Name)
			}
		case *ast.RuleDecl:
			if d.Name != nil {
				out = append(out, "rule "+d.Name.Name)
			}
		case *ast.EventDecl:
			if d.Name != nil {
				out = append(out, "event "+d.Name.Name)
			}
		case *ast.JourneyDecl:
			if d.Name != nil {
				out = append(out, "journey "+d.Name.Name)
			}
		case *ast.StockDecl:
			if d.Content != nil {
				out = append(out, "stock "+strconv.Quote(d.Content.Value))
			}
		case *ast.CostDecl:
			switch {
			case d.Channel != nil:
				out = append(out, "cost "+d.Channel.Name)
			case d.Kind != nil && d.Content != nil:
				out = append(out, "cost "+d.Kind.Name+" "+strconv.Quote(d.Content.Value))
			}
		case *ast.GlobalHoldoutDecl:
			out = append(out, "holdout of members")
		}
	}
	return out
}

func overlaps(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if x == y {
				return true
			}
		}
	}
	return false
}

// refreshVocab recomputes the completion words from the current program.
func (e *Engine) refreshVocab() {
	v := newVocabulary(e.prog)
	e.vmu.Lock()
	e.vocab = v
	e.vmu.Unlock()
	e.refreshStatus()
}

// refreshStatus recomputes what Status shows.
func (e *Engine) refreshStatus() {
	now := "wall clock"
	if e.now != nil {
		now = e.now.Format("2006-01-02 15:04:05")
	}
	brand := e.opts.Brand
	if e.prog != nil && e.prog.Info != nil && e.prog.Info.Brand != "" {
		brand = e.prog.Info.Brand
	}
	e.vmu.Lock()
	e.statusNow, e.brand = now, brand
	e.vmu.Unlock()
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
