package format

import (
	"strings"

	"nudge/lang/ast"
)

// delivery prints a send's fallback channels and `with` parameters (SPEC
// §9), each after the channel: " else sms with store = store".
func delivery(a *ast.Action) string {
	var b strings.Builder
	for _, e := range a.Else {
		b.WriteString(" else " + e.Name)
	}
	for i, p := range a.Params {
		if i == 0 {
			b.WriteString(" with ")
		} else {
			b.WriteString(", ")
		}
		b.WriteString(p.Name.Name + " = " + expr(p.Value))
	}
	return b.String()
}
