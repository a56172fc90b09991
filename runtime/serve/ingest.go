package serve

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	nrt "nudge/runtime"
	"nudge/runtime/redact"
)

// maxGroupRows bounds the rows of batches committed together.
const maxGroupRows = 50000

// ingestJob is one POST /v1/events batch waiting to be committed.
type ingestJob struct {
	rows *batchRows
	done chan struct{}
	ans  *EventsAnswer
	err  *apiError
}

// pendingJobs are the batches waiting for the ingest lock.
type pendingJobs struct {
	mu   sync.Mutex
	jobs []*ingestJob
}

// ingest commits a batch and returns the answer. Batches that wait for the
// ingest lock at the same time are committed together (group commit): the
// request that gets the lock stores every waiting batch of events in one
// transaction, so the per-commit cost is paid once under load. Each batch
// keeps its own answer (rows, duplicates, seqs); when the group fails,
// each batch is committed alone, so a bad batch fails only itself.
func (s *Server) ingest(ctx context.Context, rows *batchRows) (*EventsAnswer, *apiError) {
	job := &ingestJob{rows: rows, done: make(chan struct{})}
	s.pending.mu.Lock()
	s.pending.jobs = append(s.pending.jobs, job)
	s.pending.mu.Unlock()
	for {
		select {
		case <-job.done:
			return job.ans, job.err
		case <-s.ingestLock:
		case <-ctx.Done():
			s.pending.mu.Lock()
			i := slices.Index(s.pending.jobs, job)
			if i >= 0 {
				s.pending.jobs = slices.Delete(s.pending.jobs, i, i+1)
			}
			s.pending.mu.Unlock()
			if i >= 0 {
				// Not stored: 503.
				aerr := s.settle(ctx, &apiError{})
				s.m.batchesRejected.WithLabelValues(strconv.Itoa(aerr.status)).Inc()
				return nil, aerr
			}
			<-job.done // a leader is committing it
			return job.ans, job.err
		}
		// This request holds the ingest lock: it commits what waits.
		s.pending.mu.Lock()
		var jobs []*ingestJob
		n := 0
		for len(s.pending.jobs) > 0 && (len(jobs) == 0 || n+len(s.pending.jobs[0].rows.events) <= maxGroupRows) {
			jobs = append(jobs, s.pending.jobs[0])
			n += len(s.pending.jobs[0].rows.events)
			s.pending.jobs = s.pending.jobs[1:]
		}
		s.pending.mu.Unlock()
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.Timeout)
		began := time.Now()
		s.runJobs(wctx, jobs)
		s.log.Debug("ingest", "batches", len(jobs), "events", n, "seconds", time.Since(began).Seconds())
		cancel()
		s.ingestLock <- struct{}{}
		select {
		case <-job.done:
			return job.ans, job.err
		default: // (left for a later group: over maxGroupRows)
		}
	}
}

// runJobs commits jobs in order: runs of events-only batches together,
// batches with members alone.
func (s *Server) runJobs(ctx context.Context, jobs []*ingestJob) {
	var group []*ingestJob
	flush := func() {
		if len(group) > 0 {
			s.runGroup(ctx, group)
			group = nil
		}
	}
	for _, j := range jobs {
		if len(j.rows.members) > 0 {
			flush()
			s.runOne(ctx, j)
			continue
		}
		group = append(group, j)
	}
	flush()
}

// runGroup commits events-only batches in one transaction.
func (s *Server) runGroup(ctx context.Context, group []*ingestJob) {
	if len(group) == 1 {
		s.runOne(ctx, group[0])
		return
	}
	var all []map[string]any
	offset := make([]int64, len(group)+1)
	for i, j := range group {
		all = append(all, j.rows.events...)
		offset[i+1] = offset[i] + int64(len(j.rows.events))
	}
	res, err := s.db.IngestEvents(ctx, all, "request body")
	s.logSteps(res)
	if err != nil {
		s.log.Debug("a group of batches failed; committing them one by one", "batches", len(group), "error", redact.Error(err))
		for _, j := range group {
			s.runOne(ctx, j)
		}
		return
	}
	at := time.Now()
	dups := make([]map[int64]string, len(group))
	for _, d := range res.Duplicates {
		for i := range group {
			if d.Row > offset[i] && d.Row <= offset[i+1] {
				if dups[i] == nil {
					dups[i] = map[int64]string{}
				}
				dups[i][d.Row-offset[i]] = d.EventID
			}
		}
	}
	seq := res.FirstSeq
	for i, j := range group {
		ans := &EventsAnswer{Rows: int64(len(j.rows.events)), Duplicates: []DuplicateRow{}}
		for r := int64(1); r <= ans.Rows; r++ {
			if id, dup := dups[i][r]; dup {
				ans.Duplicates = append(ans.Duplicates, DuplicateRow{Row: j.rows.eventFrom[r-1], EventID: id})
			}
		}
		ans.Stored = ans.Rows - int64(len(ans.Duplicates))
		if ans.Stored > 0 {
			ans.FirstSeq, ans.LastSeq = seq, seq+ans.Stored-1
			seq += ans.Stored
		}
		s.stored(ans, at)
		j.ans = ans
		close(j.done)
	}
}

// reject answers the batch j with e, settled with ctx (the ingest's: its
// timeout is the one that ran out, not the request's), and counts it in
// nudge_batches_rejected_total under that answer's status.
func (s *Server) reject(ctx context.Context, j *ingestJob, e *apiError) {
	j.err = s.settle(ctx, e)
	s.m.batchesRejected.WithLabelValues(strconv.Itoa(j.err.status)).Inc()
}

// runOne commits one batch: its members, then its events.
func (s *Server) runOne(ctx context.Context, j *ingestJob) {
	defer close(j.done)
	rows := j.rows
	ans := &EventsAnswer{Rows: int64(len(rows.events) + len(rows.members)), Duplicates: []DuplicateRow{}}
	if len(rows.members) > 0 && len(rows.events) > 0 {
		// A batch of both: its events are checked before its members are
		// stored, so that a bad event refuses the whole batch.
		if err := s.db.CheckEvents(ctx, rows.events, "request body"); err != nil {
			s.reject(ctx, j, bodyError(err, rows.eventFrom, rows.eventFields))
			return
		}
	}
	if len(rows.members) > 0 {
		if err := s.lock(ctx); err != nil {
			s.reject(ctx, j, &apiError{}) // not stored: 503
			return
		}
		ma, aerr := s.upsertMembers(ctx, rows)
		s.unlock()
		if aerr != nil {
			s.reject(ctx, j, aerr)
			return
		}
		ans.Members = ma
		s.requestTick()
	}
	if len(rows.events) > 0 {
		res, err := s.db.IngestEvents(ctx, rows.events, "request body")
		s.logSteps(res)
		if err != nil {
			aerr := bodyError(err, rows.eventFrom, rows.eventFields)
			if ans.Members != nil {
				// The members are committed: the answer says so.
				aerr = eventsNotStored(aerr, err, ans.Members, len(rows.events), s.cfg.Timeout)
			}
			s.reject(ctx, j, aerr)
			return
		}
		for _, d := range res.Duplicates {
			ans.Duplicates = append(ans.Duplicates, DuplicateRow{Row: rows.eventFrom[d.Row-1], EventID: d.EventID})
		}
		ans.Stored, ans.FirstSeq, ans.LastSeq, ans.Waiting = res.Stored, res.FirstSeq, res.LastSeq, res.Waiting
		s.stored(ans, time.Now())
	}
	j.ans = ans
}

// logSteps logs the step timings of an ingest (at debug level).
func (s *Server) logSteps(res nrt.IngestResult) {
	if !s.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	steps := make([]any, 0, 2*len(res.Timings))
	for _, st := range res.Timings {
		steps = append(steps, st.Step, st.Took.Seconds())
	}
	s.log.Debug("ingest steps", "rows", res.Rows, slog.Group("seconds", steps...))
}

// stored notes a committed batch: metrics, the acknowledgement the
// event-to-decision latency is measured from, and a tick request.
func (s *Server) stored(ans *EventsAnswer, at time.Time) {
	s.m.eventsIngested.Add(float64(ans.Stored))
	s.m.eventsDuplicate.Add(float64(len(ans.Duplicates)))
	if ans.Stored == 0 {
		return
	}
	s.ackMu.Lock()
	s.acks = append(s.acks, ack{lastSeq: ans.LastSeq, at: at, n: ans.Stored})
	s.m.pendingEvents.Add(float64(ans.Stored))
	s.ackMu.Unlock()
	s.requestTick()
}
