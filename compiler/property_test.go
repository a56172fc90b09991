package compiler

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"nudge/lang/check"
)

var (
	propSeed  = flag.Uint64("seed", 1, "seed of the property test (printed on failure)")
	propCases = flag.Int("cases", 1000, "number of rules the property test checks")
)

// TestPropertyMatchesReference generates random datasets and random rules
// from the grammar (as source text, parsed and checked by the real front
// end), runs the compiled SQL in DuckDB and the reference evaluator, and
// requires exactly the same firings.
func TestPropertyMatchesReference(t *testing.T) {
	t.Parallel() // long; independent of the other tests
	seed := *propSeed
	t.Logf("seed %d (rerun with -seed=%d), %d cases", seed, seed, *propCases)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	ctx := context.Background()
	db := openDB(t)
	const rulesPerDataset = 5
	checked, rejected, nonEmpty, triggerFired, laned := 0, 0, 0, 0, 0
	for checked < *propCases {
		g := &gen{rng: rng}
		ds := g.dataset()
		load(t, db, ds.members, ds.events, ds.tags)
		for i := 0; i < rulesPerDataset && checked < *propCases; i++ {
			trigger := rng.IntN(2) == 0
			src := g.program(trigger)
			p, info, err := compileText(src)
			if err != nil {
				rejected++
				if testing.Verbose() {
					t.Logf("rejected: %v", err)
				}
				if rejected > *propCases/5+20 {
					t.Fatalf("the generator makes too many invalid rules; last:\n%s\n%v", src, err)
				}
				continue
			}
			checked++
			wm := ds.wm
			got, err := runRule(ctx, db, p.Rules[0], ds.now, wm)
			if err != nil {
				t.Fatalf("seed %d: %v\nrule:\n%s", seed, err, src)
			}
			want := newRefWorld(info, ds.members, ds.events, ds.tags, ds.now, wm).fire(info.Rules[0])
			if len(got) > 0 {
				nonEmpty++
			}
			if len(got) > 0 && p.Rules[0].Trigger {
				triggerFired++
			}
			if r := p.Rules[0]; r.Tick.LaneSQL != "" && checked%3 == 0 {
				// The lane form agrees with SQL for lanes of every member
				// at now and at an earlier instant, with varied steps (for
				// a third of the rules: each check costs four times the
				// rule's).
				var lanes []lane
				earlier := ds.now.Add(-boundaryOffsets[rng.IntN(len(boundaryOffsets))])
				steps := [2]time.Duration{boundaryOffsets[1+rng.IntN(len(boundaryOffsets)-1)], boundaryOffsets[1+rng.IntN(len(boundaryOffsets)-1)]}
				for _, m := range ds.members {
					if m.Brand != testBrand {
						continue // lanes are the brand's members, as a tick's
					}
					lanes = append(lanes, lane{member: m.ID, now: ds.now, prev: ds.now.Add(-steps[0])},
						lane{member: m.ID, now: earlier, prev: earlier.Add(-steps[1])})
				}
				lgot, lwant, err := laneFirings(ctx, db, r, lanes)
				if err != nil {
					t.Fatalf("seed %d: lane form: %v\nrule:\n%s\nSQL:\n%s", seed, err, src, r.Tick.LaneSQL)
				}
				if !slices.Equal(lgot, lwant) {
					t.Fatalf("seed %d: lane form and SQL disagree\nrule:\n%s\ndataset:\n%s\nlane form: %v\nSQL:       %v\nlane SQL:\n%s",
						seed, src, &ds, lgot, lwant, r.Tick.LaneSQL)
				}
				laned++
			}
			if !sameFirings(got, want) {
				small := shrink(t, p.Rules[0], info, ds)
				load(t, db, small.members, small.events, small.tags)
				got, err = runRule(ctx, db, p.Rules[0], ds.now, wm)
				want = newRefWorld(info, small.members, small.events, small.tags, ds.now, wm).fire(info.Rules[0])
				t.Fatalf("seed %d: SQL and reference disagree\nrule:\n%s\nnow %s, watermark %d/%s\nshrunk dataset:\n%s\nSQL firings:       %v %v\nreference firings: %v\nSQL:\n%s",
					seed, src, ds.now.Format(time.DateTime), wm.Seq, wm.Now.Format(time.DateTime), &small, got, err, want, p.Rules[0].SQL)
			}
		}
	}
	t.Logf("%d rules checked (%d fired at least once, %d of them trigger rules; %d in the lane form too), %d generated rules rejected by the checker",
		checked, nonEmpty, triggerFired, laned, rejected)
}

// TestPropertyTickSchedule generates random datasets and trigger rules and
// runs each rule under random tick schedules (every event ingested before
// the first tick; each tick's watermark the previous tick's now): the
// firings (member, trigger event, due time) of all ticks together must be
// exactly those of one tick at the last instant, whatever the schedule,
// because the rest of a trigger rule's condition is evaluated at the
// firing's due time (SPEC §5). The reference evaluator, run tick by tick
// the same way, must agree.
func TestPropertyTickSchedule(t *testing.T) {
	t.Parallel() // long; independent of the other tests
	seed := *propSeed
	cases := max(*propCases/5, 1)
	t.Logf("seed %d (rerun with -seed=%d), %d cases", seed, seed, cases)
	rng := rand.New(rand.NewPCG(seed^0x5ced, seed))
	ctx := context.Background()
	db := openDB(t)
	const rulesPerDataset = 5
	checked, fired, rejected := 0, 0, 0
	for checked < cases {
		g := &gen{rng: rng}
		ds := g.dataset()
		load(t, db, ds.members, ds.events, ds.tags)
		for i := 0; i < rulesPerDataset && checked < cases; i++ {
			src := g.program(true)
			p, info, err := compileText(src)
			if err != nil {
				rejected++
				if rejected > cases/5+20 {
					t.Fatalf("the generator makes too many invalid rules; last:\n%s\n%v", src, err)
				}
				continue
			}
			checked++
			r := p.Rules[0]
			once, err := runRule(ctx, db, r, ds.now, noWatermark)
			if err != nil {
				t.Fatalf("seed %d: %v\nrule:\n%s", seed, err, src)
			}
			if len(once) > 0 {
				fired++
			}
			for k := 0; k < 2; k++ {
				ticks := g.schedule(ds.now)
				got, err := runSchedule(ctx, db, r, ticks)
				if err != nil {
					t.Fatalf("seed %d: %v\nrule:\n%s\nticks %s", seed, err, src, formatTicks(ticks))
				}
				ref := refSchedule(info, ds, ticks)
				if !sameFirings(got, once) || !sameFirings(ref, once) {
					t.Fatalf("seed %d: firings depend on the tick schedule\nrule:\n%s\ndataset:\n%s\nticks %s\nticked:    %v\nreference: %v\none tick:  %v\nSQL:\n%s",
						seed, src, &ds, formatTicks(ticks), got, ref, once, r.SQL)
				}
			}
		}
	}
	t.Logf("%d trigger rules checked under 2 schedules each (%d fired at least once), %d generated rules rejected by the checker", checked, fired, rejected)
}

// schedule returns 1 to 6 increasing tick instants ending at now: near the
// boundaries of windows and due times (boundaryOffsets, give or take a
// minute) or anywhere in the 30 days before now.
func (g *gen) schedule(now time.Time) []time.Time {
	var ticks []time.Time
	for n := g.rng.IntN(6); n > 0; n-- {
		var tk time.Time
		if g.chance(0.5) {
			tk = now.Add(-boundaryOffsets[g.rng.IntN(len(boundaryOffsets))]).Add(time.Duration(g.rng.IntN(3)-1) * time.Minute)
		} else {
			tk = now.Add(-time.Duration(g.rng.IntN(30*24*60)) * time.Minute)
		}
		if tk.Before(now) {
			ticks = append(ticks, tk)
		}
	}
	slices.SortFunc(ticks, time.Time.Compare)
	ticks = slices.CompactFunc(ticks, time.Time.Equal)
	return append(ticks, now)
}

// runSchedule runs r at each tick, the watermark of each tick being every
// event seen at the previous tick, and returns the firings of all ticks,
// sorted; a firing returned by two ticks is an error.
func runSchedule(ctx context.Context, db *sql.DB, r *Rule, ticks []time.Time) ([]string, error) {
	wm := noWatermark
	seen := map[string]time.Time{}
	var out []string
	for _, tk := range ticks {
		rows, err := runRule(ctx, db, r, tk, wm)
		if err != nil {
			return nil, err
		}
		for _, f := range rows {
			if at, dup := seen[f]; dup {
				return nil, fmt.Errorf("firing %s returned at %s and again at %s", f, at.Format(time.DateTime), tk.Format(time.DateTime))
			}
			seen[f] = tk
			out = append(out, f)
		}
		wm = watermark{Seq: math.MaxInt64 - 1, Now: tk}
	}
	sort.Strings(out)
	return out, nil
}

// refSchedule is runSchedule with the reference evaluator.
func refSchedule(info *check.Info, ds dataset, ticks []time.Time) []string {
	wm := noWatermark
	var out []string
	for _, tk := range ticks {
		out = append(out, newRefWorld(info, ds.members, ds.events, ds.tags, tk, wm).fire(info.Rules[0])...)
		wm = watermark{Seq: math.MaxInt64 - 1, Now: tk}
	}
	sort.Strings(out)
	return out
}

func formatTicks(ticks []time.Time) string {
	var s []string
	for _, tk := range ticks {
		s = append(s, tk.Format("2006-01-02 15:04"))
	}
	return strings.Join(s, ", ")
}

// dataset is one random world.
type dataset struct {
	members []member
	events  []event
	tags    []string
	now     time.Time
	wm      watermark
}

func (d *dataset) String() string {
	var b strings.Builder
	for _, m := range d.members {
		fmt.Fprintf(&b, "  member %s brand=%s city=%q tier=%q attrs=%s\n", m.ID, m.Brand, m.City, m.Tier, m.Attrs)
	}
	for _, e := range d.events {
		amount := "NULL"
		if !math.IsNaN(e.Amount) {
			amount = strconv.FormatFloat(e.Amount, 'f', -1, 64)
		}
		fmt.Fprintf(&b, "  event %d %s brand=%s %s %s store=%q sku=%q order=%q amount=%s props=%s\n",
			e.Seq, e.Member, e.Brand, e.Type, e.TS.Format("2006-01-02T15:04:05"), e.Store, e.SKU, e.OrderID, amount, e.Props)
	}
	for _, t := range d.tags {
		fmt.Fprintf(&b, "  tag %s\n", t)
	}
	return b.String()
}

// shrink removes events, tags and members one at a time while SQL and the
// reference still disagree, and returns the smallest dataset found.
func shrink(t *testing.T, r *Rule, info *check.Info, ds dataset) dataset {
	t.Helper()
	dbh := openDB(t)
	ctx := context.Background()
	differs := func(d dataset) bool {
		load(t, dbh, d.members, d.events, d.tags)
		got, err := runRule(ctx, dbh, r, d.now, d.wm)
		if err != nil {
			return true
		}
		return !sameFirings(got, newRefWorld(info, d.members, d.events, d.tags, d.now, d.wm).fire(info.Rules[0]))
	}
	cur := ds
	for changed := true; changed; {
		changed = false
		for i := 0; i < len(cur.events); i++ {
			next := cur
			next.events = append(append([]event(nil), cur.events[:i]...), cur.events[i+1:]...)
			if differs(next) {
				cur, changed = next, true
				i--
			}
		}
		for i := 0; i < len(cur.tags); i++ {
			next := cur
			next.tags = append(append([]string(nil), cur.tags[:i]...), cur.tags[i+1:]...)
			if differs(next) {
				cur, changed = next, true
				i--
			}
		}
		for i := 0; i < len(cur.members); i++ {
			next := cur
			next.members = append(append([]member(nil), cur.members[:i]...), cur.members[i+1:]...)
			if differs(next) {
				cur, changed = next, true
				i--
			}
		}
	}
	return cur
}

// gen produces random datasets and rule source text.
type gen struct {
	rng       *rand.Rand
	inSegment bool // generating the segment: it must not refer to itself
}

func (g *gen) pick(xs ...string) string { return xs[g.rng.IntN(len(xs))] }
func (g *gen) chance(p float64) bool    { return g.rng.Float64() < p }

var genNows = []time.Time{
	time.Date(2024, 3, 31, 12, 0, 0, 0, time.UTC), // month ends: calendar clamping
	time.Date(2024, 6, 10, 12, 0, 0, 0, time.UTC),
}

// boundaryOffsets are distances before now where windows start or end.
var boundaryOffsets = []time.Duration{0, time.Hour, 90 * time.Minute, 2 * time.Hour, 24 * time.Hour, 2 * 24 * time.Hour, 3 * 24 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 30 * 24 * time.Hour}

func (g *gen) dataset() dataset {
	now := genNows[g.rng.IntN(len(genNows))]
	ds := dataset{now: now, wm: noWatermark}
	nMembers := 3 + g.rng.IntN(4)
	for i := 1; i <= nMembers; i++ {
		m := member{ID: fmt.Sprintf("m%d", i), Brand: testBrand, City: g.pick("A", "B", "长沙", ""), Tier: g.pick("gold", "silver", "")}
		if g.chance(0.7) {
			m.Attrs = fmt.Sprintf(`{"vip_level":%d}`, g.rng.IntN(4))
		} else if g.chance(0.3) {
			// Texts DuckDB reads as numbers that are no number (NULL),
			// and numbers whose products leave DOUBLE's range.
			m.Attrs = fmt.Sprintf(`{"vip_level":%q}`, g.pick("NaN", "inf", "-Infinity", "1e999", "1e300", "-1e300"))
		}
		ds.members = append(ds.members, m)
	}
	ds.members = append(ds.members, member{ID: "x1", Brand: "other", City: "A", Tier: "gold", Attrs: `{"vip_level":3}`})
	// Another brand's members under some of the same ids, with fields (and
	// below, tags) of their own: a member is (brand, member_id) (SPEC §5).
	for _, m := range ds.members[:nMembers] {
		if g.chance(0.4) {
			ds.members = append(ds.members, member{ID: m.ID, Brand: "other", City: g.pick("A", "B", "长沙"), Tier: g.pick("gold", "silver"), Attrs: `{"vip_level":3}`})
		}
	}
	memberIDs := []string{"x1", "ghost"}
	for _, m := range ds.members[:nMembers] {
		memberIDs = append(memberIDs, m.ID, m.ID, m.ID)
	}
	nEvents := g.rng.IntN(26)
	for i := 1; i <= nEvents; i++ {
		var ts time.Time
		jitter := time.Duration(0)
		if g.chance(0.3) {
			jitter = time.Duration(2*g.rng.IntN(2)-1) * time.Minute
		}
		switch {
		case g.chance(0.6):
			off := boundaryOffsets[g.rng.IntN(len(boundaryOffsets))]
			ts = now.Add(-off).Add(jitter)
		case g.chance(0.2):
			ts = addMonths(now, -[]int{1, 2, 12}[g.rng.IntN(3)]).Add(jitter)
		default:
			ts = now.Add(-time.Duration(g.rng.IntN(24*50)-6) * time.Hour)
		}
		e := event{
			Seq: int64(i), Member: memberIDs[g.rng.IntN(len(memberIDs))], Brand: testBrand,
			Type:  g.pick("purchased", "purchased", "visited", "queued", "order_placed", "paid"),
			TS:    ts,
			Store: g.pick("A", "B", ""), SKU: g.pick("X", "Y", ""), OrderID: g.pick("o1", "o2", ""),
			Amount: []float64{math.NaN(), 0, 5, 10, 12.5, 100}[g.rng.IntN(6)],
		}
		if e.Member == "x1" {
			e.Brand = "other"
		} else if g.chance(0.05) {
			e.Brand = "other"
		}
		switch g.rng.IntN(4) {
		case 0:
			e.Props = fmt.Sprintf(`{"quantity":%d,"party_size":%d,"payment":"%s"}`, g.rng.IntN(4), g.rng.IntN(6), g.pick("alipay", "card"))
		case 1:
			e.Props = `{"quantity":"bad"}`
		}
		ds.events = append(ds.events, e)
	}
	for _, m := range ds.members {
		if g.chance(0.3) {
			ds.tags = append(ds.tags, m.Brand+" "+m.ID+" "+g.pick("vip", "new"))
		}
	}
	if g.chance(0.5) && nEvents > 0 {
		ds.wm = watermark{Seq: int64(g.rng.IntN(nEvents + 1)), Now: now.Add(-time.Duration(g.rng.IntN(24*10)) * time.Hour)}
	}
	return ds
}

// program returns a file with one random rule (and maybe segments).
func (g *gen) program(trigger bool) string {
	var b strings.Builder
	b.WriteString("brand \"acme\"\nimport \"crm\"\nmember {\n  vip_level number\n}\n")
	g.inSegment = true
	b.WriteString("segment seg_buyer = " + g.state(1, false) + "\n")
	g.inSegment = false
	b.WriteString("segment seg_trig = " + g.triggerAtom() + "\n")
	var cond string
	if trigger {
		t := g.triggerAtom()
		if g.chance(0.15) {
			t = "seg_trig"
		}
		if g.chance(0.3) {
			// Several atoms, often of one event type: they share one scan
			// of the candidates (candidateCTEs).
			more := g.triggerAtom()
			if g.chance(0.4) {
				more += " or " + g.triggerAtom()
			}
			t = "(" + t + " or " + more + ")"
		}
		cond = t
		if g.chance(0.8) {
			cond += " and " + g.state(2, true)
		}
	} else {
		depth := 3
		if g.chance(0.4) {
			depth = 0 // a single atom: most sensitive to its own semantics
		}
		cond = g.state(depth, false)
	}
	b.WriteString("rule r\n  if " + cond + "\n  then send coupon \"X\" via sms" + g.params(trigger) + "\n")
	return b.String()
}

var eventTypes = []string{"purchased", "visited", "queued", "order_placed", "paid"}

func (g *gen) triggerAtom() string {
	switch g.rng.IntN(5) {
	case 0:
		return "(queued" + g.filters("queued", false) + ")"
	case 1:
		return "(purchased" + g.filters("purchased", true) + ")"
	case 2:
		return "(order_placed" + g.filters("order_placed", false) + " not followed by paid" + g.filters("paid", false) +
			g.pick(" matching order_id", "") + " within " + g.pick("2 hours", "1 day", "3 days", "1 month", "90 minutes", "1 week") + ")"
	case 3:
		return "purchased"
	default:
		return "(" + g.pick(eventTypes...) + g.filters("", false) + ")"
	}
}

// filters returns zero to two filters for an event type.
func (g *gen) filters(et string, nested bool) string {
	if et == "" {
		et = "visited"
	}
	var out []string
	for n := g.rng.IntN(3); n > 0; n-- {
		switch g.rng.IntN(12) {
		case 10, 11:
			out = append(out, " where (store = member.city)")
		case 8:
			out = append(out, " where (ts "+g.pick(">=", "<", "=")+" "+g.pick("2024-06-01", "2024-03-01", "2024-06-09 12:00", "2024-06-09 12:00:30", "2024-03-30 12:00")+")")
		case 9:
			if et == "purchased" || et == "paid" {
				out = append(out, ` where (payment `+g.pick("in", "not in")+` ("alipay", "wechat"))`)
			} else {
				out = append(out, ` where (store in ("A", "C"))`)
			}
		case 0, 1:
			out = append(out, ` at store "`+g.pick("A", "B")+`"`)
		case 2:
			if et == "purchased" {
				out = append(out, ` of sku "`+g.pick("X", "Y")+`"`)
			} else {
				out = append(out, ` at store "A"`)
			}
		case 3:
			out = append(out, " where (amount "+g.pick(">", ">=", "<", "=")+" "+g.pick("0", "5", "10", "12.5")+")")
		case 4:
			field := map[string]string{"purchased": "quantity", "order_placed": "quantity", "queued": "party_size"}[et]
			if field == "" {
				field = "amount"
			}
			out = append(out, " where ("+field+" >= "+g.pick("0", "1", "2", "3")+")")
		case 5:
			out = append(out, " where (store = member.city)")
		case 6:
			if nested {
				out = append(out, " where (amount > "+g.pick("1.5 * ", "", "0.5 * ")+g.pick("avg", "max", "min")+"(purchased.amount "+g.pick("ever", "before", "in last 30 days")+"))")
			} else {
				out = append(out, " where (amount > avg(purchased.amount ever))")
			}
		case 7:
			if et == "purchased" || et == "paid" {
				out = append(out, ` where (payment = "alipay")`)
			}
		}
	}
	return strings.Join(out, "")
}

func (g *gen) window(before bool) string {
	opts := []string{"ever", "in last 1 hour", "in last 2 hours", "in last 1 day", "in last 2 days", "in last 7 days", "in last 1 week", "in last 2 weeks", "in last 30 days", "in last 1 month", "in last 2 months",
		"in last 90 minutes", "in last 1 year"}
	if before {
		opts = append(opts, "before", "before")
	}
	return g.pick(opts...)
}

// state returns a state condition of at most the given depth; before allows
// `before` windows (trigger rules).
func (g *gen) state(depth int, before bool) string {
	if depth > 0 && g.chance(0.5) {
		switch g.rng.IntN(4) {
		case 0, 1:
			return "(" + g.state(depth-1, before) + " and " + g.state(depth-1, before) + ")"
		case 2:
			return "(" + g.state(depth-1, before) + " or " + g.state(depth-1, before) + ")"
		default:
			return "not (" + g.state(depth-1, before) + ")"
		}
	}
	et := g.pick(eventTypes...)
	switch g.rng.IntN(10) {
	case 0, 1:
		q := ""
		if g.chance(0.5) {
			q = " " + g.pick("at least", "at most", "exactly") + " " + g.pick("0", "1", "2", "3") + " times"
		}
		w := " " + g.window(before)
		if q != "" && g.chance(0.3) {
			w = ""
		}
		return "(" + et + g.filters(et, before) + q + w + ")"
	case 2, 3, 4:
		return g.number(before) + " " + g.pick("=", "!=", "<", "<=", ">", ">=") + " " + g.number(before)
	case 5:
		return g.number(before) + " between " + g.number(before) + " and " + g.number(before)
	case 6:
		switch g.rng.IntN(5) {
		case 4:
			// Past BIGINT, DuckDB's DECIMAL types or DOUBLE from one
			// purchase (or a vip_level of 1e300) on: in DOUBLE, as the
			// reference computes, and past DOUBLE no number.
			w := g.window(before)
			switch g.rng.IntN(6) {
			case 0:
				return "count(purchased " + w + ") * 999999999999999 * " + g.pick("1", "99999") + " > " + g.pick("0", "1")
			case 1:
				return "count(purchased " + w + ") * 2000000000 * 2000000000 * 2000000000 > " + g.pick("0", "1")
			case 2:
				return "max(purchased.amount " + w + ") * 123456789012345.5 * 123456789012345.5 * 123456789012345.5 " + g.pick(">", "<=") + " " + g.pick("0", "1")
			case 3:
				return g.pick("max", "sum") + "(purchased.amount " + w + ") * 1000000000 * 1000000000 " + g.pick(">", "<=") + " 0.000000000000001"
			case 4:
				return "member.vip_level * 999999999999999 * 999999999999999 " + g.pick(">", "<=") + " " + g.pick("0", "1")
			default:
				return "(member.vip_level * member.vip_level - member.vip_level * member.vip_level) " + g.pick("=", "!=") + " 0"
			}
		case 0:
			return `member.tier = "` + g.pick("gold", "silver") + `"`
		case 1:
			return `member.city ` + g.pick("in", "not in") + ` ("A", "长沙")`
		case 2:
			return "member." + g.pick("tier", "city", "vip_level") + g.pick(" is null", " is not null")
		default:
			return "member.vip_level >= " + g.pick("1", "2")
		}
	case 7:
		return `tagged "` + g.pick("vip", "new") + `"`
	case 8:
		if g.inSegment {
			return "purchased ever"
		}
		return "seg_buyer"
	default:
		return "(days since " + g.pick("last", "first") + " " + et + g.filters(et, false) + ") " + g.pick(">", "<=", "=") + " " + g.pick("0", "1", "2", "7", "30")
	}
}

// number returns a numeric value expression.
func (g *gen) number(before bool) string {
	et := g.pick("purchased", "purchased", "visited", "order_placed")
	switch g.rng.IntN(9) {
	case 0:
		return "count(" + et + g.filters(et, false) + " " + g.window(before) + ")"
	case 1:
		return g.pick("sum", "avg", "min", "max") + "(purchased.amount" + g.filters("purchased", false) + " " + g.window(before) + ")"
	case 2:
		return "(days since " + g.pick("last", "first") + " " + et + g.filters(et, false) + ")"
	case 3:
		return "member.vip_level"
	case 4:
		return g.pick("0", "1", "2", "3", "10", "12.5", "100", "2000000000")
	case 5:
		return "(" + g.number(before) + " " + g.pick("+", "-", "*", "/") + " " + g.number(before) + ")"
	case 6:
		return g.pick("2", "0.5", "1.5") + " * " + "count(purchased " + g.window(before) + ")"
	case 7:
		return "sum(purchased.amount" + g.filters("purchased", false) + ")"
	default:
		return g.pick("1", "2", "5")
	}
}
