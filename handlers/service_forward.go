package handlers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/pointsledger/loyalty/streams"
)

// When engines share the partitions, a caller's request reaches whichever
// engine NATS picks (the service's queue group). One that does not own the
// member's partition forwards the request to the owner on the partition's
// internal subject, loyalty.svc.p.NN.<endpoint>, to which only the owner
// subscribes, and passes the owner's answer back: the owner decides with
// the same guarantees as when it is called directly. While a partition
// moves nobody subscribes for a moment, and the request is tried again
// until the service's timeout.

// internalSubject is the subject on which partition p's owner answers an
// endpoint.
func internalSubject(p int, endpoint string) string {
	return fmt.Sprintf("%s.p.%02d.%s", ServiceSubjects, p, endpoint)
}

// forwardRetry is the wait between tries of a forwarded request that found
// no owner subscribed, or an engine that had just given the partition up.
const forwardRetry = 50 * time.Millisecond

// codeMoved is the error code of an answer to a forwarded request from an
// engine that no longer owns the member's partition (its subscription to
// the partition's subject outlived the hand-over by a moment). It never
// reaches a caller: the forwarding engine tries again.
const codeMoved = "307"

// isForwarded tells whether req was forwarded to this engine by another.
func isForwarded(req micro.Request) bool {
	r, ok := req.(*natsRequest)
	return ok && r.forwarded
}

// forward sends a request for a member of a partition this engine does not
// own to its owner, and answers with the owner's reply. It reports false
// when this engine should answer itself: it owns the partition, or it does
// not share the partitions, or the request is one forwarded to it.
func (s *service) forward(req micro.Request, memberID, endpoint string) bool {
	if !s.e.cfg.Share {
		return false
	}
	if isForwarded(req) {
		return false
	}
	p := streams.PartitionOf(memberID)
	if s.e.owns(p) {
		return false
	}
	// Within the service's timeout, as when the caller reaches the owner:
	// a caller that waits longer than that always gets an answer.
	deadline := time.Now().Add(s.timeout)
	msg := &nats.Msg{Subject: internalSubject(p, endpoint), Data: req.Data(), Header: nats.Header(req.Headers())}
	for {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		reply, err := s.js.Conn().RequestMsgWithContext(ctx, msg)
		cancel()
		retry := errors.Is(err, nats.ErrNoResponders)
		if err == nil && reply.Header.Get(micro.ErrorCodeHeader) == codeMoved {
			retry, err = true, errors.New("the partition was being handed over")
		}
		if err == nil {
			_ = req.Respond(reply.Data, answerHeaders(reply.Header)...)
			return true
		}
		if !retry || time.Until(deadline) < forwardRetry {
			_ = req.Error(CodeUnavailable, "the engine that owns the member's partition did not answer ("+err.Error()+"); retry with the same request_id", nil)
			return true
		}
		time.Sleep(forwardRetry)
	}
}

// owns tells whether this engine owns partition p now.
func (e *Engine) owns(p int) bool {
	parts := e.parts.Load()
	return parts != nil && (*parts)[p] != nil
}

// internalEndpoints answers forwarded requests for the partitions this
// engine owns: one subscription per partition, made and dropped as the
// partitions move.
type internalEndpoints struct {
	s     *service
	guard *replyGuard
	mu    sync.Mutex
	subs  map[int]*nats.Subscription
}

// serve subscribes to the internal subjects of exactly the given
// partitions.
func (ie *internalEndpoints) serve(parts map[int]*partition) error {
	ie.mu.Lock()
	defer ie.mu.Unlock()
	var errs []error
	for p, sub := range ie.subs {
		if parts[p] == nil {
			errs = append(errs, sub.Unsubscribe())
			delete(ie.subs, p)
		}
	}
	for p := range parts {
		if ie.subs[p] != nil {
			continue
		}
		sub, err := ie.s.js.Conn().Subscribe(internalSubject(p, "*"), ie.handle)
		if err != nil {
			errs = append(errs, fmt.Errorf("subscribe to %s: %w", internalSubject(p, "*"), err))
			continue
		}
		ie.subs[p] = sub
	}
	return errors.Join(errs...)
}

// stop drops every subscription.
func (ie *internalEndpoints) stop() { _ = ie.serve(nil) }

func (ie *internalEndpoints) handle(msg *nats.Msg) {
	endpoint := msg.Subject[strings.LastIndexByte(msg.Subject, '.')+1:]
	if h := ie.s.endpoint(endpoint); h != nil {
		ie.s.asyncGuarded(ie.guard, h)(&natsRequest{msg: msg, forwarded: true})
	}
}

// answerHeaders are the headers of an owner's answer that reach the caller:
// the service's error code and description, nothing else, so that whatever
// answered on the internal subject cannot set headers of its choosing.
func answerHeaders(h nats.Header) []micro.RespondOpt {
	if code := h.Get(micro.ErrorCodeHeader); code != "" {
		return []micro.RespondOpt{micro.WithHeaders(micro.Headers{
			micro.ErrorCodeHeader: {code}, micro.ErrorHeader: {h.Get(micro.ErrorHeader)}})}
	}
	return nil
}
