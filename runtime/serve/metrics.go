package serve

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the service's Prometheus metrics, in a registry of its own.
type metrics struct {
	reg              *prometheus.Registry
	eventsIngested   prometheus.Counter
	eventsDuplicate  prometheus.Counter
	membersUpserted  prometheus.Counter
	batchesRejected  *prometheus.CounterVec
	ticks            *prometheus.CounterVec
	tickDuration     prometheus.Histogram
	decisions        *prometheus.CounterVec
	dispatched       *prometheus.CounterVec
	eventToDecision  prometheus.Histogram
	requests         *prometheus.CounterVec
	reloads          *prometheus.CounterVec
	rulesLoaded      prometheus.Gauge
	pendingEvents    prometheus.Gauge
	lastTickUnixTime prometheus.Gauge
}

// latencyBuckets span a few milliseconds to a minute.
var latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2, 5, 10, 30, 60}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		eventsIngested: prometheus.NewCounter(prometheus.CounterOpts{Name: "nudge_events_ingested_total",
			Help: "Events stored by the HTTP ingest (committed)."}),
		eventsDuplicate: prometheus.NewCounter(prometheus.CounterOpts{Name: "nudge_events_duplicate_total",
			Help: "Events not stored because their event_id was stored before."}),
		membersUpserted: prometheus.NewCounter(prometheus.CounterOpts{Name: "nudge_members_upserted_total",
			Help: "Members inserted or updated by the HTTP ingest."}),
		batchesRejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nudge_batches_rejected_total",
			Help: "Ingest requests refused, by HTTP status."}, []string{"code"}),
		ticks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nudge_ticks_total",
			Help: "Ticks run, by result (ok, error)."}, []string{"result"}),
		tickDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "nudge_tick_duration_seconds",
			Help: "Duration of a tick, from its start to its commit.", Buckets: latencyBuckets}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nudge_decisions_total",
			Help: "Decisions recorded by ticks, by status at the tick's commit."}, []string{"status"}),
		dispatched: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nudge_dispatch_total",
			Help: "Dispatch results: sent, failed (attempt failed), gave_up, refused (consent withdrawn)."}, []string{"result"}),
		eventToDecision: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "nudge_event_to_decision_seconds",
			Help: "From an event's HTTP 200 to the commit of the tick that evaluated it.", Buckets: latencyBuckets}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nudge_http_requests_total",
			Help: "HTTP requests by route and status code."}, []string{"route", "code"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nudge_reloads_total",
			Help: "Rule reloads by result (ok, invalid)."}, []string{"result"}),
		rulesLoaded: prometheus.NewGauge(prometheus.GaugeOpts{Name: "nudge_rules_loaded",
			Help: "Rules in the running program."}),
		pendingEvents: prometheus.NewGauge(prometheus.GaugeOpts{Name: "nudge_events_waiting_for_tick",
			Help: "Acknowledged events no tick has evaluated yet."}),
		lastTickUnixTime: prometheus.NewGauge(prometheus.GaugeOpts{Name: "nudge_last_tick_timestamp_seconds",
			Help: "Unix time of the last committed tick."}),
	}
	m.reg.MustRegister(m.eventsIngested, m.eventsDuplicate, m.membersUpserted, m.batchesRejected, m.ticks, m.tickDuration,
		m.decisions, m.dispatched, m.eventToDecision, m.requests, m.reloads, m.rulesLoaded, m.pendingEvents, m.lastTickUnixTime,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
