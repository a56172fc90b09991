package runtime

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestImportAcrossDSTChanges pins how a local time given with a zone name
// becomes a naive time in the database's zone across America/New_York's
// fall-back (2024-11-03 01:00-02:00 happens twice) and spring-forward
// (2024-03-10 02:00-03:00 never happens), in a database in that zone and
// in Asia/Shanghai (no DST): the rule of docs/decisions.md ("Local times
// across a daylight-saving change"). A repeated wall time with a zone
// name is the later instant (standard time, ICU's choice); a wall time in
// the gap is read with the offset before the gap, so it lands after it
// (02:30 is 03:30 EDT); an offset or Z names one instant; a naive time is
// kept as it is.
func TestImportAcrossDSTChanges(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name, text, newYork, shanghai string
	}{
		{"before fall-back", "2024-11-03 00:30:00 America/New_York", "2024-11-03 00:30:00", "2024-11-03 12:30:00"},
		{"repeated hour, zone name: the later instant", "2024-11-03 01:30:00 America/New_York", "2024-11-03 01:30:00", "2024-11-03 14:30:00"},
		{"repeated hour, first pass by offset", "2024-11-03 01:30:00-04:00", "2024-11-03 01:30:00", "2024-11-03 13:30:00"},
		{"repeated hour, second pass by offset", "2024-11-03 01:30:00-05:00", "2024-11-03 01:30:00", "2024-11-03 14:30:00"},
		{"repeated hour, first pass in UTC", "2024-11-03T05:30:00Z", "2024-11-03 01:30:00", "2024-11-03 13:30:00"},
		{"after fall-back", "2024-11-03 02:30:00 America/New_York", "2024-11-03 02:30:00", "2024-11-03 15:30:00"},
		{"naive in the repeated hour: kept", "2024-11-03 01:30:00", "2024-11-03 01:30:00", "2024-11-03 01:30:00"},
		{"before spring-forward", "2024-03-10 01:30:00 America/New_York", "2024-03-10 01:30:00", "2024-03-10 14:30:00"},
		{"in the gap: after it", "2024-03-10 02:30:00 America/New_York", "2024-03-10 03:30:00", "2024-03-10 15:30:00"},
		{"after spring-forward", "2024-03-10 03:30:00 America/New_York", "2024-03-10 03:30:00", "2024-03-10 15:30:00"},
		{"naive in the gap: kept", "2024-03-10 02:30:00", "2024-03-10 02:30:00", "2024-03-10 02:30:00"},
	}
	var csv strings.Builder
	csv.WriteString("member_id,brand,type,ts\n")
	for i, c := range cases {
		fmt.Fprintf(&csv, "m%02d,acme,x,%s\n", i, c.text)
	}
	file := writeFile(t, t.TempDir(), "ev.csv", csv.String())
	for _, zone := range []string{"America/New_York", "Asia/Shanghai"} {
		db := openTest(t)
		if _, err := db.ImportWith(ctx, "events", []string{file}, ImportOptions{TimeZone: zone}); err != nil {
			t.Fatal(err)
		}
		got := queryStrings(t, db, `SELECT strftime(ts, '%Y-%m-%d %H:%M:%S') FROM events ORDER BY member_id`)
		for i, c := range cases {
			want := c.newYork
			if zone == "Asia/Shanghai" {
				want = c.shanghai
			}
			if i >= len(got) || got[i] != want {
				t.Errorf("%s in %s: %q stored as %q, want %q", c.name, zone, c.text, got[min(i, len(got)-1)], want)
			}
		}
	}
}
