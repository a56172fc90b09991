package runtime

import (
	"context"
	"database/sql"
	"fmt"
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
// the members table each), when the brand has few enough to be held.
func (k *knownMembers) load(ctx context.Context, q queryer, ms [][2]string) error {
	k.mu.Lock()
	var brands []string
	for _, m := range ms {
		if !k.loaded[m[0]] && !slices.Contains(brands, m[0]) {
			brands = append(brands, m[0])
		}
	}
	room := maxKnownMembers - len(k.keys)
	k.mu.Unlock()
	for _, b := range brands {
		all, err := pairs(ctx, q, fmt.Sprintf(`SELECT brand, member_id FROM members WHERE brand = $brand::VARCHAR LIMIT %d`, room+1), sql.Named("brand", b))
		if err != nil {
			return err
		}
		k.mu.Lock()
		if k.loaded == nil {
			k.loaded = map[string]bool{}
		}
		k.loaded[b] = true // (too many to hold: looked up each time)
		k.mu.Unlock()
		if len(all) <= room {
			k.add(all)
			room -= len(all)
		}
	}
	return nil
}

// KnowMembers loads which members of brand exist into the cache ingest
// reads (nudge serve calls it at start, so that the first batch does not
// pay for it). An error leaves the cache as it was.
func (db *DB) KnowMembers(ctx context.Context, brand string) error {
	return db.members.load(ctx, db.sql, [][2]string{{brand, ""}})
}
