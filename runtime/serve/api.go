package serve

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"nudge/lang"
	"nudge/lang/diag"
	nrt "nudge/runtime"
	"nudge/runtime/why"
)

// OpenAPI is the API's OpenAPI document (served at /v1/openapi.json; a
// copy is docs/openapi.json).
//
//go:embed openapi.json
var OpenAPI []byte

// apiError is an error answer: {"error": message, "rows": [...],
// "diagnostics": [...]}.
type apiError struct {
	status      int
	Message     string          `json:"error"`
	Rows        []RowError      `json:"rows,omitempty"`
	Diagnostics json.RawMessage `json:"diagnostics,omitempty"`
	// Members is, for an events batch whose member rows were stored but
	// whose events were not, what storing the members did.
	Members *MembersAnswer `json:"members,omitempty"`
}

// routesInit registers the API's routes.
func (s *Server) routesInit() {
	s.mux = http.NewServeMux()
	s.handle("POST /v1/events", s.sized(s.postEvents))
	s.handle("POST /v1/members", s.sized(s.postMembers))
	s.handle("GET /v1/members/{id}/why", s.read(s.getWhy))
	s.handle("POST /v1/query", s.sized(s.postQuery))
	s.handle("GET /v1/decisions", s.read(s.getDecisions))
	s.handle("GET /v1/rules", s.read(s.getRules))
	s.handle("POST /v1/reload", s.sized(s.postReload))
	s.handle("GET /v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(OpenAPI)
	})
	s.handle("GET /healthz", s.getHealth)
	s.handle("GET /metrics", promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{}).ServeHTTP)
	s.mux.HandleFunc("/", s.notFound)
}

// Routes returns the registered routes as "METHOD /path" patterns.
func (s *Server) Routes() []string { return append([]string(nil), s.routes...) }

func (s *Server) handle(pattern string, h http.HandlerFunc) {
	s.routes = append(s.routes, pattern)
	route := pattern
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h(rec, r)
		s.m.requests.WithLabelValues(route, strconv.Itoa(rec.status)).Inc()
	})
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// notFound answers paths no route has (404) and known paths asked with
// another method (405), in JSON.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, p := range s.routes {
		method, path, _ := strings.Cut(p, " ")
		if matchPath(path, r.URL.Path) {
			allow = append(allow, method)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, &apiError{status: http.StatusMethodNotAllowed, Message: fmt.Sprintf("%s %s: method not allowed; use %s", r.Method, r.URL.Path, strings.Join(allow, " or "))})
		return
	}
	writeError(w, &apiError{status: http.StatusNotFound, Message: fmt.Sprintf("no such endpoint: %s %s (the API is described at /v1/openapi.json)", r.Method, r.URL.Path)})
}

// matchPath matches a URL path against a route path with {name} segments.
func matchPath(pattern, path string) bool {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return false
	}
	for i := range ps {
		if strings.HasPrefix(ps[i], "{") || ps[i] == xs[i] {
			continue
		}
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, e *apiError) {
	if e.status == 0 {
		e.status = http.StatusInternalServerError
	}
	writeJSON(w, e.status, e)
}

// settle returns the answer for e: e itself when it has a status; for a
// failure without one (the database's or the context's, which the
// handler did not word), 503 saying nothing was written when ctx ran out
// (the request's timeout, or that of the ingest that stored the batch),
// else 500. It is the one place that maps a failure to 503 or 500: the
// answer written and the label nudge_batches_rejected_total counts it
// under both come from it.
func (s *Server) settle(ctx context.Context, e *apiError) *apiError {
	switch {
	case e.status != 0:
		return e
	case ctx.Err() != nil:
		return &apiError{status: http.StatusServiceUnavailable, Message: fmt.Sprintf("the request did not finish within %v: nothing was written; send it again", s.cfg.Timeout)}
	}
	out := *e
	out.status = http.StatusInternalServerError
	if out.Message == "" {
		out.Message = "the request failed: nothing was written; send it again"
	}
	return &out
}

// handlerFunc is an API handler: it returns its answer or an error.
type handlerFunc func(ctx context.Context, p principal, r *http.Request) (int, any, *apiError)

// read wraps a handler with authentication (when tokens are set) and the
// request timeout.
func (s *Server) read(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, aerr := s.cfg.Tokens.authenticate(r)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
		defer cancel()
		status, v, aerr := h(ctx, p, r)
		if aerr != nil {
			writeError(w, s.settle(ctx, aerr))
			return
		}
		writeJSON(w, status, v)
	}
}

// sized is read for requests with a body: the body is limited in size.
func (s *Server) sized(h handlerFunc) http.HandlerFunc {
	inner := s.read(h)
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		inner(w, r)
	}
}

// readBody reads a request body within the size limit.
func (s *Server) readBody(r *http.Request) ([]byte, *apiError) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &apiError{status: http.StatusRequestEntityTooLarge,
				Message: fmt.Sprintf("request body over %d bytes: split the batch", s.cfg.MaxBodyBytes)}
		}
		return nil, &apiError{status: http.StatusBadRequest, Message: "reading the request body: " + err.Error()}
	}
	return b, nil
}

// rowsError is the answer for bad rows.
func rowsError(errs []RowError) *apiError {
	e := &apiError{status: http.StatusBadRequest, Rows: errs, Message: rowsMessage(errs) + "; nothing was stored"}
	if errs[0].Row == 0 {
		e.Rows = nil
	}
	return e
}

// rowsMessage names the first bad row and counts the others.
func rowsMessage(errs []RowError) string {
	var msg string
	first := errs[0]
	switch {
	case first.Row == 0:
		msg = first.Reason
	case first.Field != "":
		msg = fmt.Sprintf("row %d: field %s: %s", first.Row, first.Field, first.Reason)
	default:
		msg = fmt.Sprintf("row %d: %s", first.Row, first.Reason)
	}
	if len(errs) > 1 {
		msg += fmt.Sprintf(" (and %d more bad row(s))", len(errs)-1)
	}
	return msg
}

// EventsAnswer is the answer to POST /v1/events.
type EventsAnswer struct {
	Rows       int64          `json:"rows"`
	Stored     int64          `json:"stored"`
	Duplicates []DuplicateRow `json:"duplicates"`
	FirstSeq   int64          `json:"first_seq,omitempty"`
	LastSeq    int64          `json:"last_seq,omitempty"`
	Members    *MembersAnswer `json:"members,omitempty"`
	Waiting    int64          `json:"waiting_for_member,omitempty"`
}

// DuplicateRow is a body row not stored again.
type DuplicateRow struct {
	Row     int64  `json:"row"`
	EventID string `json:"event_id"`
}

// MembersAnswer is the answer to POST /v1/members (and the identify part
// of POST /v1/events).
type MembersAnswer struct {
	Rows     int64 `json:"rows"`
	Inserted int64 `json:"inserted"`
	Updated  int64 `json:"updated"`
}

// batch parses and checks a write request's body (and its ?brand=, as
// brandOf checks a read's).
func (s *Server) batch(p principal, r *http.Request, table string) (*batchRows, *apiError) {
	brand := r.URL.Query().Get("brand")
	if aerr := plainText("?brand=", brand); aerr != nil {
		return nil, aerr
	}
	body, aerr := s.readBody(r)
	if aerr != nil {
		return nil, aerr
	}
	objs, errs := parseBody(body)
	if len(errs) > 0 {
		return nil, rowsError(errs)
	}
	if len(objs) > s.cfg.MaxRows {
		return nil, &apiError{status: http.StatusRequestEntityTooLarge,
			Message: fmt.Sprintf("%d rows in one batch; at most %d: split the batch", len(objs), s.cfg.MaxRows)}
	}
	if brand == "" {
		brand = s.Brand()
	}
	rows, errs := toRows(objs, table, brand, time.Now())
	if len(errs) > 0 {
		return nil, rowsError(errs)
	}
	for b := range rows.brands {
		if !p.may(b) {
			return nil, forbidden(b)
		}
	}
	return rows, nil
}

func (s *Server) postEvents(ctx context.Context, p principal, r *http.Request) (int, any, *apiError) {
	rows, aerr := s.batch(p, r, "events")
	if aerr != nil {
		s.m.batchesRejected.WithLabelValues(strconv.Itoa(aerr.status)).Inc()
		return 0, nil, aerr
	}
	ans, aerr := s.ingest(ctx, rows)
	if aerr != nil {
		return 0, nil, aerr
	}
	return http.StatusOK, ans, nil
}

func (s *Server) postMembers(ctx context.Context, p principal, r *http.Request) (int, any, *apiError) {
	rows, aerr := s.batch(p, r, "members")
	if aerr != nil {
		s.m.batchesRejected.WithLabelValues(strconv.Itoa(aerr.status)).Inc()
		return 0, nil, aerr
	}
	if len(rows.events) > 0 {
		return 0, nil, &apiError{status: http.StatusBadRequest,
			Message: fmt.Sprintf("row %d is a track message: post events to /v1/events; nothing was stored", rows.eventFrom[0])}
	}
	if err := s.lock(ctx); err != nil {
		return 0, nil, &apiError{}
	}
	defer s.unlock()
	ma, aerr := s.upsertMembers(ctx, rows)
	if aerr != nil {
		aerr = s.settle(ctx, aerr)
		s.m.batchesRejected.WithLabelValues(strconv.Itoa(aerr.status)).Inc()
		return 0, nil, aerr
	}
	s.requestTick()
	return http.StatusOK, ma, nil
}

// upsertMembers stores the batch's member rows (the writer lock held);
// the next tick is exclusive (Server.Tick). The rows are merged by member
// and written one file per set of keys (mergeMembers), imported in one
// transaction: the batch is stored as its rows one by one would be, or
// not at all.
func (s *Server) upsertMembers(ctx context.Context, rows *batchRows) (*MembersAnswer, *apiError) {
	groups, err := mergeMembers(rows, func(members [][2]string) (map[[2]string]map[string]any, error) {
		return s.db.MemberAttrs(ctx, members)
	})
	if err != nil {
		return nil, &apiError{Message: "reading the members' attrs: " + err.Error()}
	}
	if len(groups) == 0 {
		// An empty batch ([] or no lines): nothing to store (the import
		// refuses a call without files).
		return &MembersAnswer{}, nil
	}
	paths := make([]string, 0, len(groups))
	defer func() {
		for _, p := range paths {
			os.Remove(p)
		}
	}()
	for _, g := range groups {
		path, err := writeRows(g.rows)
		if err != nil {
			return nil, &apiError{status: http.StatusInternalServerError, Message: "staging the batch: " + err.Error()}
		}
		paths = append(paths, path)
	}
	res, err := s.db.ImportWith(ctx, "members", paths, nrt.ImportOptions{})
	if err != nil {
		return nil, membersError(err, groups, paths)
	}
	s.m.membersUpserted.Add(float64(res.Inserted + res.Updated))
	s.membersGen.Add(1)
	return &MembersAnswer{Rows: int64(len(rows.members)), Inserted: res.Inserted, Updated: res.Updated}, nil
}

// membersError turns the import error of a member batch (staged as the
// files paths, one per group) into an answer, as bodyError does an events
// batch's: the body's fault, told by the error's type, is 400 (a row
// error names the body's row and field; a file refused as a whole, such
// as two keys naming one column, is the body's too); any other failure is
// the database's (500, send it again) or the context's (503), whatever
// its message names: the import names the file in a failed insert's
// error, and a database failure answered 400 made clients drop the batch.
func membersError(err error, groups []*memberGroup, paths []string) *apiError {
	var re *nrt.RowError
	if errors.As(err, &re) {
		if i := slices.Index(paths, re.Path); i >= 0 && re.Row >= 1 && int(re.Row) <= len(groups[i].rows) {
			row, field := groups[i].bodyRow(int(re.Row-1), re.Column)
			return rowsError([]RowError{{Row: row, Field: field, Reason: re.Reason}})
		}
	}
	// (The staged files' names mean nothing to the client.)
	msg := err.Error()
	for _, p := range paths {
		msg = strings.ReplaceAll(msg, p, "request body")
	}
	var fe *nrt.FileError
	if errors.As(err, &fe) && slices.Contains(paths, fe.Path) {
		return &apiError{status: http.StatusBadRequest, Message: msg + "; nothing was stored"}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &apiError{}
	}
	return bodyError(errors.New(msg), nil, nil)
}

// bodyError turns an ingest error into an answer: a row error names the
// body's row and field (400); running out of time is the caller's 503;
// anything else is the database's (500, which a client sends again: a 400
// for a database failure made clients drop the batch).
func bodyError(err error, from []int64, fields []map[string]string) *apiError {
	var re *nrt.RowError
	if errors.As(err, &re) && re.Row >= 1 && int(re.Row) <= len(from) {
		i := re.Row - 1
		return rowsError([]RowError{{Row: from[i], Field: fieldName(fields[i], re.Column), Reason: re.Reason}})
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return &apiError{}
	}
	return &apiError{status: http.StatusInternalServerError, Message: "storing the batch failed, nothing was stored: " + err.Error()}
}

// eventsNotStored is the answer for an events batch whose member rows were
// stored (members) but whose events then were not, for err (e is
// bodyError's answer for it). It says which part was stored and which was
// not; its status is 400 naming the body row when a row caused it, 503
// when storing the events ran out of time, else 500: the events were
// checked before the members were stored (runOne), so a failure that
// names no row is the database's, not the body's.
func eventsNotStored(e *apiError, err error, members *MembersAnswer, events int, timeout time.Duration) *apiError {
	out := &apiError{status: http.StatusInternalServerError, Members: members}
	var cause, todo string
	switch {
	case len(e.Rows) > 0:
		out.status, out.Rows = e.status, e.Rows
		cause, todo = rowsMessage(e.Rows), "fix the row and send the batch again"
	case e.status == 0:
		out.status = http.StatusServiceUnavailable
		cause, todo = fmt.Sprintf("storing its events did not finish within %v", timeout), "send the batch again"
	default:
		cause, todo = "storing its events failed: "+err.Error(), "send the batch again"
	}
	out.Message = fmt.Sprintf("%s; the batch's %d event(s) were not stored, but its %d member row(s) were (%d inserted, %d updated): %s (storing its members again is harmless)",
		cause, events, members.Rows, members.Inserted, members.Updated, todo)
	return out
}

// writeRows writes rows as newline-delimited JSON to a temporary file.
func writeRows(rows []map[string]any) (string, error) {
	f, err := os.CreateTemp("", "nudge-batch-*.jsonl")
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			f.Close()
			os.Remove(f.Name())
			return "", err
		}
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), f.Close()
}

// brandOf returns the brand a read request is about: ?brand= or the
// service's, checked against the token.
func (s *Server) brandOf(p principal, r *http.Request) (string, *apiError) {
	b := r.URL.Query().Get("brand")
	if b == "" {
		b = s.Brand()
	}
	if b == "" {
		return "", &apiError{status: http.StatusBadRequest, Message: "no brand: the database holds none yet; give ?brand="}
	}
	if aerr := plainText("brand", b); aerr != nil {
		return "", aerr
	}
	if !p.may(b) {
		return "", forbidden(b)
	}
	return b, nil
}

// plainText refuses a value of the request (what names it) that is not
// UTF-8 text without NUL, as member ids and brands are.
func plainText(what, v string) *apiError {
	if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
		return &apiError{status: http.StatusBadRequest, Message: fmt.Sprintf("%s %q: not valid UTF-8 text without NUL", what, v)}
	}
	return nil
}

// forBrand refuses a request for brand when the running rules p declare
// another: why and query evaluate the rules' segments and conditions,
// which are written for their brand (a brand token must never get
// another brand's answer).
func (p *program) forBrand(brand string) *apiError {
	if b := p.compiled.Brand; b != "" && b != brand {
		return &apiError{status: http.StatusBadRequest,
			Message: fmt.Sprintf("brand %q: the running rules are brand %q's, and why and query answer for them only", brand, b)}
	}
	return nil
}

func (s *Server) getWhy(ctx context.Context, p principal, r *http.Request) (int, any, *apiError) {
	brand, aerr := s.brandOf(p, r)
	if aerr != nil {
		return 0, nil, aerr
	}
	prog := s.prog.Load()
	if aerr := prog.forBrand(brand); aerr != nil {
		return 0, nil, aerr
	}
	id := r.PathValue("id")
	if aerr := plainText("member id in the path", id); aerr != nil {
		return 0, nil, aerr
	}
	now, err := s.now(ctx)
	if err != nil {
		return 0, nil, &apiError{Message: err.Error()}
	}
	if q := r.URL.Query().Get("now"); q != "" {
		if now, err = nrt.ParseTimestamp(q); err != nil {
			return 0, nil, &apiError{status: http.StatusBadRequest, Message: "now: " + err.Error()}
		}
		if now.IsZero() {
			return 0, nil, &apiError{status: http.StatusBadRequest, Message: fmt.Sprintf("now: %q is 0001-01-01 00:00:00, which nudge reads as no time at all; give a real date such as 2024-11-11", q)}
		}
	}
	rule := r.URL.Query().Get("rule")
	if rule != "" {
		found := false
		for _, x := range prog.compiled.Rules {
			found = found || x.Name == rule
		}
		if !found {
			return 0, nil, &apiError{status: http.StatusNotFound, Message: fmt.Sprintf("no rule %q in the running program (GET /v1/rules lists them)", rule)}
		}
	}
	// why's dry run advances journey instances in a transaction it rolls
	// back: under the writer lock, so that it conflicts with no tick (nor
	// another why) writing them.
	if err := s.lock(ctx); err != nil {
		return 0, nil, &apiError{}
	}
	defer s.unlock()
	reps, err := why.Explain(ctx, s.db, prog.compiled, prog.exps, []string{id},
		why.Options{Now: now, Brand: brand, Rule: rule, Lookback: s.cfg.Lookback})
	if err != nil {
		return 0, nil, &apiError{Message: "why: " + err.Error()}
	}
	var out []json.RawMessage
	for _, rep := range reps {
		var buf bytes.Buffer
		if err := rep.WriteJSON(&buf); err != nil {
			return 0, nil, &apiError{Message: err.Error()}
		}
		out = append(out, json.RawMessage(bytes.TrimSpace(buf.Bytes())))
	}
	if len(out) == 1 {
		return http.StatusOK, out[0], nil
	}
	return http.StatusOK, out, nil
}

// QueryRequest is the body of POST /v1/query.
type QueryRequest struct {
	Condition string `json:"condition"`
	Limit     int    `json:"limit"`
}

func (s *Server) postQuery(ctx context.Context, p principal, r *http.Request) (int, any, *apiError) {
	brand, aerr := s.brandOf(p, r)
	if aerr != nil {
		return 0, nil, aerr
	}
	// The running program (the one /v1/reload installed), read once: the
	// brand check and the evaluation see the same rules, whatever the
	// files on disk hold now.
	prog := s.prog.Load()
	if aerr := prog.forBrand(brand); aerr != nil {
		return 0, nil, aerr
	}
	var q QueryRequest
	body, aerr := s.readBody(r)
	if aerr != nil {
		return 0, nil, aerr
	}
	if err := json.Unmarshal(body, &q); err != nil {
		return 0, nil, &apiError{status: http.StatusBadRequest, Message: `body: want {"condition": "..."}: ` + err.Error()}
	}
	cond := strings.TrimSpace(q.Condition)
	if cond == "" {
		return 0, nil, &apiError{status: http.StatusBadRequest, Message: `body: "condition" is empty: give a REPL condition such as "visited within 90 days"`}
	}
	first := strings.Fields(cond)[0]
	if strings.HasPrefix(cond, ":") || strings.HasPrefix(cond, `\`) || declaration[first] {
		return 0, nil, &apiError{status: http.StatusBadRequest, Message: fmt.Sprintf("condition: %q is not a condition: the query endpoint evaluates conditions only (read-only)", first)}
	}
	if s.cfg.Query == nil {
		return 0, nil, &apiError{status: http.StatusNotImplemented, Message: "this service evaluates no conditions (started without a query evaluator)"}
	}
	limit := q.Limit
	if limit < 0 || limit > 1000 {
		limit = 0 // the evaluator's page
	}
	// The service's now (full precision: an event acknowledged a moment ago
	// is not in the future), not the REPL's whole second.
	now, err := s.now(ctx)
	if err != nil {
		return 0, nil, &apiError{Message: err.Error()}
	}
	ans, err := s.cfg.Query(ctx, Query{Condition: cond, Brand: brand, Limit: limit, Now: now, Sources: prog.sources, Lookback: s.cfg.Lookback})
	if err != nil {
		var qe *QueryError
		if errors.As(err, &qe) {
			return 0, nil, &apiError{status: qe.Status, Message: qe.Message}
		}
		return 0, nil, &apiError{Message: "query: " + err.Error()}
	}
	rows := ans.Rows
	if rows == nil {
		rows = [][]string{}
	}
	return http.StatusOK, map[string]any{"kind": ans.Kind, "count": ans.Count, "now": ans.Now.Format("2006-01-02T15:04:05"),
		"columns": ans.Columns, "rows": rows, "trigger": ans.Trigger}, nil
}

// A Query is what POST /v1/query asks Config.Query: a REPL condition to
// evaluate for Brand at Now over the running program, read-only, with at
// most Limit rows (0: the evaluator's page). Sources are the texts of the
// program's rule files as the service loaded them (at start or by the last
// reload), not the files on disk, which may have changed or be broken.
type Query struct {
	Condition, Brand string
	Limit            int
	Now              time.Time
	Sources          []lang.Source
	Lookback         time.Duration
}

// QueryAnswer is a Query's audience: how many members match, and the
// first rows (member, name, the values the condition used).
type QueryAnswer struct {
	Kind    string
	Count   int64
	Now     time.Time
	Columns []string
	Rows    [][]string
	Trigger bool // the condition is a trigger: the rows are its events
}

// QueryError is a problem of a Query the client can mend: the condition
// (400), with the rendered diagnostics.
type QueryError struct {
	Status  int
	Message string
}

func (e *QueryError) Error() string { return e.Message }

// QueryFunc evaluates a Query (Config.Query).
type QueryFunc func(context.Context, Query) (*QueryAnswer, error)

// declaration are the words that start a declaration, which the query
// endpoint does not take.
var declaration = map[string]bool{"segment": true, "rule": true, "event": true, "cap": true, "quiet": true, "brand": true,
	"import": true, "journey": true, "holdout": true, "cost": true, "stock": true, "member": true}

// DecisionRow is one decision of GET /v1/decisions: the `run --output
// jsonl` object plus seq, its position in the outbox.
type DecisionRow map[string]any

func (s *Server) getDecisions(ctx context.Context, p principal, r *http.Request) (int, any, *apiError) {
	brand, aerr := s.brandOf(p, r)
	if aerr != nil {
		return 0, nil, aerr
	}
	since, limit := int64(0), 1000
	if v := r.URL.Query().Get("since"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, nil, &apiError{status: http.StatusBadRequest, Message: fmt.Sprintf("since: %q is not a decision seq (a whole number; 0 for the first page, then the answer's next)", v)}
		}
		since = n
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return 0, nil, &apiError{status: http.StatusBadRequest, Message: fmt.Sprintf("limit: %q: give 1 to 10000", v)}
		}
		limit = n
	}
	out := []json.RawMessage{}
	var last int64
	err := s.db.OutboxPage(ctx, brand, since, limit, func(seq int64, d nrt.Decision) error {
		b, err := json.Marshal(&d)
		if err != nil {
			return err
		}
		out = append(out, append([]byte(fmt.Sprintf(`{"seq":%d,`, seq)), b[1:]...))
		last = seq
		return nil
	})
	if err != nil {
		return 0, nil, &apiError{Message: "reading decisions: " + err.Error()}
	}
	next := since
	if last > 0 {
		next = last
	}
	return http.StatusOK, map[string]any{"brand": brand, "decisions": out, "next": next}, nil
}

func (s *Server) getRules(ctx context.Context, p principal, r *http.Request) (int, any, *apiError) {
	prog := s.prog.Load()
	names := []string{}
	for _, x := range prog.compiled.Rules {
		names = append(names, x.Name)
	}
	return http.StatusOK, map[string]any{"brand": s.Brand(), "files": prog.files, "rules": names, "loaded_at": prog.loadedAt}, nil
}

func (s *Server) postReload(ctx context.Context, p principal, r *http.Request) (int, any, *apiError) {
	if !p.all {
		return 0, nil, &apiError{status: http.StatusForbidden, Message: "reloading the rules needs NUDGE_TOKEN (a brand token may not)"}
	}
	prog, err := s.Reload(ctx)
	if err != nil {
		var le *LoadError
		if errors.As(err, &le) {
			var buf bytes.Buffer
			diag.RenderJSON(&buf, le.Diags)
			var text bytes.Buffer
			diag.RenderText(&text, le.Diags, le.Sources)
			return 0, nil, &apiError{status: http.StatusUnprocessableEntity,
				Message:     "the rules have errors; the previous rules keep running:\n" + text.String(),
				Diagnostics: json.RawMessage(bytes.TrimSpace(buf.Bytes()))}
		}
		return 0, nil, &apiError{status: http.StatusUnprocessableEntity, Message: "reload refused; the previous rules keep running: " + err.Error()}
	}
	var buf bytes.Buffer
	diag.RenderJSON(&buf, prog.warnings)
	names := []string{}
	for _, x := range prog.compiled.Rules {
		names = append(names, x.Name)
	}
	return http.StatusOK, map[string]any{"files": prog.files, "rules": names, "diagnostics": json.RawMessage(bytes.TrimSpace(buf.Bytes()))}, nil
}

func (s *Server) getHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if err := s.db.SQL().PingContext(ctx); err != nil {
		writeError(w, &apiError{status: http.StatusServiceUnavailable, Message: "database: " + err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "db": s.db.Path(), "brand": s.Brand(), "rules": len(s.prog.Load().compiled.Rules)})
}
