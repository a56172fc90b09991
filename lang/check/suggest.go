package check

import "sort"

// editDistance returns the optimal-string-alignment (restricted
// Damerau-Levenshtein) distance between a and b, counting runes, so that a
// swapped pair of letters ("qeueud") costs one edit like a typo does.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	n, m := len(ra), len(rb)
	// d has three rolling rows: i-2, i-1, i.
	prev2 := make([]int, m+1)
	prev := make([]int, m+1)
	cur := make([]int, m+1)
	for j := 0; j <= m; j++ {
		prev[j] = j
	}
	for i := 1; i <= n; i++ {
		cur[0] = i
		for j := 1; j <= m; j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[m]
}

// suggest returns the candidate closest to name, or "" when none is close
// enough to be a plausible typo: the distance must be at most a third of the
// name's length, and at most 2 (at least 1). Ties go to the alphabetically
// first candidate so that messages are deterministic.
func suggest(name string, candidates []string) string {
	n := len([]rune(name))
	limit := n / 3
	if n >= 4 && limit < 2 {
		limit = 2
	}
	limit = max(1, min(limit, 3))
	sorted := append([]string(nil), candidates...)
	sort.Strings(sorted)
	best, bestD := "", limit+1
	for _, c := range sorted {
		if c == name || c == "" {
			continue
		}
		if d := editDistance(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// didYouMean formats a suggestion suffix: `; did you mean "x"?` or "".
func didYouMean(name string, candidates []string) string {
	if s := suggest(name, candidates); s != "" {
		return "; did you mean \"" + s + "\"?"
	}
	return ""
}

// keys returns the keys of a map, for suggestions.
func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Suggest returns the candidate closest to name as a plausible typo of it,
// or "" (see suggest); for messages outside the checker, such as the
// runtime's "did you mean" for a brand.
func Suggest(name string, candidates []string) string { return suggest(name, candidates) }
