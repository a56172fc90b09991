package engine

import (
	"os"
	"path/filepath"
	"sort"
	"strings"

	"nudge/lang"
	"nudge/lang/parser"
)

// vocabulary is what Tab can complete, computed once per program change.
type vocabulary struct {
	words    []string            // keywords, event types, segments, rules, functions
	members  []string            // member columns (after `member.`)
	fields   map[string][]string // event type -> its fields (after `purchased.`)
	all      []string            // every event field (inside where / aggregates)
	segments []string            // segment names, sorted
}

// languageWords are the words of SPEC §4 worth completing (the reserved
// words the parser knows, minus the constructs that are not built yet).
func languageWords() []string {
	var out []string
	for _, w := range strings.Fields(`segment rule if then and or not send via tag untag
		notify limit once per member every priority holdout stop after unanswered cap to
		all quiet hours event in last ever before at least most times exactly followed by
		matching within between is null tagged count sum avg min max days since first
		where of for from on true false minutes hours days weeks months years brand import`) {
		if parser.IsKeyword(w) {
			out = append(out, w)
		}
	}
	return out
}

func newVocabulary(prog *lang.Program) vocabulary {
	v := vocabulary{fields: map[string][]string{}}
	seen := map[string]bool{}
	add := func(w string) {
		if w != "" && !seen[w] {
			seen[w] = true
			v.words = append(v.words, w)
		}
	}
	for _, w := range languageWords() {
		add(w)
	}
	if prog != nil && prog.Info != nil {
		info := prog.Info
		allFields := map[string]bool{}
		for name, ev := range info.Events {
			add(name)
			for f := range ev.Fields {
				v.fields[name] = append(v.fields[name], f)
				allFields[f] = true
			}
			sort.Strings(v.fields[name])
		}
		for f := range allFields {
			v.all = append(v.all, f)
		}
		sort.Strings(v.all)
		for name := range info.Segments {
			if name != inputName {
				add(name)
				v.segments = append(v.segments, name)
			}
		}
		sort.Strings(v.segments)
		for _, r := range info.Rules {
			add(r.Decl.Name.Name)
		}
		for name := range info.Members {
			v.members = append(v.members, name)
		}
		sort.Strings(v.members)
	}
	sort.Strings(v.words)
	return v
}

// Complete returns the candidates for the word that ends before (the input up
// to the cursor), each a replacement for that whole word (see WordBefore):
// command names after a leading ':', member columns after `member.`, an
// event's fields after `EVENT.`, file names after `:load `, and otherwise
// keywords, event types, event fields, segment, rule and function names.
func (e *Engine) Complete(before string) []string {
	e.vmu.Lock()
	v := e.vocab
	e.vmu.Unlock()
	word := WordBefore(before)
	head := strings.TrimSuffix(before, word)
	trimmed := strings.TrimLeft(before, " \t\n")

	if strings.HasPrefix(word, ":") {
		var cands []string
		for _, c := range Commands() {
			cands = append(cands, ":"+c.Name)
		}
		sort.Strings(cands)
		return filterPrefix(cands, word)
	}
	if strings.HasPrefix(word, `\`) {
		return filterPrefix([]string{`\sql`, `\q`}, word)
	}
	if rest, ok := strings.CutPrefix(trimmed, ":load "); ok {
		return completePath(rest)
	}
	if strings.HasPrefix(trimmed, `\sql`) {
		return filterPrefix(sqlWords(v), word)
	}
	if qual, ok := strings.CutSuffix(head, "."); ok {
		owner := WordBefore(qual)
		if owner == "member" {
			return filterPrefix(v.members, word)
		}
		if fs, ok := v.fields[owner]; ok {
			return filterPrefix(fs, word)
		}
		return nil
	}
	if word == "" {
		return nil
	}
	cands := append(append([]string(nil), v.words...), v.all...)
	if e.env != nil {
		for name := range e.env.Functions {
			cands = append(cands, name)
		}
	}
	return filterPrefix(dedupSorted(cands), word)
}

// sqlWords are completions inside `\sql`: the sandbox's tables and their
// columns.
func sqlWords(v vocabulary) []string {
	words := append([]string{}, sandboxTables...)
	words = append(words, "select", "from", "where", "group", "order", "by", "limit", "count", "distinct", "and", "or", "not")
	words = append(words, v.members...)
	words = append(words, "seq", "member_id", "brand", "type", "ts", "store", "sku", "category", "amount", "channel", "order_id", "props")
	return dedupSorted(words)
}

// completePath completes the last path of a `:load` argument list.
func completePath(args string) []string {
	if strings.HasSuffix(args, " ") || args == "" {
		args = ""
	} else if f := strings.Fields(args); len(f) > 0 {
		args = f[len(f)-1]
	}
	dir, base := filepath.Split(args)
	// WordBefore only spans the base name's word characters; return
	// replacements for that part.
	word := WordBefore(args)
	prefixInWord := strings.TrimSuffix(base, word)
	ents, err := os.ReadDir(dirOrDot(dir))
	if err != nil {
		return nil
	}
	var out []string
	for _, ent := range ents {
		name := ent.Name()
		if strings.HasPrefix(name, ".") && !strings.HasPrefix(base, ".") {
			continue
		}
		if !strings.HasPrefix(name, base) {
			continue
		}
		if !ent.IsDir() && !strings.HasSuffix(name, lang.Ext) {
			continue
		}
		cand := strings.TrimPrefix(name, prefixInWord)
		if ent.IsDir() {
			cand += "/"
		}
		out = append(out, cand)
	}
	sort.Strings(out)
	return out
}

func dirOrDot(d string) string {
	if d == "" {
		return "."
	}
	return d
}

func filterPrefix(words []string, prefix string) []string {
	var out []string
	for _, w := range words {
		if strings.HasPrefix(w, prefix) {
			out = append(out, w)
		}
	}
	return out
}

func dedupSorted(words []string) []string {
	sort.Strings(words)
	out := words[:0]
	for i, w := range words {
		if i == 0 || w != words[i-1] {
			out = append(out, w)
		}
	}
	return out
}

// EventTypes returns the event types the program knows, sorted.
func (e *Engine) EventTypes() []string {
	e.vmu.Lock()
	defer e.vmu.Unlock()
	return sortedKeys(e.vocab.fields)
}

// Segments returns the segments the program knows (stdlib, files, session),
// sorted.
func (e *Engine) Segments() []string {
	e.vmu.Lock()
	defer e.vmu.Unlock()
	return e.vocab.segments
}
