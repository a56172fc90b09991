package main

import (
	"fmt"

	"github.com/spf13/cobra"

	nrt "nudge/runtime"
)

// defaultDB is the embedded database file used when --db is not given.
const defaultDB = "nudge.duckdb"

func newImportCmd(s *streams) *cobra.Command {
	var dbPath string
	c := &cobra.Command{
		Use:   "import [--db F] members|events FILE...",
		Short: "Load members or events from CSV, Parquet or JSON files",
		Long: `import loads CSV, Parquet or JSON/JSONL files (chosen by extension) into the
members or events table. The whole command is one transaction: a bad row
rejects every file, and the error names the file, row, column and value.
Events of members not imported yet are stored and counted: trigger rules
consider them once their member arrives, if that is within the lookback
(run --lookback, default 24 hours) after the event.`,
		Args: needArgs(2, "TABLE and FILE"),
		RunE: func(c *cobra.Command, args []string) error {
			table := args[0]
			if table != "members" && table != "events" {
				return usageError("import: unknown table %q; use members or events", table)
			}
			db, err := nrt.Open(c.Context(), dbPath)
			if err != nil {
				return problemError("%v", err)
			}
			defer db.Close()
			res, err := db.Import(c.Context(), table, args[1:])
			if err != nil {
				return problemError("%v", err)
			}
			wait := ""
			if res.Waiting > 0 {
				// SPEC §5: such events are not lost; say so.
				wait = fmt.Sprintf(" (%d for members not yet imported; they wait for their member up to the lookback)", res.Waiting)
			}
			fmt.Fprintf(s.out, "imported %d %s from %d file(s)%s\n", res.Rows, table, len(args)-1, wait)
			return nil
		},
	}
	c.Flags().StringVar(&dbPath, "db", defaultDB, "DuckDB database file")
	return c
}
