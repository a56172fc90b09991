package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	nrt "nudge/runtime"
)

// defaultDB is the embedded database file used when --db is not given.
const defaultDB = "nudge.duckdb"

func newImportCmd(s *streams) *cobra.Command {
	var dbPath, tz string
	var lockWait time.Duration
	c := &cobra.Command{
		Use:   "import [--db F] [--tz ZONE] members|events FILE...",
		Short: "Load members or events from CSV, Parquet or JSON files",
		Long: `import loads CSV, Parquet or JSON/JSONL files (chosen by extension) into the
members or events table. The whole command is one transaction: a bad row
rejects every file, and the error names the file, row, column and value.
Events of members not imported yet are stored and counted: trigger rules
consider them once their member arrives, if that is within the lookback
(run --lookback, default 24 hours) after the event.

Timestamps are stored as local times in the database's time zone: UTC, or
the zone --tz gives (an IANA name such as Asia/Shanghai), recorded by the
first import that gives one; a later import may repeat it but not change
it. A timestamp with an offset, Z or a zone name is converted into the
database's zone, the same way for every format; one without is kept.

Members upsert by brand and member id: a member given in several rows (of
one file or several) is stored once, with the values of its last row, and
counted once.`,
		Args: needArgs("TABLE", "FILE"),
		RunE: func(c *cobra.Command, args []string) error {
			table := args[0]
			if table != "members" && table != "events" {
				return usageError("import: unknown table %q; use members or events", table)
			}
			if c.Flags().Changed("tz") && tz == "" {
				return usageError("--tz: empty zone name; use an IANA name such as Asia/Shanghai, or UTC")
			}
			if n, ok := servedNote(dbPath); ok {
				if tz != "" {
					return problemError("database %s is served at %s: --tz cannot be set through the service; stop it to set the zone", dbPath, n.URL)
				}
				return importViaService(c.Context(), s, n, table, args[1:])
			}
			db, err := openWaiting(c.Context(), dbPath, lockWait, s.err)
			if err != nil {
				return problemError("%v", err)
			}
			defer db.Close()
			res, err := db.ImportWith(c.Context(), table, args[1:], nrt.ImportOptions{TimeZone: tz})
			var mismatch *nrt.TimeZoneMismatchError
			switch {
			case errors.Is(err, nrt.ErrUnknownTimeZone):
				return usageError("--tz: %v", err)
			case errors.As(err, &mismatch):
				return problemError("--tz: %v", err)
			case err != nil:
				return problemError("%v", err)
			}
			wait := ""
			if res.Waiting > 0 {
				// SPEC §5: such events are not lost; say so.
				wait = fmt.Sprintf(" (%d for members not yet imported; they wait for their member up to the lookback)", res.Waiting)
			}
			n := res.Rows
			if table == "members" {
				n, wait = res.Members, repeatedMembers(res.Rows, res.Members)
			}
			fmt.Fprintf(s.out, "imported %d %s from %d file(s)%s\n", n, table, len(args)-1, wait)
			return nil
		},
	}
	c.Flags().StringVar(&dbPath, "db", defaultDB, "DuckDB database file")
	lockWaitVar(c.Flags(), &lockWait)
	c.Flags().StringVar(&tz, "tz", "", "the database's time zone (IANA name, e.g. Asia/Shanghai), set once; default UTC")
	return c
}

// repeatedMembers is the note of an import of members whose rows give some
// member more than once: the count printed is of members, each once.
func repeatedMembers(rows, members int64) string {
	if rows <= members {
		return ""
	}
	return fmt.Sprintf(" (%d rows: a member given in several rows is stored once, with its last row)", rows)
}
