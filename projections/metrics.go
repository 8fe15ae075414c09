package projections

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the projection runners' Prometheus metrics. One Metrics serves
// every runner of a process: series are labelled by projection name, never by
// member.
type Metrics struct {
	batchSize    *prometheus.HistogramVec
	position     *prometheus.GaugeVec
	lag          *prometheus.GaugeVec
	errors       *prometheus.CounterVec
	batchSeconds *prometheus.HistogramVec
	eventToTable *prometheus.HistogramVec
	// writer is 1 while this process writes the read models (RunAsWriter).
	writer prometheus.Gauge
}

// projectionLabel names the one label of the runners' series.
var projectionLabel = []string{"projection"}

func gaugeByProjection(name, help string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, projectionLabel)
}

func histogramByProjection(name, help string, buckets []float64) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, projectionLabel)
}

// NewMetrics creates the metrics and registers them with reg. A nil reg
// leaves them unregistered (useful in tests).
//
// Errors: the registry's, e.g. prometheus.AlreadyRegisteredError when called
// twice with one registry.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		batchSize: histogramByProjection("loyalty_projection_batch_size",
			"Ledger records applied per projection transaction.",
			prometheus.ExponentialBuckets(1, 2, 14)), // 1 .. 8192
		position: gaugeByProjection("loyalty_projection_position",
			"LOYALTY_LEDGER stream sequence of the last record the projection committed (its checkpoint)."),
		lag: gaugeByProjection("loyalty_projection_lag_records",
			"LOYALTY_LEDGER messages after the projection's checkpoint: what it has yet to commit (a message holds the records of one append)."),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "loyalty_projection_errors_total",
			Help: "Failed attempts of a projection (PostgreSQL or NATS errors); every failed batch is retried.",
		}, projectionLabel),
		batchSeconds: histogramByProjection("loyalty_projection_batch_seconds",
			"Time to apply and commit one batch, for the attempt that succeeded.",
			prometheus.ExponentialBuckets(0.0005, 2, 16)), // 0.5 ms .. 16 s
		eventToTable: histogramByProjection("loyalty_event_to_table_seconds",
			"Time from the input stream storing an event to its projected rows committing, per ledger record.",
			prometheus.ExponentialBuckets(0.001, 2, 18)), // 1 ms .. 131 s
		writer: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "loyalty_projection_writer",
			Help: "1 while this process writes the read models; the other engines stand by (0) and one takes over within seconds of its stop.",
		}),
	}
	if reg != nil {
		var errs []error
		for _, c := range []prometheus.Collector{m.batchSize, m.position, m.lag, m.errors, m.batchSeconds, m.eventToTable, m.writer} {
			errs = append(errs, reg.Register(c))
		}
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// forProjection binds the metrics to one projection's label values.
func (m *Metrics) forProjection(name string) projectionMetrics {
	return projectionMetrics{
		batchSize:    m.batchSize.WithLabelValues(name),
		position:     m.position.WithLabelValues(name),
		lag:          m.lag.WithLabelValues(name),
		errors:       m.errors.WithLabelValues(name),
		batchSeconds: m.batchSeconds.WithLabelValues(name),
		eventToTable: m.eventToTable.WithLabelValues(name),
	}
}

type projectionMetrics struct {
	batchSize    prometheus.Observer
	position     prometheus.Gauge
	lag          prometheus.Gauge
	errors       prometheus.Counter
	batchSeconds prometheus.Observer
	eventToTable prometheus.Observer
}
