package engine

import (
	"strings"
	"unicode"
)

// WordBefore returns the word that ends at the end of before (the input up to
// the cursor): the letters, digits and underscores immediately before it, plus
// a leading ':' or '\' when the word starts the input (a REPL command). Tab
// completion replaces this word with a candidate.
func WordBefore(before string) string {
	r := []rune(before)
	i := len(r)
	for i > 0 && isWordRune(r[i-1]) {
		i--
	}
	if i > 0 && (r[i-1] == ':' || r[i-1] == '\\') && strings.TrimSpace(string(r[:i-1])) == "" {
		i--
	}
	return string(r[i:])
}

func isWordRune(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
}

// CommonPrefix returns the longest common prefix of words.
func CommonPrefix(words []string) string {
	if len(words) == 0 {
		return ""
	}
	p := []rune(words[0])
	for _, w := range words[1:] {
		r := []rune(w)
		n := 0
		for n < len(p) && n < len(r) && p[n] == r[n] {
			n++
		}
		p = p[:n]
	}
	return string(p)
}
