package runtime

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// This file is the one translation of a database file's problems into
// messages a user can act on, for every way nudge opens one: Open (the
// writing commands), OpenReadOnly and OpenScratch (report, why), and
// simulate's ATTACH of the file. What the file system can say is said from
// it (a directory, a missing directory), before DuckDB's IO Error texts.

// CheckDatabaseFile says what is wrong with path as a database file that
// must exist (the read-only opens, simulate, migrate): nil when it is a
// file. "" and ":memory:" name no file.
func CheckDatabaseFile(path string) error {
	if path == "" || path == ":memory:" {
		return errors.New("reading a database needs its file: give --db FILE")
	}
	return fileProblem(path, true)
}

// fileProblem says what the file system says is wrong with path as a
// database file: a directory, a path in a directory that does not exist
// (or is a file), a file the user may not read; with mustExist, a missing
// file. nil when nothing is found wrong (a missing file in an existing
// directory is one Open creates).
func fileProblem(path string, mustExist bool) error {
	st, err := os.Stat(path)
	switch {
	case err == nil && st.IsDir():
		return fmt.Errorf("database %s is a directory: give --db a database file", path)
	case err == nil && st.Mode().IsRegular() && st.Size() >= int64(len(duckdbMagic)+8) && !hasDuckDBMagic(path):
		return notDuckDB(path)
	case err == nil:
		return nil
	case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("database %s: %s", path, statReason(err))
	}
	if dir, file := missingDir(filepath.Dir(path)); file {
		return fmt.Errorf("database %s: %s is a file, not a directory", path, dir)
	} else if dir != "" {
		return fmt.Errorf("database %s: directory %s does not exist", path, dir)
	}
	if mustExist {
		return fmt.Errorf("database %s does not exist", path)
	}
	return nil
}

// duckdbMagic is what a DuckDB database file holds after its first 8
// bytes (its header's checksum).
const duckdbMagic = "DUCK"

// hasDuckDBMagic reports whether the file at path starts as a DuckDB
// database file does; true when it cannot be read (DuckDB then says why).
// DuckDB opens some other files itself (a CSV file given as --db becomes a
// database with a view of it, which a migration then fails on): they are
// refused before DuckDB sees them.
func hasDuckDBMagic(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return true
	}
	defer f.Close()
	head := make([]byte, 8+len(duckdbMagic))
	if _, err := io.ReadFull(f, head); err != nil {
		return true
	}
	return string(head[8:]) == duckdbMagic
}

// notDuckDB is the error of a file that is not a DuckDB database.
func notDuckDB(path string) error {
	return fmt.Errorf("database %s: the file is not a DuckDB database; give --db a nudge database file, or a new file name to create one", path)
}

// missingDir returns the outermost of dir and its parents that is not a
// directory (for x/y/z.duckdb with no x, x), and whether it is a file; ""
// when dir is a directory.
func missingDir(dir string) (string, bool) {
	var bad string
	var file bool
	for {
		st, err := os.Stat(dir)
		switch {
		case err == nil && st.IsDir():
			return bad, file
		case err == nil:
			bad, file = dir, true
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
			bad, file = dir, false
		default:
			return bad, file // (unreadable: DuckDB's message says more)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return bad, file
		}
		dir = parent
	}
}

// statReason is what an os.Stat error says without its "stat PATH: "
// prefix (the message names the path itself).
func statReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// OpenError turns DuckDB's errors of opening or attaching the database file
// at path into messages a user can act on (openError); for callers outside
// this package that attach the file themselves (simulate).
func OpenError(path string, err error) error { return openError(path, err) }

// openError turns DuckDB's open errors into messages a user can act on.
func openError(path string, err error) error {
	msg := err.Error()
	if strings.Contains(msg, "Could not set lock on file") {
		e := &InUseError{Path: path}
		if m := lockHolder.FindStringSubmatch(msg); m != nil {
			e.PID, e.Program = m[2], m[1]
		}
		return e
	}
	// With extension downloads off, DuckDB reads a file of another
	// database (SQLite) as wanting an extension it does not have.
	if strings.Contains(msg, "not a valid DuckDB database file") || strings.Contains(msg, "Extension \"") {
		return notDuckDB(path)
	}
	if path != "" && path != ":memory:" {
		if p := fileProblem(path, false); p != nil {
			return p
		}
	}
	if strings.Contains(msg, "Permission denied") {
		return fmt.Errorf("database %s: permission denied", path)
	}
	// database/sql's wrapping says nothing the user can use.
	msg = strings.TrimPrefix(msg, "database/sql/driver: could not connect to database: ")
	return fmt.Errorf("open database %s: %s", path, msg)
}
