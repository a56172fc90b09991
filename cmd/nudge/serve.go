package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"nudge/lang/diag"
	"nudge/repl/engine"
	nrt "nudge/runtime"
	"nudge/runtime/serve"
)

func newServeCmd(s *streams) *cobra.Command {
	var (
		dbPath, listen, brand, logFormat string
		sinks                            []string
		interval, lookback, timeout      time.Duration
		maxRows                          int
		maxBody                          int64
	)
	c := &cobra.Command{
		Use:   "serve [--db F] [--listen 127.0.0.1:7070] [--sink SPEC]... [--interval 1m] PATH...",
		Short: "Run the engine as a service: take events over HTTP, tick as they commit, dispatch continuously",
		Long: `serve keeps the database open and answers the HTTP API of SPEC §10
(described at /v1/openapi.json): POST /v1/events and /v1/members take batches
(JSON array or NDJSON, or Segment/RudderStack track, identify and batch
messages); each committed batch starts a tick (ticks coalesce under load), and
--interval starts one for time-driven rules. Sends go to the --sink sinks
continuously. SIGHUP or POST /v1/reload reloads the rules (files with errors
keep the running rules); SIGTERM stops after the requests in flight and the
current tick.

Writes need 'Authorization: Bearer $NUDGE_TOKEN' when NUDGE_TOKEN is set;
NUDGE_TOKEN_<BRAND> tokens may write one brand only. Listening beyond
loopback without a token is refused. While it runs, the service leaves a
note beside the database file (F.serve.json: pid and URL) for the CLI.`,
		Args: needArgs("PATH"),
		RunE: func(c *cobra.Command, args []string) error {
			if logFormat != "json" && logFormat != "text" {
				return usageError("--log-format: unknown format %q; use json or text", logFormat)
			}
			tokens := serve.TokensFromEnv(os.Environ())
			if _, port, err := net.SplitHostPort(listen); err != nil {
				return usageError("--listen: %q: want HOST:PORT, such as 127.0.0.1:7070", listen)
			} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
				return usageError("--listen: %q: the port %q is not a number from 0 to 65535 (0 picks a free one)", listen, port)
			}
			// A zero value of these would be taken as "the default"
			// silently (serve.Config's zero values): refused instead.
			for _, d := range []struct {
				flag string
				v    time.Duration
			}{{"interval", interval}, {"timeout", timeout}} {
				if d.v <= 0 {
					return usageError("--%s: must be more than 0, got %s", d.flag, d.v)
				}
			}
			if maxRows <= 0 {
				return usageError("--max-rows: must be a positive number, got %d", maxRows)
			}
			if maxBody <= 0 {
				return usageError("--max-body: must be a positive number of bytes, got %d", maxBody)
			}
			ss, err := openSinks(sinks)
			if err != nil {
				return err
			}
			defer closeSinks(ss)
			var h slog.Handler = slog.NewJSONHandler(s.err, nil)
			if logFormat == "text" {
				h = slog.NewTextHandler(s.err, nil)
			}
			log := slog.New(h)
			if note, ok := serve.ReadNote(dbPath); ok {
				return problemError("database %s is served by process %d at %s: stop it first", dbPath, note.PID, note.URL)
			}
			db, err := nrt.Open(c.Context(), dbPath)
			if err != nil {
				return problemError("%v", err)
			}
			defer db.Close()
			srv, err := serve.New(c.Context(), serve.Config{DB: db, Paths: args, Brand: brand, Sinks: ss, Interval: interval,
				Lookback: lookback, Tokens: tokens, MaxBodyBytes: maxBody, MaxRows: maxRows, Timeout: timeout, Logger: log,
				Query: engine.ServiceQuery(db)})
			if err != nil {
				var le *serve.LoadError
				if errors.As(err, &le) {
					diag.RenderText(s.err, le.Diags, le.Sources)
					return silentExit(exitProblems)
				}
				return problemError("%v", err)
			}
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for {
					select {
					case <-ctx.Done():
						return
					case <-hup:
						srv.Reload(ctx)
					}
				}
			}()
			err = srv.Serve(ctx, listen, func(a net.Addr) {
				url := "http://" + a.String()
				if err := serve.WriteNote(dbPath, url); err != nil {
					log.Warn("could not write the note beside the database; the CLI will not find the service", "error", err.Error())
				}
				fmt.Fprintf(s.err, "nudge: serving %s at %s\n", dbPath, url)
			})
			os.Remove(serve.NotePath(dbPath))
			if err != nil {
				return problemError("%v", err)
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&dbPath, "db", defaultDB, "DuckDB database file")
	f.StringVar(&listen, "listen", serve.DefaultListen, "address to listen on (HOST:PORT; port 0 picks a free one)")
	f.StringArrayVar(&sinks, "sink", nil, "dispatch sends to jsonl:PATH or webhook:URL (repeatable; NAME=webhook:URL for notify)")
	durationVar(f, &interval, "interval", serve.DefaultInterval, "run a tick at least this often, for time-driven rules")
	f.StringVar(&brand, "brand", "", "brand to run for (required when the database holds several and the rules name none)")
	lookbackVar(f, &lookback, "on a rule's first run, consider trigger events this far back")
	durationVar(f, &timeout, "timeout", serve.DefaultTimeout, "longest a request may take")
	f.IntVar(&maxRows, "max-rows", serve.DefaultMaxRows, "most rows in one ingest batch (413 past it)")
	f.Int64Var(&maxBody, "max-body", serve.DefaultMaxBodyBytes, "largest request body in bytes (413 past it)")
	f.StringVar(&logFormat, "log-format", "json", "log format on standard error: json or text")
	return c
}
