package runtime

import (
	"context"
	"sync"

	"github.com/bits-and-blooms/bloom/v3"
)

// eventIDFilterMin is the fewest ids the first filter of knownEventIDs is
// sized for, and eventIDFilterFP its false-positive rate while it holds no
// more.
const (
	eventIDFilterMin = 1 << 20
	eventIDFilterFP  = 1e-6
)

// knownEventIDs is a Bloom filter over the (brand, event_id) pairs
// event_ids holds, so that ingest looks up in event_ids only the ids that
// may be there: DuckDB answers a lookup of many keys by scanning the table,
// which grows with every id stored, and a new id (the common case) is then
// looked up not at all. A filter never misses a pair it was given, and
// says "maybe" of about one pair in a million it was not (those are
// looked up). It is loaded from event_ids by the first ingest (one scan,
// or KnowEventIDs at start) and given every pair ingest records; when it
// holds more pairs than it was sized for, a filter twice the size is
// added, so the rate stays bounded as ids accumulate. Only ingest writes
// event_ids.
type knownEventIDs struct {
	mu      sync.Mutex
	loaded  bool
	filters []*bloom.BloomFilter
	room    uint // pairs the last filter takes before the next is added
}

// key is a pair as the filter holds it.
func (k *knownEventIDs) key(p [2]string) string { return p[0] + "\x00" + p[1] }

// load reads event_ids into the filter once. The lock is held throughout,
// so a pair recorded meanwhile is added after the load, not lost.
func (k *knownEventIDs) load(ctx context.Context, q queryer) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.loaded {
		return nil
	}
	var n uint
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM event_ids`).Scan(&n); err != nil {
		return err
	}
	k.filters, k.room = nil, 0
	k.grow(2 * n)
	rows, err := q.QueryContext(ctx, `SELECT brand, event_id FROM event_ids`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var p [2]string
		if err := rows.Scan(&p[0], &p[1]); err != nil {
			return err
		}
		k.addLocked(p)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	k.loaded = true
	return nil
}

// grow adds a filter for at least n more pairs (twice the last one's).
func (k *knownEventIDs) grow(n uint) {
	size := uint(eventIDFilterMin)
	if len(k.filters) > 0 {
		size = 2 * k.filters[len(k.filters)-1].Cap()
	}
	for size < n {
		size *= 2
	}
	m, h := bloom.EstimateParameters(size, eventIDFilterFP)
	k.filters = append(k.filters, bloom.New(m, h))
	k.room = size
}

func (k *knownEventIDs) addLocked(p [2]string) {
	if k.room == 0 {
		k.grow(0)
	}
	k.filters[len(k.filters)-1].AddString(k.key(p))
	k.room--
}

// maybe returns the pairs of ps event_ids may hold: all of them while the
// filter is not loaded.
func (k *knownEventIDs) maybe(ps [][2]string) [][2]string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.loaded {
		return ps
	}
	var out [][2]string
	for _, p := range ps {
		key := k.key(p)
		for _, f := range k.filters {
			if f.TestString(key) {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// add notes pairs recorded in event_ids (nothing while not loaded: the
// load reads them from the table).
func (k *knownEventIDs) add(ps [][2]string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.loaded {
		return
	}
	for _, p := range ps {
		k.addLocked(p)
	}
}

// KnowEventIDs loads the event ids stored so far into the filter ingest
// reads (nudge serve calls it at start, so that the first batch does not
// pay for it). An error leaves the filter unloaded: ingest then looks
// every id up.
func (db *DB) KnowEventIDs(ctx context.Context) error {
	return db.eventIDs.load(ctx, db.sql)
}
