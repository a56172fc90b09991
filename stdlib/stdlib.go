// Package stdlib is nudge's standard library: the embedded modules a program
// can `import` (crm), the builtin functions the checker knows and the SQL
// templates the compiler turns them into, the data-model DDL (SchemaSQL) and
// the SQL macros behind the functions (MacrosSQL).
//
// It imports lang packages and is handed to the checker through check.Env;
// lang never imports stdlib. It owns no database handle: runtime applies
// SchemaSQL and MacrosSQL.
package stdlib

import (
	"embed"
	"path"
	"sort"
	"strings"
	"sync"

	"nudge/lang/ast"
	"nudge/lang/check"
	"nudge/lang/diag"
	"nudge/lang/parser"
)

// SchemaSQL is the DDL of the members, events and member_tags tables (SPEC §6).
//
//go:embed schema.sql
var SchemaSQL string

// MacrosSQL creates the nudge_* SQL macros that builtin functions compile to.
// It is idempotent (CREATE OR REPLACE) and must run after SchemaSQL.
//
//go:embed macros.sql
var MacrosSQL string

//go:embed modules/*.nudge
var modulesFS embed.FS

// ModuleDir is the directory name module files carry in diagnostics, e.g.
// "stdlib/crm.nudge".
const ModuleDir = "stdlib"

// Channels are the channels sends may use and caps may limit.
var channels = []string{"sms", "email", "app_push", "wechat", "phone"}

// Channels returns the known channel names.
func Channels() []string { return append([]string(nil), channels...) }

// Modules returns the names of the embedded modules, sorted.
func Modules() []string {
	ents, err := modulesFS.ReadDir("modules")
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".nudge"); ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// ModuleSource returns the source of module name and the file name its
// diagnostics use.
func ModuleSource(name string) (file string, src []byte, ok bool) {
	if name == "" || strings.ContainsAny(name, "/\\.") {
		return "", nil, false
	}
	src, err := modulesFS.ReadFile("modules/" + name + ".nudge")
	if err != nil {
		return "", nil, false
	}
	return path.Join(ModuleDir, name+".nudge"), src, true
}

// ParseModule parses an embedded module. Diagnostics in an embedded module
// are a bug in nudge (tests guard against it).
func ParseModule(name string) (*ast.File, diag.List, bool) {
	file, src, ok := ModuleSource(name)
	if !ok {
		return nil, nil, false
	}
	f, diags := parser.ParseFile(file, src)
	return f, diags, true
}

// Functions returns the builtin functions, by name.
func Functions() map[string]*check.Function {
	fs := []*check.Function{
		{
			Name: "birthday_in", Params: []check.Type{check.Duration}, Result: check.Bool,
			SQL:   "nudge_birthday_in({member}.birthday, {now}, {0})",
			Clock: check.ClockDaily,
			Doc: "birthday_in(d): the member's birthday (month and day) falls within [today, today + d]; " +
				"birthday_in(0 days) is today. A Feb 29 birthday is celebrated on Feb 28 in common years. False when the birthday is unknown.",
		},
		{
			Name: "days_since", Params: []check.Type{check.Timestamp}, Result: check.Number,
			SQL:   "nudge_days_since({0}, {now})",
			Clock: check.ClockDailyForDates,
			Doc:   "days_since(t): whole days (rounded down) from the date or timestamp t to now; null when t is null.",
		},
		{
			Name: "hours_since", Params: []check.Type{check.Timestamp}, Result: check.Number,
			SQL: "nudge_hours_since({0}, {now})",
			Doc: "hours_since(t): whole hours (rounded down) from the date or timestamp t to now; null when t is null.",
		},
		{
			Name: "age", Result: check.Number,
			SQL:   "nudge_age({member}.birthday, {now})",
			Clock: check.ClockDaily,
			Doc:   "age(): the member's age in completed years; null when the birthday is unknown.",
		},
		{
			Name: "rfm_r", Result: check.Number,
			SQL: "nudge_rfm_r({member}.member_id, {brand}, {now})",
			Doc: "rfm_r(): recency score 1-5 (5: bought most recently) among the brand's members.",
		},
		{
			Name: "rfm_f", Result: check.Number,
			SQL: "nudge_rfm_f({member}.member_id, {brand}, {now})",
			Doc: "rfm_f(): frequency score 1-5 (5: most purchases in the last 365 days) among the brand's members.",
		},
		{
			Name: "rfm_m", Result: check.Number,
			SQL: "nudge_rfm_m({member}.member_id, {brand}, {now})",
			Doc: "rfm_m(): monetary score 1-5 (5: highest spend in the last 365 days) among the brand's members.",
		},
		{
			Name: "spend_percentile", Params: []check.Type{check.Duration}, Result: check.Number,
			SQL: "nudge_spend_percentile({member}.member_id, {brand}, {now}, {0})",
			Doc: "spend_percentile(d): the member's rank by spend in the last d among the brand's members, 0-100 " +
				"(100: the top spender); `spend_percentile(365 days) >= 80` is the top 20%.",
		},
	}
	out := make(map[string]*check.Function, len(fs))
	for _, f := range fs {
		out[f.Name] = f
	}
	return out
}

// Env returns the checker environment of the standard library: builtin
// functions, the embedded modules for `import` and the known channels.
// Each Env parses a module at most once; it is safe for concurrent use.
//
// Duration arguments ({0} of birthday_in and spend_percentile) must be
// compiled to DuckDB INTERVAL values.
func Env() *check.Env {
	var mu sync.Mutex
	cache := map[string]*ast.File{}
	return &check.Env{
		Functions: Functions(),
		Import: func(name string) (*ast.File, bool) {
			mu.Lock()
			defer mu.Unlock()
			if f, ok := cache[name]; ok {
				return f, true
			}
			f, _, ok := ParseModule(name)
			if !ok || f == nil {
				return nil, false
			}
			cache[name] = f
			return f, true
		},
		Modules:  Modules(),
		Channels: Channels(),
		SourceOf: func(file string) ([]byte, bool) {
			base, ok := strings.CutPrefix(file, ModuleDir+"/")
			if !ok {
				return nil, false
			}
			_, src, ok := ModuleSource(strings.TrimSuffix(base, ".nudge"))
			return src, ok
		},
	}
}
