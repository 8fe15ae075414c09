package handlers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ThreeDotsLabs/watermill/message"
)

// How a delivery attempt failed decides what happens next.
var (
	// errWebhookGone: the endpoint answered 410 Gone; it is disabled.
	errWebhookGone = errors.New("the endpoint answered 410 Gone: it is disabled until `loyalty webhooks enable`")
)

// webhookFailure is an attempt that did not deliver: retried when
// retryable (5xx, 408, 429, timeouts, connection errors), else
// dead-lettered at once (other 4xx, 3xx).
type webhookFailure struct {
	status    int // 0 when no answer came
	detail    string
	retryable bool
}

func (f *webhookFailure) Error() string {
	if f.status == 0 {
		return f.detail
	}
	if f.detail == "" {
		return fmt.Sprintf("HTTP %d", f.status)
	}
	return fmt.Sprintf("HTTP %d: %s", f.status, f.detail)
}

// result is the attempt's label in loyalty_webhook_attempts_total.
func (f *webhookFailure) result() string {
	switch {
	case f.status == 0:
		return "error"
	case f.status >= 500:
		return "5xx"
	case f.status >= 400:
		return "4xx"
	}
	return "3xx"
}

// Metadata keys of a delivery's watermill message.
const (
	metaSubject  = "subject"
	metaFirstTry = "first_try" // when the relay first tried the event
)

// maxAnswerExcerpt bounds how much of an endpoint's answer is kept in a
// dead letter's detail; maxAnswerRead how much is read at all.
const (
	maxAnswerExcerpt = 256
	maxAnswerRead    = 64 << 10
)

// deliverer posts outbound events to one endpoint.
type deliverer struct {
	ep      *WebhookEndpoint
	client  *http.Client
	now     func() time.Time
	agent   string
	metrics *webhookMetrics
	log     *slog.Logger

	mu       sync.Mutex
	failed   int       // attempts failed since the last line logged
	loggedAt time.Time // when it was
}

// failureLogEvery is how often a failing endpoint's failures are logged.
const failureLogEvery = 30 * time.Second

// logFailure logs a failed attempt: the first at once, then how many more
// failed, at most one line per failureLogEvery.
func (d *deliverer) logFailure(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failed++
	now := d.now()
	if now.Sub(d.loggedAt) < failureLogEvery {
		return
	}
	what := "webhook deliveries failing; retried with backoff until retry_for"
	var f *webhookFailure
	if errors.As(err, &f) && !f.retryable {
		what = "webhook deliveries refused by the endpoint; dead-lettered (loyalty webhooks list)"
	}
	d.log.Warn(what, "failed_attempts", d.failed, "last_error", err.Error())
	d.failed, d.loggedAt = 0, now
}

// deliver is the router's handler: one attempt at one event.
func (d *deliverer) deliver(msg *message.Message) error {
	err := d.attempt(msg)
	if err != nil && msg.Context().Err() == nil {
		d.logFailure(err)
	}
	return err
}

func (d *deliverer) attempt(msg *message.Message) error {
	start := d.now()
	ctx, cancel := context.WithTimeout(msg.Context(), d.ep.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.ep.URL, bytes.NewReader(msg.Payload))
	if err != nil {
		return &webhookFailure{detail: "make request: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", d.agent)
	req.Header.Set(HeaderWebhookID, msg.UUID)
	req.Header.Set(HeaderWebhookTimestamp, strconv.FormatInt(start.Unix(), 10))
	req.Header.Set(HeaderWebhookSignature, signWebhook(d.ep.keys, msg.UUID, start, msg.Payload))
	resp, err := d.client.Do(req)
	d.metrics.seconds.WithLabelValues(d.ep.ID).Observe(time.Since(start).Seconds())
	if err != nil {
		if msg.Context().Err() != nil {
			return msg.Context().Err() // stopping: not the endpoint's fault
		}
		d.metrics.attempts.WithLabelValues(d.ep.ID, "error").Inc()
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its URL may hold a secret
		}
		return &webhookFailure{detail: err.Error(), retryable: true}
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswerRead))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		d.metrics.attempts.WithLabelValues(d.ep.ID, "2xx").Inc()
		return nil
	}
	f := &webhookFailure{status: resp.StatusCode, detail: excerpt(answer)}
	d.metrics.attempts.WithLabelValues(d.ep.ID, f.result()).Inc()
	switch {
	case resp.StatusCode == http.StatusGone:
		msg.Metadata.Set(metaGone, "1")
		return errWebhookGone
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests:
		f.retryable = true
	}
	return f
}

// excerpt is the start of an endpoint's answer, made safe for a header.
func excerpt(b []byte) string {
	if len(b) > maxAnswerExcerpt {
		b = b[:maxAnswerExcerpt]
	}
	out := make([]rune, 0, len(b))
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		b = b[n:]
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			r = ' '
		}
		out = append(out, r)
	}
	return strings.TrimSpace(string(out))
}

// shouldRetry is the retry policy: a retryable failure is tried again
// until retry_for after the relay's first attempt at the event (a restart
// of the relay starts the window again: an outage of the engine, or a
// disabled endpoint, costs no event its retries).
func (d *deliverer) shouldRetry(msg *message.Message, err error) bool {
	var f *webhookFailure
	if !errors.As(err, &f) || !f.retryable {
		return false
	}
	first, perr := time.Parse(time.RFC3339Nano, msg.Metadata.Get(metaFirstTry))
	return perr == nil && d.now().Sub(first) < d.ep.RetryFor
}

// deadLettered tells the poison queue which failures it takes: every
// delivery failure that is no longer retried. A gone endpoint's events and
// a stop are not: they are delivered later.
func deadLettered(err error) bool {
	var f *webhookFailure
	return errors.As(err, &f)
}
