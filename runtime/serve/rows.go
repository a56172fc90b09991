package serve

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	nrt "nudge/runtime"
)

// RowError is one bad row of a request body: its 1-based row within the
// batch, the body's field and the reason.
type RowError struct {
	Row    int64  `json:"row"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
}

// parseBody reads a JSON array of objects, one object, a tracking-spec
// batch ({"batch": [...]}) or newline-delimited JSON objects, and returns
// the objects in order. A syntax error or a value that is not an object is
// a row error naming the row.
func parseBody(body []byte) ([]map[string]any, []RowError) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, []RowError{{Row: 0, Reason: "empty body: send a JSON array or newline-delimited JSON objects"}}
	}
	if trimmed[0] == '[' {
		// Element by element, so that a syntax error names its row.
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.Token() // [
		var raw []json.RawMessage
		for dec.More() {
			var m json.RawMessage
			if err := dec.Decode(&m); err != nil {
				return nil, []RowError{{Row: int64(len(raw) + 1), Reason: "invalid JSON array: " + err.Error()}}
			}
			raw = append(raw, m)
		}
		if _, err := dec.Token(); err != nil { // ]
			return nil, []RowError{{Row: int64(len(raw) + 1), Reason: "invalid JSON array: " + err.Error()}}
		}
		if _, err := dec.Token(); err != io.EOF {
			return nil, []RowError{{Row: 0, Reason: "invalid JSON array: text after its closing ]"}}
		}
		return objects(raw)
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	var raw []json.RawMessage
	for {
		var m json.RawMessage
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, []RowError{{Row: int64(len(raw) + 1), Reason: "invalid JSON: " + err.Error()}}
		}
		raw = append(raw, m)
	}
	if len(raw) == 1 {
		if batch, rerr := envelopeBatch(raw[0]); rerr != nil {
			return nil, []RowError{*rerr}
		} else if batch != nil {
			return objects(batch)
		}
	}
	return objects(raw)
}

// envelopeBatch is the list of a tracking-spec batch envelope
// ({"batch": [...], "context": ...}), or nil when r is another object
// (one without a "batch" array). Its top-level keys are read from the
// token stream, their values kept raw, so that a key given twice in an
// envelope is refused (row 0: the envelope, not one of its messages) as
// it is in every object of a body: Unmarshal kept the last "batch"
// silently, storing the messages of one list of two.
func envelopeBatch(r json.RawMessage) ([]json.RawMessage, *RowError) {
	dec := json.NewDecoder(bytes.NewReader(r))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil // not an object: objects says so
	}
	seen := map[string]bool{}
	twice := ""
	var batch json.RawMessage
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil
		}
		k, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil
		}
		if seen[k] && twice == "" {
			twice = k
		}
		seen[k] = true
		if k == "batch" {
			batch = v
		}
	}
	var list []json.RawMessage
	if batch == nil || json.Unmarshal(batch, &list) != nil || list == nil {
		return nil, nil // not an envelope
	}
	if twice != "" {
		return nil, &RowError{Row: 0, Field: twice, Reason: fmt.Sprintf("the key %q is given twice in the batch envelope; which value is meant is not for nudge to guess: give it once", twice)}
	}
	return list, nil
}

// objects decodes each raw value as a JSON object, numbers kept exact.
func objects(raw []json.RawMessage) ([]map[string]any, []RowError) {
	out := make([]map[string]any, len(raw))
	var errs []RowError
	for i, r := range raw {
		if !utf8.Valid(r) {
			// (Go's decoder would store U+FFFD in place of the bad bytes.)
			errs = append(errs, RowError{Row: int64(i + 1), Reason: "not valid UTF-8 text"})
			continue
		}
		m, err := decodeObject(r)
		var dup *repeatedKey
		switch {
		case errors.As(err, &dup):
			errs = append(errs, RowError{Row: int64(i + 1), Field: dup.path,
				Reason: fmt.Sprintf("the key %q is given twice in one object; which value is meant is not for nudge to guess: give it once", dup.path)})
			continue
		case err != nil || m == nil:
			errs = append(errs, RowError{Row: int64(i + 1), Reason: "not a JSON object"})
			continue
		}
		out[i] = m
	}
	return out, errs
}

// maxDepth bounds the nesting of a body's values, as encoding/json's
// Decode does (it refuses 10,000 levels).
const maxDepth = 10000

// errDepth is a value nested deeper than maxDepth.
var errDepth = errors.New("nested too deeply")

// repeatedKey is a key given twice in one object; path is its path
// ("member_id", "properties.store").
type repeatedKey struct{ path string }

func (e *repeatedKey) Error() string { return fmt.Sprintf("the key %q is given twice", e.path) }

// decodeObject decodes the JSON object r as Decode into a map[string]any
// does (numbers kept as json.Number), from encoding/json's token stream,
// so that a key repeated within one object, at any depth, is seen (a
// *repeatedKey): Decode keeps the last value silently
// ({"member_id":"m1","member_id":"m2"} was m2). A value that is not an
// object is an error too.
func decodeObject(r []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(r))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('{') {
		return nil, errors.New("not an object")
	}
	return readObject(dec, "", 1)
}

// readObject reads an object's keys and values after its '{', through its
// '}'. path is the object's own path ("" at the top).
func readObject(dec *json.Decoder, path string, depth int) (map[string]any, error) {
	m := map[string]any{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := tok.(string)
		name := k
		if path != "" {
			name = path + "." + k
		}
		if _, seen := m[k]; seen {
			return nil, &repeatedKey{name}
		}
		v, err := readValue(dec, name, depth)
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
	_, err := dec.Token() // }
	return m, err
}

// readValue reads one value: an object, an array (its objects' paths are
// path's), or a string, json.Number, bool or nil.
func readValue(dec *json.Decoder, path string, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		if depth >= maxDepth {
			return nil, errDepth
		}
		return readObject(dec, path, depth+1)
	case json.Delim('['):
		if depth >= maxDepth {
			return nil, errDepth
		}
		list := []any{}
		for dec.More() {
			v, err := readValue(dec, path, depth+1)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		_, err := dec.Token() // ]
		return list, err
	}
	return tok, nil
}

// eventColumns and memberColumns are the columns of SPEC §6 a row may give
// (matched case-insensitively, as nudge import does).
var (
	eventColumns  = []string{"event_id", "member_id", "brand", "type", "ts", "store", "sku", "category", "amount", "channel", "order_id", "props"}
	memberColumns = []string{"member_id", "brand", "name", "phone", "email", "birthday", "gender", "city", "region", "tier", "occupation",
		"signup_at", "consent_sms", "consent_email", "consent_app_push", "consent_wechat", "consent_phone", "attrs"}
)

// trackingTypes are the message types of the Segment/RudderStack tracking
// spec.
var trackingTypes = map[string]bool{"track": true, "identify": true, "page": true, "screen": true, "group": true, "alias": true}

// isTracking reports whether a row is a tracking-spec message rather than
// a nudge event: a tracking type with one of the spec's own fields.
func isTracking(m map[string]any) bool {
	t, _ := m["type"].(string)
	if !trackingTypes[t] {
		return false
	}
	for _, k := range []string{"userId", "anonymousId", "messageId", "event", "properties", "traits"} {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}

// batchRows is a request body turned into rows of the events and members
// tables, each remembering its body row and the body's names of its fields.
type batchRows struct {
	events, members           []map[string]any
	eventFrom, memberFrom     []int64             // body row of each
	eventFields, memberFields []map[string]string // column -> body field, where they differ
	brands                    map[string]bool     // every brand the rows write
}

// toRows turns the body's objects into table rows. defaultBrand fills a row
// without a brand; received fills an event without a timestamp. table is
// "events" (nudge events and tracking messages) or "members".
func toRows(objs []map[string]any, table, defaultBrand string, received time.Time) (*batchRows, []RowError) {
	b := &batchRows{brands: map[string]bool{}}
	var errs []RowError
	for i, obj := range objs {
		row := int64(i + 1)
		var (
			out    map[string]any
			fields map[string]string
			isMem  bool
			rerrs  []RowError
		)
		switch {
		case isTracking(obj):
			out, fields, isMem, rerrs = trackingRow(row, obj, received)
		case table == "members":
			out, rerrs = columnsOf(row, obj, memberColumns)
			isMem = true
		default:
			out, rerrs = columnsOf(row, obj, eventColumns)
		}
		errs = append(errs, rerrs...)
		if out == nil {
			continue
		}
		if s, ok := out["brand"].(string); !ok || s == "" {
			if out["brand"] == nil && defaultBrand != "" {
				out["brand"] = defaultBrand
			}
		}
		required := []string{"member_id", "brand"}
		if !isMem {
			required = append(required, "type")
			if out["ts"] == nil {
				out["ts"] = received.UTC().Format(time.RFC3339Nano)
			}
		}
		bad := false
		hasNUL := map[string]bool{}
		for _, k := range slices.Sorted(maps.Keys(out)) {
			// (JSON's \u0000 is valid UTF-8 text: objects does not see it.
			// A member id, brand or event field is text without NUL, as
			// in an imported file.)
			if v, ok := out[k].(string); ok && strings.ContainsRune(v, 0) {
				errs = append(errs, RowError{Row: row, Field: fieldName(fields, k), Reason: fmt.Sprintf("the value %q holds a NUL byte (\\x00); remove it", v)})
				bad, hasNUL[k] = true, true
			}
		}
		for _, c := range required {
			if hasNUL[c] {
				continue // (said above)
			}
			if err := requireString(out, c); err != "" {
				name := c
				if f, ok := fields[c]; ok {
					name = f
				}
				if c == "brand" && err == "missing value" {
					err = "missing value: give the brand in the row or as ?brand= (the service runs rules for no single brand)"
				}
				errs = append(errs, RowError{Row: row, Field: name, Reason: err})
				bad = true
			}
		}
		if id, ok := out["event_id"]; ok && id != nil {
			if n, isNum := id.(json.Number); isNum {
				out["event_id"] = n.String()
			} else if str, isStr := id.(string); !isStr {
				errs = append(errs, RowError{Row: row, Field: fieldName(fields, "event_id"), Reason: "must be a string or a number"})
				bad = true
			} else if strings.TrimSpace(str) == "" {
				// (An empty id would make every later event without one
				// a duplicate of the first.)
				errs = append(errs, RowError{Row: row, Field: fieldName(fields, "event_id"), Reason: "empty value: leave it out for an event without an id"})
				bad = true
			}
		}
		if bad {
			continue
		}
		b.brands[out["brand"].(string)] = true
		if isMem {
			b.members, b.memberFrom, b.memberFields = append(b.members, out), append(b.memberFrom, row), append(b.memberFields, fields)
		} else {
			b.events, b.eventFrom, b.eventFields = append(b.events, out), append(b.eventFrom, row), append(b.eventFields, fields)
		}
	}
	return b, errs
}

func fieldName(fields map[string]string, col string) string {
	if f, ok := fields[col]; ok {
		return f
	}
	return col
}

// requireString checks that a required column (a member id, brand or event
// type) holds a string import would take (a number is taken as its text):
// not blank, without NUL, without white space at its start or end
// (runtime.KeyTextReason, the one check import makes too); it returns the
// reason when not.
func requireString(out map[string]any, col string) string {
	switch v := out[col].(type) {
	case nil:
		return "missing value"
	case json.Number:
		out[col] = v.String()
	case string:
		return nrt.KeyTextReason(v)
	default:
		return "must be a string"
	}
	return ""
}

// columnsOf returns a row of a nudge table from the object of row row:
// keys naming a column (case-insensitively) become that column, the others
// stay as they are and the import collects them into extra (props or
// attrs). Two keys naming one column (member_id and Member_Id) are an
// error of the row: which one would win is not for the map's order to say.
func columnsOf(row int64, obj map[string]any, cols []string) (map[string]any, []RowError) {
	known := map[string]bool{}
	for _, c := range cols {
		known[c] = true
	}
	out := map[string]any{}
	keyOf := map[string]string{} // column -> the key that named it
	var errs []RowError
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		v := obj[k]
		if l := strings.ToLower(k); known[l] {
			if prev, ok := keyOf[l]; ok {
				errs = append(errs, RowError{Row: row, Field: k, Reason: fmt.Sprintf("names column %s, as %q does: give it once", l, prev)})
				continue
			}
			keyOf[l] = k
			out[l] = v
			continue
		}
		out[k] = v
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// trackingRow turns a tracking-spec message into an events row (track) or
// a members row (identify): userId is the member id, messageId the event
// id, the event name (lower case, spaces and dashes as underscores: "Order
// Placed" is order_placed) the type, timestamp (else originalTimestamp,
// sentAt, the time received) the time; properties naming an event column
// fill it and the rest go to props; identify's traits naming a member
// column (camelCase or snake_case) fill it and the rest go to attrs.
func trackingRow(row int64, m map[string]any, received time.Time) (out map[string]any, fields map[string]string, member bool, errs []RowError) {
	typ := m["type"].(string)
	if typ != "track" && typ != "identify" {
		return nil, nil, false, []RowError{{Row: row, Field: "type", Reason: fmt.Sprintf("%q messages are not stored: nudge takes track and identify", typ)}}
	}
	out = map[string]any{}
	fields = map[string]string{"member_id": "userId", "brand": "?brand="}
	if m["userId"] == nil {
		reason := "missing value"
		if m["anonymousId"] != nil {
			reason = "missing value: anonymous messages are not stored (nudge keeps members' events; send identify first and then userId)"
		}
		errs = append(errs, RowError{Row: row, Field: "userId", Reason: reason})
		return nil, nil, false, errs
	}
	out["member_id"] = m["userId"]
	reserved := map[string]bool{"member_id": true, "brand": true, "seq": true, "event_id": true, "type": true, "ts": true}
	if typ == "identify" {
		traits, _ := m["traits"].(map[string]any)
		extra := map[string]any{}
		known := map[string]bool{}
		for _, c := range memberColumns {
			known[c] = true
		}
		for k, v := range traits {
			c := snake(k)
			switch {
			case reserved[c] || c == "attrs":
				extra[k] = v
			case known[c]:
				out[c] = v
				fields[c] = "traits." + k
			default:
				out[k] = v
			}
		}
		if len(extra) > 0 {
			out["attrs"] = extra
		}
		return out, fields, true, nil
	}
	ev, _ := m["event"].(string)
	if strings.TrimSpace(ev) == "" {
		return nil, nil, false, []RowError{{Row: row, Field: "event", Reason: "missing value (the event name is the nudge event type)"}}
	}
	out["type"] = eventType(ev)
	fields["type"] = "event"
	if id := m["messageId"]; id != nil {
		out["event_id"] = id
		fields["event_id"] = "messageId"
	}
	for _, k := range []string{"timestamp", "originalTimestamp", "sentAt"} {
		if v := m[k]; v != nil {
			out["ts"] = v
			fields["ts"] = k
			break
		}
	}
	props, _ := m["properties"].(map[string]any)
	extra := map[string]any{}
	known := map[string]bool{}
	for _, c := range eventColumns {
		known[c] = true
	}
	for k, v := range props {
		c := snake(k)
		switch {
		case reserved[c] || c == "props":
			extra[k] = v
		case known[c]:
			out[c] = v
			fields[c] = "properties." + k
		default:
			out[k] = v
		}
	}
	if len(extra) > 0 {
		out["props"] = extra
	}
	return out, fields, false, nil
}

// eventType is a tracking event name as a nudge event type.
func eventType(name string) string {
	name = strings.ToLower(strings.TrimSpace(name))
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return '_'
		}
		return r
	}, name)
}

// snake turns camelCase into snake_case (orderId: order_id).
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
