package handlers

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/micro"
)

// Why the service dropped or refused a request, the reason label of
// loyalty_service_refused_total.
const (
	// refusedReplySubject: the reply subject is not a caller's inbox. The
	// request is dropped unanswered: an answer there would be published with
	// the engine's own rights, to a subject the caller chose.
	refusedReplySubject = "reply_subject"
	// refusedBusy: too many requests in flight (503).
	refusedBusy = "busy"
	// refusedBadRequest: the request's JSON is not what the endpoint reads (400).
	refusedBadRequest = "bad_request"
)

var serviceRefusalReasons = []string{refusedReplySubject, refusedBusy, refusedBadRequest}

// DefaultServiceReplyPrefixes are the reply subjects the service answers:
// NATS inboxes (nats.go's _INBOX. and custom prefixes such as
// _INBOX_upstream.), and the replies the server itself makes for a request
// that crossed accounts through a service import (_R_.), which no client may
// publish with.
func DefaultServiceReplyPrefixes() []string { return []string{"_INBOX.", "_INBOX_", "_R_."} }

// validateReplyPrefixes reports the prefixes that could not name an inbox.
func validateReplyPrefixes(prefixes []string) error {
	var errs []error
	for _, p := range prefixes {
		if p == "" || strings.ContainsAny(p, " \t\r\n*>") {
			errs = append(errs, fmt.Errorf("engine: service reply prefix %q must be a non-empty subject prefix without spaces or wildcards", p))
		}
	}
	return errors.Join(errs...)
}

// replyGuard admits a request only when its reply subject is a caller's
// inbox. The engine's NATS user may publish to the JetStream API and the
// ledger; a reply subject is chosen by the caller, so answering one such as
// $JS.API.STREAM.DELETE.LOYALTY_LEDGER or loyalty.ledger.0 would make the
// service a confused deputy.
type replyGuard struct {
	prefixes []string
	refused  func(reason string)
	logger   *slog.Logger
	lastLog  atomic.Int64 // unix nanoseconds of the last warning: at most one a second
}

func (g *replyGuard) allowed(reply string) bool {
	if reply == "" || strings.ContainsAny(reply, " \t\r\n*>") {
		return false
	}
	for _, p := range g.prefixes {
		if strings.HasPrefix(reply, p) && len(reply) > len(p) {
			return true
		}
	}
	return false
}

// admit reports whether req may be answered; a refused one is counted and,
// at most once a second, logged.
func (g *replyGuard) admit(req micro.Request) bool {
	if g.allowed(req.Reply()) {
		return true
	}
	g.refused(refusedReplySubject)
	now := time.Now().UnixNano()
	if last := g.lastLog.Load(); now-last >= int64(time.Second) && g.lastLog.CompareAndSwap(last, now) {
		g.logger.Warn("service request dropped: its reply subject is not an inbox the service answers (see --service-reply-prefixes)",
			"subject", req.Subject(), "reply", truncate(req.Reply(), 200), "allowed", strings.Join(g.prefixes, ","))
	}
	return false
}
