// Package loadgen drives a `nudge serve` over HTTP at a steady rate with a
// realistic mix of events (one in ten a queue or booking at store A, which
// the store coupon rule answers) and measures, from what the service
// recorded, the latency from an event's HTTP 200 to the commit of its
// decision and to a webhook receiving the send. The serve benchmark uses it
// (runtime/serve, BenchmarkServeLatency).
package loadgen

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"
)

// Config is a load to generate.
type Config struct {
	URL      string        // the service, http://host:port
	Token    string        // bearer token ("" when the service has none)
	Members  []string      // member ids the events are about
	Rate     float64       // events per second
	Duration time.Duration // how long to post
	Every    time.Duration // one batch per Every (default 20 ms) of the events due by then
	Seed     uint64
	// InFlight bounds the requests in flight (default 64); a batch due
	// while the bound is reached waits, and counts as late.
	InFlight int
}

// Ack is an acknowledged batch: its seqs, when it was posted and when
// the 200 arrived.
type Ack struct {
	FirstSeq, LastSeq int64
	Sent, At          time.Time
}

// Result is what a load run did.
type Result struct {
	Events  int64 // events acknowledged
	Batches int
	Acks    []Ack // sorted by FirstSeq
	Errors  int   // requests that failed (not retried)
	Late    int   // batches posted later than their schedule
	Elapsed time.Duration
	// Ingest is the latency of the ingest requests (post to 200).
	Ingest Summary
}

// Rate is the acknowledged events per second.
func (r *Result) Rate() float64 { return float64(r.Events) / r.Elapsed.Seconds() }

// Run posts events at cfg.Rate for cfg.Duration and returns when every
// request has been answered.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Every <= 0 {
		cfg.Every = 20 * time.Millisecond
	}
	if cfg.InFlight <= 0 {
		cfg.InFlight = 64
	}
	if len(cfg.Members) == 0 || cfg.Rate <= 0 || cfg.Duration <= 0 {
		return nil, fmt.Errorf("loadgen: give members, a rate and a duration")
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 7))
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: cfg.InFlight}}
	res := &Result{}
	var mu sync.Mutex
	var ingest []time.Duration
	sem := make(chan struct{}, cfg.InFlight)
	var wg sync.WaitGroup
	start := time.Now()
	t := time.NewTicker(cfg.Every)
	defer t.Stop()
	total := int(cfg.Rate * cfg.Duration.Seconds())
	next := 0
	for next < total {
		select {
		case <-ctx.Done():
			wg.Wait()
			return res, ctx.Err()
		case <-t.C:
		}
		// The events due by now (the clock, not the count of ticks: a
		// wake-up that comes late posts what is due, so a busy machine
		// does not lower the offered rate).
		n := min(int(cfg.Rate*time.Since(start).Seconds()), total) - next
		if n <= 0 {
			continue
		}
		var body bytes.Buffer
		enc := json.NewEncoder(&body)
		for range n {
			ev := Event(rng, cfg.Members, fmt.Sprintf("lg-%d-%d", cfg.Seed, next))
			next++
			enc.Encode(ev)
		}
		select {
		case sem <- struct{}{}:
		default:
			mu.Lock()
			res.Late++
			mu.Unlock()
			sem <- struct{}{}
		}
		wg.Add(1)
		go func(payload []byte, n int) {
			defer func() { <-sem; wg.Done() }()
			sent := time.Now()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL+"/v1/events", bytes.NewReader(payload))
			req.Header.Set("Content-Type", "application/x-ndjson")
			if cfg.Token != "" {
				req.Header.Set("Authorization", "Bearer "+cfg.Token)
			}
			resp, err := client.Do(req)
			var ans struct {
				Stored   int64 `json:"stored"`
				FirstSeq int64 `json:"first_seq"`
				LastSeq  int64 `json:"last_seq"`
			}
			ok := err == nil && resp.StatusCode == 200
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				ok = ok && json.Unmarshal(b, &ans) == nil
			}
			at := time.Now()
			mu.Lock()
			defer mu.Unlock()
			res.Batches++
			if !ok {
				res.Errors++
				return
			}
			ingest = append(ingest, at.Sub(sent))
			res.Events += ans.Stored
			if ans.Stored > 0 {
				res.Acks = append(res.Acks, Ack{FirstSeq: ans.FirstSeq, LastSeq: ans.LastSeq, Sent: sent, At: at})
			}
		}(slices.Clone(body.Bytes()), n)
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	sort.Slice(res.Acks, func(i, j int) bool { return res.Acks[i].FirstSeq < res.Acks[j].FirstSeq })
	res.Ingest = Summarize(ingest)
	return res, nil
}

// ackOf returns the acknowledgement of the batch holding seq.
func (r *Result) ackOf(seq int64) (Ack, bool) {
	i := sort.Search(len(r.Acks), func(i int) bool { return r.Acks[i].LastSeq >= seq })
	if i < len(r.Acks) && r.Acks[i].FirstSeq <= seq {
		return r.Acks[i], true
	}
	return Ack{}, false
}

// Receiver is a webhook sink's receiving end: it records when each
// idempotency key first arrived.
type Receiver struct {
	mu    sync.Mutex
	first map[string]time.Time
	total int
}

// NewReceiver returns an empty receiver.
func NewReceiver() *Receiver { return &Receiver{first: map[string]time.Time{}} }

// ServeHTTP implements http.Handler.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	io.Copy(io.Discard, req.Body)
	at := time.Now()
	key := req.Header.Get("Idempotency-Key")
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total++
	if _, ok := r.first[key]; !ok {
		r.first[key] = at
	}
}

// Received returns the first arrival of each key.
func (r *Receiver) Received() map[string]time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]time.Time, len(r.first))
	for k, v := range r.first {
		out[k] = v
	}
	return out
}

// Summary is a latency distribution.
type Summary struct {
	N                  int
	P50, P95, P99, Max time.Duration
}

func (s Summary) String() string {
	return fmt.Sprintf("n=%d p50=%v p95=%v p99=%v max=%v", s.N, s.P50.Round(time.Millisecond), s.P95.Round(time.Millisecond),
		s.P99.Round(time.Millisecond), s.Max.Round(time.Millisecond))
}

// Summarize returns the percentiles of ds (nearest rank).
func Summarize(ds []time.Duration) Summary {
	if len(ds) == 0 {
		return Summary{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(p float64) time.Duration {
		i := int(p*float64(len(s))+0.999999) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return Summary{N: len(s), P50: at(.50), P95: at(.95), P99: at(.99), Max: s[len(s)-1]}
}

// Latency is what Measure reports.
type Latency struct {
	Decision Summary // from an event's 200 to the commit of its decision
	Sink     Summary // from an event's 200 to the sink receiving the send
	// PostToDecision is from the post of the event's batch to the commit
	// of its decision: Decision plus the time to acknowledge.
	PostToDecision Summary
}

// Measure computes, for the sends decided for the run's events, the
// latency from the event's 200 (and from its post) to the commit of the
// tick that decided it (commits: run id -> commit time, as the service
// reports them) and to the receiver's first arrival of the send. db is the
// service's database (read after the run, or while it serves).
func Measure(ctx context.Context, db *sql.DB, res *Result, commits map[int64]time.Time, received map[string]time.Time) (Latency, error) {
	var l Latency
	if len(res.Acks) == 0 {
		return l, nil
	}
	rows, err := db.QueryContext(ctx, `SELECT trigger_seq, run_id, idempotency_key FROM outbox
WHERE action = 'send' AND trigger_seq BETWEEN $1::BIGINT AND $2::BIGINT`, res.Acks[0].FirstSeq, res.Acks[len(res.Acks)-1].LastSeq)
	if err != nil {
		return l, err
	}
	defer rows.Close()
	var dec, sink, post []time.Duration
	for rows.Next() {
		var seq, run int64
		var key string
		if err := rows.Scan(&seq, &run, &key); err != nil {
			return l, err
		}
		a, ok := res.ackOf(seq)
		if !ok {
			continue
		}
		if c, ok := commits[run]; ok {
			dec = append(dec, c.Sub(a.At))
			post = append(post, c.Sub(a.Sent))
		}
		if r, ok := received[key]; ok {
			sink = append(sink, r.Sub(a.At))
		}
	}
	l.Decision, l.Sink, l.PostToDecision = Summarize(dec), Summarize(sink), Summarize(post)
	return l, rows.Err()
}

// Event is one event of the generator's mix for a random member of
// members, with event_id id: 10% queued or booked at store A (what the
// store coupon rule reacts to), the rest browsing, visits, carts,
// purchases and opened messages.
func Event(rng *rand.Rand, members []string, id string) map[string]any {
	ev := map[string]any{"member_id": members[rng.IntN(len(members))], "event_id": id}
	switch k := rng.IntN(100); {
	case k < 5:
		ev["type"], ev["store"] = "queued", "A"
	case k < 10:
		ev["type"], ev["store"] = "booked", "A"
	case k < 40:
		ev["type"], ev["sku"] = "browsed", fmt.Sprintf("sku-%d", rng.IntN(500))
	case k < 55:
		ev["type"], ev["store"] = "visited", []string{"B", "C", "D"}[rng.IntN(3)]
	case k < 70:
		ev["type"], ev["sku"] = "carted", fmt.Sprintf("sku-%d", rng.IntN(500))
	case k < 85:
		ev["type"], ev["amount"], ev["store"] = "purchased", 20+rng.IntN(200), []string{"A", "B", "C"}[rng.IntN(3)]
	default:
		ev["type"], ev["channel"] = "message_opened", "sms"
	}
	return ev
}

// Members returns the members of brand the generator's events go to: up
// to 100,000 of them, the same ones for the same database.
func Members(ctx context.Context, db *sql.DB, brand string) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT member_id FROM members WHERE brand = $1 ORDER BY hash(member_id) LIMIT 100000`, brand)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var members []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return nil, err
		}
		members = append(members, m)
	}
	return members, rows.Err()
}
