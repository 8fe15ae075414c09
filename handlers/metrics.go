package handlers

import (
	"errors"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers/keyindex"
)

// Metrics are the engine's Prometheus metrics. Labels never carry member ids.
type Metrics struct {
	events          *prometheus.CounterVec
	deadLetters     *prometheus.CounterVec
	processing      prometheus.Histogram
	pointsIssued    prometheus.Counter
	pointsReversed  prometheus.Counter
	pointsExpired   prometheus.Counter
	pointsRedeemed  prometheus.Counter
	redemptions     *prometheus.CounterVec
	ledgerRecords   prometheus.Counter
	ledgerBatch     prometheus.Histogram
	ledgerAppend    prometheus.Histogram
	partitionsOwned prometheus.Gauge
	members         prometheus.Gauge
	memberBytes     prometheus.Gauge
	retries         prometheus.Counter
	inputPending    prometheus.Gauge
	inputResumes    *prometheus.CounterVec
	programReloads  *prometheus.CounterVec
	serviceRefusals *prometheus.CounterVec
	serviceAnswers  *prometheus.CounterVec
	serviceSeconds  *prometheus.HistogramVec
	preempted       prometheus.Counter
	keyHeld         prometheus.Counter
	// keys counts the key index's look-ups, across the engine's runs.
	keys *keyindex.Counters
}

func (m *Metrics) serviceRefused(reason string) { m.serviceRefusals.WithLabelValues(reason).Inc() }

// serviceAnswered counts an answer of the service's endpoint with its code
// ("" for a decision or a balance: 200) and how long after the request's
// arrival it was sent.
func (m *Metrics) serviceAnswered(endpoint, code string, took time.Duration) {
	switch {
	case code == "":
		code = codeOK
	case !slices.Contains(serviceCodes, code):
		// Only the codes the service gives are labels: an answer passed on
		// from elsewhere must not add series at will.
		code = codeOther
	}
	m.serviceAnswers.WithLabelValues(endpoint, code).Inc()
	m.serviceSeconds.WithLabelValues(endpoint).Observe(took.Seconds())
}

// codeOK is the code label of an answer that is not an error; codeOther of
// one with a code the service does not give.
const (
	codeOK    = "200"
	codeOther = "other"
)

// serviceCodes are the code labels of loyalty_service_requests_total.
var serviceCodes = []string{codeOK, CodeBadRequest, CodeUnknownMember, CodeUnavailable, CodeTimeout, codeOther}

// Outcomes of an input event, the outcome label of loyalty_events_total.
const (
	outcomeApplied      = "applied"
	outcomeDeadLettered = "dead_lettered"
	outcomeRedelivered  = "redelivered"
)

// Outcomes of a program reload, the outcome label of
// loyalty_program_reloads_total.
const (
	reloadApplied = "applied"
	reloadRefused = "refused"
)

// Why the intake's pull on the input stream was interrupted, the reason
// label of loyalty_input_resumes_total.
const (
	resumeHeartbeatMissed   = "heartbeat_missed"
	resumeDeliveryGap       = "delivery_gap"
	resumeSubscriptionEnded = "subscription_ended"
)

// redemptionAccepted is the result label of an accepted redemption in
// loyalty_redemptions_total; refusals carry their reason.
const redemptionAccepted = "accepted"

// newCounter, newGauge, newCounterVec and newHistogram spell out the metric
// options the engine uses, a name and a help text and no more, plus a
// vector's label names or a histogram's buckets.
func newCounter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
}

func newGauge(name, help string) prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
}

func newCounterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

func newHistogram(name, help string, buckets []float64) prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
}

// counterOf is a counter that reads n, counted by the key index (which
// knows nothing of Prometheus), whenever it is scraped.
func counterOf(opts prometheus.CounterOpts, n *atomic.Uint64) prometheus.Collector {
	return prometheus.NewCounterFunc(opts, func() float64 { return float64(n.Load()) })
}

// NewMetrics registers the engine's metrics with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		events: newCounterVec("loyalty_events_total",
			"Input events handled, by event type and outcome (applied, dead_lettered, redelivered).",
			"type", "outcome"),
		deadLetters: newCounterVec("loyalty_dead_letters_total",
			"Input events sent to the dead-letter stream, by reason.",
			"reason"),
		processing: newHistogram("loyalty_processing_seconds",
			"Time to handle one input event (decode, rules, staging its ledger record), not counting the ledger append.",
			prometheus.ExponentialBuckets(0.0001, 2, 16)),
		pointsIssued: newCounter("loyalty_points_issued_total",
			"Points credited to members."),
		pointsReversed: newCounter("loyalty_points_reversed_total",
			"Points taken back by refunds."),
		pointsExpired: newCounter("loyalty_points_expired_total",
			"Points that expired under the program's expiry policy."),
		pointsRedeemed: newCounter("loyalty_points_redeemed_total",
			"Points members spent on redemptions."),
		redemptions: newCounterVec("loyalty_redemptions_total",
			"Redemption requests decided, by result: accepted, or the reason of the refusal.",
			"result"),
		ledgerRecords: newCounter("loyalty_ledger_records_total",
			"Records appended to the ledger stream by this process."),
		ledgerBatch: newHistogram("loyalty_ledger_append_records",
			"Records (input events) per ledger append; each append is one message of the ledger stream.",
			prometheus.ExponentialBuckets(1, 2, 9)),
		ledgerAppend: newHistogram("loyalty_ledger_append_seconds",
			"Time to append a partition's staged records to the ledger, until JetStream acknowledged them.",
			prometheus.ExponentialBuckets(0.0001, 2, 16)),
		partitionsOwned: newGauge("loyalty_engine_partitions_owned",
			"Member partitions this process is handling."),
		memberBytes: newGauge("loyalty_member_memory_bytes",
			"Estimated memory of the members the engine keeps in memory (at most --member-memory, plus those changed since the last snapshot)."),
		members: newGauge("loyalty_engine_members",
			"Members this engine knows (in memory or in their snapshots)."),
		retries: newCounter("loyalty_engine_retries_total",
			"Handler attempts that failed with a transient error and were retried."),
		inputPending: newGauge("loyalty_input_pending_events",
			"Input events not yet applied by this process's partitions (undelivered plus unacknowledged)."),
		inputResumes: newCounterVec("loyalty_input_resumes_total",
			"Times the engine's pull on the input stream stopped and was taken up again, by reason: heartbeat_missed (asked again), delivery_gap or subscription_ended (resumed from the consumer's ack floor).",
			"reason"),
		programReloads: newCounterVec("loyalty_program_reloads_total",
			"Program file reloads by outcome: applied, or refused (the file is invalid; the running program stays).",
			"outcome"),
		serviceRefusals: newCounterVec("loyalty_service_refused_total",
			"Service requests not answered with a decision, by reason: reply_subject (dropped: the reply subject is not a caller's inbox), busy (503), bad_request (400).",
			"reason"),
		serviceAnswers: newCounterVec("loyalty_service_requests_total",
			"Service requests answered, by endpoint (balance, redeem, transfer) and code: 200 (a balance or a decision, accepted or refused), 400, 404, 503 or 504. A request forwarded to the engine owning the member counts once, where it arrived.",
			"endpoint", "code"),
		serviceSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "loyalty_service_request_seconds",
			Help:    "Time from a service request's arrival to its answer, by endpoint; a redemption or transfer waits for its ledger append.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18)}, []string{"endpoint"}),
		preempted: newCounter("loyalty_input_preempted_total",
			"Inputs the engine published (follow-ups, service requests) whose message id another message had taken within JetStream's duplicate window; each was published again under a new id."),
		keyHeld: newCounter("loyalty_key_index_held_total",
			"Inputs offered again because another partition held one of their keys (an event id) in a record not appended yet."),
		keys: &keyindex.Counters{},
	}
	for _, reason := range serviceRefusalReasons {
		m.serviceRefusals.WithLabelValues(reason)
	}
	for _, endpoint := range serviceEndpoints {
		for _, code := range serviceCodes {
			m.serviceAnswers.WithLabelValues(endpoint, code)
		}
		m.serviceSeconds.WithLabelValues(endpoint)
	}
	for _, t := range domain.EventTypes {
		for _, outcome := range []string{outcomeApplied, outcomeDeadLettered, outcomeRedelivered} {
			m.events.WithLabelValues(string(t), outcome)
		}
	}
	for _, outcome := range []string{reloadApplied, reloadRefused} {
		m.programReloads.WithLabelValues(outcome)
	}
	for _, reason := range []string{resumeHeartbeatMissed, resumeDeliveryGap, resumeSubscriptionEnded} {
		m.inputResumes.WithLabelValues(reason)
	}
	m.redemptions.WithLabelValues(redemptionAccepted)
	for _, r := range domain.RedemptionReasons {
		m.redemptions.WithLabelValues(string(r))
	}
	// Every reason starts at zero, so that rate() and alerts see the first
	// dead letter of a kind rather than a series appearing from nowhere.
	for _, r := range DeadLetterReasons() {
		m.deadLetters.WithLabelValues(string(r))
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.events, m.deadLetters, m.processing, m.pointsIssued,
		m.pointsReversed, m.pointsExpired, m.pointsRedeemed, m.redemptions, m.ledgerRecords, m.ledgerBatch, m.ledgerAppend, m.partitionsOwned, m.members, m.memberBytes, m.retries, m.inputPending, m.inputResumes, m.programReloads, m.serviceRefusals, m.serviceAnswers, m.serviceSeconds, m.preempted, m.keyHeld} {
		errs = append(errs, reg.Register(c))
	}
	lookups := func(result string, n *atomic.Uint64) prometheus.Collector {
		return counterOf(prometheus.CounterOpts{
			Name: "loyalty_key_index_lookups_total", ConstLabels: prometheus.Labels{"result": result},
			Help: "Look-ups of event, order and request ids in the key index: filtered (absent, told by the filter alone), missed (absent, read from the store: the filter's false positives), found.",
		}, n)
	}
	errs = append(errs, reg.Register(lookups("filtered", &m.keys.Filtered)), reg.Register(lookups("missed", &m.keys.Missed)),
		reg.Register(lookups("found", &m.keys.Found)),
		reg.Register(counterOf(prometheus.CounterOpts{Name: "loyalty_key_index_failures_total",
			Help: "Failures of the key index's store; each stops the engine, and the next start folds the index again from the ledger.",
		}, &m.keys.Broken)),
		reg.Register(counterOf(prometheus.CounterOpts{Name: "loyalty_member_snapshot_reads_total",
			Help: "Members read from their snapshot in the key index's store to decide an event on: not in memory when it came (the service's reads are not counted).",
		}, &m.keys.MemberReads)),
		reg.Register(counterOf(prometheus.CounterOpts{Name: "loyalty_member_snapshot_writes_total",
			Help: "Member snapshots written: each member changed since its partition's last snapshot, when the next one is taken (every snapshot interval, or sooner when many changed or memory is short).",
		}, &m.keys.MemberWrites)))
	return m, errors.Join(errs...)
}
