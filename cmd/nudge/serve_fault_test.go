package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	nrt "nudge/runtime"
	"nudge/runtime/serve"
)

const faultRules = `brand "acme"
import "crm"

rule store_a_coupon "Coupon for store A visitors"
  if queued at store "A" or booked at store "A"
  then send coupon "A-10OFF" via sms
`

// TestServeFaults posts events steadily while `nudge serve` is SIGKILLed at
// random moments 20 times and restarted. At the end every acknowledged
// event is stored exactly once, the decisions are those of one
// uninterrupted tick over the same events (none duplicated, none missing),
// and the webhook's application sees each send's idempotency key once
// (redeliveries after a crash are collapsed by the key).
func TestServeFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a server 20 times")
	}
	const kills = 20
	dir := t.TempDir()
	db := filepath.Join(dir, "f.duckdb")
	rules := filepath.Join(dir, "rules.nudge")
	os.WriteFile(rules, []byte(faultRules), 0o644)
	var mcsv strings.Builder
	mcsv.WriteString("member_id,brand,consent_sms\n")
	for i := range 40 {
		fmt.Fprintf(&mcsv, "m%d,acme,true\n", i)
	}
	membersFile := filepath.Join(dir, "members.csv")
	os.WriteFile(membersFile, []byte(mcsv.String()), 0o644)
	cli(t, "import", "--db", db, "members", membersFile)

	// The webhook's application: deliveries by idempotency key.
	var hmu sync.Mutex
	deliveries := map[string]int{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		hmu.Lock()
		deliveries[r.Header.Get("Idempotency-Key")]++
		hmu.Unlock()
	}))
	defer hook.Close()

	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	var url atomic.Pointer[string]
	startServer := func() *exec.Cmd {
		cmd := exec.Command("nudge", "serve", "--db", db, "--listen", "127.0.0.1:0", "--interval", "2s",
			"--sink", "webhook:"+hook.URL, "--log-format", "text", rules)
		cmd.Stderr = logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			if n, ok := serve.ReadNote(db); ok && n.PID == cmd.Process.Pid {
				url.Store(&n.URL)
				return cmd
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				b, _ := os.ReadFile(logf.Name())
				t.Fatalf("the server did not start:\n%s", b)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// The load generator: batches of 1 to 20 events with ids, each sent
	// until it is acknowledged (connection errors while the server is down
	// included), in order.
	cmd := startServer()
	stop := make(chan struct{})
	genDone := make(chan struct{})
	var acked atomic.Int64
	var genErr atomic.Pointer[string]
	rng := rand.New(rand.NewPCG(1, 2))
	go func() {
		defer close(genDone)
		next := 0
		client := &http.Client{Timeout: 20 * time.Second}
		for {
			select {
			case <-stop:
				return
			default:
			}
			var body bytes.Buffer
			n := 1 + rng.IntN(20)
			for range n {
				ev := map[string]any{"member_id": fmt.Sprintf("m%d", rng.IntN(40)), "type": "visited", "store": "B", "event_id": fmt.Sprintf("ev-%d", next)}
				if rng.IntN(10) == 0 {
					ev["type"], ev["store"] = []string{"queued", "booked"}[rng.IntN(2)], "A"
				}
				json.NewEncoder(&body).Encode(ev)
				next++
			}
			for {
				resp, err := client.Post(*url.Load()+"/v1/events", "application/x-ndjson", bytes.NewReader(body.Bytes()))
				if err != nil {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					acked.Add(int64(n))
					break
				}
				if resp.StatusCode == 400 {
					msg := string(b)
					genErr.Store(&msg)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}()

	for i := range kills {
		time.Sleep(time.Duration(200+rng.IntN(800)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if e := genErr.Load(); e != nil {
			t.Fatalf("kill %d: a batch was refused: %s", i+1, *e)
		}
		cmd = startServer()
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	<-genDone
	total := acked.Load()

	// Let the last server decide and deliver everything, then stop it.
	deadline := time.Now().Add(90 * time.Second)
	for {
		var unsent int64
		resp, err := http.Get(*url.Load() + "/v1/decisions?since=0&limit=10000")
		if err == nil {
			var raw struct {
				Decisions []map[string]any `json:"decisions"`
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			json.Unmarshal(b, &raw)
			for _, d := range raw.Decisions {
				if d["status"] != "sent" {
					unsent++
				}
			}
			if unsent == 0 && len(raw.Decisions) > 0 && ticked(t, *url.Load(), total) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sends were not all delivered in time (%d unsent)", unsent)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}

	d, err := nrt.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	q := func(s string) int64 {
		var n int64
		if err := d.SQL().QueryRow(s).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := q(`SELECT count(*) FROM events`); n != total {
		t.Errorf("%d events stored, %d acknowledged", n, total)
	}
	if n := q(`SELECT count(DISTINCT event_id) FROM event_ids`); n != total {
		t.Errorf("%d distinct event ids stored, %d acknowledged", n, total)
	}
	if n := q(`SELECT count(*) FROM events e LEFT JOIN event_ids i ON i.seq = e.seq WHERE i.seq IS NULL`); n != 0 {
		t.Errorf("%d stored events without their id", n)
	}
	got := strs(t, d.SQL(), `SELECT i.event_id FROM outbox o JOIN event_ids i ON i.seq = o.trigger_seq AND i.brand = o.brand ORDER BY 1`)

	// The uninterrupted run: the same events imported into a fresh
	// database, one tick.
	ref := filepath.Join(dir, "ref.duckdb")
	evFile := filepath.Join(dir, "events.jsonl")
	if _, err := d.SQL().Exec(fmt.Sprintf(`COPY (SELECT e.member_id, e.brand, e.type, strftime(e.ts, '%%Y-%%m-%%d %%H:%%M:%%S.%%f') AS ts, e.store, i.event_id AS ref_id
FROM events e JOIN event_ids i ON i.seq = e.seq ORDER BY e.seq) TO '%s' (FORMAT json)`, evFile)); err != nil {
		t.Fatal(err)
	}
	cli(t, "import", "--db", ref, "members", membersFile)
	cli(t, "import", "--db", ref, "events", evFile)
	// (At an instant after the last event: `nudge run`'s wall clock is
	// truncated to the second, so without --now the events stored within
	// the second before the run would not be due yet, and the reference
	// would miss their decisions.)
	var after string
	if err := d.SQL().QueryRow(`SELECT strftime(max(ts) + INTERVAL 1 SECOND, '%Y-%m-%d %H:%M:%S') FROM events`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	cli(t, "run", "--db", ref, "--now", after, rules)
	r, err := nrt.Open(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want := strs(t, r.SQL(), `SELECT e.props->>'ref_id' FROM outbox o JOIN events e ON e.seq = o.trigger_seq ORDER BY 1`)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Errorf("decisions differ from the uninterrupted run: %d vs %d\ngot  %v\nwant %v", len(got), len(want), got, want)
		t.Logf("served:\n%s", strings.Join(strs(t, d.SQL(), `SELECT i.event_id || ' seq=' || e.seq || ' ts=' || e.ts || ' type=' || e.type || ' member=' || e.member_id || ' fired=' || coalesce(o.fired_at::VARCHAR, '-') || ' run=' || coalesce(o.run_id::VARCHAR, '-')
FROM events e JOIN event_ids i ON i.seq = e.seq LEFT JOIN outbox o ON o.trigger_seq = e.seq WHERE e.type IN ('queued', 'booked') ORDER BY e.seq DESC LIMIT 12`), "\n"))
		t.Logf("served runs:\n%s", strings.Join(strs(t, d.SQL(), `SELECT id || ' now=' || now || ' started=' || started_at FROM runs ORDER BY id DESC LIMIT 5`), "\n"))
		t.Logf("reference:\n%s", strings.Join(strs(t, r.SQL(), `SELECT coalesce(e.props->>'ref_id', '?') || ' seq=' || e.seq || ' ts=' || e.ts || ' fired=' || coalesce(o.fired_at::VARCHAR, '-') FROM events e LEFT JOIN outbox o ON o.trigger_seq = e.seq WHERE e.type IN ('queued', 'booked') ORDER BY e.seq DESC LIMIT 12`), "\n"))
		t.Logf("reference runs:\n%s", strings.Join(strs(t, r.SQL(), `SELECT id || ' now=' || now || ' started=' || started_at FROM runs ORDER BY id DESC LIMIT 5`), "\n"))
	}

	hmu.Lock()
	defer hmu.Unlock()
	keys := strs(t, d.SQL(), `SELECT idempotency_key FROM outbox WHERE action = 'send' ORDER BY 1`)
	var delivered []string
	redelivered := 0
	for k, n := range deliveries {
		delivered = append(delivered, k)
		redelivered += n - 1
	}
	slices.Sort(delivered)
	if !slices.Equal(keys, delivered) {
		t.Errorf("the application saw %d keys, the outbox has %d sends", len(delivered), len(keys))
	}
	t.Logf("%d kills; %d events acknowledged and stored once; %d decisions as in the uninterrupted run; %d sends delivered, %d redelivered after a crash (collapsed by key)",
		kills, total, len(got), len(delivered), redelivered)
}

// ticked reports whether a tick has evaluated every acknowledged event.
func ticked(t *testing.T, url string, total int64) bool {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(b), "\nnudge_events_waiting_for_tick 0\n")
}

// cli runs a nudge command in-process and fails the test on error.
func cli(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(context.Background(), args, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("nudge %s: exit %d\n%s", strings.Join(args, " "), code, errb.String())
	}
	return out.String()
}

func strs(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}
