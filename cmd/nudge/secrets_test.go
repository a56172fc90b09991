package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
)

// The credentials of the webhook sink in TestRunStoresNoSecret.
const (
	hookUser  = "hook-user"
	hookPass  = "pa55-w0rd-7f3a"
	hookToken = "tok-9c1e-51d2"
)

const secretRules = `brand "acme"
import "crm"

rule store_a_coupon
  if queued at store "A"
  then send coupon "A-10OFF" via sms
`

const secretMembers = `member_id,brand,name,consent_sms
m1,acme,Ann,true
m2,acme,Bob,true
`

const secretEvents = `member_id,brand,type,ts,store
m1,acme,queued,2024-11-11 09:00,A
m2,acme,queued,2024-11-11 09:30,A
`

// TestRunStoresNoSecret runs a tick whose webhook sink has a password and a
// token in its URL against a server that fails (500), one that is not there
// and one that takes the sends, and proves that neither the output nor any
// text column of any table nor the bytes of the database file hold them,
// while the server did receive them; run exits exitDispatch when an attempt
// failed, 0 when every send went out.
func TestRunStoresNoSecret(t *testing.T) {
	var got500, got200 atomic.Int64
	check := func(w http.ResponseWriter, r *http.Request) bool {
		u, p, ok := r.BasicAuth()
		if !ok || u != hookUser || p != hookPass || r.URL.Query().Get("token") != hookToken {
			t.Errorf("the server got user %q password %q token %q: the sink must still send its credentials", u, p, r.URL.Query().Get("token"))
			return false
		}
		return true
	}
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		check(w, r)
		got500.Add(1)
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer failing.Close()
	taking := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if check(w, r) {
			got200.Add(1)
		}
	}))
	defer taking.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gone := ln.Addr().String()
	ln.Close()

	hook := func(hostport string) string {
		return fmt.Sprintf("webhook:http://%s:%s@%s/hook?token=%s&page=1", hookUser, hookPass, hostport, hookToken)
	}
	host := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }
	cases := []struct {
		name     string
		sinks    []string
		wantCode int
		wantErr  string // in stderr
	}{
		{"server fails with 500", []string{hook(host(failing))}, exitDispatch, "status 500"},
		{"server unreachable", []string{hook(gone)}, exitDispatch, "connection refused"},
		{"server takes the sends", []string{hook(host(taking))}, exitOK, ""},
		{"one sink takes, one fails", []string{hook(host(taking)), "alt=" + hook(gone), hook(host(failing))}, exitDispatch, "status 500"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			write := func(name, text string) string {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
				return p
			}
			db := filepath.Join(dir, "t.duckdb")
			rules, members, events := write("r.nudge", secretRules), write("m.csv", secretMembers), write("e.csv", secretEvents)
			var out bytes.Buffer
			cli := func(want int, args ...string) {
				var stdout, stderr bytes.Buffer
				code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
				out.WriteString(stdout.String() + stderr.String())
				if code != want {
					t.Fatalf("nudge %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, &stdout, &stderr)
				}
				if c.wantErr != "" && want == c.wantCode && want == exitDispatch {
					if !strings.Contains(stderr.String(), "dispatch failed for") || !strings.Contains(stderr.String(), c.wantErr) {
						t.Errorf("stderr does not say the dispatch failed with %q:\n%s", c.wantErr, &stderr)
					}
				}
			}
			cli(exitOK, "import", "--db", db, "members", members)
			cli(exitOK, "import", "--db", db, "events", events)
			args := []string{"run", "--db", db, "--now", "2024-11-11 10:00", "--dispatch-budget", "20s"}
			for _, s := range c.sinks {
				args = append(args, "--sink", s)
			}
			cli(c.wantCode, append(args, rules)...)
			// A retry at the next tick fails (or succeeds) the same way.
			args[4] = "2024-11-11 11:00"
			cli(c.wantCode, append(args, rules)...)
			// A bad spec is echoed without its credentials.
			cli(exitUsage, "run", "--db", db, "--sink", strings.Replace(c.sinks[0], "webhook:", "webhok:", 1), rules)

			for _, secret := range []string{hookPass, hookToken} {
				if strings.Contains(out.String(), secret) {
					t.Errorf("the output holds %q:\n%s", secret, &out)
				}
			}
			if !strings.Contains(out.String(), "xxxxx") && c.wantCode != exitOK {
				t.Errorf("the output does not show the redacted URL:\n%s", &out)
			}
			assertNoSecret(t, db, hookPass, hookToken)
		})
	}
	if got500.Load() == 0 || got200.Load() == 0 {
		t.Errorf("requests: %d to the failing server, %d to the taking one; want some of each", got500.Load(), got200.Load())
	}
}

// assertNoSecret fails t when any text column of any table of the database
// at path, or the bytes of its files after a checkpoint, hold a secret.
func assertNoSecret(t *testing.T, path string, secrets ...string) {
	t.Helper()
	db, err := sql.Open("duckdb", path)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(`SELECT table_name, column_name FROM information_schema.columns
WHERE table_schema = 'main' AND data_type IN ('VARCHAR', 'JSON') ORDER BY ALL`)
	if err != nil {
		t.Fatal(err)
	}
	var cols [][2]string
	for rows.Next() {
		var c [2]string
		if err := rows.Scan(&c[0], &c[1]); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	rows.Close()
	if len(cols) < 20 {
		t.Fatalf("only %d text columns found: %v", len(cols), cols)
	}
	var errRows int
	if err := db.QueryRow(`SELECT count(*) FROM outbox WHERE last_error LIKE '%xxxxx%'`).Scan(&errRows); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d text columns searched; %d outbox rows with a redacted last_error", len(cols), errRows)
	for _, c := range cols {
		for _, s := range secrets {
			var n int
			q := fmt.Sprintf(`SELECT count(*) FROM %q WHERE CAST(%q AS VARCHAR) LIKE '%%' || $1 || '%%'`, c[0], c[1])
			if err := db.QueryRow(q, s).Scan(&n); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			if n > 0 {
				t.Errorf("%s.%s holds %q in %d row(s)", c[0], c[1], s, n)
			}
		}
	}
	if _, err := db.Exec(`CHECKPOINT`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(path + "*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("the bytes of %s hold %q", filepath.Base(f), s)
			}
		}
	}
}
