package runtime

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
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

// flakyFile is the path of a jsonl sink that the test can make unwritable
// (a directory takes the file's place: root can write anywhere else) and
// writable again, and whose new lines it reads.
type flakyFile struct {
	path string
	read int // lines already returned by fresh
}

func (f *flakyFile) breakIt(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(f.path); err == nil {
		if err := os.Rename(f.path, f.path+".aside"); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(f.path, 0o755); err != nil {
		t.Fatal(err)
	}
}

func (f *flakyFile) fix(t testing.TB) {
	t.Helper()
	if st, err := os.Stat(f.path); err != nil || !st.IsDir() {
		return
	}
	if err := os.Remove(f.path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.path + ".aside"); err == nil {
		if err := os.Rename(f.path+".aside", f.path); err != nil {
			t.Fatal(err)
		}
	}
}

// fresh returns the messages appended since the last call.
func (f *flakyFile) fresh(t testing.TB) []Message {
	t.Helper()
	all := readJSONL(t, f.path)
	out := all[f.read:]
	f.read = len(all)
	return out
}

func readJSONL(t testing.TB, path string) []Message {
	t.Helper()
	fh, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var ms []Message
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		var m Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		ms = append(ms, m)
	}
	return ms
}

func keysOf(ms []Message) string {
	var ks []string
	for _, m := range ms {
		ks = append(ks, m.Rule+"/"+m.MemberID+"@"+m.FiredAt[11:16])
	}
	return strings.Join(ks, " ")
}

// TestDispatchKeepsPolicies pins the delivery re-check (SPEC §5, Dispatch)
// in the scenarios of issue 20: under `cap sms to 1 per day` and `quiet
// hours 22:00 to 08:00`, a send whose delivery failed or that was decided
// without a sink goes out neither next to a newer send nor at night, and
// not after an opt-out.
func TestDispatchKeepsPolicies(t *testing.T) {
	t.Parallel()
	members := "member_id,brand,consent_sms\nm1,acme,true\n"
	hourly := sendRule("hourly", allMembers, false, "sms")
	hourly.Limit = &compiler.Limit{Every: time.Hour}
	once := sendRule("once", allMembers, false, "sms")
	policies := func(r *compiler.Rule) *compiler.Program {
		return &compiler.Program{Rules: []*compiler.Rule{r},
			Caps:  []compiler.Cap{{Channel: "sms", Count: 1, Per: 24 * time.Hour}},
			Quiet: []compiler.Quiet{{From: 22 * 60, To: 8 * 60}}}
	}
	type step struct {
		now    string
		sink   string // ok, broken, none
		optOut bool   // m1's consent_sms becomes false before the run
		want   string // what the sink receives at this run
	}
	for _, tc := range []struct {
		name   string
		rule   *compiler.Rule
		steps  []step
		status string // the send's final status and reason
	}{
		{
			name: "a failed send is retried, not doubled by the next one",
			rule: hourly,
			steps: []step{
				{now: "2024-11-01 10:00", sink: "broken"},
				{now: "2024-11-01 11:00", sink: "ok", want: "hourly/m1@10:00"},
				{now: "2024-11-01 12:00", sink: "ok"},
			},
			status: "hourly m1 sent|hourly m1 capped cap sms 1 per 1d", // (a repeated refusal is not recorded again)
		},
		{
			name: "a failed send waits for the end of quiet hours",
			rule: once,
			steps: []step{
				{now: "2024-11-01 21:30", sink: "broken"},
				{now: "2024-11-01 23:00", sink: "ok"},
				{now: "2024-11-02 03:00", sink: "ok"},
				{now: "2024-11-02 08:00", sink: "ok", want: "once/m1@21:30"},
			},
			status: "once m1 sent",
		},
		{
			name: "a send decided without a sink waits for the end of quiet hours",
			rule: once,
			steps: []step{
				{now: "2024-11-01 21:30", sink: "none"},
				{now: "2024-11-01 23:00", sink: "ok"},
				{now: "2024-11-02 09:15", sink: "ok", want: "once/m1@21:30"},
			},
			status: "once m1 sent",
		},
		{
			name: "an opt-out before delivery refuses the send",
			rule: once,
			steps: []step{
				{now: "2024-11-01 10:00", sink: "broken"},
				{now: "2024-11-01 11:00", sink: "ok", optOut: true},
				{now: "2024-11-01 12:00", sink: "ok"},
			},
			status: "once m1 no_consent consent_sms withdrawn before delivery",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := fixture(t, members, "")
			prog := policies(tc.rule)
			f := &flakyFile{path: filepath.Join(t.TempDir(), "sms.jsonl")}
			sink := &JSONLSink{Path: f.path}
			for _, s := range tc.steps {
				var sinks []Sink
				switch s.sink {
				case "ok":
					f.fix(t)
					sinks = []Sink{sink}
				case "broken":
					f.breakIt(t)
					sinks = []Sink{sink}
				}
				if s.optOut {
					if _, err := db.sql.Exec(`UPDATE members SET consent_sms = false WHERE member_id = 'm1'`); err != nil {
						t.Fatal(err)
					}
					if err := db.MembersChanged(ctx); err != nil {
						t.Fatal(err)
					}
				}
				run(t, db, prog, s.now, func(o *RunOptions) { o.Sinks = sinks })
				f.fix(t)
				if got := keysOf(f.fresh(t)); got != s.want {
					t.Errorf("at %s the sink received %q, want %q", s.now, got, s.want)
				}
			}
			got := strings.Join(queryStrings(t, db, `SELECT rule || ' ' || member_id || ' ' || status || coalesce(' ' || reason, '')
				FROM outbox ORDER BY fired_at`), "|")
			if got != tc.status {
				t.Errorf("outbox: %s\nwant:   %s", got, tc.status)
			}
		})
	}
}

// TestDispatchFailedIsFinal: a failed attempt leaves the send pending with
// its attempts and last error, counted by the caps; only the MaxAttempts-th
// failure ends it failed.
func TestDispatchFailedIsFinal(t *testing.T) {
	t.Parallel()
	db := fixture(t, "member_id,brand,consent_sms\nm1,acme,true\n", "")
	prog := &compiler.Program{Rules: []*compiler.Rule{sendRule("once", allMembers, false, "sms")}}
	f := &flakyFile{path: filepath.Join(t.TempDir(), "sms.jsonl")}
	f.breakIt(t)
	for i := range MaxAttempts {
		res := run(t, db, prog, fmt.Sprintf("2024-11-01 %02d:00", 10+i), func(o *RunOptions) { o.Sinks = []Sink{&JSONLSink{Path: f.path}} })
		want := "pending"
		if i == MaxAttempts-1 {
			want = "failed"
		}
		got := queryStrings(t, db, `SELECT status || ' ' || attempts || ' ' || (last_error IS NOT NULL) FROM outbox`)
		if w := fmt.Sprintf("%s %d true", want, i+1); len(got) != 1 || got[0] != w {
			t.Errorf("after attempt %d: %v, want %s", i+1, got, w)
		}
		if res.Dispatch.Failed != 1 {
			t.Errorf("attempt %d: dispatch %+v", i+1, res.Dispatch)
		}
	}
}

// TestWebhookRedirectFails: a 301 or 302 answer to the POST is a failure
// naming the location; the redirect is not followed (a body-less GET of
// the location would otherwise mark the send sent).
func TestWebhookRedirectFails(t *testing.T) {
	t.Parallel()
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			var mu sync.Mutex
			landed := 0
			mux := http.NewServeMux()
			mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "/landing", code)
			})
			mux.HandleFunc("/landing", func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				landed++
				mu.Unlock()
			})
			srv := httptest.NewServer(mux)
			defer srv.Close()
			db := fixture(t, pushMembers, "")
			prog := &compiler.Program{Rules: []*compiler.Rule{sendRule("all", allMembers, false, "app_push")}}
			res := run(t, db, prog, "2024-11-01 12:00", func(o *RunOptions) { o.Sinks = []Sink{fastHook(srv.URL + "/hook")} })
			if res.Dispatch.Sent != 0 || landed != 0 {
				t.Errorf("sent %d, landing requested %d times; want 0, 0", res.Dispatch.Sent, landed)
			}
			errs := queryStrings(t, db, `SELECT DISTINCT status || ': ' || last_error FROM outbox`)
			if len(errs) != 1 || !strings.HasPrefix(errs[0], "pending: ") || !strings.Contains(errs[0], "redirect to /landing not followed") {
				t.Errorf("rows: %v", errs)
			}
		})
	}
}

// TestWebhookRetryAfter: a 429 or 503 with Retry-After (seconds or an HTTP
// date) is retried after that long, within the dispatch; a wait longer than
// the budget fails at once and leaves the send for a later tick.
func TestWebhookRetryAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		code   int
		header func() string
		budget time.Duration
		sent   bool
		gap    time.Duration // least time between a key's two requests
	}{
		{name: "seconds", code: http.StatusTooManyRequests, header: func() string { return "1" }, budget: 10 * time.Second, sent: true, gap: 900 * time.Millisecond},
		{name: "date", code: http.StatusServiceUnavailable, header: func() string { return time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat) }, budget: 10 * time.Second, sent: true, gap: 900 * time.Millisecond},
		{name: "beyond the budget", code: http.StatusServiceUnavailable, header: func() string { return "3600" }, budget: 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			first := map[string]time.Time{}
			gaps := map[string]time.Duration{}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				key := r.Header.Get("Idempotency-Key")
				mu.Lock()
				defer mu.Unlock()
				if at, ok := first[key]; ok {
					gaps[key] = time.Since(at)
					w.WriteHeader(http.StatusNoContent)
					return
				}
				first[key] = time.Now()
				w.Header().Set("Retry-After", tc.header())
				w.WriteHeader(tc.code)
			}))
			defer srv.Close()
			db := fixture(t, pushMembers, "")
			prog := &compiler.Program{Rules: []*compiler.Rule{sendRule("all", allMembers, false, "app_push")}}
			start := time.Now()
			res := run(t, db, prog, "2024-11-01 12:00", func(o *RunOptions) {
				o.Sinks = []Sink{fastHook(srv.URL)}
				o.DispatchBudget = tc.budget
			})
			took := time.Since(start)
			if !tc.sent {
				// (The dispatch step's own time: the tick before it may be
				// slow on a loaded machine.)
				var dispatch time.Duration
				for _, s := range res.Timings {
					if s.Step == "dispatch" {
						dispatch = s.Took
					}
				}
				if res.Dispatch.Sent != 0 || len(gaps) != 0 || dispatch > tc.budget {
					t.Errorf("sent %d, %d retried, dispatch took %v (run %v); want nothing sent or retried within the budget", res.Dispatch.Sent, len(gaps), dispatch, took)
				}
				errs := queryStrings(t, db, `SELECT DISTINCT status || ': ' || last_error FROM outbox`)
				if len(errs) != 1 || !strings.HasPrefix(errs[0], "pending: ") || !strings.Contains(errs[0], "outlasts the dispatch budget") {
					t.Errorf("rows: %v", errs)
				}
				return
			}
			if res.Dispatch.Sent != 4 || len(gaps) != 4 {
				t.Fatalf("sent %d, %d keys retried; want 4, 4", res.Dispatch.Sent, len(gaps))
			}
			for k, g := range gaps {
				if g < tc.gap {
					t.Errorf("%s retried after %v, want at least %v", k, g, tc.gap)
				}
			}
		})
	}
	for _, tc := range []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"120", 120 * time.Second, true},
		{" 0 ", 0, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{"", 0, false},
		{"Fri, 01 Nov 2024 12:00:30 GMT", 30 * time.Second, true},
		{"Fri, 01 Nov 2024 11:00:00 GMT", 0, true},
	} {
		got, ok := retryAfter(tc.v, time.Date(2024, 11, 1, 12, 0, 0, 0, time.UTC))
		if got != tc.want || ok != tc.ok {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tc.v, got, ok, tc.want, tc.ok)
		}
	}
}

// TestDispatchOncePerSink: with a healthy jsonl sink and a failing webhook,
// retries of the webhook do not resend to the jsonl sink; the send is sent
// once both have it.
func TestDispatchOncePerSink(t *testing.T) {
	t.Parallel()
	db := fixture(t, pushMembers, "")
	h := newHookServer(t)
	h.set("500")
	hook := fastHook(h.URL)
	hook.Tries = 1
	file := &JSONLSink{Path: filepath.Join(t.TempDir(), "sends.jsonl")}
	prog := &compiler.Program{Rules: []*compiler.Rule{sendRule("all", allMembers, false, "app_push")}}
	sinks := func(o *RunOptions) { o.Sinks = []Sink{file, hook} }
	for _, now := range []string{"2024-11-01 12:00", "2024-11-01 13:00", "2024-11-01 14:00"} {
		run(t, db, prog, now, sinks)
	}
	perKey := func() map[string]int {
		n := map[string]int{}
		for _, m := range readJSONL(t, file.Path) {
			n[m.IdempotencyKey]++
		}
		return n
	}
	if n := perKey(); len(n) != 4 || n[outboxKeys(t, db)[0]] != 1 {
		t.Errorf("jsonl deliveries by key after 3 failing webhook attempts: %v; want each of 4 keys once", n)
	}
	if got := count(t, db, `SELECT count(*) FROM outbox WHERE status = 'pending' AND attempts = 3`); got != 4 {
		t.Errorf("%d rows pending after 3 attempts, want 4", got)
	}
	h.set("ok")
	res := run(t, db, prog, "2024-11-01 15:00", sinks)
	if res.Dispatch.Sent != 4 {
		t.Errorf("dispatch %+v, want 4 sent", res.Dispatch)
	}
	for k, c := range perKey() {
		if c != 1 {
			t.Errorf("%s reached the jsonl sink %d times", k, c)
		}
	}
	if got := strings.Join(h.keys(), " "); got != strings.Join(outboxKeys(t, db), " ") {
		t.Errorf("webhook received %s", got)
	}
	if got := count(t, db, `SELECT count(*) FROM outbox WHERE status = 'sent' AND sent_at = TIMESTAMP '2024-11-01 15:00'`); got != 4 {
		t.Errorf("%d rows sent at 15:00, want 4", got)
	}
}

// outboxKeys returns the idempotency keys of the outbox, in order.
func outboxKeys(t testing.TB, db *DB) []string {
	return queryStrings(t, db, `SELECT idempotency_key FROM outbox ORDER BY 1`)
}

// delivery is one message a sink received, at the dispatching run's now.
type delivery struct {
	sink string
	at   time.Time
	m    Message
}

// TestDispatchPropertyPolicies runs random schedules of ticks (random nows)
// under random caps and quiet hours, with a jsonl sink that becomes
// unwritable and writable again, a webhook that fails at random, runs
// without sinks and opt-outs, and checks what the sinks received: each
// message once per sink, nothing in quiet hours, nothing to a member
// without consent at that instant, and for every cap at most its count of
// a member's messages on its channels in any window of its length.
func TestDispatchPropertyPolicies(t *testing.T) {
	t.Parallel() // long; independent of the other tests
	seeds := 4
	if testing.Short() {
		seeds = 1
	}
	base := uint64(time.Now().UnixNano())
	total := 0
	for s := range seeds {
		seed := base + uint64(s)
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			total += dispatchProperty(t, seed)
		})
	}
	if total == 0 {
		t.Error("no schedule delivered anything")
	}
}

func dispatchProperty(t *testing.T, seed uint64) int {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(seed, 20))
	db := fixture(t, "member_id,brand,consent_sms,consent_wechat\nm1,acme,true,true\nm2,acme,true,true\nm3,acme,true,true\n", "")
	pick := func(ds ...time.Duration) time.Duration { return ds[r.IntN(len(ds))] }
	var rules []*compiler.Rule
	for i, ch := range []string{"sms", "sms", "wechat"} {
		rule := sendRule(fmt.Sprintf("r%d", i), allMembers, false, ch)
		rule.Priority = r.IntN(3)
		rule.Limit = &compiler.Limit{Every: pick(30*time.Minute, time.Hour, 2*time.Hour, 5*time.Hour)}
		rules = append(rules, rule)
	}
	prog := &compiler.Program{Rules: rules}
	for range r.IntN(3) + 1 {
		ch := []string{"sms", "wechat", ""}[r.IntN(3)]
		prog.Caps = append(prog.Caps, compiler.Cap{Channel: ch, Count: r.IntN(3) + 1, Per: pick(time.Hour, 3*time.Hour, 12*time.Hour, 24*time.Hour)})
	}
	if r.IntN(4) > 0 {
		from, to := r.IntN(24)*60+[]int{0, 30}[r.IntN(2)], r.IntN(24)*60
		if from != to {
			prog.Quiet = append(prog.Quiet, compiler.Quiet{From: from, To: to})
		}
	}

	var mu sync.Mutex
	var got []delivery
	var now time.Time
	rs := rand.New(rand.NewPCG(seed, 21)) // the webhook's failures
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var m Message
		if err := json.NewDecoder(req.Body).Decode(&m); err != nil {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if rs.IntN(3) == 0 {
			http.Error(w, "flaky", http.StatusInternalServerError)
			return
		}
		got = append(got, delivery{"webhook", now, m})
	}))
	defer srv.Close()
	hook := NewWebhookSink("", srv.URL)
	hook.Tries = 1
	f := &flakyFile{path: filepath.Join(t.TempDir(), "sends.jsonl")}
	file := &JSONLSink{Path: f.path}

	consent := map[string]bool{}
	for _, m := range []string{"m1", "m2", "m3"} {
		for _, ch := range []string{"sms", "wechat"} {
			consent[m+"/"+ch] = true
		}
	}
	type instant struct {
		at      time.Time
		consent map[string]bool
	}
	var runs []instant
	at := ts("2024-11-01 06:00")
	for range 18 {
		at = at.Add(time.Duration(r.IntN(5*60)+10) * time.Minute)
		if r.IntN(8) == 0 {
			m, ch := fmt.Sprintf("m%d", r.IntN(3)+1), []string{"sms", "wechat"}[r.IntN(2)]
			consent[m+"/"+ch] = !consent[m+"/"+ch]
			if _, err := db.sql.Exec(fmt.Sprintf(`UPDATE members SET consent_%s = %t WHERE member_id = '%s'`, ch, consent[m+"/"+ch], m)); err != nil {
				t.Fatal(err)
			}
			if err := db.MembersChanged(ctx); err != nil {
				t.Fatal(err)
			}
		}
		snap := map[string]bool{}
		for k, v := range consent {
			snap[k] = v
		}
		runs = append(runs, instant{at, snap})
		var sinks []Sink
		if r.IntN(6) > 0 {
			sinks = []Sink{file, hook}
			if r.IntN(3) == 0 {
				f.breakIt(t)
			}
		}
		mu.Lock()
		now = at
		mu.Unlock()
		if _, err := db.Run(ctx, prog, RunOptions{Now: at, Sinks: sinks, SkipDecisions: true}); err != nil {
			t.Fatalf("seed %d: run at %v: %v", seed, at, err)
		}
		f.fix(t)
		mu.Lock()
		for _, m := range f.fresh(t) {
			got = append(got, delivery{"jsonl", at, m})
		}
		mu.Unlock()
	}
	mu.Lock()
	defer mu.Unlock()

	failures := 0
	fail := func(format string, args ...any) {
		t.Helper()
		if failures++; failures > 10 {
			return
		}
		t.Errorf("seed %d (caps %+v, quiet %+v): %s", seed, prog.Caps, prog.Quiet, fmt.Sprintf(format, args...))
	}
	consentAt := map[time.Time]map[string]bool{}
	for _, in := range runs {
		consentAt[in.at] = in.consent
	}
	seen := map[string]bool{}
	for _, d := range got {
		id := d.sink + " " + d.m.IdempotencyKey
		if seen[id] {
			fail("%s received %s twice", d.sink, d.m.IdempotencyKey)
		}
		seen[id] = true
		if _, _, quiet := quietEnd(d.at, prog.Quiet); quiet {
			fail("%s received %s at %v, in quiet hours", d.sink, d.m.IdempotencyKey, d.at)
		}
		if !consentAt[d.at][d.m.MemberID+"/"+d.m.Channel] {
			fail("%s received %s at %v without consent", d.sink, d.m.IdempotencyKey, d.at)
		}
	}
	sort.SliceStable(got, func(i, j int) bool { return got[i].at.Before(got[j].at) })
	for _, c := range prog.Caps {
		for i, d := range got {
			if c.Channel != "" && c.Channel != d.m.Channel {
				continue
			}
			n := 0
			for _, e := range got[:i+1] {
				if e.sink == d.sink && e.m.MemberID == d.m.MemberID && (c.Channel == "" || c.Channel == e.m.Channel) && e.at.After(d.at.Add(-c.Per)) {
					n++
				}
			}
			if n > c.Count {
				fail("%s received %d messages for %s in the %v before %v, over the cap %+v", d.sink, n, d.m.MemberID, c.Per, d.at, c)
			}
		}
	}
	return len(got)
}
