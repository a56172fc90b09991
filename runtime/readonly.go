package runtime

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/duckdb/duckdb-go/v2"

	"nudge/stdlib"
)

// OpenReadOnly opens the database file at path for reading only (DuckDB's
// access_mode READ_ONLY), for commands that only read (nudge report):
// nothing is written to the file, so a file the user may only read opens,
// and several readers can hold it at once. The file is never migrated: one
// whose schema is older than this nudge is an error that says to run `nudge
// migrate`. The stdlib macros are temp macros of each connection (the
// file's own may be an older nudge's).
func OpenReadOnly(ctx context.Context, path string) (*DB, error) {
	return openUnchanged(ctx, path, "?access_mode=READ_ONLY&")
}

// OpenDryRun opens the database file at path for a dry run that writes in
// a transaction it rolls back (the REPL's :run, :why and :journeys, the
// whole brand's run of `nudge why`), and changes nothing in the file: it
// opens it for writing, but as OpenReadOnly checks the schema, never
// migrates it (an older one is an error that says to run `nudge
// migrate`), and makes the stdlib macros temp macros of each connection
// (Open commits its macros into the file). Unlike OpenReadOnly it holds
// the file alone while it is open, as any writer does. A file the user
// may not write, or one with a write-ahead log left by a process that
// died (an open for writing would replay the log into the file), is
// copied into memory instead (OpenScratch of every member), which takes
// longer but needs only read access.
func OpenDryRun(ctx context.Context, path string) (*DB, error) {
	_, err := os.Stat(path + ".wal")
	if syscall.Access(path, wOK) != nil || err == nil {
		return OpenScratch(ctx, path, nil)
	}
	return openUnchanged(ctx, path, "?")
}

// wOK is access(2)'s W_OK: may the user write the file.
const wOK = 2

// openUnchanged opens an existing nudge database file with DuckDB's options
// opts (a "?" and the options, ending with "&" when there are any) and
// nudge's temp macros, checking its schema and writing nothing.
func openUnchanged(ctx context.Context, path, opts string) (*DB, error) {
	if err := CheckDatabaseFile(path); err != nil {
		return nil, err
	}
	dsn := path + opts + noExtensionDownloads
	// The schema first, on the first connection: the macros need this
	// nudge's tables. Every later connection gets them as it opens; the
	// file is opened once (a second open for the check cost 20-30 ms of
	// every REPL input and every why and report).
	var checked atomic.Bool
	conn, err := duckdb.NewConnector(dsn, func(execer driver.ExecerContext) error {
		if !checked.Load() {
			return nil
		}
		return installTempMacros(execer)
	})
	if err != nil {
		return nil, openError(path, err)
	}
	sdb := sql.OpenDB(conn)
	if err := checkedConn(ctx, sdb, path, &checked); err != nil {
		sdb.Close()
		return nil, err
	}
	db := &DB{sql: sdb, path: path, clusterMin: DefaultClusterMinEvents}
	if err := configure(ctx, db.sql); err != nil {
		db.sql.Close()
		return nil, err
	}
	return db, nil
}

// checkedConn checks the schema of the read-only database sdb on its first
// connection, then installs the stdlib's temp macros on it and sets
// checked, so that the connections opened after it install them as they
// open; the first goes back to the pool with its macros.
func checkedConn(ctx context.Context, sdb *sql.DB, path string, checked *atomic.Bool) error {
	c, err := sdb.Conn(ctx)
	if err != nil {
		return openError(path, err)
	}
	defer c.Close()
	if err := checkSchema(ctx, c, "", path); err != nil {
		return err
	}
	if _, err := c.ExecContext(ctx, tempMacrosSQL); err != nil {
		return fmt.Errorf("database %s: %w", path, err)
	}
	checked.Store(true)
	return nil
}

// OpenScratch opens the database file at path read-only (as OpenReadOnly)
// behind an in-memory database on which a dry run restricted to members
// (nudge why) may write what a tick writes, to be thrown away: members and
// events are read from the file, the other tables are copied into memory,
// those keyed by member (outbox, rule_members, member_tags,
// waiting_events, outbox_deliveries) with the rows of members only. A
// tick decides for each member from that member's rows alone (limits,
// caps, stop-after, holdout and dedupe are per member), but for stocks and
// budgets, which count every member's sends: so a dry run on the copy
// decides for members what it would on the file as long as none of their
// sends competes for a stock or a budget (why runs the whole brand
// otherwise), and what stocks and budgets have used is read from the
// file's outbox (EveryMembersOutbox). Other members' sends are not copied:
// at a million members they are most of the outbox, and copying them took
// seconds of every `nudge why`. With members nil every member's rows are
// copied (a dry run of the whole brand). When some of
// members' events wait for their member, events are copied too (a tick
// renumbers them). Closing the DB drops the copy; the file is not written.
func OpenScratch(ctx context.Context, path string, members []string) (*DB, error) {
	if err := CheckDatabaseFile(path); err != nil {
		return nil, err
	}
	conn, err := duckdb.NewConnector("?"+noExtensionDownloads, nil)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	db := &DB{sql: sql.OpenDB(conn), path: path, clusterMin: DefaultClusterMinEvents}
	if err := configure(ctx, db.sql); err != nil {
		db.sql.Close()
		return nil, err
	}
	if err := db.copyForMembers(ctx, path, members); err != nil {
		db.sql.Close()
		return nil, err
	}
	if members != nil {
		db.everyOutbox = scratchSource + ".main.outbox"
	}
	return db, nil
}

// EveryMembersOutbox is the SQL name of the table holding every member's
// outbox rows, which what stocks and budgets have used is counted from:
// outbox, but for a scratch of some members' rows (OpenScratch), the
// file's.
func (db *DB) EveryMembersOutbox() string {
	if db.everyOutbox != "" {
		return db.everyOutbox
	}
	return "outbox"
}

// scratchSource is the name the file is attached under in a scratch
// database.
const scratchSource = "nudge_file"

// scratchViews are the tables a scratch database reads from the file.
var scratchViews = map[string]bool{"members": true, "events": true}

// copyForMembers attaches the file at path read-only and builds the scratch
// database of OpenScratch in one transaction.
func (db *DB) copyForMembers(ctx context.Context, path string, members []string) error {
	if _, err := db.sql.ExecContext(ctx, `ATTACH `+quoteString(path)+` AS `+scratchSource+` (READ_ONLY)`); err != nil {
		return openError(path, err)
	}
	if err := checkSchema(ctx, db.sql, scratchSource+".", path); err != nil {
		return err
	}
	return db.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT table_name, sql FROM duckdb_tables()
WHERE database_name = '`+scratchSource+`' AND schema_name = 'main' ORDER BY table_name`)
		if err != nil {
			return err
		}
		ddl := map[string]string{}
		var names []string
		if err := scanRows(rows, func() error {
			var n, s string
			if err := rows.Scan(&n, &s); err != nil {
				return err
			}
			ddl[n] = s
			names = append(names, n)
			return nil
		}); err != nil {
			return err
		}
		keyed := map[string]bool{} // the tables with a member_id column
		rows, err = tx.QueryContext(ctx, `SELECT table_name FROM duckdb_columns()
WHERE database_name = '`+scratchSource+`' AND schema_name = 'main' AND column_name = 'member_id'`)
		if err != nil {
			return err
		}
		if err := scanRows(rows, func() error {
			var n string
			err := rows.Scan(&n)
			keyed[n] = true
			return err
		}); err != nil {
			return err
		}
		views := scratchViews
		var waiting int
		ofMembers := ` WHERE member_id IN (SELECT unnest(` + jsonStrings("m") + `))`
		var memberArgs []any
		if members == nil {
			ofMembers = "" // every member's rows
		} else {
			memberArgs = append(memberArgs, jsonArg("m", members))
		}
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM `+scratchSource+`.waiting_events`+ofMembers, memberArgs...).Scan(&waiting); err != nil {
			return err
		}
		if waiting > 0 {
			views = map[string]bool{"members": true}
		}
		for _, n := range names {
			src := scratchSource + ".main." + quoteIdent(n)
			if views[n] {
				if _, err := tx.ExecContext(ctx, `CREATE VIEW `+quoteIdent(n)+` AS SELECT * FROM `+src); err != nil {
					return fmt.Errorf("database %s: reading %s: %w", path, n, err)
				}
				continue
			}
			if _, err := tx.ExecContext(ctx, ddl[n]); err != nil {
				return fmt.Errorf("database %s: copying %s: %w", path, n, err)
			}
			q := `INSERT INTO ` + quoteIdent(n) + ` SELECT * FROM ` + src
			var args []any
			if keyed[n] && n != "events" && members != nil {
				q += ` WHERE member_id IN (SELECT unnest(` + jsonStrings("m") + `))`
				args = append(args, jsonArg("m", members))
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("database %s: copying %s: %w", path, n, err)
			}
		}
		_, err = tx.ExecContext(ctx, stdlib.MacrosSQL)
		return err
	})
}

// rowQueryer is what checkSchema reads with: a *sql.DB or one of its
// connections.
type rowQueryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// checkSchema fails unless the database (prefix: "" or an attached
// database's "name.") has the schema this nudge writes: a read-only open
// cannot migrate.
func checkSchema(ctx context.Context, q rowQueryer, prefix, path string) error {
	latest := migrations[len(migrations)-1].version
	var have int
	err := q.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM `+prefix+`schema_migrations`).Scan(&have)
	switch {
	case err != nil && strings.Contains(err.Error(), "schema_migrations does not exist"):
		return fmt.Errorf("database %s is not a nudge database (it has no schema_migrations table)", path)
	case err != nil:
		return openError(path, err)
	case have > latest:
		return fmt.Errorf("database %s has schema version %d, newer than this nudge knows (%d): upgrade nudge", path, have, latest)
	case have < latest:
		return fmt.Errorf("database %s has schema version %d and this nudge reads version %d; it opens the file read-only and cannot upgrade it: run `nudge migrate --db %s` first (it needs write access to the file)", path, have, latest, path)
	}
	return nil
}

var createMacro = regexp.MustCompile(`(?i)CREATE\s+OR\s+REPLACE\s+MACRO`)

// tempMacrosSQL is stdlib.MacrosSQL creating temp macros: a read-only
// database takes no others, and a temp macro hides the file's own.
var tempMacrosSQL = createMacro.ReplaceAllString(stdlib.MacrosSQL, "CREATE OR REPLACE TEMP MACRO")

// installTempMacros installs the stdlib macros on a new connection of a
// read-only database.
func installTempMacros(execer driver.ExecerContext) error {
	_, err := execer.ExecContext(context.Background(), tempMacrosSQL, nil)
	return err
}

// scanRows calls fn for each row of rows and closes them.
func scanRows(rows *sql.Rows, fn func() error) error {
	defer rows.Close()
	for rows.Next() {
		if err := fn(); err != nil {
			return err
		}
	}
	return rows.Err()
}
