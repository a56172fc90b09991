package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"nudge/compiler"
	"nudge/lang"
	"nudge/lang/ast"
	"nudge/lang/diag"
	"nudge/runtime"
)

// Command is one `:` command of the REPL.
type Command struct {
	Name  string // without the colon
	Args  string // argument synopsis for :help
	Help  string
	Alias []string
}

// Commands lists the REPL commands, in :help order.
func Commands() []Command {
	return []Command{
		{Name: "help", Help: "show this help", Alias: []string{"h", "?"}},
		{Name: "schema", Help: "event types and their fields, member columns, segments, rules and journeys"},
		{Name: "sql", Help: "the SQL of the last condition, segment or rule"},
		{Name: "run", Help: "dry-run the loaded and session rules at now: the decisions, nothing written"},
		{Name: "why", Args: "MEMBER [RULE]", Help: "explain, per rule, why MEMBER would or would not fire at now: values, policies, verdict"},
		{Name: "journeys", Args: "[MEMBER [JOURNEY]]", Help: "list the journeys and their instances; with MEMBER, where the member stands in each and why"},
		{Name: "now", Args: "[TIMESTAMP|clock]", Help: "show or set the evaluation instant (2024-11-11 12:00); `clock` follows the wall clock"},
		{Name: "lookback", Args: "[N minutes|hours|days]", Help: "show or set how far back a trigger condition looks for events (default 24 hours)"},
		{Name: "load", Args: "FILE|DIR...", Help: "load rule files into the session"},
		{Name: "reset", Help: "forget the segments and rules typed in this session"},
		{Name: "quit", Help: "leave (also Ctrl+D)", Alias: []string{"q", "exit"}},
	}
}

// ParseTimestamp reads a timestamp in one of the SPEC §7 forms (see
// runtime.ParseTimestamp), ignoring surrounding spaces.
func ParseTimestamp(s string) (time.Time, error) {
	return runtime.ParseTimestamp(strings.TrimSpace(s))
}

// backslash runs `\sql ...` and the psql-style `\q`.
func (e *Engine) backslash(ctx context.Context, input string) (*Result, error) {
	word, rest, _ := strings.Cut(input, " ")
	if i := strings.IndexAny(word, "\n\t"); i >= 0 {
		word, rest = word[:i], word[i+1:]+" "+rest
	}
	switch word {
	case `\sql`:
		return e.rawSQL(ctx, rest)
	case `\q`:
		return &Result{Kind: Text, Quit: true}, nil
	}
	return &Result{Kind: Text, Text: fmt.Sprintf("unknown command %s; \\sql SELECT ... runs SQL, :help lists commands", word)}, nil
}

// command runs a `:` command.
func (e *Engine) command(ctx context.Context, input string) (*Result, error) {
	name, arg, _ := strings.Cut(strings.TrimPrefix(input, ":"), " ")
	name = strings.TrimSpace(name)
	arg = strings.TrimSpace(arg)
	cmd, ok := lookupCommand(name)
	if !ok {
		msg := fmt.Sprintf("unknown command :%s", name)
		if s := suggestCommand(name); s != "" {
			msg += fmt.Sprintf("; did you mean :%s?", s)
		}
		return &Result{Kind: Text, Text: msg + " (:help lists commands)"}, nil
	}
	switch cmd.Name {
	case "help":
		return &Result{Kind: Text, Text: helpText()}, nil
	case "quit":
		return &Result{Kind: Text, Quit: true}, nil
	case "sql":
		if e.lastSQL == "" {
			return &Result{Kind: Text, Text: "no SQL yet: type a condition, a segment or a rule first"}, nil
		}
		return &Result{Kind: Text, Text: strings.TrimSpace(e.lastSQL), Code: "sql"}, nil
	case "schema":
		return &Result{Kind: Text, Text: e.schemaText()}, nil
	case "now":
		return e.setNow(arg)
	case "lookback":
		return e.setLookback(arg)
	case "load":
		return e.Load(ctx, strings.Fields(arg)...)
	case "reset":
		n := len(e.session)
		e.session = nil
		prog, _ := e.build(nil, nil)
		e.prog = prog
		e.refreshVocab()
		return &Result{Kind: Text, Text: fmt.Sprintf("forgot %d session %s", n, pluralWord(n, "declaration", "declarations"))}, nil
	case "run":
		return e.dryRun(ctx)
	case "why":
		return e.why(ctx, arg)
	case "journeys":
		return e.journeys(ctx, arg)
	}
	return &Result{Kind: Text, Text: "unknown command"}, nil
}

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func lookupCommand(name string) (Command, bool) {
	for _, c := range Commands() {
		if c.Name == name {
			return c, true
		}
		for _, a := range c.Alias {
			if a == name {
				return c, true
			}
		}
	}
	return Command{}, false
}

// suggestCommand returns the command whose name starts with name, if one.
func suggestCommand(name string) string {
	var found []string
	for _, c := range Commands() {
		if name != "" && strings.HasPrefix(c.Name, name) {
			found = append(found, c.Name)
		}
	}
	if len(found) == 1 {
		return found[0]
	}
	return ""
}

func helpText() string {
	var b strings.Builder
	b.WriteString(`Type a condition to see who matches it at now, for example
  purchased in last 30 days
  days since last purchased > 90 and member.city = "长沙"
  count(purchased in last 365 days) >= 3 and not tagged "vip"
Type a declaration to add it to the session:
  segment big = sum(purchased.amount in last 365 days) >= 500
  rule hi if big then send coupon "HI" via sms limit once per member every 30 days

Commands:
`)
	names := []string{}
	width := len(`\sql SELECT ...`)
	for _, c := range Commands() {
		name := ":" + c.Name
		if c.Args != "" {
			name += " " + c.Args
		}
		names = append(names, name)
		width = max(width, len(name))
	}
	for i, c := range Commands() {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, names[i], c.Help)
	}
	fmt.Fprintf(&b, "  %-*s  %s\n", width, `\sql SELECT ...`, "run one SELECT on the session brand's tables (a sandbox: no files or settings)")
	b.WriteString(`
Keys (terminal): Enter runs; Alt+Enter, Ctrl+J or a trailing \ continue on a
new line; Tab completes; Up/Down recall history; PgUp/PgDn and Shift+arrows
scroll results (Left/Right too when the input is empty); Ctrl+L clears them;
Ctrl+C cancels a running query or clears the input; Ctrl+D leaves.`)
	return b.String()
}

// setNow handles `:now [TS|clock]`.
func (e *Engine) setNow(arg string) (*Result, error) {
	switch arg {
	case "":
		src := "the wall clock"
		if e.now != nil {
			src = "fixed by :now or --now"
		}
		return &Result{Kind: Text, Text: fmt.Sprintf("now is %s (%s)", e.evalNow().Format("2006-01-02 15:04:05"), src)}, nil
	case "clock", "wall", "reset":
		e.now = nil
		return &Result{Kind: Text, Text: "now follows the wall clock"}, nil
	}
	t, err := ParseTimestamp(arg)
	if err != nil {
		return &Result{Kind: Text, Text: ":now: " + err.Error()}, nil
	}
	e.now = &t
	return &Result{Kind: Text, Text: "now is " + t.Format("2006-01-02 15:04:05")}, nil
}

// setLookback handles `:lookback [N unit]`.
func (e *Engine) setLookback(arg string) (*Result, error) {
	if arg == "" {
		return &Result{Kind: Text, Text: "trigger conditions look " + formatLookback(e.lookback) + " back"}, nil
	}
	d, err := ParseDuration(arg)
	if err != nil {
		return &Result{Kind: Text, Text: ":lookback: " + err.Error()}, nil
	}
	e.lookback = d
	return &Result{Kind: Text, Text: "trigger conditions look " + formatLookback(d) + " back"}, nil
}

// ParseDuration reads a REPL duration: "N unit" with unit minute(s),
// hour(s), day(s) or week(s), or the short forms 90m, 24h, 7d, 2w. N must
// be at least 1, and the duration fit Go's (about 292 years): a larger N
// is an error naming the most that unit allows.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	num := strings.TrimRightFunc(s, func(r rune) bool { return !(r >= '0' && r <= '9') })
	unit := strings.TrimSpace(s[len(num):])
	unreadable := fmt.Errorf("cannot read %q as a duration; use for example 24 hours, 7 days or 90m", s)
	var u time.Duration
	var name string
	switch unit {
	case "m", "min", "minute", "minutes":
		u, name = time.Minute, "minutes"
	case "h", "hour", "hours":
		u, name = time.Hour, "hours"
	case "d", "day", "days":
		u, name = 24*time.Hour, "days"
	case "w", "week", "weeks":
		u, name = 7*24*time.Hour, "weeks"
	default:
		return 0, unreadable
	}
	if num == "" || strings.TrimLeft(num, "0123456789") != "" {
		return 0, unreadable
	}
	most := int64(math.MaxInt64 / u)
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, unreadable
	}
	if err != nil || n > most {
		return 0, fmt.Errorf("%s %s is too long; the most is %d %s", num, name, most, name)
	}
	if n <= 0 {
		return 0, unreadable
	}
	return time.Duration(n) * u, nil
}

// Load reads rule files and directories into the session (`:load`, and the
// PATH arguments of `nudge repl`). Files with errors are not loaded; their
// diagnostics are the result. A path loaded again replaces its earlier text.
// useFiles makes files (their texts) the session's rule files; with
// errors, the session is unchanged and bad is the diagnostics' result.
func (e *Engine) useFiles(files []lang.Source) (prog *lang.Program, all diag.List, bad *Result) {
	prog, all = e.build(files, nil)
	if all.HasErrors() {
		return prog, all, &Result{Kind: Diagnostics, Text: render(all, prog, "")}
	}
	e.files, e.prog = files, prog
	e.refreshVocab()
	return prog, all, nil
}

func (e *Engine) Load(ctx context.Context, paths ...string) (*Result, error) {
	if len(paths) == 0 {
		return &Result{Kind: Text, Text: "usage: :load FILE|DIR..."}, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	loaded, diags, err := lang.Load(paths, e.env)
	if err != nil {
		// A path that does not exist or cannot be read: a problem with
		// the input, as a diagnostic is.
		return &Result{Kind: Diagnostics, Text: err.Error()}, nil
	}
	if diags.HasErrors() {
		return &Result{Kind: Diagnostics, Text: render(diags, loaded, "")}, nil
	}
	files := append([]lang.Source(nil), e.files...)
	for _, f := range loaded.Files {
		src := lang.Source{Name: f.Name, Src: loaded.Sources[f.Name]}
		replaced := false
		for i := range files {
			if files[i].Name == f.Name {
				files[i], replaced = src, true
			}
		}
		if !replaced {
			files = append(files, src)
		}
	}
	prog, all, bad := e.useFiles(files)
	if bad != nil {
		return bad, nil
	}
	rules, journeys, segs := 0, 0, 0
	for _, f := range loaded.Files {
		for _, d := range f.Decls {
			switch d.(type) {
			case *ast.RuleDecl:
				rules++
			case *ast.JourneyDecl:
				journeys++
			case *ast.SegmentDecl:
				segs++
			}
		}
	}
	counts := fmt.Sprintf("%d %s", rules, pluralWord(rules, "rule", "rules"))
	if journeys > 0 {
		counts += fmt.Sprintf(", %d %s", journeys, pluralWord(journeys, "journey", "journeys"))
	}
	res := &Result{Kind: Text, Text: fmt.Sprintf("loaded %d %s: %s, %d %s",
		len(loaded.Files), pluralWord(len(loaded.Files), "file", "files"),
		counts, segs, pluralWord(segs, "segment", "segments"))}
	if len(all) > 0 {
		res.Warnings = render(all, prog, "")
	}
	return res, nil
}

// schemaText lists what conditions can refer to.
func (e *Engine) schemaText() string {
	info := e.prog.Info
	var b strings.Builder
	b.WriteString("Event types (built-in fields of every event: ts, store, sku, category, amount, channel, order_id):\n")
	builtin := map[string]bool{"ts": true, "store": true, "sku": true, "category": true, "amount": true, "channel": true, "order_id": true}
	for _, name := range sortedKeys(info.Events) {
		ev := info.Events[name]
		var fields []string
		for _, f := range sortedKeys(ev.Fields) {
			if !builtin[f] {
				fields = append(fields, f+" "+ev.Fields[f].Type.String())
			}
		}
		line := "  " + name
		if len(fields) > 0 {
			line += "  { " + strings.Join(fields, ", ") + " }"
		}
		b.WriteString(line + "\n")
	}
	b.WriteString("\nMember columns (member.NAME):\n")
	var cols []string
	for _, name := range sortedKeys(info.Members) {
		cols = append(cols, name+" "+info.Members[name].Type.String())
	}
	b.WriteString(wrapList(cols, 76, "  "))
	b.WriteString("\nSegments:\n")
	segs := sortedKeys(info.Segments)
	if len(segs) == 0 {
		b.WriteString("  (none)\n")
	}
	for _, name := range segs {
		s := info.Segments[name]
		line := "  " + name
		if s.Title != nil {
			line += fmt.Sprintf(" %q", s.Title.Value)
		}
		if f := s.Span.File; f != "" {
			line += "  (" + f + ")"
		}
		b.WriteString(line + "\n")
	}
	b.WriteString("\nRules:\n")
	if len(info.Rules) == 0 {
		b.WriteString("  (none)\n")
	}
	for _, r := range info.Rules {
		kind := "state"
		if r.Trigger {
			kind = "trigger"
		}
		fmt.Fprintf(&b, "  %s  (%s, %s)\n", r.Decl.Name.Name, kind, r.Decl.Span.Span.File)
	}
	if len(info.Journeys) > 0 {
		b.WriteString("\nJourneys (:journeys lists their instances):\n")
		for _, j := range info.Journeys {
			kind := "enter when"
			if j.Enter != nil && j.Enter.On {
				kind = "enter on"
			}
			fmt.Fprintf(&b, "  %s  (%s, %s)\n", j.Decl.Name.Name, kind, j.Decl.Span.Span.File)
		}
	}
	if len(e.env.Functions) > 0 {
		b.WriteString("\nFunctions:\n")
		for _, name := range sortedKeys(e.env.Functions) {
			f := e.env.Functions[name]
			params := make([]string, len(f.Params))
			for i, p := range f.Params {
				params[i] = p.String()
			}
			fmt.Fprintf(&b, "  %s(%s) %s\n", name, strings.Join(params, ", "), f.Result)
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// wrapList joins items with ", " into lines of at most width bytes.
func wrapList(items []string, width int, indent string) string {
	var b, line strings.Builder
	for i, it := range items {
		piece := it
		if i < len(items)-1 {
			piece += ","
		}
		if line.Len() > 0 && line.Len()+1+len(piece) > width {
			b.WriteString(indent + line.String() + "\n")
			line.Reset()
		}
		if line.Len() > 0 {
			line.WriteByte(' ')
		}
		line.WriteString(piece)
	}
	if line.Len() > 0 {
		b.WriteString(indent + line.String() + "\n")
	}
	return b.String()
}

// dryRun compiles the loaded and session rules and runs one tick at now
// without writing anything: the decisions table.
func (e *Engine) dryRun(ctx context.Context) (*Result, error) {
	if len(e.prog.Info.Rules) == 0 && len(e.prog.Info.Journeys) == 0 {
		return &Result{Kind: Text, Text: "no rules to run: type a rule (rule NAME if CONDITION then ACTION) or :load a file"}, nil
	}
	prog, diags := compiler.Compile(e.prog.Info)
	if diags.HasErrors() {
		return &Result{Kind: Diagnostics, Text: render(diags, e.prog, "")}, nil
	}
	now := e.evalNow()
	start := time.Now()
	_, optBrand := e.brands()
	db, err := e.database(ctx, true) // the dry run writes in a transaction it rolls back
	if err != nil {
		return nil, err
	}
	out, err := db.Run(ctx, prog, runtime.RunOptions{Now: now, Brand: optBrand, DryRun: true})
	if err != nil {
		return nil, fmt.Errorf("dry run: %w", err)
	}
	res := &Result{
		Kind:    Decisions,
		Now:     out.Now,
		Elapsed: time.Since(start),
		Columns: []string{"rule", "member_id", "action", "kind", "content", "channel", "status", "reason", "scheduled_at"},
		Count:   int64(len(out.Decisions)),
	}
	for i, d := range out.Decisions {
		if i >= max(e.opts.PageSize, 1000) {
			break
		}
		sched := ""
		if d.ScheduledAt != nil {
			sched = d.ScheduledAt.Format("2006-01-02 15:04:05")
		}
		res.Rows = append(res.Rows, []string{d.Rule, d.MemberID, d.Action, d.Kind, d.Content, d.Channel, d.Status, d.Reason, sched})
	}
	// Per-rule summary, e.g. "store_a_coupon: 12 candidates, 10 firings
	// (8 pending, 2 capped)", then the journeys'.
	var lines []string
	for _, r := range out.Rules {
		var st []string
		for _, k := range sortedKeys(r.Statuses) {
			st = append(st, fmt.Sprintf("%s %s", Thousands(r.Statuses[k]), k))
		}
		line := fmt.Sprintf("%s: %s %s, %s %s", r.Rule, Thousands(r.Candidates), pluralWord(int(min(r.Candidates, 2)), "candidate", "candidates"),
			Thousands(r.Firings), pluralWord(int(min(r.Firings, 2)), "firing", "firings"))
		if len(st) > 0 {
			line += " (" + strings.Join(st, ", ") + ")"
		}
		lines = append(lines, line)
	}
	lines = append(lines, journeySummaries(prog, out)...)
	res.Text = strings.Join(lines, "\n")
	if len(prog.Rules) > 0 {
		var b strings.Builder
		for _, r := range prog.Rules {
			fmt.Fprintf(&b, "-- rule %s\n%s\n\n", r.Name, strings.TrimSpace(r.SQL))
		}
		e.lastSQL = strings.TrimSpace(b.String())
	}
	return res, nil
}

// journeySummaries says, per journey of a dry run, what the tick would
// decide and where the instances would stand after it, e.g.
// "d11_promo (journey): 331 sends (199 pending, 132 no_consent), 332
// complete; after the tick: 628 active, 0 exited, 397 completed".
func journeySummaries(prog *compiler.Program, out *runtime.RunResult) []string {
	type tally struct {
		actions map[string]int64 // enter, exit, complete, tag, ...
		sends   map[string]int64 // by status
		nsend   int64
	}
	by := map[string]*tally{}
	for _, d := range out.Decisions {
		if d.Journey == "" {
			continue
		}
		t := by[d.Journey]
		if t == nil {
			t = &tally{actions: map[string]int64{}, sends: map[string]int64{}}
			by[d.Journey] = t
		}
		if d.Action == "send" {
			t.sends[d.Status]++
			t.nsend++
		} else {
			t.actions[d.Action]++
		}
	}
	counts := map[string]runtime.JourneyCount{}
	for _, c := range out.Journeys {
		counts[c.Journey] = c
	}
	var lines []string
	for _, j := range prog.Journeys {
		var parts []string
		if t := by[j.Name]; t != nil {
			if n := t.actions["enter"]; n > 0 {
				parts = append(parts, Thousands(n)+" enter")
			}
			if t.nsend > 0 {
				var st []string
				for _, k := range sortedKeys(t.sends) {
					st = append(st, fmt.Sprintf("%s %s", Thousands(t.sends[k]), k))
				}
				parts = append(parts, fmt.Sprintf("%s %s (%s)", Thousands(t.nsend), pluralWord(int(min(t.nsend, 2)), "send", "sends"), strings.Join(st, ", ")))
			}
			for _, a := range sortedKeys(t.actions) {
				if a != "enter" && a != "exit" && a != "complete" {
					parts = append(parts, Thousands(t.actions[a])+" "+a)
				}
			}
			for _, a := range []string{"exit", "complete"} {
				if n := t.actions[a]; n > 0 {
					parts = append(parts, Thousands(n)+" "+a)
				}
			}
		}
		line := j.Name + " (journey): "
		if len(parts) == 0 {
			line += "no decisions"
		} else {
			line += strings.Join(parts, ", ")
		}
		if c, ok := counts[j.Name]; ok {
			line += fmt.Sprintf("; after the tick: %s active, %s exited, %s completed", Thousands(c.Active), Thousands(c.Exited), Thousands(c.Completed))
		}
		lines = append(lines, line)
	}
	return lines
}
