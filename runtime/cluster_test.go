package runtime

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"nudge/runtime/demodata"
)

// eventsChecksum sums a hash of every column of every event: clustering
// must neither lose, add nor change one.
const eventsChecksum = `SELECT count(*) || ':' || sum(hash(seq, member_id, brand, type, ts, store, sku, category, amount, channel, order_id, CAST(props AS VARCHAR))) FROM events`

// physicalOrder lists the events with seq in (from, upto] in storage order
// (by rowid) as "brand|type|ts".
func physicalOrder(t *testing.T, db *DB, from, upto int64) []string {
	t.Helper()
	return queryStrings(t, db, `SELECT brand || '|' || type || '|' || strftime(ts, '%Y-%m-%d %H:%M:%S.%f')
FROM events WHERE seq > $1 AND seq <= $2 ORDER BY rowid`, from, upto)
}

// isClustered reports whether events in storage order (physicalOrder) are
// clustered: sorted by brand and type, and within each (brand, type) block
// by ts, ascending in the first block, descending in the second, and so on.
func isClustered(events []string) bool {
	block, prev, n := "", "", 0
	for _, e := range events {
		i := strings.LastIndex(e, "|")
		key, ts := e[:i], e[i+1:]
		switch {
		case key < block:
			return false
		case key > block:
			block, n = key, n+1
		case n%2 == 1 && ts < prev, n%2 == 0 && ts > prev:
			return false
		}
		prev = ts
	}
	return true
}

func ranStep(res *RunResult, step string) bool {
	return slices.ContainsFunc(res.Timings, func(s StepTiming) bool { return s.Step == step })
}

func TestClusterEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	db := demoDB(t, filepath.Join(dir, "c.duckdb"), 300)
	prog := compileExamples(t)
	now := demodata.DefaultNow
	sum := count(t, db, `SELECT count(*) FROM events`)
	before := dump(t, db, eventsChecksum)
	maxSeq := count(t, db, `SELECT max(seq) FROM events`)

	// Below the threshold nothing moves.
	db.clusterMin = sum + 1
	res, err := db.Run(ctx, prog, RunOptions{Now: now, SkipDecisions: true})
	if err != nil {
		t.Fatal(err)
	}
	if ranStep(res, "cluster events") || count(t, db, `SELECT count(*) FROM counters WHERE name = 'events_clustered'`) != 0 {
		t.Fatalf("clustered %d events with a threshold of %d", sum, db.clusterMin)
	}
	if got := physicalOrder(t, db, 0, maxSeq); isClustered(got) {
		t.Fatal("the demo events are already in clustered order: the test proves nothing")
	}

	// At the threshold every consumed event is clustered, none changes.
	db.clusterMin = sum
	now = now.Add(time.Hour)
	if res, err = db.Run(ctx, prog, RunOptions{Now: now, SkipDecisions: true}); err != nil {
		t.Fatal(err)
	}
	if !ranStep(res, "cluster events") {
		t.Fatalf("no clustering at the threshold; steps %v", res.Timings)
	}
	if got := count(t, db, `SELECT value FROM counters WHERE name = 'events_clustered'`); got != maxSeq {
		t.Errorf("events_clustered = %d, want %d", got, maxSeq)
	}
	if got := physicalOrder(t, db, 0, maxSeq); !isClustered(got) || len(got) != int(sum) {
		t.Errorf("%d of %d events after clustering, sorted %v", len(got), sum, isClustered(got))
	}
	if after := dump(t, db, eventsChecksum); after != before {
		t.Errorf("clustering changed the events: %s, was %s", after, before)
	}

	// New events stay in ingest order until a tick has consumed them, and
	// are then clustered as a stretch of their own after the first.
	path := filepath.Join(dir, "new.csv")
	writeEvents(t, path, rand.New(rand.NewPCG(1, 2)), now, 200)
	if _, err := db.Import(ctx, "events", []string{path}); err != nil {
		t.Fatal(err)
	}
	newMax := count(t, db, `SELECT max(seq) FROM events`)
	before = dump(t, db, eventsChecksum)
	db.clusterMin = 1
	now = now.Add(time.Hour)
	if res, err = db.Run(ctx, prog, RunOptions{Now: now, SkipDecisions: true}); err != nil {
		t.Fatal(err)
	}
	if !ranStep(res, "cluster events") {
		t.Fatal("the new events were not clustered")
	}
	first, second := physicalOrder(t, db, 0, maxSeq), physicalOrder(t, db, maxSeq, newMax)
	if !isClustered(first) || !isClustered(second) || int64(len(second)) != newMax-maxSeq {
		t.Errorf("stretches sorted %v and %v (%d events)", isClustered(first), isClustered(second), len(second))
	}
	if got := count(t, db, `SELECT min(rowid) FROM events WHERE seq > $1`, maxSeq); got < sum {
		t.Errorf("the second stretch starts at rowid %d, inside the first (%d events)", got, sum)
	}
	if after := dump(t, db, eventsChecksum); after != before {
		t.Errorf("clustering changed the events: %s, was %s", after, before)
	}

	// A tick with nothing new clusters nothing.
	now = now.Add(time.Hour)
	if res, err = db.Run(ctx, prog, RunOptions{Now: now, SkipDecisions: true}); err != nil {
		t.Fatal(err)
	}
	if ranStep(res, "cluster events") {
		t.Error("a tick with no new events clustered again")
	}
	t.Log(fmt.Sprint(res.Timings))
}

// TestImportWritesClusteredEvents: an import of at least clusterMin events
// onto clustered ones (or none) writes them in the clustered order with the
// seqs of ingest order, so that the next tick has nothing to cluster; a
// smaller import, or one after events not yet clustered, appends in ingest
// order and leaves the mark.
func TestImportWritesClusteredEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	now := demodata.DefaultNow
	rng := rand.New(rand.NewPCG(3, 4))
	big, small := filepath.Join(dir, "big.csv"), filepath.Join(dir, "small.csv")
	writeEvents(t, big, rng, now, 300)
	writeEvents(t, small, rng, now, 100)
	// (writeEvents adds the payments of some late orders.)
	nBig, nSmall := csvRows(t, big), csvRows(t, small)
	bySeq := `SELECT string_agg(seq || '|' || member_id || '|' || type || '|' || ts, ';' ORDER BY seq) FROM events`
	clusteredMark := `SELECT coalesce(max(value), 0) FROM counters WHERE name = 'events_clustered'`

	plain := openTest(t) // below the threshold: ingest order
	plain.clusterMin = nBig + 1
	if _, err := plain.Import(ctx, "events", []string{big}); err != nil {
		t.Fatal(err)
	}
	if isClustered(physicalOrder(t, plain, 0, nBig)) || count(t, plain, clusteredMark) != 0 {
		t.Fatal("an import below the threshold was clustered (or the file is already in clustered order: the test proves nothing)")
	}

	db := openTest(t)
	db.clusterMin = nBig
	if _, err := db.Import(ctx, "events", []string{big}); err != nil {
		t.Fatal(err)
	}
	if !isClustered(physicalOrder(t, db, 0, nBig)) {
		t.Error("an import at the threshold onto no events was not written in the clustered order")
	}
	if got := count(t, db, clusteredMark); got != nBig {
		t.Errorf("events_clustered = %d after the import, want %d", got, nBig)
	}
	if got, want := dump(t, db, bySeq), dump(t, plain, bySeq); got != want {
		t.Error("the clustered import changed the events or their seqs (ingest order)")
	}
	if got, want := dump(t, db, eventsChecksum), dump(t, plain, eventsChecksum); got != want {
		t.Errorf("the clustered import stored %s, the plain one %s", got, want)
	}
	res, err := db.Run(ctx, compileExamples(t), RunOptions{Now: now, SkipDecisions: true})
	if err != nil {
		t.Fatal(err)
	}
	if ranStep(res, "cluster events") {
		t.Error("the tick after a clustered import clustered again")
	}

	// A small import appends in ingest order; a large one after it cannot
	// mark its events (the small one's are not clustered) and does not
	// sort them.
	for _, path := range []string{small, big} {
		if _, err := db.Import(ctx, "events", []string{path}); err != nil {
			t.Fatal(err)
		}
	}
	if got := count(t, db, clusteredMark); got != nBig {
		t.Errorf("events_clustered = %d after imports onto unclustered events, want %d", got, nBig)
	}
	if isClustered(physicalOrder(t, db, nBig, nBig+nSmall)) || isClustered(physicalOrder(t, db, nBig+nSmall, 2*nBig+nSmall)) {
		t.Error("an import below the threshold or after unclustered events was sorted")
	}
}

// csvRows is the number of rows of the CSV file at path (its lines less the
// header).
func csvRows(t *testing.T, path string) int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return int64(strings.Count(string(data), "\n") - 1)
}
