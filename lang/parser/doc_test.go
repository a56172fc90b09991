package parser

import (
	"bytes"
	goparser "go/parser"
	gotoken "go/token"
	"os"
	"strings"
	"testing"
)

// grammarFromDoc returns the EBNF block of the package doc (doc.go).
func grammarFromDoc(t *testing.T) string {
	t.Helper()
	f, err := goparser.ParseFile(gotoken.NewFileSet(), "doc.go", nil, goparser.ParseComments|goparser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	var block []string
	in := false
	for _, line := range strings.Split(f.Doc.Text(), "\n") {
		switch {
		case strings.HasPrefix(line, "The grammar, in EBNF"):
			in = true
		case in && strings.HasPrefix(line, "\t"):
			block = append(block, strings.TrimPrefix(line, "\t"))
		case in && line == "":
			if len(block) > 0 {
				block = append(block, "")
			}
		case in && len(block) > 0:
			return strings.TrimRight(strings.Join(block, "\n"), "\n") + "\n"
		}
	}
	t.Fatal("doc.go has no EBNF block after \"The grammar, in EBNF\"")
	return ""
}

const languageDoc = "../../docs/language.md"

// grammarInLanguageDoc returns the position of the ```ebnf block under
// "## Grammar summary" in docs/language.md: the text before, the block and
// the text after.
func grammarInLanguageDoc(t *testing.T) (before, block, after string) {
	t.Helper()
	src, err := os.ReadFile(languageDoc)
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	h := strings.Index(s, "\n## Grammar summary\n")
	if h < 0 {
		t.Fatalf("%s has no \"## Grammar summary\" section", languageDoc)
	}
	open := strings.Index(s[h:], "\n```ebnf\n")
	if open < 0 {
		t.Fatalf("%s: no ```ebnf block under \"## Grammar summary\"", languageDoc)
	}
	start := h + open + len("\n```ebnf\n")
	end := strings.Index(s[start:], "```\n")
	if end < 0 {
		t.Fatalf("%s: the ```ebnf block is not closed", languageDoc)
	}
	return s[:start], s[start : start+end], s[start+end:]
}

// TestGrammarDoc checks that the grammar in docs/language.md is the EBNF
// of the package doc, which is the one written description of the grammar
// (go test -update copies it into docs/language.md).
func TestGrammarDoc(t *testing.T) {
	want := grammarFromDoc(t)
	before, got, after := grammarInLanguageDoc(t)
	if got == want {
		return
	}
	if *update {
		if err := os.WriteFile(languageDoc, []byte(before+want+after), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(gl) || i < len(wl); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Fatalf("the grammar in %s differs from the package doc of lang/parser (doc.go) at line %d of the block:\n doc.go: %q\n docs:   %q\n(run go test ./lang/parser -run TestGrammarDoc -update to copy it)", languageDoc, i+1, w, g)
		}
	}
}

// TestGrammarDocCoversKeywords checks that every reserved word used by the
// grammar appears in the EBNF.
func TestGrammarDocCoversKeywords(t *testing.T) {
	ebnf := grammarFromDoc(t)
	for w := range keywords {
		if reserved[w] && w != "test" {
			continue
		}
		if !bytes.Contains([]byte(ebnf), []byte(`"`+w+`"`)) {
			t.Errorf("keyword %q is missing from the EBNF in doc.go", w)
		}
	}
}
