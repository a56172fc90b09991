package main

import (
	"strings"

	"github.com/spf13/cobra"
)

// checkDBFlag refuses an empty --db (typically an unset shell variable,
// `--db "$DB"`) on every command that takes one: the runtime would open a
// throwaway in-memory database, so an import would report rows that are
// gone when the command ends, and a run would decide over nothing.
func checkDBFlag(c *cobra.Command, _ []string) error {
	f := c.Flags().Lookup("db")
	if f == nil || strings.TrimSpace(f.Value.String()) != "" {
		return nil
	}
	return usageError("--db: empty database path (an unset variable?); give a database file, e.g. --db %s", defaultDB)
}
