package check

import (
	"math"
	"math/big"
	"strconv"
	"strings"

	"nudge/lang/ast"
)

// A number literal keeps its text; its Value is the nearest float64, which
// keeps about 15 significant digits: 99.999999999999999 is 100 as a value.
// Messages about limits compare and print what the user wrote.

// exact is the exact value of a number literal's text, nil when the text
// is not a decimal number.
func exact(n *ast.NumberLit) *big.Rat {
	if n == nil {
		return nil
	}
	r, ok := new(big.Rat).SetString(strings.TrimSpace(n.Text))
	if !ok {
		return nil
	}
	return r
}

// readAs is a note for a message about n when its value (a float64) is not
// what its text says: " (read as 100: a number keeps about 15 significant
// digits)"; "" when they agree.
func readAs(n *ast.NumberLit) string {
	r := exact(n)
	if r == nil || math.IsInf(n.Value, 0) || math.IsNaN(n.Value) {
		return ""
	}
	short := strconv.FormatFloat(n.Value, 'f', -1, 64)
	if v, ok := new(big.Rat).SetString(short); !ok || v.Cmp(r) == 0 {
		return ""
	}
	return " (read as " + short + ": a number keeps about 15 significant digits)"
}

// decimal renders an exact sum of literals (at most MaxDigits decimals
// each) without trailing zeros.
func decimal(r *big.Rat) string {
	s := r.FloatString(MaxDigits)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
