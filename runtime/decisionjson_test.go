package runtime

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// TestDecisionWriterMatchesEncoding holds DecisionWriter to the bytes
// json.NewEncoder(w).Encode gives for the same decision.
func TestDecisionWriterMatchesEncoding(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 11, 11, 10, 0, 5, 0, time.UTC)
	late := time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
	seq, zero, neg := int64(42), int64(0), int64(-7)
	full := Decision{Rule: "lapsed", MemberID: "M0000001", FiringID: "f1", Action: "send", Kind: "reminder",
		Content: "come back", Channel: "sms", Status: "pending", Reason: "cap sms 1 per 1d", FiredAt: at,
		ScheduledAt: &at, DueAt: &late, TriggerSeq: &seq, IdempotencyKey: "f1-0",
		Values: json.RawMessage(`{"days since last purchased":91}`)}
	with := func(f func(*Decision)) Decision { d := full; f(&d); return d }
	cases := []struct {
		name string
		d    Decision
	}{
		{"every field", full},
		{"zero decision", Decision{}},
		{"null kind content channel scheduled_at", with(func(d *Decision) { d.Kind, d.Content, d.Channel, d.ScheduledAt = "", "", "", nil })},
		{"no reason due_at trigger_seq values", with(func(d *Decision) { d.Reason, d.DueAt, d.TriggerSeq, d.Values = "", nil, nil, nil })},
		{"empty values omitted", with(func(d *Decision) { d.Values = json.RawMessage{} })},
		{"null values", with(func(d *Decision) { d.Values = json.RawMessage(`null`) })},
		{"zero and negative trigger_seq", with(func(d *Decision) { d.TriggerSeq = &zero; d.DueAt = &time.Time{} })},
		{"negative trigger_seq", with(func(d *Decision) { d.TriggerSeq = &neg })},
		{"zero times", with(func(d *Decision) { d.FiredAt = time.Time{}; d.ScheduledAt = &time.Time{} })},
		{"time with zone and nanoseconds", with(func(d *Decision) {
			d.FiredAt = time.Date(2024, 2, 29, 23, 0, 0, 123, time.FixedZone("x", 8*3600))
		})},
		{"quotes and backslashes", with(func(d *Decision) { d.Content = `say "hi" \ back\\slash` })},
		{"html characters", with(func(d *Decision) { d.Content = `<b>50% off</b> & more`; d.Reason = "a<b>c&d" })},
		{"control characters", with(func(d *Decision) { d.Content = "a\x00b\x01\x07\b\f\n\r\t\x0b\x1f\x7f z" })},
		{"unicode", with(func(d *Decision) { d.Content = "双十一 🎉 café Ünïcödé"; d.MemberID = "会员-1" })},
		{"line and paragraph separators", with(func(d *Decision) { d.Content = "a\u2028b\u2029c\u2027" })},
		{"invalid utf-8", with(func(d *Decision) { d.Content = "a\xffb\xc3(c\xe2\x82"; d.Rule = "\x80" })},
		{"values spaced, unicode and html", with(func(d *Decision) {
			d.Values = json.RawMessage("{ \"note\" : \"<a & b>\",\n\t\"n\": [1, 2.5e3, true, null], \"u\": \"双 \\u2028 \\\" \" }")
		})},
		{"values with raw separators", with(func(d *Decision) { d.Values = json.RawMessage("[\"a\u2028b\"]") })},
		{"every field escaped", Decision{Rule: "r\"", MemberID: "<m>", FiringID: "f&", Action: "a\n", Kind: "k\t",
			Content: "c\\", Channel: "c\u2029", Status: "s\x1b", Reason: "r>", IdempotencyKey: "i<", FiredAt: at}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var want bytes.Buffer
			if err := json.NewEncoder(&want).Encode(tc.d); err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			w := NewDecisionWriter(&got)
			if err := w.Write(&tc.d); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Errorf("got  %s\nwant %s", got.Bytes(), want.Bytes())
			}
		})
	}
}

// TestDecisionWriterInvalidValues: values that are not JSON are an error
// naming the decision, as encoding/json refuses them too.
func TestDecisionWriterInvalidValues(t *testing.T) {
	t.Parallel()
	d := Decision{Rule: "lapsed", IdempotencyKey: "f1-0", Values: json.RawMessage(`{"a":`)}
	if _, err := json.Marshal(d); err == nil {
		t.Fatal("encoding/json accepted invalid values")
	}
	var out bytes.Buffer
	w := NewDecisionWriter(&out)
	err := w.Write(&d)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("f1-0")) {
		t.Fatalf("err = %v, want an error naming decision f1-0", err)
	}
	if w.Flush(); out.Len() != 0 {
		t.Errorf("wrote %q for an invalid decision", out.String())
	}
}

// TestDecisionWriterLines: many decisions, more than one buffer's worth, make
// the same lines, in order, as encoding/json writes.
func TestDecisionWriterLines(t *testing.T) {
	t.Parallel()
	var want, got bytes.Buffer
	enc := json.NewEncoder(&want)
	w := NewDecisionWriter(&got)
	for i := range 5000 {
		d := Decision{Rule: "r", MemberID: string(rune('a' + i%26)), Status: "pending", Content: "x<y", FiredAt: time.Unix(int64(i), 0).UTC()}
		if err := enc.Encode(d); err != nil {
			t.Fatal(err)
		}
		if err := w.Write(&d); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Error("lines differ from encoding/json's")
	}
}
