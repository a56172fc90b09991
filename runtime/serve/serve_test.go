package serve

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	nrt "nudge/runtime"
)

const couponRules = `brand "acme"
import "crm"

rule store_a_coupon "Coupon for store A visitors"
  if queued at store "A" or booked at store "A"
  then send coupon "A-10OFF" via sms
  limit once per member every 7 days
`

const members = `member_id,brand,name,consent_sms
m1,acme,Ann,true
m2,acme,Bo,true
m3,acme,Cai,true
b1,bistro,Bea,true
`

// hook is a webhook test server: it records each delivery by idempotency
// key; delay holds every answer.
type hook struct {
	srv   *httptest.Server
	mu    sync.Mutex
	got   []nrt.Message
	keys  map[string]int
	delay time.Duration
}

func newHook(t *testing.T, delay time.Duration) *hook {
	h := &hook{keys: map[string]int{}, delay: delay}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(h.delay)
		var m nrt.Message
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		h.mu.Lock()
		h.got = append(h.got, m)
		h.keys[r.Header.Get("Idempotency-Key")]++
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) messages() []nrt.Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got)
}

// service is a running server on a real listener over a real database file.
type service struct {
	t     *testing.T
	s     *Server
	db    *nrt.DB
	url   string
	rules string
	token string
	stop  func()
}

type opts struct {
	rules    string // the rule file's text ("" couponRules)
	tokens   Tokens
	sinks    []nrt.Sink
	maxRows  int
	maxBody  int64
	interval time.Duration
}

func start(t *testing.T, o opts) *service {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	db, err := nrt.Open(ctx, filepath.Join(dir, "t.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	mf := filepath.Join(dir, "members.csv")
	os.WriteFile(mf, []byte(members), 0o644)
	if _, err := db.Import(ctx, "members", []string{mf}); err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(dir, "rules.nudge")
	os.WriteFile(rules, []byte(cmp.Or(o.rules, couponRules)), 0o644)
	s, err := New(ctx, Config{DB: db, Paths: []string{rules}, Sinks: o.sinks, Tokens: o.tokens, MaxRows: o.maxRows,
		MaxBodyBytes: o.maxBody, Interval: o.interval, Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	url, stop := serveLocal(t, s)
	sv := &service{t: t, s: s, db: db, url: url, rules: rules, token: o.tokens.Main}
	stopped := false
	sv.stop = func() {
		if stopped {
			return
		}
		stopped = true
		if err := stop(); err != nil {
			t.Errorf("Serve: %v", err)
		}
		db.Close()
	}
	t.Cleanup(sv.stop)
	return sv
}

// serveLocal runs s on a free local port until stop, which returns what
// Serve returned; url is the service's address.
func serveLocal(tb testing.TB, s *Server) (url string, stop func() error) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, "127.0.0.1:0", func(a net.Addr) { addr <- a }) }()
	select {
	case a := <-addr:
		return "http://" + a.String(), func() error { cancel(); return <-done }
	case err := <-done:
		cancel()
		tb.Fatal(err)
		return "", nil
	}
}

// do sends a request and decodes the JSON answer.
func (sv *service) do(method, path, token, body string) (int, map[string]any) {
	sv.t.Helper()
	req, _ := http.NewRequest(method, sv.url+path, strings.NewReader(body))
	if tok, ok := strings.CutPrefix(token, "lower:"); ok {
		req.Header.Set("Authorization", "bearer "+tok)
	} else if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		sv.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil && !strings.HasPrefix(path, "/metrics") {
		sv.t.Fatalf("%s %s: answer is not a JSON object: %v\n%s", method, path, err, b)
	}
	return resp.StatusCode, m
}

func (sv *service) count(q string) int64 {
	sv.t.Helper()
	var n int64
	if err := sv.db.SQL().QueryRow(q).Scan(&n); err != nil {
		sv.t.Fatal(err)
	}
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDecisionsOfJourneys: GET /v1/decisions gives a journey's decisions
// as run's outputs do (SPEC §8): journey, step and variant, the enter and
// complete decisions, and no trigger_seq on a step's send (the outbox
// holds a synthetic negative one there); the enter of an enter-on journey
// carries the entering event's seq.
func TestDecisionsOfJourneys(t *testing.T) {
	sv := start(t, opts{rules: `brand "acme"
import "crm"

journey welcome
  enter on queued
  split
    50% a
      send coupon "WA" via sms
    50% b
      send coupon "WB" via sms
  end
end
`})
	if code, ans := sv.do("POST", "/v1/events", "", `{"member_id":"m1","type":"queued","store":"A"}`); code != 200 {
		t.Fatalf("POST /v1/events: %d %v", code, ans)
	}
	var ds []any
	waitFor(t, "the journey's decisions", func() bool {
		_, ans := sv.do("GET", "/v1/decisions?since=0", "", "")
		ds, _ = ans["decisions"].([]any)
		return len(ds) >= 3
	})
	actions := map[string]map[string]any{}
	for _, x := range ds {
		d := x.(map[string]any)
		actions[d["action"].(string)] = d
		if d["journey"] != "welcome" || d["rule"] != "welcome" {
			t.Errorf("decision %v: journey %v, rule %v; want welcome", d["action"], d["journey"], d["rule"])
		}
	}
	send, enter := actions["send"], actions["enter"]
	if send == nil || enter == nil || actions["complete"] == nil {
		t.Fatalf("decisions %v: want enter, send and complete", ds)
	}
	if _, ok := send["trigger_seq"]; ok || send["step"] == nil || (send["variant"] != "a" && send["variant"] != "b") {
		t.Errorf("send: trigger_seq %v, step %v, variant %v; want no trigger_seq, a step line and the variant", send["trigger_seq"], send["step"], send["variant"])
	}
	if enter["trigger_seq"] != 1.0 {
		t.Errorf("enter: trigger_seq %v, want the entering event's seq 1", enter["trigger_seq"])
	}
}

// TestEventToWebhook: an event posted as NDJSON is committed, a tick
// decides the coupon, and the webhook receives it with its idempotency key.
func TestEventToWebhook(t *testing.T) {
	h := newHook(t, 0)
	sv := start(t, opts{sinks: []nrt.Sink{nrt.NewWebhookSink("", h.srv.URL)}})
	code, ans := sv.do("POST", "/v1/events", "", `{"member_id":"m1","type":"queued","store":"A","event_id":"e1"}
{"member_id":"m2","type":"visited","store":"B"}`)
	if code != 200 || ans["stored"] != 2.0 {
		t.Fatalf("POST /v1/events: %d %v", code, ans)
	}
	waitFor(t, "the webhook to receive the coupon", func() bool { return len(h.messages()) > 0 })
	got := h.messages()
	if len(got) != 1 || got[0].MemberID != "m1" || got[0].Content != "A-10OFF" || h.keys[got[0].IdempotencyKey] != 1 {
		t.Fatalf("webhook got %+v", got)
	}
	waitFor(t, "the send to be recorded sent", func() bool {
		return sv.count(`SELECT count(*) FROM outbox WHERE status = 'sent'`) == 1
	})
	code, ans = sv.do("GET", "/v1/decisions?since=0", "", "")
	ds, _ := ans["decisions"].([]any)
	if code != 200 || len(ds) != 1 || ds[0].(map[string]any)["member_id"] != "m1" || ds[0].(map[string]any)["seq"] != 1.0 {
		t.Fatalf("GET /v1/decisions: %d %v", code, ans)
	}
	if code, ans = sv.do("GET", fmt.Sprintf("/v1/decisions?since=%v", ans["next"]), "", ""); len(ans["decisions"].([]any)) != 0 {
		t.Fatalf("the next page is not empty: %d %v", code, ans)
	}
	code, ans = sv.do("GET", "/v1/members/m1/why", "", "")
	if code != 200 || ans["member"] != "m1" {
		t.Fatalf("why: %d %v", code, ans)
	}
}

// TestDedupe: a repeated event_id, in a later batch or the same one, is
// stored once and reported as a duplicate; another brand's same id is not
// a duplicate.
func TestDedupe(t *testing.T) {
	sv := start(t, opts{})
	for i, c := range []struct {
		body        string
		stored, dup int
		dupRows     []float64
	}{
		{`[{"member_id":"m1","type":"visited","event_id":"x1"},{"member_id":"m1","type":"visited","event_id":"x1"},{"member_id":"m2","type":"visited","event_id":7}]`, 2, 1, []float64{2}},
		{`[{"member_id":"m3","type":"visited"},{"member_id":"m1","type":"visited","event_id":"x1"},{"member_id":"m2","type":"visited","event_id":"7"}]`, 1, 2, []float64{2, 3}},
		{`{"member_id":"b1","brand":"bistro","type":"visited","event_id":"x1"}`, 1, 0, nil},
	} {
		code, ans := sv.do("POST", "/v1/events", "", c.body)
		if code != 200 {
			t.Fatalf("batch %d: %d %v", i+1, code, ans)
		}
		dups := ans["duplicates"].([]any)
		var rows []float64
		for _, d := range dups {
			rows = append(rows, d.(map[string]any)["row"].(float64))
		}
		if ans["stored"] != float64(c.stored) || len(dups) != c.dup || !slices.Equal(rows, c.dupRows) {
			t.Errorf("batch %d: %v; want stored %d, duplicates at rows %v", i+1, ans, c.stored, c.dupRows)
		}
	}
	if n := sv.count(`SELECT count(*) FROM events`); n != 4 {
		t.Errorf("events: %d, want 4", n)
	}
	if n := sv.count(`SELECT count(*) FROM event_ids`); n != 3 {
		t.Errorf("event_ids: %d, want 3", n)
	}
	if n := sv.count(`SELECT count(*) FROM events e JOIN event_ids i USING (seq) WHERE i.event_id = 'x1' AND e.brand = i.brand`); n != 2 {
		t.Errorf("x1 is stored %d times over two brands, want 2", n)
	}
}

// TestRowErrors: a bad row rejects the batch with 400, names the body row
// and field, and stores nothing.
func TestRowErrors(t *testing.T) {
	sv := start(t, opts{})
	for _, c := range []struct {
		name, path, body string
		row              float64
		field, reason    string
	}{
		{"bad timestamp", "/v1/events", `{"member_id":"m1","type":"visited"}` + "\n" + `{"member_id":"m1","type":"visited","ts":"yesterday"}`, 2, "ts", `cannot parse "yesterday" as a timestamp`},
		{"year 10000", "/v1/events", `[{"member_id":"m1","type":"visited","ts":"10000-01-01T00:00:00"}]`, 1, "ts", "outside the years 0000 to 9999"},
		{"offset of 99 hours", "/v1/events", `[{"member_id":"m1","type":"visited","ts":"2024-11-11T10:00:00+08:00"},{"member_id":"m1","type":"visited","ts":"2024-11-11T10:00:00+99:00"}]`, 2, "ts", "an offset of 15 hours or more from UTC"},
		{"bad amount", "/v1/events", `[{"member_id":"m1","type":"purchased","amount":"12,5"}]`, 1, "amount", "as a number"},
		{"missing member", "/v1/events", `[{"member_id":"m1","type":"visited"},{"type":"visited"},{"member_id":"m2"}]`, 2, "member_id", "missing value"},
		{"invalid JSON", "/v1/events", "{\"member_id\":\"m1\",\"type\":\"visited\"}\n{\"member_id\":", 2, "", "invalid JSON"},
		{"invalid JSON in an array", "/v1/events", `[{"member_id":"m1","type":"visited"},{"member_id":"m2","type":}]`, 2, "", "invalid JSON array"},
		{"not an object", "/v1/events", `[{"member_id":"m1","type":"visited"}, 3]`, 2, "", "not a JSON object"},
		{"tracking timestamp", "/v1/events", `{"batch":[{"type":"track","userId":"m1","event":"Visited"},{"type":"track","userId":"m1","event":"Visited","timestamp":"soon"}]}`, 2, "timestamp", "cannot parse"},
		{"tracking page", "/v1/events", `{"type":"page","userId":"m1","name":"Home"}`, 1, "type", "takes track and identify"},
		{"anonymous", "/v1/events", `{"type":"track","anonymousId":"a1","event":"Visited"}`, 1, "userId", "anonymous"},
		{"member birthday", "/v1/members", `{"member_id":"m1","name":"Ann"}` + "\n" + `{"member_id":"m7","birthday":"spring"}`, 2, "birthday", "as a date"},
		// A member's rows are merged: the bad value names the row that gave it.
		{"merged member rows", "/v1/members", `{"type":"identify","userId":"m2","traits":{"tier":"gold"}}
{"member_id":"m9","name":"New"}
{"type":"identify","userId":"m2","traits":{"birthday":"spring"}}
{"type":"identify","userId":"m2","traits":{"city":"Y"}}`, 3, "traits.birthday", "as a date"},
		{"identify trait", "/v1/members", `{"type":"identify","userId":"m1","traits":{"consentSms":"maybe"}}`, 1, "traits.consentSms", "boolean"},
		{"empty event id", "/v1/events", `[{"member_id":"m1","type":"visited","event_id":""}]`, 1, "event_id", "empty value"},
		{"invalid UTF-8", "/v1/events", "{\"member_id\":\"m1\",\"type\":\"visited\"}\n{\"member_id\":\"bad\xff\",\"type\":\"visited\"}", 2, "", "not valid UTF-8"},
		// JSON's \u0000 is valid UTF-8: a NUL in a member id or a field is
		// a row error, as in an imported file; so is a blank member id.
		{"NUL in a member id", "/v1/events", `[{"member_id":"m1","type":"visited"},{"member_id":"m\u00001","type":"visited"}]`, 2, "member_id", "holds a NUL byte"},
		{"NUL in an event field", "/v1/events", `[{"member_id":"m1","type":"visited","store":"A\u0000B"}]`, 1, "store", "holds a NUL byte"},
		{"NUL in a tracking property", "/v1/events", `{"type":"track","userId":"m1","event":"Visited","properties":{"store":"\u0000"}}`, 1, "properties.store", "holds a NUL byte"},
		{"NUL in a member id, identify", "/v1/members", `{"type":"identify","userId":"m\u0000","traits":{"name":"Ann"}}`, 1, "userId", "holds a NUL byte"},
		{"NUL in a member field", "/v1/members", `{"member_id":"m1","city":"\u0000"}`, 1, "city", "holds a NUL byte"},
		{"blank member id", "/v1/members", `{"member_id":"m1"}` + "\n" + `{"member_id":" \u3000"}`, 2, "member_id", "is blank"},
		// Ids are compared exactly: " m1" would be another member than
		// m1, " acme" another brand; refused as import refuses them.
		{"space before a member id", "/v1/events", `[{"member_id":"m1","type":"visited"},{"member_id":" m1","type":"visited"}]`, 2, "member_id", `" m1" has white space at its start or end`},
		{"space after a brand", "/v1/members", `{"member_id":"m1","brand":"acme "}`, 1, "brand", `"acme " has white space at its start or end`},
		{"tab in a type", "/v1/events", `{"member_id":"m1","type":"visited\t"}`, 1, "type", `has white space at its start or end`},
		{"space in a userId", "/v1/events", `{"type":"track","userId":"m1 ","event":"Visited"}`, 1, "userId", `"m1 " has white space at its start or end`},
		{"space in a userId, identify", "/v1/members", `{"type":"identify","userId":"\u00a0m1","traits":{"name":"Ann"}}`, 1, "userId", `has white space at its start or end`},
		// A key repeated in one object: encoding/json kept the last value.
		{"a key twice", "/v1/events", `[{"member_id":"m1","type":"visited"},{"member_id":"m1","member_id":"m2","type":"visited"}]`, 2, "member_id", `the key "member_id" is given twice in one object`},
		{"a key twice, ndjson members", "/v1/members", `{"member_id":"m1"}` + "\n" + `{"member_id":"m2","city":"X","city":"Y"}`, 2, "city", `the key "city" is given twice`},
		{"a property twice", "/v1/events", `{"type":"track","userId":"m1","event":"Visited","properties":{"store":"A","items":[{"sku":"x","sku":"y"}]}}`, 1, "properties.items.sku", `the key "properties.items.sku" is given twice`},
		{"a column twice", "/v1/events", `[{"member_id":"m1","type":"visited"},{"member_id":"caseA","Member_Id":"caseB","type":"visited"}]`, 2, "member_id", `names column member_id, as "Member_Id" does`},
		{"identify, then a bad track", "/v1/events", `{"batch":[{"type":"identify","userId":"atom1","traits":{"name":"Atomic"}},{"type":"track","userId":"atom1","event":"queued","timestamp":"garbage"}]}`, 2, "timestamp", "cannot parse"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := sv.count(`SELECT count(*) FROM events`) + sv.count(`SELECT count(*) FROM members`)
			code, ans := sv.do("POST", c.path, "", c.body)
			rows, _ := ans["rows"].([]any)
			if code != 400 || len(rows) == 0 {
				t.Fatalf("%d %v; want 400 with rows", code, ans)
			}
			r := rows[0].(map[string]any)
			field, _ := r["field"].(string)
			if r["row"] != c.row || field != c.field || !strings.Contains(r["reason"].(string), c.reason) {
				t.Errorf("row error %v; want row %v field %q reason ~%q", r, c.row, c.field, c.reason)
			}
			if msg, _ := ans["error"].(string); !strings.Contains(msg, "nothing was stored") {
				t.Errorf("error %q does not say nothing was stored", msg)
			}
			if after := sv.count(`SELECT count(*) FROM events`) + sv.count(`SELECT count(*) FROM members`); after != before {
				t.Errorf("rows stored despite the error: %d -> %d", before, after)
			}
		})
	}
}

// TestEnvelopeKeyTwice: a key given twice in a tracking batch's envelope
// is a 400 naming the key, and nothing is stored (encoding/json kept the
// last "batch" list, storing the messages of one list of two).
func TestEnvelopeKeyTwice(t *testing.T) {
	sv := start(t, opts{})
	for _, c := range []struct{ body, key string }{
		{`{"batch":[{"type":"track","userId":"m1","event":"Visited"}],"batch":[{"type":"track","userId":"m2","event":"Visited"}]}`, "batch"},
		{`{"context":{},"batch":[{"type":"track","userId":"m1","event":"Visited"}],"context":{}}`, "context"},
	} {
		code, ans := sv.do("POST", "/v1/events", "", c.body)
		msg, _ := ans["error"].(string)
		if code != 400 || !strings.Contains(msg, fmt.Sprintf("the key %q is given twice in the batch envelope", c.key)) || !strings.Contains(msg, "nothing was stored") {
			t.Errorf("%s: %d %v; want 400 naming the key %q", c.body, code, ans, c.key)
		}
	}
	if n := sv.count(`SELECT count(*) FROM events`); n != 0 {
		t.Errorf("%d events stored, want 0", n)
	}
	// A plain event with a field named batch that is no list is an event.
	if code, ans := sv.do("POST", "/v1/events", "", `{"member_id":"m1","type":"visited","batch":"b7"}`); code != 200 {
		t.Errorf("event with a batch field: %d %v; want 200", code, ans)
	}
}

// TestTracking: a tracking-spec batch stores track messages as events
// (properties to columns and props, messageId as event id) and identify
// traits as member columns and attrs.
func TestTracking(t *testing.T) {
	sv := start(t, opts{})
	code, ans := sv.do("POST", "/v1/events", "", `{"batch":[
 {"type":"identify","userId":"m8","traits":{"name":"Hua","consentSms":true,"favoriteDish":"fish"}},
 {"type":"track","userId":"m8","event":"Order Placed","messageId":"msg-1","timestamp":"2024-11-11T02:00:00Z","properties":{"orderId":"o9","amount":73.5,"coupon":"X"}}
]}`)
	if code != 200 || ans["stored"] != 1.0 {
		t.Fatalf("%d %v", code, ans)
	}
	var typ, order, props, ts, name, attrs string
	var amount float64
	var consent bool
	if err := sv.db.SQL().QueryRow(`SELECT type, order_id, amount, CAST(props AS VARCHAR), strftime(ts, '%Y-%m-%d %H:%M') FROM events e JOIN event_ids i USING (seq) WHERE i.event_id = 'msg-1'`).
		Scan(&typ, &order, &amount, &props, &ts); err != nil {
		t.Fatal(err)
	}
	if typ != "order_placed" || order != "o9" || amount != 73.5 || props != `{"coupon":"X"}` || ts != "2024-11-11 02:00" {
		t.Errorf("event: %s %s %v %s %s", typ, order, amount, props, ts)
	}
	if err := sv.db.SQL().QueryRow(`SELECT name, consent_sms, CAST(attrs AS VARCHAR) FROM members WHERE member_id = 'm8' AND brand = 'acme'`).Scan(&name, &consent, &attrs); err != nil {
		t.Fatal(err)
	}
	if name != "Hua" || !consent || attrs != `{"favoriteDish":"fish"}` {
		t.Errorf("member: %s %v %s", name, consent, attrs)
	}
}

// TestAuth: with tokens set, requests need one; a brand token writes and
// reads its brand only and may not reload.
func TestAuth(t *testing.T) {
	sv := start(t, opts{tokens: Tokens{Main: "main-secret", Brand: map[string]string{"BISTRO": "bistro-secret"}}})
	ev := `{"member_id":"m1","type":"visited"}`
	for _, c := range []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"no token", "POST", "/v1/events", "", ev, 401},
		{"wrong token", "POST", "/v1/events", "nope", ev, 401},
		{"main token", "POST", "/v1/events", "main-secret", ev, 200},
		{"scheme in lower case", "POST", "/v1/events", "lower:main-secret", ev, 200},
		{"brand token, other brand", "POST", "/v1/events", "bistro-secret", ev, 403},
		{"brand token, own brand", "POST", "/v1/events?brand=bistro", "bistro-secret", `{"member_id":"b1","type":"visited"}`, 200},
		{"brand token, row of another brand", "POST", "/v1/events?brand=bistro", "bistro-secret", `{"member_id":"m1","brand":"acme","type":"visited"}`, 403},
		{"brand token reads other brand", "GET", "/v1/decisions", "bistro-secret", "", 403},
		// The running rules are acme's: why and query answer for acme only.
		{"brand token queries with another brand's rules", "POST", "/v1/query?brand=bistro", "bistro-secret", `{"condition":"visited in last 1 day"}`, 400},
		{"brand token asks why with another brand's rules", "GET", "/v1/members/b1/why?brand=bistro", "bistro-secret", "", 400},
		{"brand token reloads", "POST", "/v1/reload", "bistro-secret", "", 403},
		{"read without token", "GET", "/v1/rules", "", "", 401},
		{"health needs none", "GET", "/healthz", "", "", 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, ans := sv.do(c.method, c.path, c.token, c.body)
			if code != c.want {
				t.Fatalf("%d %v; want %d", code, ans, c.want)
			}
			if code >= 400 {
				if msg, _ := ans["error"].(string); msg == "" {
					t.Errorf("no error message: %v", ans)
				}
			}
		})
	}
	if n := sv.count(`SELECT count(*) FROM events`); n != 3 {
		t.Errorf("events stored: %d, want 3", n)
	}
}

// TestReadHostile: the read endpoints answer odd input with a 400 that
// names it, bound their bodies, and why's dry run conflicts with no tick
// nor another why (before, both got a 500 "Conflict on update!" from a
// journey's instances, and the tick failed).
func TestReadHostile(t *testing.T) {
	sv := start(t, opts{maxBody: 2000})
	for _, c := range []struct {
		name, method, path, body, want string
		code                           int
	}{
		{"NUL in the member id", "GET", "/v1/members/m%00x/why", "", "member id", 400},
		{"invalid UTF-8 member id", "GET", "/v1/members/m%ff/why", "", "member id", 400},
		{"invalid UTF-8 brand", "GET", "/v1/decisions?brand=%ff", "", "brand", 400},
		{"why at no time", "GET", "/v1/members/m1/why?now=0001-01-01", "", "no time at all", 400},
		{"query body over the limit", "POST", "/v1/query", `{"condition":"visited ever","pad":"` + strings.Repeat("a", 3000) + `"}`, "over 2000 bytes", 413},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, ans := sv.do(c.method, c.path, "", c.body)
			if msg, _ := ans["error"].(string); code != c.code || !strings.Contains(msg, c.want) {
				t.Errorf("%d %v; want %d ~%q", code, ans, c.code, c.want)
			}
		})
	}
	// why while events keep ticks busy, four at a time, with a journey
	// whose instances ticks and why's dry runs advance.
	os.WriteFile(sv.rules, []byte(couponRules+`
journey follow_up
  enter on queued
  send reminder "thanks" via sms
  wait 1 day
  send reminder "come back" via sms
end
`), 0o644)
	if code, ans := sv.do("POST", "/v1/reload", "", ""); code != 200 {
		t.Fatalf("reload: %d %v", code, ans)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 5 {
				sv.do("POST", "/v1/events", "", fmt.Sprintf(`{"member_id":"m1","type":"queued","store":"A","event_id":"w%d-%d"}`, i, j))
				if code, ans := sv.do("GET", "/v1/members/m1/why", "", ""); code != 200 {
					errs <- fmt.Sprintf("why: %d %v", code, ans)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestWriteBrandParameter: ?brand= of a write is UTF-8 text without NUL,
// as a read's is: else 400 naming the parameter, and nothing is stored
// (a brand of invalid UTF-8 was stored with U+FFFD in its place).
func TestWriteBrandParameter(t *testing.T) {
	sv := start(t, opts{})
	for _, c := range []struct{ name, path, body string }{
		{"members, invalid UTF-8", "/v1/members?brand=ac%ffme", `{"member_id":"m5","name":"Eve"}`},
		{"identify, invalid UTF-8", "/v1/members?brand=%ff", `{"type":"identify","userId":"m5","traits":{"name":"Eve"}}`},
		{"events, invalid UTF-8", "/v1/events?brand=%ff", `{"member_id":"m5","type":"visited"}`},
		{"track, NUL", "/v1/events?brand=a%00b", `{"type":"track","userId":"m5","event":"Visited"}`},
		{"members, NUL", "/v1/members?brand=a%00b", `{"member_id":"m5","name":"Eve"}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := sv.count(`SELECT count(*) FROM events`) + sv.count(`SELECT count(*) FROM members`)
			code, ans := sv.do("POST", c.path, "", c.body)
			if msg, _ := ans["error"].(string); code != 400 || !strings.Contains(msg, "?brand=") || !strings.Contains(msg, "not valid UTF-8 text without NUL") {
				t.Errorf("%d %v; want 400 naming ?brand=", code, ans)
			}
			if after := sv.count(`SELECT count(*) FROM events`) + sv.count(`SELECT count(*) FROM members`); after != before {
				t.Errorf("rows stored despite the error: %d -> %d", before, after)
			}
		})
	}
}

// TestRefuseOpenListen: without a token the service does not listen beyond
// loopback, and says which variable to set.
func TestRefuseOpenListen(t *testing.T) {
	sv := start(t, opts{})
	err := sv.s.Serve(context.Background(), "0.0.0.0:0", nil)
	if err == nil || !strings.Contains(err.Error(), "NUDGE_TOKEN") {
		t.Fatalf("Serve on 0.0.0.0 without a token: %v", err)
	}
}

// TestLimits: bodies over the size limit and batches over the row limit
// get 413.
func TestLimits(t *testing.T) {
	sv := start(t, opts{maxRows: 3, maxBody: 2000})
	row := `{"member_id":"m1","type":"visited"}` + "\n"
	if code, ans := sv.do("POST", "/v1/events", "", strings.Repeat(row, 4)); code != 413 || !strings.Contains(ans["error"].(string), "at most 3") {
		t.Errorf("4 rows: %d %v", code, ans)
	}
	if code, ans := sv.do("POST", "/v1/events", "", `{"member_id":"m1","type":"visited","note":"`+strings.Repeat("x", 3000)+`"}`); code != 413 {
		t.Errorf("3 kB body: %d %v", code, ans)
	}
	if code, ans := sv.do("POST", "/v1/events", "", strings.Repeat(row, 3)); code != 200 {
		t.Errorf("3 rows: %d %v", code, ans)
	}
}

// TestReload: invalid rules keep the running program and come back as
// diagnostics; valid ones replace it.
func TestReload(t *testing.T) {
	sv := start(t, opts{})
	_, before := sv.do("GET", "/v1/rules", "", "")
	os.WriteFile(sv.rules, []byte(strings.Replace(couponRules, "queued at", "queud at", 1)), 0o644)
	code, ans := sv.do("POST", "/v1/reload", "", "")
	diags, _ := ans["diagnostics"].([]any)
	if code != 422 || len(diags) == 0 || !strings.Contains(fmt.Sprint(diags[0]), "queud") {
		t.Fatalf("bad rules: %d %v", code, ans)
	}
	if _, after := sv.do("GET", "/v1/rules", "", ""); fmt.Sprint(after["files"]) != fmt.Sprint(before["files"]) {
		t.Errorf("a failed reload changed the program: %v -> %v", before, after)
	}
	os.WriteFile(sv.rules, []byte(strings.Replace(couponRules, "store_a_coupon", "store_a_voucher", 1)), 0o644)
	code, ans = sv.do("POST", "/v1/reload", "", "")
	if code != 200 || fmt.Sprint(ans["rules"]) != "[store_a_voucher]" {
		t.Fatalf("good rules: %d %v", code, ans)
	}
	if _, after := sv.do("GET", "/v1/rules", "", ""); fmt.Sprint(after["rules"]) != "[store_a_voucher]" {
		t.Errorf("rules after reload: %v", after)
	}
}

// TestOpenAPI: every registered route is in the OpenAPI document and every
// operation of the document is a route; docs/openapi.json is the same
// document.
func TestOpenAPI(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	var documented []string
	for p, ops := range doc.Paths {
		for m := range ops {
			documented = append(documented, strings.ToUpper(m)+" "+p)
		}
	}
	sv := start(t, opts{})
	routes := sv.s.Routes()
	sort.Strings(documented)
	sort.Strings(routes)
	if !slices.Equal(documented, routes) {
		t.Errorf("routes and OpenAPI operations differ:\nroutes:     %v\ndocumented: %v", routes, documented)
	}
	docs, err := os.ReadFile("../../docs/openapi.json")
	if err != nil || !bytes.Equal(docs, OpenAPI) {
		t.Errorf("docs/openapi.json differs from runtime/serve/openapi.json (copy it): %v", err)
	}
	code, served := sv.do("GET", "/v1/openapi.json", "", "")
	if code != 200 || served["openapi"] != "3.1.0" {
		t.Errorf("GET /v1/openapi.json: %d", code)
	}
}

// TestMetrics: /metrics is Prometheus text with the service's metrics.
func TestMetrics(t *testing.T) {
	sv := start(t, opts{})
	sv.do("POST", "/v1/events", "", `{"member_id":"m1","type":"queued","store":"A","event_id":"q"}`)
	sv.do("POST", "/v1/events", "", `{"member_id":"m1","type":"queued","store":"A","event_id":"q"}`)
	waitFor(t, "a tick to decide", func() bool { return sv.count(`SELECT count(*) FROM outbox`) == 1 })
	// (A tick records its metrics once its commit returned, just after the
	// outbox row shows; the event-to-decision latency last.)
	waitFor(t, "the tick's metrics", func() bool {
		resp, err := http.Get(sv.url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), "\nnudge_event_to_decision_seconds_count 1\n")
	})
	resp, err := http.Get(sv.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	// (nudge_dispatch_total appears once a sink is given: TestEventToWebhook.)
	for _, name := range []string{"nudge_events_ingested_total", "nudge_events_duplicate_total", "nudge_ticks_total", "nudge_tick_duration_seconds",
		"nudge_decisions_total", "nudge_event_to_decision_seconds", "nudge_http_requests_total", "nudge_rules_loaded"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("metric %s missing", name)
		}
	}
	if v := fams["nudge_events_ingested_total"].GetMetric()[0].GetCounter().GetValue(); v != 1 {
		t.Errorf("events ingested: %v, want 1", v)
	}
	if v := fams["nudge_events_duplicate_total"].GetMetric()[0].GetCounter().GetValue(); v != 1 {
		t.Errorf("duplicates: %v, want 1", v)
	}
	if n := fams["nudge_event_to_decision_seconds"].GetMetric()[0].GetHistogram().GetSampleCount(); n != 1 {
		t.Errorf("event-to-decision samples: %d, want 1", n)
	}
}

// TestBadWebhook: a webhook that takes seconds to answer, or fails, holds
// up neither ingest nor ticks; a failing one leaves the send pending with
// its error for a later round.
func TestBadWebhook(t *testing.T) {
	for _, c := range []struct {
		name  string
		delay time.Duration
		fail  bool
	}{
		{"slow", 3 * time.Second, false},
		{"failing", 0, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHook(t, c.delay)
			url := h.srv.URL
			if c.fail {
				bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					time.Sleep(500 * time.Millisecond)
					http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
				}))
				t.Cleanup(bad.Close)
				url = bad.URL
			}
			sv := start(t, opts{sinks: []nrt.Sink{nrt.NewWebhookSink("", url)}})
			sv.do("POST", "/v1/events", "", `{"member_id":"m1","type":"queued","store":"A"}`)
			waitFor(t, "the first decision", func() bool { return sv.count(`SELECT count(*) FROM outbox`) == 1 })
			time.Sleep(300 * time.Millisecond) // dispatch is now inside the webhook
			start := time.Now()
			code, _ := sv.do("POST", "/v1/events", "", `{"member_id":"m2","type":"queued","store":"A"}`)
			if code != 200 || time.Since(start) > 2*time.Second {
				t.Fatalf("ingest during the delivery: %d after %v", code, time.Since(start))
			}
			waitFor(t, "the second decision", func() bool { return sv.count(`SELECT count(*) FROM outbox`) == 2 })
			if el := time.Since(start); el > 2500*time.Millisecond {
				t.Errorf("the tick waited for the webhook: %v", el)
			}
			if c.fail {
				waitFor(t, "the failed attempt to be recorded", func() bool {
					return sv.count(`SELECT count(*) FROM outbox WHERE status = 'pending' AND attempts >= 1 AND last_error LIKE '%503%'`) >= 1
				})
			}
		})
	}
}

// TestUnknownRoute: unknown paths and wrong methods answer JSON errors.
func TestUnknownRoute(t *testing.T) {
	sv := start(t, opts{})
	if code, ans := sv.do("GET", "/v1/nope", "", ""); code != 404 || ans["error"] == nil {
		t.Errorf("unknown path: %d %v", code, ans)
	}
	if code, ans := sv.do("GET", "/v1/events", "", ""); code != 405 || !strings.Contains(ans["error"].(string), "POST") {
		t.Errorf("wrong method: %d %v", code, ans)
	}
}

// TestQuery: POST /v1/query refuses what is not a condition before it
// asks Config.Query, and without one answers 501. (repl/engine's
// TestServiceQuery evaluates conditions through the service.)
func TestQuery(t *testing.T) {
	sv := start(t, opts{})
	for _, c := range []struct {
		body, want string
		code       int
	}{
		{`{"condition": "segment x = visited in last 1 day"}`, "not a condition", 400},
		{`{"condition": "\\sql DELETE FROM members"}`, "not a condition", 400},
		{`{"cond": 1}`, "is empty", 400},
		{`{"condition": "visited in last 1 day"}`, "no conditions", 501},
	} {
		code, ans := sv.do("POST", "/v1/query", "", c.body)
		if msg, _ := ans["error"].(string); code != c.code || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %d %v; want %d ~%q", c.body, code, ans, c.code, c.want)
		}
	}
}

// TestWaitingMember: an event of a member not in members is stored and
// waits for its member (as nudge import does).
func TestWaitingMember(t *testing.T) {
	sv := start(t, opts{})
	code, ans := sv.do("POST", "/v1/events", "", `[{"member_id":"m1","type":"visited"},{"member_id":"new1","type":"visited"},{"member_id":"new1","type":"browsed"},{"member_id":"b1","brand":"acme","type":"visited"}]`)
	if code != 200 || ans["waiting_for_member"] != 3.0 {
		t.Fatalf("%d %v; want 3 waiting (new1 twice, b1 is bistro's)", code, ans)
	}
	if n := sv.count(`SELECT count(*) FROM waiting_events WHERE member_id IN ('new1', 'b1')`); n != 3 {
		t.Errorf("waiting_events: %d, want 3", n)
	}
}

// TestWaitingMemberKnown: ingest remembers which members exist (so that
// it need not scan the members table for every batch), and still notes an
// event of a member it never saw as waiting, and one of a member upserted
// since as not.
func TestWaitingMemberKnown(t *testing.T) {
	sv := start(t, opts{})
	for i, c := range []struct {
		path, body string
		waiting    float64
	}{
		{"/v1/events", `[{"member_id":"m1","type":"visited"},{"member_id":"m2","type":"visited"}]`, 0},
		{"/v1/events", `[{"member_id":"m1","type":"visited"},{"member_id":"new1","type":"visited"}]`, 1},
		{"/v1/members", `{"member_id":"new1","name":"Neo","consent_sms":true}`, 0},
		{"/v1/events", `[{"member_id":"new1","type":"visited"},{"member_id":"m3","type":"visited"}]`, 0},
		{"/v1/events", `[{"member_id":"new2","type":"visited"},{"member_id":"b1","type":"visited"}]`, 2},
		{"/v1/events", `[{"member_id":"b1","brand":"bistro","type":"visited"}]`, 0},
	} {
		code, ans := sv.do("POST", c.path, "", c.body)
		if code != 200 {
			t.Fatalf("step %d: %d %v", i+1, code, ans)
		}
		if w, _ := ans["waiting_for_member"].(float64); w != c.waiting {
			t.Errorf("step %d: %v; want %v waiting for their member", i+1, ans, c.waiting)
		}
	}
}

// TestWaitingAfterRestart: events stored while no service ran, or stored
// by a service that stopped before its tick, are waiting for a tick when a
// new server starts over the database: nudge_events_waiting_for_tick
// counts them until the server's first tick, then reads 0. No Serve loop
// runs, so the only tick is the test's.
func TestWaitingAfterRestart(t *testing.T) {
	for _, c := range []struct {
		name          string
		before, after int // events stored before a tick ran, and after it (-1: no tick)
		want          float64
	}{
		{"no tick ever ran", 3, -1, 3},
		{"stored after the last tick", 2, 3, 3},
		{"all evaluated", 2, 0, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			db, rules := couponDB(t, dir)
			n := 0
			ts := time.Now().UTC().Add(-time.Hour).Format("2006-01-02 15:04:05")
			storeEvents := func(k int) {
				t.Helper()
				if k == 0 {
					return
				}
				var rows []map[string]any
				for range k {
					n++
					rows = append(rows, map[string]any{"brand": "acme", "member_id": fmt.Sprintf("m%d", n%3+1), "type": "visited", "store": "B",
						"event_id": fmt.Sprintf("e%d", n), "ts": ts})
				}
				if _, err := db.IngestEvents(ctx, rows, "test batch"); err != nil {
					t.Fatal(err)
				}
			}
			newServer := func() (*Server, *httptest.Server) {
				t.Helper()
				s, err := New(ctx, Config{DB: db, Paths: []string{rules}})
				if err != nil {
					t.Fatal(err)
				}
				hs := httptest.NewServer(s)
				t.Cleanup(hs.Close)
				return s, hs
			}
			storeEvents(c.before)
			if c.after >= 0 {
				s, _ := newServer()
				if _, err := s.Tick(ctx); err != nil {
					t.Fatal(err)
				}
				storeEvents(c.after)
			}
			s, hs := newServer()
			if got := waitingGauge(t, hs.URL); got != c.want {
				t.Errorf("before the first tick: nudge_events_waiting_for_tick %v, want %v", got, c.want)
			}
			if _, err := s.Tick(ctx); err != nil {
				t.Fatal(err)
			}
			if got := waitingGauge(t, hs.URL); got != 0 {
				t.Errorf("after the first tick: nudge_events_waiting_for_tick %v, want 0", got)
			}
		})
	}
}

// couponDB opens a database file in dir (closed when the test ends) with
// the test members imported, and writes the coupon rules beside it: what a
// test that makes its own Server starts from. It returns the database and
// the rules' path.
func couponDB(t *testing.T, dir string) (*nrt.DB, string) {
	t.Helper()
	ctx := context.Background()
	db, err := nrt.Open(ctx, filepath.Join(dir, "t.duckdb"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mf := filepath.Join(dir, "members.csv")
	os.WriteFile(mf, []byte(members), 0o644)
	if _, err := db.Import(ctx, "members", []string{mf}); err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(dir, "rules.nudge")
	os.WriteFile(rules, []byte(couponRules), 0o644)
	return db, rules
}

// waitingGauge reads nudge_events_waiting_for_tick from GET /metrics.
func waitingGauge(t *testing.T, url string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := fams["nudge_events_waiting_for_tick"]
	if !ok {
		t.Fatal("/metrics has no nudge_events_waiting_for_tick")
	}
	return f.GetMetric()[0].GetGauge().GetValue()
}

// TestArrivalAfterQuietTicks: ticks that run while no member was upserted
// skip admitting the events waiting for their member; the tick after a
// member arrives through the API admits its waiting event, which then
// decides its coupon.
func TestArrivalAfterQuietTicks(t *testing.T) {
	sv := start(t, opts{})
	code, ans := sv.do("POST", "/v1/events", "", `{"member_id":"new1","type":"queued","store":"A","event_id":"w1"}`)
	if code != 200 || ans["waiting_for_member"] != 1.0 {
		t.Fatalf("POST /v1/events: %d %v; want 1 waiting", code, ans)
	}
	// Ticks evaluated the event (it waits for its member still), and a
	// later one.
	evaluated := func(ans map[string]any) func() bool {
		return func() bool {
			return sv.count(`SELECT coalesce(min(wm_seq), 0) FROM rule_state`) >= int64(ans["last_seq"].(float64))
		}
	}
	waitFor(t, "a tick after the event", evaluated(ans))
	_, ans = sv.do("POST", "/v1/events", "", `{"member_id":"m2","type":"visited","store":"B"}`)
	waitFor(t, "a tick after the next event", evaluated(ans))
	if n := sv.count(`SELECT count(*) FROM waiting_events WHERE member_id = 'new1'`); n != 1 {
		t.Fatalf("waiting_events of new1: %d, want 1", n)
	}
	if n := sv.count(`SELECT count(*) FROM outbox`); n != 0 {
		t.Fatalf("outbox: %d rows before the member arrived, want 0", n)
	}
	code, ans = sv.do("POST", "/v1/members", "", `{"member_id":"new1","name":"Neo","consent_sms":true}`)
	if code != 200 {
		t.Fatalf("POST /v1/members: %d %v", code, ans)
	}
	waitFor(t, "the arrived member's coupon", func() bool {
		return sv.count(`SELECT count(*) FROM outbox WHERE member_id = 'new1' AND content = 'A-10OFF'`) == 1
	})
	if n := sv.count(`SELECT count(*) FROM waiting_events`); n != 0 {
		t.Errorf("waiting_events: %d after the arrival, want 0", n)
	}
}

// TestWaitingCountsAcknowledged: a batch acknowledged after a tick counts
// in nudge_events_waiting_for_tick at once, not only after the next tick
// ran (a client that waits for the gauge to read 0 must not stop the
// service before its events are decided).
func TestWaitingCountsAcknowledged(t *testing.T) {
	ctx := context.Background()
	db, rules := couponDB(t, t.TempDir())
	s, err := New(ctx, Config{DB: db, Paths: []string{rules}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	defer hs.Close()
	if _, err := s.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got := waitingGauge(t, hs.URL); got != 0 {
		t.Fatalf("after a tick with no event: nudge_events_waiting_for_tick %v, want 0", got)
	}
	body := `{"member_id":"m1","type":"queued","store":"A","event_id":"a1"}
{"member_id":"m2","type":"visited","store":"B","event_id":"a2"}
`
	resp, err := http.Post(hs.URL+"/v1/events", "application/x-ndjson", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /v1/events: %d", resp.StatusCode)
	}
	if got := waitingGauge(t, hs.URL); got != 2 {
		t.Errorf("after a batch of 2 was acknowledged: nudge_events_waiting_for_tick %v, want 2", got)
	}
	if _, err := s.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	if got := waitingGauge(t, hs.URL); got != 0 {
		t.Errorf("after the tick: nudge_events_waiting_for_tick %v, want 0", got)
	}
}
