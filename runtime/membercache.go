package runtime

import (
	"context"
	"slices"
	"sync"
)

// maxKnownMembers bounds the member keys knownMembers holds (about 80
// bytes each): a larger base is looked up in the table at every ingest.
const maxKnownMembers = 4 << 20

// knownMembers remembers which (brand, member_id) keys the members table
// holds, so that ingest learns which events wait for their member without
// scanning the members table for every batch (DuckDB answers a lookup of
// many keys by a scan, not from the table's index). It only ever says a
// member exists: nudge never deletes a member while the database is open
// (an import or upsert adds or updates members), so a key once seen stays
// true; a key it does not hold is looked up in the table. The first
// lookup of a brand loads all of the brand's members, as costly as the
// scan one lookup is.
type knownMembers struct {
	mu     sync.Mutex
	keys   map[[2]string]struct{}
	loaded map[string]bool // brands whose members were all loaded
}

// filter returns the keys of ms it does not know to exist.
func (k *knownMembers) filter(ms [][2]string) [][2]string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out [][2]string
	for _, m := range ms {
		if _, ok := k.keys[m]; !ok {
			out = append(out, m)
		}
	}
	return out
}

// add notes keys that exist.
func (k *knownMembers) add(ms [][2]string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil {
		k.keys = map[[2]string]struct{}{}
	}
	for _, m := range ms {
		if len(k.keys) >= maxKnownMembers {
			return
		}
		k.keys[m] = struct{}{}
	}
}

// forget drops what it knows (a change to the members table made behind
// the runtime's back may have deleted members).
func (k *knownMembers) forget() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys, k.loaded = nil, nil
}

// load reads every member of the brands of ms not loaded yet (one scan of
// the members table each), when the table is small enough to be held.
func (k *knownMembers) load(ctx context.Context, q queryer, ms [][2]string) error {
	k.mu.Lock()
	var brands []string
	for _, m := range ms {
		if !k.loaded[m[0]] && !slices.Contains(brands, m[0]) {
			brands = append(brands, m[0])
		}
	}
	k.mu.Unlock()
	for _, b := range brands {
		var n int64
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM members WHERE brand = $1::VARCHAR`, b).Scan(&n); err != nil {
			return err
		}
		k.mu.Lock()
		room := int64(maxKnownMembers - len(k.keys))
		if k.loaded == nil {
			k.loaded = map[string]bool{}
		}
		k.loaded[b] = true // (too many to hold: looked up each time)
		k.mu.Unlock()
		if n > room {
			continue
		}
		all, err := pairs(ctx, q, `SELECT brand, member_id FROM members WHERE brand = `+quoteString(b))
		if err != nil {
			return err
		}
		k.add(all)
	}
	return nil
}
