package main

import (
	"time"

	"github.com/spf13/cobra"

	"nudge/repl"
)

func newReplCmd(s *streams) *cobra.Command {
	var dbPath, nowFlag, brand string
	var lockWait time.Duration
	c := &cobra.Command{
		Use:   "repl [--db F] [--now TS] [--wait D] [PATH...]",
		Short: "Explore audiences interactively (line mode when stdin is not a terminal)",
		RunE: func(c *cobra.Command, args []string) error {
			var now *time.Time
			if c.Flags().Changed("now") {
				t, err := parseTimestamp("now", nowFlag)
				if err != nil {
					return err
				}
				now = &t
			}
			if err := refuseServed(dbPath, "ask the service instead: curl -X POST <url>/v1/query -d '{\"condition\": \"...\"}' (with -H 'Authorization: Bearer $NUDGE_TOKEN'), or stop it to use the REPL"); err != nil {
				return err
			}
			err := repl.Run(c.Context(), repl.Config{DBPath: dbPath, Paths: args, In: s.in, Out: s.out, Err: s.err, Now: now, Brand: brand, Wait: lockWait})
			if err != nil {
				return problemError("%v", err)
			}
			return nil
		},
	}
	c.Flags().StringVar(&dbPath, "db", defaultDB, "DuckDB database file")
	c.Flags().StringVar(&nowFlag, "now", "", "evaluation time for conditions (default: wall clock)")
	c.Flags().StringVar(&brand, "brand", "", "brand to explore when the rule files name none")
	lockWaitVar(c.Flags(), &lockWait)
	return c
}
