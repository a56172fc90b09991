package serve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// BenchmarkParseEvents measures the part of an ingest request before the
// database: parsing a 100-event NDJSON body (the load generator's mix) and
// turning it into rows of the events table.
func BenchmarkParseEvents(b *testing.B) {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	for i := range 100 {
		ev := map[string]any{"member_id": fmt.Sprintf("m%d", i), "event_id": fmt.Sprintf("lg-1-%d", i), "type": "purchased", "store": "A", "amount": 20 + i}
		enc.Encode(ev)
	}
	b.SetBytes(int64(body.Len()))
	for b.Loop() {
		objs, errs := parseBody(body.Bytes())
		if len(errs) > 0 {
			b.Fatal(errs)
		}
		if _, errs := toRows(objs, "events", "acme", time.Now()); len(errs) > 0 {
			b.Fatal(errs)
		}
	}
}
