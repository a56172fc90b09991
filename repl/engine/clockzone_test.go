package engine

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"nudge/runtime"
)

// TestWallClockInDatabaseZone: without --now the REPL reads the wall
// clock in the database's time zone, as `nudge run` does
// (runtime.DB.WallClock), whatever zone the machine (here the clock's
// location) is in: before, it took the clock's wall-clock fields, so on a
// machine in Asia/Shanghai over a UTC database a session evaluated eight
// hours after the tick of the same moment.
func TestWallClockInDatabaseZone(t *testing.T) {
	ctx := context.Background()
	instant := time.Date(2024, 11, 11, 4, 0, 0, 0, time.UTC)
	host := func() time.Time { return instant.In(time.FixedZone("CST", 8*3600)) } // 12:00 on the machine
	for _, c := range []struct {
		zone string // recorded in the database; "" for none (UTC)
		want time.Time
	}{
		{"", time.Date(2024, 11, 11, 4, 0, 0, 0, time.UTC)},
		{"America/New_York", time.Date(2024, 11, 10, 23, 0, 0, 0, time.UTC)},
	} {
		path := filepath.Join(t.TempDir(), "z.duckdb")
		db, err := runtime.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if c.zone != "" {
			if _, err := db.SQL().ExecContext(ctx, `INSERT INTO settings VALUES ('time_zone', $1)`, c.zone); err != nil {
				t.Fatal(err)
			}
		}
		held := New(db, Options{Clock: host})
		if got := held.Now(); !got.Equal(c.want) {
			t.Errorf("zone %q, database held: now %v, want %v", c.zone, got, c.want)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		file := NewFile(path, Options{Clock: host})
		if err := file.Check(ctx); err != nil {
			t.Fatal(err)
		}
		if got := file.Now(); !got.Equal(c.want) {
			t.Errorf("zone %q, database file: now %v, want %v", c.zone, got, c.want)
		}
	}
}
