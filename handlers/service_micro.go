package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// microServer speaks the NATS micro protocol for the loyalty service: its
// endpoints in the queue group micro uses, and the discovery subjects
// ($SRV.PING, $SRV.INFO, $SRV.STATS) that `nats micro ls|info|stats`
// asks. nats.go's micro package would do both, but it measures an endpoint
// while the handler function runs and counts an error only when it was sent
// before the function returned: the engine answers on a goroutine of its own
// (a redemption waits for the ledger), so micro reported every request as a
// few microseconds and no error at all (docs/decisions/028). Here a request
// is measured from its arrival to its answer, whoever sends it. The
// protocol's messages are micro's own types.
type microServer struct {
	nc        *nats.Conn
	identity  micro.ServiceIdentity
	desc      string
	started   time.Time
	guard     *replyGuard
	endpoints []*microEndpoint
	mu        sync.Mutex
	subs      []*nats.Subscription
}

// microQueueGroup is micro's default queue group: engines of an older
// release, which serve through nats.go's micro, share the requests with
// these rather than each receiving every one.
const microQueueGroup = "q"

// microEndpoint is one endpoint and what it has answered.
type microEndpoint struct {
	name, subject string
	handle        micro.HandlerFunc
	metrics       *Metrics

	mu         sync.Mutex
	requests   int
	errors     int
	lastError  string
	processing time.Duration
}

func newMicroServer(nc *nats.Conn, name, version, desc string, guard *replyGuard) *microServer {
	return &microServer{nc: nc, desc: desc, guard: guard, started: time.Now().UTC(),
		identity: micro.ServiceIdentity{Name: name, Version: version, ID: uuid.NewString(), Metadata: map[string]string{}}}
}

// add registers an endpoint on subject; start subscribes to them all.
func (s *microServer) add(name, subject string, h micro.HandlerFunc, m *Metrics) {
	s.endpoints = append(s.endpoints, &microEndpoint{name: name, subject: subject, handle: h, metrics: m})
}

// start subscribes to the endpoints and the discovery subjects.
func (s *microServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, ep := range s.endpoints {
		sub, err := s.nc.QueueSubscribe(ep.subject, microQueueGroup, ep.receive)
		errs = append(errs, err)
		s.subs = append(s.subs, sub)
	}
	for verb, answer := range map[micro.Verb]func() any{
		micro.PingVerb:  func() any { return micro.Ping{ServiceIdentity: s.identity, Type: micro.PingResponseType} },
		micro.InfoVerb:  s.info,
		micro.StatsVerb: s.stats,
	} {
		for _, subject := range []string{
			s.controlSubject(verb, "", ""), s.controlSubject(verb, s.identity.Name, ""),
			s.controlSubject(verb, s.identity.Name, s.identity.ID),
		} {
			sub, err := s.nc.Subscribe(subject, func(msg *nats.Msg) { s.discover(msg, answer) })
			errs = append(errs, err)
			s.subs = append(s.subs, sub)
		}
	}
	if err := errors.Join(errs...); err != nil {
		s.stopLocked()
		return fmt.Errorf("service: %w", err)
	}
	return nil
}

func (s *microServer) controlSubject(verb micro.Verb, name, id string) string {
	subject, _ := micro.ControlSubject(verb, name, id) // fails only for an id without a name
	return subject
}

// discover answers a discovery request, if its reply subject is one the
// service answers: a PING or STATS must not make the engine publish where
// the caller chose any more than a balance request may.
func (s *microServer) discover(msg *nats.Msg, answer func() any) {
	if !s.guard.admit(&natsRequest{msg: msg}) {
		return
	}
	data, err := json.Marshal(answer())
	if err == nil {
		_ = msg.Respond(data)
	}
}

func (s *microServer) info() any {
	info := micro.Info{ServiceIdentity: s.identity, Type: micro.InfoResponseType, Description: s.desc, Endpoints: []micro.EndpointInfo{}}
	for _, ep := range s.endpoints {
		info.Endpoints = append(info.Endpoints, micro.EndpointInfo{Name: ep.name, Subject: ep.subject, QueueGroup: microQueueGroup})
	}
	return info
}

func (s *microServer) stats() any {
	stats := micro.Stats{ServiceIdentity: s.identity, Type: micro.StatsResponseType, Started: s.started, Endpoints: []*micro.EndpointStats{}}
	for _, ep := range s.endpoints {
		ep.mu.Lock()
		es := &micro.EndpointStats{Name: ep.name, Subject: ep.subject, QueueGroup: microQueueGroup,
			NumRequests: ep.requests, NumErrors: ep.errors, LastError: ep.lastError, ProcessingTime: ep.processing}
		if ep.requests > 0 {
			es.AverageProcessingTime = ep.processing / time.Duration(ep.requests)
		}
		ep.mu.Unlock()
		stats.Endpoints = append(stats.Endpoints, es)
	}
	return stats
}

// stop drops every subscription.
func (s *microServer) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked()
}

func (s *microServer) stopLocked() error {
	var errs []error
	for _, sub := range s.subs {
		if sub != nil {
			errs = append(errs, sub.Unsubscribe())
		}
	}
	s.subs = nil
	return errors.Join(errs...)
}

// receive hands a request to the endpoint's handler, which answers it now
// or later: the answer, whenever it is sent, is what the statistics count.
func (ep *microEndpoint) receive(msg *nats.Msg) {
	start := time.Now()
	ep.handle(&natsRequest{msg: msg, answered: func(code, description string) { ep.record(start, code, description) }})
}

// record counts one answer: an error when it carries an error code.
func (ep *microEndpoint) record(start time.Time, code, description string) {
	took := time.Since(start)
	ep.mu.Lock()
	ep.requests++
	ep.processing += took
	if code != "" {
		ep.errors++
		ep.lastError = code + ":" + description
	}
	ep.mu.Unlock()
	ep.metrics.serviceAnswered(ep.name, code, took)
}

// natsRequest is a request as the service's handlers answer it: one
// received on an endpoint, or forwarded from another engine (which counts
// it as its own). answered, if set, learns of the first answer sent (its
// error code, "" for none).
type natsRequest struct {
	msg       *nats.Msg
	forwarded bool
	answered  func(code, description string)
	once      sync.Once
}

func (r *natsRequest) Respond(data []byte, opts ...micro.RespondOpt) error {
	reply := &nats.Msg{Header: nats.Header{}, Data: data}
	for _, o := range opts {
		o(reply)
	}
	if r.answered != nil {
		r.once.Do(func() { r.answered(reply.Header.Get(micro.ErrorCodeHeader), reply.Header.Get(micro.ErrorHeader)) })
	}
	return r.msg.RespondMsg(reply)
}

func (r *natsRequest) RespondJSON(v any, opts ...micro.RespondOpt) error {
	data, err := json.Marshal(v)
	if err != nil {
		return micro.ErrMarshalResponse
	}
	return r.Respond(data, opts...)
}

func (r *natsRequest) Error(code, description string, data []byte, opts ...micro.RespondOpt) error {
	opts = append(opts, micro.WithHeaders(micro.Headers{micro.ErrorHeader: {description}, micro.ErrorCodeHeader: {code}}))
	return r.Respond(data, opts...)
}

func (r *natsRequest) Data() []byte           { return r.msg.Data }
func (r *natsRequest) Headers() micro.Headers { return micro.Headers(r.msg.Header) }
func (r *natsRequest) Subject() string        { return r.msg.Subject }
func (r *natsRequest) Reply() string          { return r.msg.Reply }
