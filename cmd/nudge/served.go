package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"nudge/runtime/serve"
)

// The CLI next to a running service (SPEC §10): a `nudge serve` process
// owns its database file and leaves a note beside it (serve.NotePath). Then
// import and why go through the service's API; run, repl, report and
// simulate, which need the file itself, refuse and say what to do instead.

// servedNote returns the note of the service that holds dbPath, if any.
func servedNote(dbPath string) (serve.Note, bool) { return serve.ReadNote(dbPath) }

// refuseServed is the error of a command that must own the database file
// while a service holds it; nil when none does.
func refuseServed(dbPath, instead string) error {
	n, ok := servedNote(dbPath)
	if !ok {
		return nil
	}
	return problemError("database %s is served by process %d at %s; %s", dbPath, n.PID, n.URL, instead)
}

// importBatchRows is how many rows one request of an import through the
// service carries.
const importBatchRows = 5000

// apiClient calls a running service with the token of NUDGE_TOKEN.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

func newAPIClient(n serve.Note) *apiClient {
	return &apiClient{base: n.URL, token: os.Getenv("NUDGE_TOKEN"), http: &http.Client{Timeout: 2 * time.Minute}}
}

// call sends a request and decodes a JSON answer into out; an error answer
// becomes an error with the service's message.
func (c *apiClient) call(ctx context.Context, method, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("the service at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e apiFailure
		if json.Unmarshal(b, &e) != nil || e.Message == "" {
			return fmt.Errorf("the service at %s answered %s", c.base, resp.Status)
		}
		e.status = resp.StatusCode
		return &e
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// apiFailure is a service's error answer.
type apiFailure struct {
	status  int
	Message string `json:"error"`
	Rows    []struct {
		Row    int64  `json:"row"`
		Field  string `json:"field"`
		Reason string `json:"reason"`
	} `json:"rows"`
}

func (e *apiFailure) Error() string { return e.Message }

// importViaService loads files into a served database: each file's rows go
// to the service in batches of importBatchRows, in order, with a progress
// line. Each batch is committed on its own: a bad row stops the import
// with its file row, and the batches before it stay stored (rows with an
// event_id may be sent again safely).
func importViaService(ctx context.Context, s *streams, n serve.Note, table string, files []string) error {
	c := newAPIClient(n)
	fmt.Fprintf(s.err, "nudge: %s is served at %s: importing through the service, %d rows per commit\n", n.DB, n.URL, importBatchRows)
	var total, members int64
	for _, f := range files {
		rows, err := readRows(ctx, f)
		if err != nil {
			return problemError("%v", err)
		}
		p := newProgressPrinter(s.err, "importing "+filepath.Base(f))
		for off := 0; off < len(rows); off += importBatchRows {
			end := min(off+importBatchRows, len(rows))
			body := bytes.Join(rows[off:end], []byte("\n"))
			var ans serve.MembersAnswer // (of /v1/members)
			err := c.call(ctx, http.MethodPost, "/v1/"+table, body, &ans)
			if e, ok := err.(*apiFailure); ok && len(e.Rows) > 0 {
				p.done()
				r := e.Rows[0]
				where := fmt.Sprintf("row %d", int64(off)+r.Row)
				if r.Field != "" {
					where += ": column " + r.Field
				}
				return problemError("%s: %s: %s (rows before %d of this file are stored: the service commits %d rows at a time)",
					f, where, r.Reason, off+1, importBatchRows)
			}
			if err != nil {
				p.done()
				return problemError("%s: rows %d to %d: %v (rows before %d are stored)", f, off+1, end, err, off+1)
			}
			p.update(end, len(rows))
			members += ans.Inserted + ans.Updated
		}
		p.done()
		total += int64(len(rows))
	}
	count, note := total, ""
	if table == "members" {
		// (A member repeated across two batches is counted in each.)
		count, note = members, repeatedMembers(total, members)
	}
	fmt.Fprintf(s.out, "imported %d %s from %d file(s) through the service at %s%s\n", count, table, len(files), n.URL, note)
	return nil
}

// readRows reads a CSV, JSON (array) or JSONL file (.gz too) into one JSON
// object per row, or a Parquet file through an in-memory DuckDB.
func readRows(ctx context.Context, path string) ([][]byte, error) {
	base := strings.ToLower(filepath.Base(path))
	gz := strings.HasSuffix(base, ".gz")
	base = strings.TrimSuffix(base, ".gz")
	ext := filepath.Ext(base)
	if ext == ".parquet" || ext == ".pq" {
		return parquetRows(ctx, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var in io.Reader = f
	if gz {
		z, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		in = z
	}
	var out [][]byte
	switch ext {
	case ".csv", ".tsv", ".txt":
		r := csv.NewReader(in)
		if ext == ".tsv" {
			r.Comma = '\t'
		}
		header, err := r.Read()
		if err != nil {
			return nil, fmt.Errorf("%s: reading the header: %w", path, err)
		}
		for row := 1; ; row++ {
			rec, err := r.Read()
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return nil, fmt.Errorf("%s: row %d: %w", path, row, err)
			}
			// An empty cell is null, which sets the column NULL as a
			// plain import's empty cell does (a key left out would keep
			// the member's value: a member row is a partial update).
			obj := map[string]any{}
			for i, v := range rec {
				if i < len(header) {
					obj[strings.TrimSpace(header[i])] = nil
					if v != "" {
						obj[strings.TrimSpace(header[i])] = v
					}
				}
			}
			b, _ := json.Marshal(obj)
			out = append(out, b)
		}
	case ".jsonl", ".ndjson":
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
				out = append(out, bytes.Clone(line))
			}
		}
		return out, sc.Err()
	case ".json":
		var raw []json.RawMessage
		if err := json.NewDecoder(in).Decode(&raw); err != nil {
			return nil, fmt.Errorf("%s: want a JSON array of objects: %w", path, err)
		}
		for _, r := range raw {
			var buf bytes.Buffer
			if err := json.Compact(&buf, r); err != nil {
				return nil, err
			}
			out = append(out, buf.Bytes())
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: unknown file type %q: use .csv, .parquet, .json or .jsonl", path, ext)
}

// parquetRows reads a Parquet file as JSON objects with DuckDB.
func parquetRows(ctx context.Context, path string) ([][]byte, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	lit := "'" + strings.ReplaceAll(path, "'", "''") + "'"
	rows, err := db.QueryContext(ctx, "SELECT CAST(to_json(t) AS VARCHAR) FROM read_parquet("+lit+") t")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, []byte(s))
	}
	return out, rows.Err()
}

// whyViaService asks a running service to explain a member: the service's
// rules, not PATH, are explained.
func whyViaService(ctx context.Context, s *streams, n serve.Note, member, rule, brand, now, output string) error {
	q := url.Values{}
	for k, v := range map[string]string{"rule": rule, "brand": brand, "now": now} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var raw json.RawMessage
	if err := newAPIClient(n).call(ctx, http.MethodGet, "/v1/members/"+url.PathEscape(member)+"/why?"+q.Encode(), nil, &raw); err != nil {
		return problemError("why: %v", err)
	}
	fmt.Fprintf(s.err, "nudge: %s is served at %s: explaining with the service's rules\n", n.DB, n.URL)
	var known struct {
		Brand  string `json:"brand"`
		Exists *bool  `json:"exists"`
	}
	if json.Unmarshal(raw, &known) == nil && known.Exists != nil && !*known.Exists {
		// As why on the file says it (why.CheckMember): exit 1.
		return problemError("why: no member %q in brand %q", member, known.Brand)
	}
	if output == "json" {
		fmt.Fprintf(s.out, "%s\n", bytes.TrimSpace(raw))
		return nil
	}
	var rep struct {
		Member string `json:"member"`
		Now    string `json:"now"`
		Brand  string `json:"brand"`
		Rules  []struct {
			Rule     string `json:"rule"`
			Verdict  string `json:"verdict"`
			Policies []struct {
				Name string `json:"name"`
				OK   bool   `json:"ok"`
				Text string `json:"text"`
			} `json:"policies"`
		} `json:"rules"`
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		return problemError("why: the service's answer: %v", err)
	}
	fmt.Fprintf(s.out, "member %s (brand %s) at %s\n", rep.Member, rep.Brand, rep.Now)
	for _, r := range rep.Rules {
		fmt.Fprintf(s.out, "\nrule %s\n", r.Rule)
		for _, p := range r.Policies {
			mark := "ok"
			if !p.OK {
				mark = "NO"
			}
			fmt.Fprintf(s.out, "  %-3s %s: %s\n", mark, p.Name, p.Text)
		}
		fmt.Fprintf(s.out, "  => %s\n", r.Verdict)
	}
	return nil
}
