package serve

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"nudge/internal/cputime"
	nrt "nudge/runtime"
	"nudge/runtime/demodata"
	"nudge/runtime/internal/tick"
	"nudge/runtime/serve/loadgen"
)

var (
	benchDB      = flag.String("serve.db", "", "BenchmarkServeLatency: serve this database (it gains the benchmark's events) instead of a fresh 2,000-member demo database")
	benchRates   = flag.String("serve.rates", "200", "BenchmarkServeLatency: comma-separated event rates (events/s), each run for -serve.duration")
	benchDur     = flag.Duration("serve.duration", 5*time.Second, "BenchmarkServeLatency: how long each rate is posted")
	benchLog     = flag.Bool("serve.log", false, "BenchmarkServeLatency: log the service (ticks, dispatch) to standard error")
	benchMembers = flag.Int("serve.members", 2000, "BenchmarkServeLatency: members of the fresh demo database")
	benchDrain   = flag.Duration("serve.drain", 30*time.Minute, "BenchmarkServeLatency: how long to wait, before posting, for the service to deliver the sends already due in the database (0: do not wait)")
)

// BenchmarkServeLatency runs `nudge serve` with the store coupon rule and a
// webhook sink, posts events over HTTP at each -serve.rates rate for
// -serve.duration (one in ten a queue or booking at store A), and reports
// the event-to-decision and event-to-sink latencies (from the event's HTTP
// 200 to the commit of its decision, to the webhook receiving the send) and
// the acknowledged rate. Sends already due in the database (a demo
// database's tick ran without sinks) are delivered before the events are
// posted (-serve.drain), so that the rounds measured are the run's own
// (dispatch takes new sends before a backlog, but draining one competes
// with the ticks for the cores). On the
// 1,000,000-member demo database:
//
//	go test ./runtime/serve -run '^$' -bench ServeLatency -benchtime 1x \
//	    -serve.db demo1m.duckdb -serve.rates 1000 -serve.duration 5m
func BenchmarkServeLatency(b *testing.B) {
	ctx := context.Background()
	path := *benchDB
	if path == "" {
		path = filepath.Join(b.TempDir(), "bench.duckdb")
	}
	db, err := nrt.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if *benchDB == "" {
		if _, err := demodata.Generate(ctx, db.SQL(), demodata.Options{Members: *benchMembers}); err != nil {
			b.Fatal(err)
		}
	}
	members, err := loadgen.Members(ctx, db.SQL(), "acme")
	if err != nil {
		b.Fatal(err)
	}
	rules, err := filepath.Abs("../../examples/01_store_coupon.nudge")
	if err != nil {
		b.Fatal(err)
	}
	recv := loadgen.NewReceiver()
	hook := httptest.NewServer(recv)
	defer hook.Close()
	var cmu sync.Mutex
	commits := map[int64]time.Time{}
	var logger *slog.Logger
	if *benchLog {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := New(ctx, Config{DB: db, Logger: logger, Paths: []string{rules}, Sinks: []nrt.Sink{nrt.NewWebhookSink("", hook.URL)}, Interval: time.Minute,
		MaxRows: 100000, OnTick: func(id int64, at time.Time) { cmu.Lock(); commits[id] = at; cmu.Unlock() }})
	if err != nil {
		b.Fatal(err)
	}
	url, stop := serveLocal(b, s)
	defer stop()
	if *benchDrain > 0 {
		drainBacklog(b, s, db, *benchDrain)
	}

	for _, rs := range strings.Split(*benchRates, ",") {
		rate, err := strconv.ParseFloat(strings.TrimSpace(rs), 64)
		if err != nil {
			b.Fatalf("-serve.rates: %v", err)
		}
		b.Run(fmt.Sprintf("rate=%g", rate), func(b *testing.B) {
			for i := range b.N {
				res, err := loadgen.Run(ctx, loadgen.Config{URL: url, Members: members, Rate: rate, Duration: *benchDur, Seed: uint64(time.Now().UnixNano()) + uint64(i)})
				if err != nil {
					b.Fatal(err)
				}
				// Let the last events be decided and delivered: until the
				// receiver has had nothing new for 3 s (at most 60 s).
				for last, quiet, waited := len(recv.Received()), 0, 0; quiet < 3 && waited < 60; waited++ {
					time.Sleep(time.Second)
					if n := len(recv.Received()); n != last {
						last, quiet = n, 0
					} else {
						quiet++
					}
				}
				cmu.Lock()
				cs := make(map[int64]time.Time, len(commits))
				for k, v := range commits {
					cs[k] = v
				}
				cmu.Unlock()
				l, err := loadgen.Measure(ctx, db.SQL(), res, cs, recv.Received())
				if err != nil {
					b.Fatal(err)
				}
				dec, sink := l.Decision, l.Sink
				b.ReportMetric(res.Rate(), "events/s")
				b.ReportMetric(float64(dec.P50.Milliseconds()), "p50-decision-ms")
				b.ReportMetric(float64(dec.P99.Milliseconds()), "p99-decision-ms")
				b.ReportMetric(float64(sink.P99.Milliseconds()), "p99-sink-ms")
				fmt.Fprintf(os.Stderr, "rate %g/s for %v: acknowledged %d events (%.0f/s), %d errors, %d late batches; ingest %v\n  event-to-decision %v\n  event-to-sink     %v\n  post-to-decision  %v\n",
					rate, *benchDur, res.Events, res.Rate(), res.Errors, res.Late, res.Ingest, dec, sink, l.PostToDecision)
			}
		})
	}
}

// drainBacklog waits, at most wait, until the service has delivered (or
// the delivery re-check has ended) the sends due in the database: until
// none is due or their count has not changed for 10 s (sends a cap keeps
// back). It prints the backlog and how long it took.
func drainBacklog(b *testing.B, s *Server, db *nrt.DB, wait time.Duration) {
	count := func() int64 {
		now, err := s.now(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		var n int64
		if err := db.SQL().QueryRow(`SELECT count(*) FROM outbox WHERE `+tick.DueSendSQL, sql.Named("now", now)).Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n
	}
	start := time.Now()
	first := count()
	if first == 0 {
		return
	}
	last, since := first, time.Now()
	for time.Since(start) < wait && time.Since(since) < 10*time.Second {
		time.Sleep(2 * time.Second)
		if n := count(); n != last {
			last, since = n, time.Now()
		}
		if last == 0 {
			break
		}
	}
	fmt.Fprintf(os.Stderr, "backlog: %d sends were due before the run; %d left after %v\n", first, last, time.Since(start).Round(time.Second))
}

// BenchmarkMembersBatch posts a 5,000-row member batch (the batch `nudge
// import` sends through the service) to /v1/members of a service over a
// database of 5,000 members, over HTTP, and reports the time per batch.
// import: rows of one shape (a CSV file's columns, an empty cell as
// null); identify: tracking identify messages of 2,500 members, each
// twice, with 1 to 3 of 4 traits (several sets of keys). cpu-ms/op is
// the process's CPU time per batch.
func BenchmarkMembersBatch(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	db, err := nrt.Open(ctx, filepath.Join(dir, "bench.duckdb"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var csv strings.Builder
	csv.WriteString("member_id,brand,name,city,tier,consent_sms\n")
	for i := range 5000 {
		fmt.Fprintf(&csv, "m%d,acme,Name %d,City %d,gold,true\n", i, i, i%50)
	}
	mf := filepath.Join(dir, "members.csv")
	if err := os.WriteFile(mf, []byte(csv.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Import(ctx, "members", []string{mf}); err != nil {
		b.Fatal(err)
	}
	rules := filepath.Join(dir, "rules.nudge")
	os.WriteFile(rules, []byte(couponRules), 0o644)
	s, err := New(ctx, Config{DB: db, Paths: []string{rules}, Interval: time.Hour, Timeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	url, stop := serveLocal(b, s)
	url += "/v1/members"
	defer stop()

	var imp, ident strings.Builder
	for i := range 5000 {
		city := fmt.Sprintf(`"City %d"`, i%70)
		if i%10 == 0 {
			city = "null"
		}
		fmt.Fprintf(&imp, `{"member_id":"m%d","brand":"acme","name":"Name %d","city":%s,"tier":"silver","consent_sms":"false"}`+"\n", i, i, city)
	}
	traits := []string{`"tier":"platinum"`, `"city":"Q"`, `"name":"N"`, `"favoriteDish":"fish"`}
	for i := range 5000 {
		var t []string
		for j, tr := range traits {
			if (i*7+j*3)%4 != 0 && len(t) < 3 {
				t = append(t, tr)
			}
		}
		fmt.Fprintf(&ident, `{"type":"identify","userId":"m%d","traits":{%s}}`+"\n", i%2500, strings.Join(t, ","))
	}
	for _, c := range []struct{ name, body string }{{"import", imp.String()}, {"identify", ident.String()}} {
		b.Run(c.name, func(b *testing.B) {
			cpu := cputime.Process()
			for b.Loop() {
				resp, err := http.Post(url, "application/x-ndjson", strings.NewReader(c.body))
				if err != nil {
					b.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("%d %s", resp.StatusCode, body)
				}
			}
			// (The process's CPU time, service and client: less moved by
			// other load on the machine than the time per batch.)
			b.ReportMetric(float64((cputime.Process()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}
