package runtime

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"nudge/compiler"
)

func TestParseSink(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		spec, kind, name, err string
	}{
		{spec: "jsonl:out/sends.jsonl", kind: "jsonl"},
		{spec: "webhook:https://example.com/hook?a=b", kind: "webhook"},
		{spec: "alerts=webhook:http://localhost:8080/x", kind: "webhook", name: "alerts"},
		{spec: "audit=jsonl:/tmp/a.jsonl", kind: "jsonl", name: "audit"},
		{spec: "kafka:topic", err: `sink "kafka:topic": unknown sink kind "kafka": want jsonl or webhook`},
		{spec: "webhook:ftp://x", err: `sink "webhook:ftp://x": want an http or https URL`},
		{spec: "jsonl:", err: `sink "jsonl:": missing file path`},
		{spec: "nothing", err: `sink "nothing": want jsonl:PATH or webhook:URL`},
		{spec: "a b=jsonl:x", err: `sink "a b=jsonl:x": bad sink name "a b"`},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			s, err := ParseSink(tc.spec)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error = %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			kind := "jsonl"
			if _, ok := s.(*WebhookSink); ok {
				kind = "webhook"
			}
			if kind != tc.kind || s.Name() != tc.name {
				t.Errorf("got %s sink named %q, want %s named %q", kind, s.Name(), tc.kind, tc.name)
			}
		})
	}
}

// hookServer is a webhook receiver whose behaviour the test switches.
type hookServer struct {
	*httptest.Server
	mu       sync.Mutex
	mode     string         // ok, 500, hang, hijack, flaky
	received map[string]int // successful deliveries by idempotency key
	requests int
	seen     map[string]int // requests by key (flaky mode)
}

func newHookServer(t *testing.T) *hookServer {
	h := &hookServer{mode: "ok", received: map[string]int{}, seen: map[string]int{}}
	release := make(chan struct{})
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var m Message
		if err := json.Unmarshal(body, &m); err != nil || m.IdempotencyKey != r.Header.Get("Idempotency-Key") {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		mode := h.mode
		h.requests++
		h.seen[m.IdempotencyKey]++
		first := h.seen[m.IdempotencyKey] == 1
		h.mu.Unlock()
		switch {
		case mode == "500", mode == "flaky" && first:
			http.Error(w, "boom", http.StatusInternalServerError)
		case mode == "hang":
			select {
			case <-r.Context().Done():
			case <-release:
			}
		case mode == "hijack":
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		default:
			h.mu.Lock()
			h.received[m.IdempotencyKey]++
			h.mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	t.Cleanup(func() {
		close(release)
		h.Close()
	})
	return h
}

func (h *hookServer) set(mode string) {
	h.mu.Lock()
	h.mode = mode
	h.mu.Unlock()
}

func (h *hookServer) keys() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ks []string
	for k := range h.received {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func fastHook(url string) *WebhookSink {
	w := NewWebhookSink("", url)
	w.Tries = 3
	// (Long enough for a local server that answers on a loaded machine:
	// a timed-out request is a failed attempt, which these tests count. The
	// test of a hanging server shortens it.)
	w.RequestTimeout = 3 * time.Second
	w.BaseDelay = 5 * time.Millisecond
	w.MaxDelay = 20 * time.Millisecond
	return w
}

const pushMembers = "member_id,brand,consent_app_push\nm1,acme,true\nm2,acme,true\nm3,acme,true\nm4,acme,true\n"

func TestWebhookFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	prog := &compiler.Program{Rules: []*compiler.Rule{sendRule("all", allMembers, false, "app_push")}}
	for _, mode := range []string{"500", "hang", "hijack"} {
		t.Run(mode, func(t *testing.T) {
			db := fixture(t, pushMembers, "")
			h := newHookServer(t)
			h.set(mode)
			sink := fastHook(h.URL)
			sink.RequestTimeout = 150 * time.Millisecond // the hanging server's requests time out within the budget
			budget := 700 * time.Millisecond
			start := time.Now()
			res, err := db.Run(ctx, prog, RunOptions{Now: ts("2024-11-01 12:00"), Sinks: []Sink{sink}, DispatchBudget: budget})
			if err != nil {
				t.Fatal(err)
			}
			var dispatch time.Duration
			for _, s := range res.Timings {
				if s.Step == "dispatch" {
					dispatch = s.Took
				}
			}
			if dispatch > budget+300*time.Millisecond {
				t.Errorf("dispatch took %v with a budget of %v (run %v)", dispatch, budget, time.Since(start))
			}
			if res.Dispatch.Sent != 0 || len(h.keys()) != 0 {
				t.Fatalf("sent %d, server received %v", res.Dispatch.Sent, h.keys())
			}
			for _, d := range res.Decisions {
				if d.Status != "pending" {
					t.Errorf("%s: status %s after a failing dispatch", d.MemberID, d.Status)
				}
			}
			// A failed attempt leaves the send pending (it counts toward
			// caps) with its attempt and error; failed is final.
			failed := count(t, db, `SELECT count(*) FROM outbox WHERE status = 'pending' AND attempts = 1 AND last_error IS NOT NULL`)
			pending := count(t, db, `SELECT count(*) FROM outbox WHERE status = 'pending' AND attempts = 0`)
			if failed+pending != 4 || failed == 0 {
				t.Errorf("failed %d, pending %d; want 4 in all, some failed", failed, pending)
			}
			if mode == "hang" && !res.Dispatch.Deferred && pending > 0 {
				t.Errorf("pending rows left but dispatch not deferred")
			}

			// The server recovers: a later tick delivers every send once
			// more, and each arrives with its idempotency key.
			h.set("ok")
			res, err = db.Run(ctx, prog, RunOptions{Now: ts("2024-11-01 13:00"), Sinks: []Sink{sink}, DispatchBudget: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			want := queryStrings(t, db, `SELECT idempotency_key FROM outbox ORDER BY 1`)
			if got := h.keys(); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("delivered %v, want %v", got, want)
			}
			if n := count(t, db, `SELECT count(*) FROM outbox WHERE status = 'sent' AND sent_at = TIMESTAMP '2024-11-01 13:00'`); n != 4 {
				t.Errorf("%d rows sent, want 4", n)
			}
		})
	}
}

func TestWebhookRetriesWithinDispatch(t *testing.T) {
	t.Parallel()
	db := fixture(t, pushMembers, "")
	h := newHookServer(t)
	h.set("flaky") // every key's first request fails
	prog := &compiler.Program{Rules: []*compiler.Rule{sendRule("all", allMembers, false, "app_push")}}
	res, err := db.Run(context.Background(), prog, RunOptions{Now: ts("2024-11-01 12:00"), Sinks: []Sink{fastHook(h.URL)}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Dispatch.Sent != 4 || len(h.keys()) != 4 || h.requests != 8 {
		t.Errorf("sent %d, received %d keys in %d requests; want 4, 4, 8", res.Dispatch.Sent, len(h.keys()), h.requests)
	}
	expect(t, "statuses", res.Decisions, "all m1 send sent\nall m2 send sent\nall m3 send sent\nall m4 send sent\n")
}

func TestDispatchGivesUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	db := fixture(t, pushMembers, "")
	h := newHookServer(t)
	h.set("500")
	prog := &compiler.Program{Rules: []*compiler.Rule{sendRule("all", allMembers, false, "app_push")}}
	sink := fastHook(h.URL)
	sink.Tries = 1
	for i := range MaxAttempts + 2 {
		if _, err := db.Run(context.Background(), prog, RunOptions{Now: ts("2024-11-01 12:00").Add(time.Duration(i) * time.Hour), Sinks: []Sink{sink}}); err != nil {
			t.Fatal(err)
		}
	}
	if h.requests != 4*MaxAttempts {
		t.Errorf("%d requests, want %d", h.requests, 4*MaxAttempts)
	}
	if n := count(t, db, `SELECT count(*) FROM outbox WHERE status = 'failed' AND attempts = $1::INTEGER`, MaxAttempts); n != 4 {
		t.Errorf("%d rows failed after %d attempts, want 4", n, MaxAttempts)
	}
}

func TestJSONLSinkAndNotify(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := fixture(t, testMembers, "")
	r := sendRule("gold", goldMembers, false, "wechat")
	r.Actions = append(r.Actions, compiler.Action{Verb: "notify", Content: "crm"})
	prog := &compiler.Program{Rules: []*compiler.Rule{r}, Quiet: []compiler.Quiet{{From: 22 * 60, To: 8 * 60}}}
	sends := &JSONLSink{Path: filepath.Join(dir, "sends.jsonl")}
	crm := &JSONLSink{SinkName: "crm", Path: filepath.Join(dir, "crm.jsonl")}

	// In quiet hours: sends wait, notifies go out.
	res, err := db.Run(context.Background(), prog, RunOptions{Now: ts("2024-11-01 23:00"), Sinks: []Sink{sends, crm}})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "night", res.Decisions, "gold m1 send scheduled @11-02 08:00\ngold m1 notify sent\ngold m2 send scheduled @11-02 08:00\ngold m2 notify sent\n")
	// Without sinks nothing moves.
	if _, err := db.Run(context.Background(), prog, RunOptions{Now: ts("2024-11-02 09:00")}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, `SELECT count(*) FROM outbox WHERE status = 'scheduled'`); n != 2 {
		t.Errorf("%d scheduled rows after a run without sinks, want 2", n)
	}
	// Morning, with sinks: the scheduled sends go out.
	if _, err := db.Run(context.Background(), prog, RunOptions{Now: ts("2024-11-02 10:00"), Sinks: []Sink{sends, crm}}); err != nil {
		t.Fatal(err)
	}
	lines := func(p string) []Message {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var ms []Message
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var m Message
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			ms = append(ms, m)
		}
		return ms
	}
	s, c := lines(sends.Path), lines(crm.Path)
	if len(s) != 2 || len(c) != 2 {
		t.Fatalf("%d sends, %d notifies delivered; want 2, 2", len(s), len(c))
	}
	if s[0].Action != "send" || s[0].Channel != "wechat" || s[0].ScheduledAt != "2024-11-02T08:00:00" || s[0].Attempt != 1 || c[0].Action != "notify" {
		t.Errorf("messages: %+v %+v", s[0], c[0])
	}
}
