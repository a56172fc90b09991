package main

import (
	"fmt"
	nrt "nudge/runtime"
	"time"

	"github.com/spf13/cobra"
)

func newMigrateCmd(s *streams) *cobra.Command {
	var dbPath string
	var lockWait time.Duration
	c := &cobra.Command{
		Use:   "migrate [--db F]",
		Short: "Upgrade a database's schema to this nudge's",
		Long: `migrate brings the schema of an existing database file up to this version of
nudge and prints its schema version. Commands that write (import, run, demo)
do so themselves when they open the file; the read-only commands (why,
report) do not, and ask for this command when the file is older.`,
		Args: noArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if dbPath == "" {
				return usageError("--db: empty file name")
			}
			if err := nrt.CheckDatabaseFile(dbPath); err != nil {
				return problemError("%v", err)
			}
			db, err := openWaiting(c.Context(), dbPath, lockWait, s.err)
			if err != nil {
				return problemError("%v", err)
			}
			defer db.Close()
			v, err := db.SchemaVersion(c.Context())
			if err != nil {
				return problemError("database %s: %v", dbPath, err)
			}
			fmt.Fprintf(s.out, "database %s: schema version %d\n", dbPath, v)
			return nil
		},
	}
	c.Flags().StringVar(&dbPath, "db", defaultDB, "DuckDB database file")
	lockWaitVar(c.Flags(), &lockWait)
	return c
}
