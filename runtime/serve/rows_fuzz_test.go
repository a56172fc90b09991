package serve

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzParseBody: parseBody never panics, and reads a JSON array element
// by element exactly as a whole-array decode does: the same number of
// rows, and a syntax error only where the whole decode fails too.
func FuzzParseBody(f *testing.F) {
	for _, s := range []string{
		`[{"member_id":"m1","type":"visited"}]`,
		`[{"a":1},{"b":2}]`,
		`[]`, `[1, {"a":1}]`, `[{"a":1} {"b":2}]`, `[{"a":1}] x`, `[{"a":1},]`,
		`{"member_id":"m1"}` + "\n" + `{"member_id":"m2"}`,
		`{"batch":[{"type":"track","userId":"m1","event":"Visited"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		objs, errs := parseBody(body)
		trimmed := strings.TrimSpace(string(body))
		if !strings.HasPrefix(trimmed, "[") {
			return
		}
		var raw []json.RawMessage
		whole := json.Unmarshal([]byte(trimmed), &raw)
		syntax := len(errs) > 0 && strings.HasPrefix(errs[0].Reason, "invalid JSON array")
		switch {
		case whole == nil && syntax:
			t.Fatalf("%q: a valid array gave %v", body, errs)
		case whole != nil && !syntax:
			t.Fatalf("%q: an invalid array (%v) gave %d rows, errors %v", body, whole, len(objs), errs)
		case whole == nil && len(objs) != len(raw):
			t.Fatalf("%q: %d rows, want %d", body, len(objs), len(raw))
		}
	})
}
