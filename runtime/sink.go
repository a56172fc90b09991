package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"nudge/runtime/redact"
)

// Message is what a sink receives for one send or notify: one outbox row.
type Message struct {
	IdempotencyKey string          `json:"idempotency_key"`
	FiringID       string          `json:"firing_id"`
	Rule           string          `json:"rule"`
	Brand          string          `json:"brand"`
	MemberID       string          `json:"member_id"`
	Action         string          `json:"action"` // send or notify
	Kind           string          `json:"kind,omitempty"`
	Content        string          `json:"content"`
	Channel        string          `json:"channel,omitempty"`
	FiredAt        string          `json:"fired_at"`
	ScheduledAt    string          `json:"scheduled_at,omitempty"`
	Attempt        int             `json:"attempt"` // 1 for the first delivery attempt
	Values         json.RawMessage `json:"values,omitempty"`
	// Params are the send's `with` parameters (SPEC §9), a JSON object:
	// SMS and WeChat providers fill an approved template with them.
	Params json.RawMessage `json:"params,omitempty"`

	transactional bool  // a service message (dispatch: no quiet hours, no caps)
	runID         int64 // the run that decided it (dispatch finds its outbox row by it)
}

// Sink delivers messages. Sends go to every sink whose Name is ""; a
// `notify "x"` action goes to the sink named x.
type Sink interface {
	// Name is the name notify actions use; "" for sinks that receive sends.
	Name() string
	// Deliver tries to deliver msgs and returns one error per message: nil
	// when it was delivered, ErrNotAttempted when ctx ended before the sink
	// tried it, another error when the attempt failed. It must return
	// promptly once ctx is done.
	Deliver(ctx context.Context, msgs []Message) []error
	// Close releases the sink's resources.
	Close() error
}

// ErrNotAttempted is the delivery error of a message a sink did not try
// (the dispatch budget ran out first). Such a message keeps its status and
// its attempt count.
var ErrNotAttempted = errors.New("not attempted")

// SinkID is the identity under which dispatch records what a sink took
// (outbox_deliveries): jsonl:PATH, webhook:URL, with the NAME= prefix of a
// named sink. A sink of another type is known by its type and name; one
// that implements `ID() string` by that. The identity is redacted
// (redact.Text: no credential, such as a webhook URL's password or token,
// is stored), so sinks that differ only in their credentials are one sink.
func SinkID(s Sink) string {
	return redact.Text(sinkSpec(s))
}

// sinkSpec is a sink's identity before redaction.
func sinkSpec(s Sink) string {
	prefix := ""
	if s.Name() != "" {
		prefix = s.Name() + "="
	}
	switch x := s.(type) {
	case interface{ ID() string }:
		return x.ID()
	case *JSONLSink:
		return prefix + "jsonl:" + x.Path
	case *WebhookSink:
		return prefix + "webhook:" + x.URL
	}
	return fmt.Sprintf("%s%T", prefix, s)
}

var sinkName = regexp.MustCompile(`^[\p{L}_][\p{L}\p{N}_.-]*$`)

// ParseSink parses a --sink value: `jsonl:PATH` appends one JSON line per
// message to PATH (fsync'd per batch); `webhook:URL` POSTs each message as
// JSON with an Idempotency-Key header, retrying with backoff. A `NAME=`
// prefix (`alerts=webhook:https://...`) names the sink: it then receives the
// `notify "NAME"` actions instead of sends.
func ParseSink(spec string) (Sink, error) {
	shown := redact.Text(spec) // errors echo the spec without its credentials
	kind, arg, ok := strings.Cut(spec, ":")
	if !ok {
		return nil, fmt.Errorf("sink %q: want jsonl:PATH or webhook:URL", shown)
	}
	name := ""
	if n, k, named := strings.Cut(kind, "="); named {
		if !sinkName.MatchString(n) {
			return nil, fmt.Errorf("sink %q: bad sink name %q", shown, n)
		}
		name, kind = n, k
	}
	switch kind {
	case "jsonl":
		if arg == "" {
			return nil, fmt.Errorf("sink %q: missing file path", shown)
		}
		return &JSONLSink{SinkName: name, Path: arg}, nil
	case "webhook":
		u, err := url.Parse(arg)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("sink %q: want an http or https URL", shown)
		}
		return NewWebhookSink(name, arg), nil
	}
	return nil, fmt.Errorf("sink %q: unknown sink kind %q: want jsonl or webhook", shown, kind)
}

// JSONLSink appends messages as JSON lines to a file.
type JSONLSink struct {
	SinkName string
	Path     string
}

// Name implements Sink.
func (s *JSONLSink) Name() string { return s.SinkName }

// Close implements Sink.
func (s *JSONLSink) Close() error { return nil }

// Deliver appends the batch and fsyncs; the batch succeeds or fails whole.
func (s *JSONLSink) Deliver(ctx context.Context, msgs []Message) []error {
	errs := make([]error, len(msgs))
	fail := func(err error) []error {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	if ctx.Err() != nil {
		return fail(ErrNotAttempted)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, m := range msgs {
		if err := enc.Encode(m); err != nil {
			return fail(err)
		}
	}
	f, err := os.OpenFile(s.Path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fail(err)
	}
	data := buf.Bytes()
	// A write torn by a crash leaves a partial last line: start on a fresh
	// line so the torn one stays a single unparsable line.
	if st, serr := f.Stat(); serr == nil && st.Size() > 0 {
		last := make([]byte, 1)
		if _, rerr := f.ReadAt(last, st.Size()-1); rerr == nil && last[0] != '\n' {
			data = append([]byte{'\n'}, data...)
		}
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(fmt.Errorf("sink jsonl:%s: %w", s.Path, err))
	}
	return errs
}

// WebhookSink POSTs each message as a JSON body to URL with the header
// Idempotency-Key set to the message's key. A request that fails with a
// network error, a timeout, 429 or a 5xx status is retried with exponential
// backoff and full jitter, at most Tries times; other statuses fail at once.
// A 429 or 503 with Retry-After (seconds or an HTTP date) waits that long
// instead; when the wait would outlast the dispatch budget the attempt
// fails at once and the send waits for a later tick. Redirects are never
// followed (a POST replayed as a body-less GET proves nothing): a 3xx fails,
// naming its Location.
type WebhookSink struct {
	SinkName       string
	URL            string
	Client         *http.Client
	Tries          int           // attempts per message per dispatch
	RequestTimeout time.Duration // per HTTP request
	BaseDelay      time.Duration // first backoff; doubles per retry
	MaxDelay       time.Duration
	Concurrency    int // requests in flight at once
}

// NewWebhookSink returns a webhook sink with defaults: 3 tries, 10 s per
// request, backoff from 200 ms up to 5 s, 8 requests in flight.
func NewWebhookSink(name, url string) *WebhookSink {
	return &WebhookSink{
		SinkName:       name,
		URL:            url,
		Client:         &http.Client{CheckRedirect: noRedirect},
		Tries:          3,
		RequestTimeout: 10 * time.Second,
		BaseDelay:      200 * time.Millisecond,
		MaxDelay:       5 * time.Second,
		Concurrency:    8,
	}
}

// Name implements Sink.
func (w *WebhookSink) Name() string { return w.SinkName }

// Close implements Sink.
func (w *WebhookSink) Close() error {
	w.Client.CloseIdleConnections()
	return nil
}

// Deliver posts the messages, Concurrency at a time, until ctx ends.
func (w *WebhookSink) Deliver(ctx context.Context, msgs []Message) []error {
	errs := make([]error, len(msgs))
	sem := make(chan struct{}, max(1, w.Concurrency))
	var wg sync.WaitGroup
	for i, m := range msgs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			errs[i] = ErrNotAttempted
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = w.post(ctx, m)
		}()
	}
	wg.Wait()
	return errs
}

// post delivers one message with retries. The backoff loop is a few lines
// of stdlib code; it stops as soon as ctx ends.
func (w *WebhookSink) post(ctx context.Context, m Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	delay := w.BaseDelay
	for try := 1; ; try++ {
		retry, after, err := w.once(ctx, m.IdempotencyKey, body)
		err = redact.Wrap(err) // net/http's errors name the URL, a redirect its Location
		if err == nil {
			return nil
		}
		if !retry || try >= w.Tries || ctx.Err() != nil {
			return fmt.Errorf("webhook %s: %w", redact.Text(w.URL), err)
		}
		sleep := time.Duration(rand.Int64N(int64(delay) + 1)) // full jitter
		if after >= 0 {
			if dl, ok := ctx.Deadline(); ok && time.Now().Add(after).After(dl) {
				return fmt.Errorf("webhook %s: %w (Retry-After %v outlasts the dispatch budget)", redact.Text(w.URL), err, after)
			}
			sleep = after
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("webhook %s: %w (then %v)", redact.Text(w.URL), err, ctx.Err())
		case <-time.After(sleep):
		}
		delay = min(2*delay, w.MaxDelay)
	}
}

// once makes one request; retry reports whether a failure is worth
// retrying, after how long the server asked for with Retry-After (-1: it
// did not).
func (w *WebhookSink) once(ctx context.Context, key string, body []byte) (retry bool, after time.Duration, err error) {
	after = -1
	rctx, cancel := context.WithTimeout(ctx, w.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return false, after, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	// Whatever client the sink was given, a redirect comes back as the
	// response.
	client := *w.Client
	client.CheckRedirect = noRedirect
	resp, err := client.Do(req)
	if err != nil {
		return true, after, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, after, nil
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		loc := resp.Header.Get("Location")
		if loc == "" {
			loc = "(none)"
		}
		return false, after, fmt.Errorf("status %s: redirect to %s not followed", resp.Status, loc)
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			after = d
		}
		return true, after, fmt.Errorf("status %s", resp.Status)
	case resp.StatusCode >= 500:
		return true, after, fmt.Errorf("status %s", resp.Status)
	}
	return false, after, fmt.Errorf("status %s", resp.Status)
}

// noRedirect makes an http.Client return a redirect as the response.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// retryAfter parses a Retry-After value (RFC 9110 §10.2.3): a number of
// seconds or an HTTP date, relative to now; a date in the past is 0.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(min(n, int64(365*24*3600))) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(0, t.Sub(now)), true
}
