package runtime

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"nudge/compiler"
)

// takeSink is a sink that takes at most room more messages (negative: any
// number) and reports the rest not attempted, as a sink does when the
// dispatch budget runs out; before its first delivery it calls first once.
// It records what it took, in order.
type takeSink struct {
	mu    sync.Mutex
	room  int
	first func()
	got   []Message
}

func (s *takeSink) Name() string { return "" }
func (s *takeSink) ID() string   { return "take" }
func (s *takeSink) Close() error { return nil }

func (s *takeSink) Deliver(ctx context.Context, msgs []Message) []error {
	if f := s.first; f != nil {
		s.first = nil
		f()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		if s.room == 0 {
			errs[i] = ErrNotAttempted
			continue
		}
		s.room--
		s.got = append(s.got, m)
	}
	return errs
}

// taken returns the members of the messages taken since the last call.
func (s *takeSink) taken() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.got {
		out = append(out, m.MemberID)
	}
	s.got = nil
	return out
}

// backlogFixture is a database whose tick at 10:00, run without a sink,
// left a send due for each of 30 members (b01 ... b30), and the rules:
// the backlog's, and the guest's, which sends to g1 (a member queueing
// now).
func backlogFixture(t *testing.T) (db *DB, backlog, guest *compiler.Program) {
	var b strings.Builder
	b.WriteString("member_id,brand,consent_sms\ng1,acme,true\n")
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&b, "b%02d,acme,true\n", i)
	}
	db = fixture(t, b.String(), "")
	backlog = &compiler.Program{Rules: []*compiler.Rule{sendRule("promo", allMembers+` AND m.member_id LIKE 'b%'`, false, "sms")}}
	guest = &compiler.Program{Rules: []*compiler.Rule{sendRule("guest", allMembers+` AND m.member_id = 'g1'`, false, "sms")}}
	run(t, db, backlog, "2024-11-11 10:00")
	return db, backlog, guest
}

// backlogOrder returns the backlog's members in the order dispatch offers
// them: by decision (run, then idempotency key).
func backlogOrder(t *testing.T, db *DB) []string {
	return queryStrings(t, db, `SELECT member_id FROM outbox WHERE rule = 'promo' ORDER BY run_id, idempotency_key`)
}

// TestDispatchFreshFirst: with a backlog of sends that a round cannot take
// at once, a send decided after the round that left the backlog goes out
// in the next round, before the backlog; the backlog goes oldest first
// (docs/decisions.md, "the order of a dispatch round").
func TestDispatchFreshFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _, guest := backlogFixture(t)
	order := backlogOrder(t, db)
	sink := &takeSink{}
	dispatch := func(now string, room int) DispatchResult {
		t.Helper()
		sink.room = room
		res, err := db.Dispatch(ctx, nil, "acme", ts(now), []Sink{sink}, time.Minute, 0)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// The sink takes 10: the backlog's oldest 10.
	if res := dispatch("2024-11-11 10:01", 10); !res.Deferred || res.Sent != 10 {
		t.Errorf("first round: %+v, want 10 sent and the rest deferred", res)
	}
	if got := sink.taken(); !slices.Equal(got, order[:10]) {
		t.Errorf("first round took %v, want the oldest 10 %v", got, order[:10])
	}
	// A guest queues: the tick decides g1's coupon. With room for one
	// message, the next round sends it, not the backlog's next one.
	run(t, db, guest, "2024-11-11 10:05")
	dispatch("2024-11-11 10:05", 1)
	if got := sink.taken(); !slices.Equal(got, []string{"g1"}) {
		t.Errorf("the round after the guest's decision took %v, want [g1]", got)
	}
	dispatch("2024-11-11 10:06", -1)
	if got := sink.taken(); !slices.Equal(got, order[10:]) {
		t.Errorf("the last round took %v, want the rest of the backlog in order %v", got, order[10:])
	}
	if n := count(t, db, `SELECT count(*) FROM outbox WHERE status <> 'sent'`); n != 0 {
		t.Errorf("%d sends not sent", n)
	}
}

// TestDispatchFreshCutsBacklog: a send decided while a round works through
// the backlog ends the round after the page in flight (Deferred), and the
// next round sends it first.
func TestDispatchFreshCutsBacklog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _, guest := backlogFixture(t)
	db.dispatchPage = 5
	order := backlogOrder(t, db)
	sink := &takeSink{room: -1}
	// The guest's send is decided while the sink takes the first page.
	sink.first = func() { run(t, db, guest, "2024-11-11 10:05") }
	res, err := db.Dispatch(ctx, nil, "acme", ts("2024-11-11 10:05"), []Sink{sink}, time.Minute, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := sink.taken(); !res.Deferred || !slices.Equal(got, order[:5]) {
		t.Errorf("the round took %v (%+v), want the backlog's first page %v and deferred", got, res, order[:5])
	}
	if _, err := db.Dispatch(ctx, nil, "acme", ts("2024-11-11 10:06"), []Sink{sink}, time.Minute, 0); err != nil {
		t.Fatal(err)
	}
	want := append([]string{"g1"}, order[5:]...)
	if got := sink.taken(); !slices.Equal(got, want) {
		t.Errorf("the next round took %v, want %v", got, want)
	}
}

// TestDispatchLooksWhereDue pins where a round reads the outbox
// (dueProbe): after a round that left nothing waiting, the next one reads
// only the runs after those it saw; a failed send keeps its run in view;
// a send scheduled for the end of quiet hours is out of view until then,
// and is delivered then.
func TestDispatchLooksWhereDue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := fixture(t, "member_id,brand,consent_sms\nm1,acme,true\nm2,acme,true\n", "")
	// A rule per tick: each decides a send for m1 and m2.
	prog := func(name string) *compiler.Program {
		return &compiler.Program{Rules: []*compiler.Rule{sendRule(name, allMembers, false, "sms")},
			Quiet: []compiler.Quiet{{From: 22 * 60, To: 8 * 60}}}
	}
	f := &flakyFile{path: t.TempDir() + "/sms.jsonl"}
	sink := []Sink{&JSONLSink{Path: f.path}}
	key := dueKey("acme", true, nil)
	probe := func(now string) dueRound {
		t.Helper()
		r, err := db.dueProbe(ctx, "acme", ts(now), true, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// settle probes twice: a round's mark is what its probe saw before it
	// delivered, so the round after a delivery reads the delivered runs
	// once more.
	settle := func(now string) dueRound {
		t.Helper()
		if r := probe(now); r.due != 0 {
			t.Errorf("at %s: %+v, want nothing due", now, r)
		}
		return probe(now)
	}
	runID := func(now string) int64 {
		return count(t, db, `SELECT id FROM runs WHERE now = $1`, ts(now))
	}

	// 10:00: both sends go out; then rounds read from the next run on.
	run(t, db, prog("r10"), "2024-11-11 10:00", func(o *RunOptions) { o.Sinks = sink })
	r1 := runID("2024-11-11 10:00")
	if r := settle("2024-11-11 10:01"); r.due != 0 || r.all.From != r1+1 {
		t.Errorf("after a round that sent everything: %+v, want nothing due, read from run %d", r, r1+1)
	}
	// 11:00: the sink fails; the sends stay pending and their run in view.
	f.breakIt(t)
	run(t, db, prog("r11"), "2024-11-11 11:00", func(o *RunOptions) { o.Sinks = sink })
	f.fix(t)
	r2 := runID("2024-11-11 11:00")
	if m, _ := db.due.get(key); m.live != r2 {
		t.Errorf("after a failed round the mark is %+v, want live = run %d", m, r2)
	}
	if r := probe("2024-11-11 11:01"); r.due != 2 || r.all.From != r2 {
		t.Errorf("after a failed round: %+v, want 2 due from run %d", r, r2)
	}
	// 23:00: decided in quiet hours, scheduled for 08:00; no sink.
	run(t, db, prog("r23"), "2024-11-11 23:00")
	r3 := runID("2024-11-11 23:00")
	if r := probe("2024-11-11 23:01"); r.due != 2 {
		t.Errorf("at 23:01: %+v, want the 2 pending sends of 11:00 due", r)
	}
	if m, _ := db.due.get(key); m.later != r3 || !m.wake.Equal(ts("2024-11-12 08:00")) {
		t.Errorf("the mark %+v, want run %d scheduled for 08:00", m, r3)
	}
	// 07:59 (a dispatch without quiet hours): the 11:00 sends go out, then
	// the scheduled ones are out of view.
	res, err := db.Dispatch(ctx, nil, "acme", ts("2024-11-12 07:59"), sink, time.Minute, 0)
	if err != nil || res.Sent != 2 {
		t.Fatalf("07:59: %+v, %v; want 2 sent", res, err)
	}
	if r := settle("2024-11-12 07:59"); r.all.From != r3+1 {
		t.Errorf("07:59 after sending: %+v, want to read from run %d", r, r3+1)
	}
	// 08:00: the scheduled sends are due, and go out.
	if r := probe("2024-11-12 08:00"); r.due != 2 || r.all.From != r3 {
		t.Errorf("08:00: %+v, want 2 due from run %d", r, r3)
	}
	res, err = db.Dispatch(ctx, nil, "acme", ts("2024-11-12 08:00"), sink, time.Minute, 0)
	if err != nil || res.Sent != 2 {
		t.Fatalf("08:00: %+v, %v; want 2 sent", res, err)
	}
	if got := len(readJSONL(t, f.path)); got != 6 {
		t.Errorf("the sink received %d sends, want 6", got)
	}
}

// TestDispatchCapsSkipTransactional: at delivery, a service message a sink
// received counts toward no cap: a marketing sms goes out the same day
// under `cap sms to 1 per day`.
func TestDispatchCapsSkipTransactional(t *testing.T) {
	t.Parallel()
	db := fixture(t, "member_id,brand,consent_sms\nm1,acme,true\n", "")
	svc := sendRule("svc", allMembers, false, "sms")
	svc.Transactional = true
	promo := sendRule("promo", allMembers, false, "sms")
	caps := []compiler.Cap{{Channel: "sms", Count: 1, Per: 24 * time.Hour}}
	path := t.TempDir() + "/sms.jsonl"
	sink := func(o *RunOptions) { o.Sinks = []Sink{&JSONLSink{Path: path}} }
	run(t, db, &compiler.Program{Rules: []*compiler.Rule{svc}, Caps: caps}, "2024-11-11 10:00", sink)
	run(t, db, &compiler.Program{Rules: []*compiler.Rule{promo}, Caps: caps}, "2024-11-11 11:00", sink)
	var got []string
	for _, m := range readJSONL(t, path) {
		got = append(got, m.Rule)
	}
	if !slices.Equal(got, []string{"svc", "promo"}) {
		t.Errorf("the sink received %v, want [svc promo]", got)
	}
}
