package serve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	_ "time/tzdata" // ticks read the wall clock in the database's zone

	"nudge/compiler"
	"nudge/lang"
	"nudge/lang/diag"
	nrt "nudge/runtime"
	"nudge/runtime/internal/tick"
	"nudge/runtime/redact"
	"nudge/stdlib"
)

// Defaults of Config.
const (
	DefaultListen       = "127.0.0.1:7070"
	DefaultInterval     = time.Minute
	DefaultMaxBodyBytes = 8 << 20
	DefaultMaxRows      = 10000
	DefaultTimeout      = 30 * time.Second
	// dispatchPoll is how often dispatch looks for due sends when no tick
	// told it of new ones (scheduled sends, retries).
	dispatchPoll = time.Second
	// dispatchRetryWait is the first wait after a dispatch round with
	// failed deliveries.
	dispatchRetryWait = 5 * time.Second
	// dispatchBudget bounds one dispatch round; what it leaves goes next.
	dispatchBudget = 30 * time.Second
)

// Config configures a Server.
type Config struct {
	DB       *nrt.DB
	Paths    []string      // rule files and directories
	Brand    string        // --brand: the brand the rules run for (else the rules' or the database's only one)
	Sinks    []nrt.Sink    // where sends go
	Interval time.Duration // time-driven ticks (0: DefaultInterval)
	Lookback time.Duration // as RunOptions.Lookback
	Tokens   Tokens
	// Limits (0: the defaults).
	MaxBodyBytes int64
	MaxRows      int
	Timeout      time.Duration // per request
	Logger       *slog.Logger  // nil: discard
	// Query evaluates the conditions of POST /v1/query: the REPL's engine
	// (repl/engine.ServiceQuery), which the engine's packages do not
	// import; nil, the endpoint answers 501.
	Query QueryFunc
	// OnTick, when set, is told of every committed tick: its run id and
	// when the commit returned (the load benchmark measures latency so).
	OnTick func(runID int64, committed time.Time)
}

// Server is the service of SPEC §10: one process that owns the database,
// takes events over HTTP, runs ticks as batches commit and at an interval,
// and dispatches sends continuously.
//
// Three locks order the writes, so that events are stored and sends
// delivered while a tick runs. Ticks and member upserts hold the writer
// lock; ingest batches of events hold the ingest lock; dispatch holds the
// dispatch lock. What they write is disjoint: ingest appends events,
// their ids and waiting events and advances the event counter; a tick
// appends to the outbox and writes state and the run log; dispatch
// updates the statuses of committed outbox rows and appends deliveries.
// Each reads a snapshot, so a tick that overlaps a dispatch decides as if
// it had run just before it. A tick that may write what the others
// write takes their locks too (exclusiveTick): one that may admit waiting
// events (it renumbers them and advances the event counter) and one that
// may cluster the events (which ends with a checkpoint); the others skip
// admitting waiting events, which could admit none. Locks are taken
// in the order ingest, dispatch, writer. Reads (why, query, decisions)
// take none. Dispatch releases its lock while a sink delivers, so a slow
// webhook holds up no tick.
type Server struct {
	cfg          Config
	db           *nrt.DB
	log          *slog.Logger
	m            *metrics
	writer       chan struct{} // the writer lock: a token in the channel
	ingestLock   chan struct{} // the ingest lock: a token in the channel
	dispatchLock chan struct{} // the dispatch lock: a token in the channel

	// membersGen counts member upserts (changed under the writer lock);
	// exclusiveGen is its value when the last exclusive tick began: a
	// tick is exclusive while they differ, so the first tick after
	// members arrived admits their waiting events alone.
	membersGen   atomic.Int64
	exclusiveGen atomic.Int64

	prog  atomic.Pointer[program]
	brand atomic.Pointer[string] // the brand ticks run for, once known

	tickReq     chan struct{} // a committed batch asks for a tick (at most one pending)
	dispatchReq chan struct{}

	pending pendingJobs // ingest batches waiting for the ingest lock

	ackMu sync.Mutex
	acks  []ack // acknowledged batches no tick has evaluated, by seq

	mux    *http.ServeMux
	routes []string // "METHOD /path" patterns, for the OpenAPI check
	sinks  []nrt.Sink
}

// ack is an acknowledged batch: its last seq and when it was answered.
type ack struct {
	lastSeq int64
	at      time.Time
	n       int64
}

// program is a loaded rule program.
type program struct {
	compiled *compiler.Program
	exps     []*compiler.Explanation
	files    []RuleFile
	sources  []lang.Source // the rule files' texts as loaded, in load order (POST /v1/query)
	loadedAt time.Time
	warnings diag.List
}

// RuleFile is a loaded rule file.
type RuleFile struct {
	Path     string    `json:"path"`
	SHA256   string    `json:"sha256"`
	LoadedAt time.Time `json:"loaded_at"`
}

// New returns a server over cfg.DB with the rules of cfg.Paths loaded. A
// program with errors is refused with its diagnostics (*LoadError).
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxRows <= 0 {
		cfg.MaxRows = DefaultMaxRows
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, db: cfg.DB, log: cfg.Logger, m: newMetrics(), writer: make(chan struct{}, 1), ingestLock: make(chan struct{}, 1),
		dispatchLock: make(chan struct{}, 1),
		tickReq:      make(chan struct{}, 1), dispatchReq: make(chan struct{}, 1)}
	s.writer <- struct{}{}
	s.ingestLock <- struct{}{}
	s.dispatchLock <- struct{}{}
	s.exclusiveGen.Store(-1) // events may wait for members imported while the service was stopped
	p, err := loadProgram(cfg.Paths)
	if err != nil {
		return nil, err
	}
	if err := s.setProgram(ctx, p); err != nil {
		return nil, err
	}
	for _, sk := range cfg.Sinks {
		s.sinks = append(s.sinks, &unlockedSink{Sink: sk, id: nrt.SinkID(sk), s: s})
	}
	if err := s.seedWaiting(ctx); err != nil {
		return nil, err
	}
	if b := s.Brand(); b != "" {
		// (Ingest learns which members exist; loaded now, the first
		// batch does not wait for it. Without it ingest looks them up.)
		if err := s.db.KnowMembers(ctx, b); err != nil {
			s.log.Warn("reading the members", "error", redact.Error(err))
		}
	}
	if err := s.db.KnowEventIDs(ctx); err != nil { // (likewise: else ingest looks every event id up)
		s.log.Warn("reading the event ids", "error", redact.Error(err))
	}
	s.routesInit()
	return s, nil
}

// seedWaiting counts the events stored before the service started that no
// tick has evaluated yet (acknowledged by a previous process that stopped
// or crashed before its tick): they wait for the first tick like a batch
// acknowledged now, so nudge_events_waiting_for_tick does not read 0 while
// they are undecided.
func (s *Server) seedWaiting(ctx context.Context) error {
	var upto, waiting int64
	err := s.db.SQL().QueryRowContext(ctx, `
SELECT (SELECT coalesce(max(value), 0) FROM counters WHERE name = 'event_seq'),
       (SELECT count(*) FROM events WHERE seq > (SELECT coalesce(min(wm_seq), 0) FROM rule_state))`).Scan(&upto, &waiting)
	if err != nil {
		return fmt.Errorf("counting the events no tick has evaluated yet: %w", err)
	}
	if waiting > 0 {
		s.acks = append(s.acks, ack{lastSeq: upto, at: time.Now(), n: waiting})
		s.m.pendingEvents.Set(float64(waiting))
	}
	return nil
}

// LoadError is a rule program with errors: its diagnostics, with the
// sources to render them.
type LoadError struct {
	Diags   diag.List
	Sources diag.Sources
}

func (e *LoadError) Error() string {
	n := 0
	for _, d := range e.Diags {
		if d.Severity == diag.Error {
			n++
		}
	}
	return fmt.Sprintf("the rules have %d error(s)", n)
}

// loadProgram loads, checks and compiles rule files.
func loadProgram(paths []string) (*program, error) {
	lp, diags, err := lang.Load(paths, stdlib.Env())
	if err != nil {
		return nil, err
	}
	if diags.HasErrors() {
		return nil, &LoadError{Diags: diags, Sources: lp.Sources}
	}
	compiled, cdiags := compiler.Compile(lp.Info)
	exps, wdiags := compiler.Why(lp.Info)
	all := append(append(diags, cdiags...), wdiags...)
	if all.HasErrors() {
		return nil, &LoadError{Diags: all, Sources: lp.Sources}
	}
	now := time.Now().UTC()
	p := &program{compiled: compiled, exps: exps, loadedAt: now, warnings: all}
	for _, f := range lp.Files {
		p.sources = append(p.sources, lang.Source{Name: f.Name, Src: lp.Sources[f.Name]})
		sum := sha256.Sum256(lp.Sources[f.Name])
		p.files = append(p.files, RuleFile{Path: f.Name, SHA256: hex.EncodeToString(sum[:]), LoadedAt: now})
	}
	sort.Slice(p.files, func(i, j int) bool { return p.files[i].Path < p.files[j].Path })
	return p, nil
}

// setProgram installs p, resolving the brand it runs for.
func (s *Server) setProgram(ctx context.Context, p *program) error {
	brand, err := nrt.DatabaseBrand(ctx, s.db.SQL(), p.compiled.Brand, s.cfg.Brand)
	if err != nil {
		return err
	}
	s.prog.Store(p)
	if brand != "" {
		s.brand.Store(&brand)
	}
	s.m.rulesLoaded.Set(float64(len(p.compiled.Rules)))
	return nil
}

// Brand returns the brand the service runs rules for ("" while unknown:
// no brand named and the database empty).
func (s *Server) Brand() string {
	if b := s.brand.Load(); b != nil {
		return *b
	}
	return ""
}

// Reload loads the rule files again. Invalid files keep the running
// program; the error is a *LoadError with the diagnostics.
func (s *Server) Reload(ctx context.Context) (*program, error) {
	p, err := loadProgram(s.cfg.Paths)
	if err == nil {
		err = s.setProgram(ctx, p)
	}
	if err != nil {
		s.m.reloads.WithLabelValues("invalid").Inc()
		s.log.Warn("reload refused; the previous rules keep running", "error", err)
		return nil, err
	}
	s.m.reloads.WithLabelValues("ok").Inc()
	s.log.Info("rules reloaded", "rules", len(p.compiled.Rules), "files", len(p.files))
	s.requestTick()
	return p, nil
}

// lock takes the writer lock, giving up when ctx ends.
func (s *Server) lock(ctx context.Context) error { return lockChan(ctx, s.writer) }

// lockChan takes the token of a lock channel, giving up when ctx ends.
func lockChan(ctx context.Context, l chan struct{}) error {
	select {
	case <-l:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Server) unlock() { s.writer <- struct{}{} }

// requestTick asks for a tick; requests made while one is pending merge.
func (s *Server) requestTick() {
	select {
	case s.tickReq <- struct{}{}:
	default:
	}
}

func (s *Server) requestDispatch() {
	select {
	case s.dispatchReq <- struct{}{}:
	default:
	}
}

// now is the wall clock as a naive time in the database's zone, at full
// precision (SPEC §10: an event acknowledged before a tick starts is never
// in the tick's future).
func (s *Server) now(ctx context.Context) (time.Time, error) {
	zone, err := s.db.TimeZone(ctx)
	if err != nil {
		return time.Time{}, err
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return time.Time{}, fmt.Errorf("time zone %s: %w", zone, err)
	}
	t := time.Now().In(loc)
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC).Truncate(time.Microsecond), nil
}

// Tick runs one tick now under the writer lock (and the ingest and
// dispatch locks when exclusiveTick says so) and records its metrics.
func (s *Server) Tick(ctx context.Context) (*nrt.RunResult, error) {
	exclusive := false
	for {
		gen := s.membersGen.Load()
		if exclusive {
			if err := lockChan(ctx, s.ingestLock); err != nil {
				return nil, err
			}
			if err := lockChan(ctx, s.dispatchLock); err != nil {
				s.ingestLock <- struct{}{}
				return nil, err
			}
		}
		if err := s.lock(ctx); err != nil {
			if exclusive {
				s.dispatchLock <- struct{}{}
				s.ingestLock <- struct{}{}
			}
			return nil, err
		}
		// Member upserts hold the writer lock: from here gen is stable.
		if !exclusive {
			need, err := s.exclusiveTick(ctx, gen)
			if err != nil {
				s.unlock()
				return nil, err
			}
			if need {
				s.unlock()
				exclusive = true
				continue
			}
		}
		res, err := s.tickLocked(ctx, exclusive)
		s.unlock()
		if exclusive {
			s.dispatchLock <- struct{}{}
			s.ingestLock <- struct{}{}
		}
		if err == nil {
			if exclusive {
				s.exclusiveGen.Store(gen)
			}
			s.requestDispatch()
		}
		return res, err
	}
}

// clusterMargin is how far below nrt.DefaultClusterMinEvents unclustered
// events make a tick exclusive: events stored between the check and the
// tick's snapshot count towards clustering too.
const clusterMargin = 200_000

// exclusiveTick reports whether the next tick must keep ingest out (the
// writer lock held; gen read before it was taken): members were upserted
// since the last exclusive tick, so the tick may admit waiting events,
// or the events may be clustered after it.
func (s *Server) exclusiveTick(ctx context.Context, gen int64) (bool, error) {
	if s.membersGen.Load() != gen || s.exclusiveGen.Load() != gen {
		return true, nil
	}
	var unclustered int64
	if err := s.db.SQL().QueryRowContext(ctx, `SELECT `+tick.LastEventSeqSQL+` - `+tick.ClusteredSeqSQL).Scan(&unclustered); err != nil {
		return false, fmt.Errorf("tick: reading the event counters: %w", err)
	}
	return unclustered >= nrt.DefaultClusterMinEvents-clusterMargin, nil
}

// tickLocked runs a tick (the locks held). Only an exclusive tick admits
// the events waiting for their member: the others skip that step, since
// no member was upserted since the last exclusive tick (exclusiveTick).
func (s *Server) tickLocked(ctx context.Context, exclusive bool) (*nrt.RunResult, error) {
	p := s.prog.Load()
	var upto int64
	if err := s.db.SQL().QueryRowContext(ctx, `SELECT value FROM counters WHERE name = 'event_seq'`).Scan(&upto); err != nil {
		return nil, fmt.Errorf("tick: reading the event counter: %w", err)
	}
	now, err := s.now(ctx)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	res, err := s.db.Run(ctx, p.compiled, nrt.RunOptions{Now: now, Brand: s.cfg.Brand, Lookback: s.cfg.Lookback, SkipDecisions: true,
		NoArrivals: !exclusive})
	took := time.Since(start)
	if err != nil {
		s.m.ticks.WithLabelValues("error").Inc()
		s.log.Error("tick failed; the next tick retries", "error", redact.Error(err))
		return res, err
	}
	committed := time.Now()
	if s.cfg.OnTick != nil {
		s.cfg.OnTick(res.RunID, committed)
	}
	s.m.ticks.WithLabelValues("ok").Inc()
	s.m.tickDuration.Observe(took.Seconds())
	s.m.lastTickUnixTime.Set(float64(committed.Unix()))
	if res.Brand != "" && s.Brand() == "" {
		b := res.Brand
		s.brand.Store(&b)
	}
	var firings int64
	for _, r := range res.Rules {
		firings += r.Firings
		for st, n := range r.Statuses {
			s.m.decisions.WithLabelValues(st).Add(float64(n))
		}
	}
	s.ackMu.Lock()
	i := 0
	var waiting int64
	for ; i < len(s.acks) && s.acks[i].lastSeq <= upto; i++ {
		s.m.eventToDecision.Observe(committed.Sub(s.acks[i].at).Seconds())
	}
	s.acks = s.acks[i:]
	for _, a := range s.acks {
		waiting += a.n
	}
	// (Set under the lock: a batch stored meanwhile adds to the gauge
	// after this, never before, so the gauge never reads 0 while an
	// acknowledged event waits.)
	s.m.pendingEvents.Set(float64(waiting))
	s.ackMu.Unlock()
	s.log.Info("tick", "run_id", res.RunID, "now", now.Format("2006-01-02T15:04:05.000000"), "firings", firings,
		"seconds", took.Seconds())
	if s.log.Enabled(ctx, slog.LevelDebug) {
		steps := make([]any, 0, 2*len(res.Timings))
		for _, st := range res.Timings {
			steps = append(steps, st.Step, st.Took.Seconds())
		}
		s.log.Debug("tick steps", "run_id", res.RunID, slog.Group("seconds", steps...))
	}
	return res, nil
}

// Dispatch delivers the due sends once (under the dispatch lock, released
// while sinks deliver).
func (s *Server) Dispatch(ctx context.Context) (nrt.DispatchResult, error) {
	var res nrt.DispatchResult
	brand := s.Brand()
	if len(s.sinks) == 0 || brand == "" {
		return res, nil
	}
	if err := lockChan(ctx, s.dispatchLock); err != nil {
		return res, err
	}
	defer func() { s.dispatchLock <- struct{}{} }()
	now, err := s.now(ctx)
	if err != nil {
		return res, err
	}
	began := time.Now()
	res, err = s.db.Dispatch(ctx, s.prog.Load().compiled, brand, now, s.sinks, dispatchBudget, 0)
	s.log.Debug("dispatch round", "seconds", time.Since(began).Seconds(), "attempted", res.Attempted)
	s.m.dispatched.WithLabelValues("sent").Add(float64(res.Sent))
	s.m.dispatched.WithLabelValues("failed").Add(float64(res.Failed))
	s.m.dispatched.WithLabelValues("gave_up").Add(float64(res.GaveUp))
	s.m.dispatched.WithLabelValues("refused").Add(float64(res.Refused))
	if err != nil {
		s.log.Error("dispatch failed; the next round retries", "error", redact.Error(err))
	} else if res.Attempted > 0 || res.Refused > 0 {
		s.log.Info("dispatch", "sent", res.Sent, "failed", res.Failed, "gave_up", res.GaveUp, "refused", res.Refused, "waiting", res.Waiting)
	}
	return res, err
}

// unlockedSink is a sink that releases the server's dispatch lock while
// it delivers: dispatch holds the lock for its reads and bookkeeping only.
// It keeps the wrapped sink's identity (outbox_deliveries).
type unlockedSink struct {
	nrt.Sink
	id string
	s  *Server
}

// ID implements the identity nrt.SinkID records.
func (u *unlockedSink) ID() string { return u.id }

// Deliver implements nrt.Sink.
func (u *unlockedSink) Deliver(ctx context.Context, msgs []nrt.Message) []error {
	u.s.dispatchLock <- struct{}{}
	defer lockChan(context.Background(), u.s.dispatchLock)
	return u.Sink.Deliver(ctx, msgs)
}

// Serve listens on addr and runs the service until ctx ends; it then stops
// taking requests, lets those in flight finish, finishes the current tick,
// flushes dispatch and returns. ready, when not nil, is called with the
// address listened on once the listener is open.
func (s *Server) Serve(ctx context.Context, addr string, ready func(net.Addr)) error {
	if !isLoopback(addr) && !s.cfg.Tokens.Any() {
		return fmt.Errorf("refusing to listen on %s without a token: set NUDGE_TOKEN (writes then need 'Authorization: Bearer $NUDGE_TOKEN'), or listen on 127.0.0.1", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       s.cfg.Timeout,
		WriteTimeout:      s.cfg.Timeout + 5*time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if ready != nil {
		ready(ln.Addr())
	}
	s.log.Info("serving", "addr", ln.Addr().String(), "db", s.db.Path(), "brand", s.Brand(), "rules", len(s.prog.Load().compiled.Rules),
		"interval", s.cfg.Interval.String(), "sinks", len(s.sinks))

	// Ticks and dispatch run on a context that SIGTERM does not cancel: the
	// tick in progress finishes and dispatch is flushed before returning.
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	var wg sync.WaitGroup
	stopTicks := make(chan struct{})
	wg.Add(1)
	go func() { defer wg.Done(); s.tickLoop(work, stopTicks) }()
	stopDispatch := make(chan struct{})
	var dwg sync.WaitGroup
	dwg.Add(1)
	go func() { defer dwg.Done(); s.dispatchLoop(work, stopDispatch) }()

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.requestTick()
	select {
	case <-ctx.Done():
	case err := <-errc:
		close(stopTicks)
		wg.Wait()
		close(stopDispatch)
		dwg.Wait()
		return err
	}
	s.log.Info("stopping: finishing requests in flight and the current tick")
	shut, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout+5*time.Second)
	defer cancel()
	serr := srv.Shutdown(shut)
	close(stopTicks)
	wg.Wait()
	close(stopDispatch)
	dwg.Wait()
	flush, cancelFlush := context.WithTimeout(work, 10*time.Second)
	defer cancelFlush()
	s.Dispatch(flush)
	s.log.Info("stopped")
	if serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return nil
}

// tickLoop runs a tick when a batch asks for one and at every interval.
func (s *Server) tickLoop(ctx context.Context, stop <-chan struct{}) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-s.tickReq:
		case <-t.C:
		}
		s.Tick(ctx)
	}
}

// dispatchLoop dispatches after every tick and every dispatchPoll. After a
// round in which deliveries failed it waits before the next (5 s, doubling
// up to the tick interval), so that a sink that is down for a while does
// not use up the sends' delivery attempts (runtime.MaxAttempts) in
// seconds; a round without failures ends the wait.
func (s *Server) dispatchLoop(ctx context.Context, stop <-chan struct{}) {
	t := time.NewTicker(dispatchPoll)
	defer t.Stop()
	var backoff time.Duration
	var resume time.Time
	for {
		select {
		case <-stop:
			return
		case <-s.dispatchReq:
		case <-t.C:
		}
		if time.Now().Before(resume) {
			continue
		}
		res, err := s.Dispatch(ctx)
		switch {
		case err == nil && res.Failed > 0:
			backoff = min(max(2*backoff, dispatchRetryWait), max(s.cfg.Interval, dispatchRetryWait))
			resume = time.Now().Add(backoff)
		case err == nil:
			backoff, resume = 0, time.Time{}
			if res.Deferred {
				s.requestDispatch()
			}
		}
	}
}

// Note is what a running service writes beside its database file
// (NotePath), so that the CLI finds it.
type Note struct {
	PID     int       `json:"pid"`
	URL     string    `json:"url"`
	DB      string    `json:"db"`
	Started time.Time `json:"started"`
}

// NotePath is the note's path for a database file.
func NotePath(dbPath string) string { return dbPath + ".serve.json" }

// WriteNote writes the note for the service at url.
func WriteNote(dbPath, url string) error {
	b, err := json.MarshalIndent(Note{PID: os.Getpid(), URL: url, DB: dbPath, Started: time.Now().UTC()}, "", "  ")
	if err != nil {
		return err
	}
	tmp := NotePath(dbPath) + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, NotePath(dbPath))
}

// ReadNote reads the note beside a database file; ok is false when there
// is none or its process is gone.
func ReadNote(dbPath string) (Note, bool) {
	var n Note
	b, err := os.ReadFile(NotePath(dbPath))
	if err != nil || json.Unmarshal(b, &n) != nil || n.URL == "" {
		return n, false
	}
	return n, processAlive(n.PID)
}

// processAlive reports whether a process of that id runs.
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	return p.Signal(syscall.Signal(0)) == nil
}
