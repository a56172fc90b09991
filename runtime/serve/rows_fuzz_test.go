package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
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

// FuzzDecodeObject: decodeObject reads a valid JSON value as Decode into
// a map[string]any does (numbers as json.Number), but for a repeated key,
// which it names; Decode then kept the last value.
func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{
		`{"member_id":"m1","type":"visited","amount":12.50,"props":{"a":[1,{"b":null}],"c":true}}`,
		`{"member_id":"m1","member_id":"m2"}`, `{"p":{"a":1,"a":2}}`, `{"l":[{"x":1},{"x":2}]}`,
		`{}`, `[]`, `3`, `{"a":}`, `{"a":1}x`, `{"\u0061":1,"a":2}`, `{"":0,"":0}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, r []byte) {
		if !json.Valid(r) {
			return // (objects gets values the body's decode read whole)
		}
		m, err := decodeObject(r)
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.UseNumber()
		var want map[string]any
		werr := dec.Decode(&want)
		var dup *repeatedKey
		switch {
		case errors.As(err, &dup):
			if werr != nil {
				t.Fatalf("%q: repeated key %q in what Decode refuses (%v)", r, dup.path, werr)
			}
		case werr == nil && want != nil:
			if err != nil || !reflect.DeepEqual(m, want) {
				t.Fatalf("%q: decodeObject %v %v, Decode %v", r, m, err, want)
			}
		case err == nil && m != nil:
			t.Fatalf("%q: decodeObject read %v where Decode fails (%v)", r, m, werr)
		}
	})
}
