package handlers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pointsledger/loyalty/streams"
)

// The webhook relay's stream holds, per endpoint, the events it gave up on
// (dead letters) and the ones an operator sent again (replays).
const (
	WebhooksStream        = "LOYALTY_WEBHOOKS"
	webhooksPrefix        = "loyalty.webhooks"
	webhookDeadPrefix     = webhooksPrefix + ".dlq."
	webhookReplayPrefix   = webhooksPrefix + ".replay."
	webhookDeadLetterSize = 2 << 20
)

// Headers of a webhook dead letter and of a replay.
const (
	HeaderWebhookEndpoint = "Loyalty-Webhook-Endpoint"
	HeaderWebhookReason   = "Loyalty-Webhook-Reason"
	HeaderWebhookStatus   = "Loyalty-Webhook-Status"
	HeaderWebhookDetail   = "Loyalty-Webhook-Detail"
	HeaderReplayOf        = "Loyalty-Replay-Of"
)

// Reasons a webhook is dead-lettered.
const (
	WebhookRefused   = "refused"           // a 3xx or 4xx answer, not retried
	WebhookExhausted = "retries_exhausted" // failing still when retry_for ran out
)

// WebhookDeadSubject and WebhookReplaySubject are an endpoint's subjects.
func WebhookDeadSubject(endpoint string) string   { return webhookDeadPrefix + endpoint }
func WebhookReplaySubject(endpoint string) string { return webhookReplayPrefix + endpoint }

// WebhooksStreamConfig is the stream of webhook dead letters and replays.
func WebhooksStreamConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{Name: WebhooksStream, Description: "Webhook deliveries given up on, and replays of them",
		Subjects: []string{webhooksPrefix + ".>"}, Storage: jetstream.FileStorage, Retention: jetstream.LimitsPolicy,
		Replicas: max(replicas, 1), Duplicates: 2 * time.Minute, MaxMsgSize: webhookDeadLetterSize}
}

// deadLetterPublisher is the poison queue's watermill Publisher: it writes
// a delivery the relay gave up on to the endpoint's dead-letter subject,
// with why.
type deadLetterPublisher struct {
	js       jetstream.JetStream
	endpoint string
}

func (p deadLetterPublisher) Publish(topic string, msgs ...*message.Message) error {
	for _, m := range msgs {
		reason, status, detail := WebhookRefused, "", m.Metadata.Get(middleware.ReasonForPoisonedKey)
		if f := m.Metadata.Get(metaFailure); f != "" {
			reason = m.Metadata.Get(metaFailure)
			status = m.Metadata.Get(metaStatus)
		}
		out := nats.NewMsg(topic)
		out.Data = m.Payload
		out.Header.Set(HeaderWebhookID, m.UUID)
		out.Header.Set(HeaderWebhookEndpoint, p.endpoint)
		out.Header.Set(HeaderWebhookReason, reason)
		if status != "" {
			out.Header.Set(HeaderWebhookStatus, status)
		}
		out.Header.Set(HeaderWebhookDetail, excerpt([]byte(detail)))
		out.Header.Set(HeaderOriginalSubject, m.Metadata.Get(metaSubject))
		// Once per delivery source: a dead letter written again after a
		// crash is one, but a replay that fails again is a new one.
		out.Header.Set(jetstream.MsgIDHeader, p.endpoint+"/"+m.UUID+"/"+m.Metadata.Get(metaOrigin))
		ctx, cancel := context.WithTimeout(m.Context(), 10*time.Second)
		_, err := p.js.PublishMsg(ctx, out)
		cancel()
		if err != nil {
			return fmt.Errorf("dead-letter webhook %s for %s: %w", m.UUID, p.endpoint, err)
		}
	}
	return nil
}

func (p deadLetterPublisher) Close() error { return nil }

// ensureWebhooksStream creates the stream, or leaves an existing one as it
// is set.
func ensureWebhooksStream(ctx context.Context, js jetstream.JetStream) error {
	_, err := js.Stream(ctx, WebhooksStream)
	if err == nil {
		return nil
	}
	_, err = js.CreateStream(ctx, WebhooksStreamConfig(streams.DefaultReplicas(js.Conn())))
	if err != nil {
		if _, again := js.Stream(ctx, WebhooksStream); again == nil {
			return nil // another engine made it
		}
		return fmt.Errorf("create stream %s: %w", WebhooksStream, err)
	}
	return nil
}

// WebhookDeadLetter is a delivery the relay gave up on.
type WebhookDeadLetter struct {
	Seq      uint64    `json:"seq"`
	At       time.Time `json:"at"`
	Endpoint string    `json:"endpoint"`
	ID       string    `json:"webhook_id"`
	Reason   string    `json:"reason"`
	Status   string    `json:"status,omitempty"`
	Detail   string    `json:"detail,omitempty"`
	Subject  string    `json:"subject"`
	Body     string    `json:"body"`
}

func webhookDeadLetterOf(m *jetstream.RawStreamMsg) WebhookDeadLetter {
	h := m.Header
	return WebhookDeadLetter{Seq: m.Sequence, At: m.Time.UTC(), Endpoint: h.Get(HeaderWebhookEndpoint), ID: h.Get(HeaderWebhookID),
		Reason: h.Get(HeaderWebhookReason), Status: h.Get(HeaderWebhookStatus), Detail: h.Get(HeaderWebhookDetail),
		Subject: h.Get(HeaderOriginalSubject), Body: string(m.Data)}
}

// WebhookDeadLetters lists the dead letters of an endpoint ("" for all),
// newest first, at most limit (0: all), and how many there are.
func WebhookDeadLetters(ctx context.Context, js jetstream.JetStream, endpoint string, limit int) ([]WebhookDeadLetter, int, error) {
	s, err := js.Stream(ctx, WebhooksStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	filter := webhookDeadPrefix + "*"
	if endpoint != "" {
		filter = WebhookDeadSubject(endpoint)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(filter))
	if err != nil {
		return nil, 0, err
	}
	total := 0
	for _, n := range info.State.Subjects {
		total += int(n)
	}
	var out []WebhookDeadLetter
	for seq := info.State.LastSeq; seq >= info.State.FirstSeq && seq > 0 && (limit == 0 || len(out) < limit); seq-- {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		if m.Subject == filter || endpoint == "" && strings.HasPrefix(m.Subject, webhookDeadPrefix) {
			out = append(out, webhookDeadLetterOf(m))
		}
		if len(out) == total {
			break
		}
	}
	return out, total, nil
}

// ErrNotWebhookDeadLetter is returned by ReplayWebhookDeadLetter for a
// sequence that holds no webhook dead letter.
var ErrNotWebhookDeadLetter = errors.New("no webhook dead letter has this number")

// ReplayWebhookDeadLetter sends a dead letter to its endpoint again: the
// relay delivers it (signed afresh, with a fresh retry window) and the
// dead letter is removed. If it fails again it is dead-lettered again.
func ReplayWebhookDeadLetter(ctx context.Context, js jetstream.JetStream, seq uint64) (WebhookDeadLetter, error) {
	s, err := js.Stream(ctx, WebhooksStream)
	if err != nil {
		return WebhookDeadLetter{}, err
	}
	m, err := s.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) || err == nil && !strings.HasPrefix(m.Subject, webhookDeadPrefix) {
		return WebhookDeadLetter{}, fmt.Errorf("%d: %w (see loyalty webhooks list)", seq, ErrNotWebhookDeadLetter)
	}
	if err != nil {
		return WebhookDeadLetter{}, err
	}
	dl := webhookDeadLetterOf(m)
	// The endpoint is the subject's, which only the relay writes; a header
	// that says otherwise is not the relay's.
	if endpoint := strings.TrimPrefix(m.Subject, webhookDeadPrefix); endpoint != dl.Endpoint || !endpointIDPattern.MatchString(endpoint) {
		return WebhookDeadLetter{}, fmt.Errorf("dead letter %d is on %s but names endpoint %q: not the relay's, not replayed", seq, m.Subject, dl.Endpoint)
	}
	if _, _, ok := streams.OutboundMember(dl.Subject); !ok {
		return WebhookDeadLetter{}, fmt.Errorf("dead letter %d: its event's subject %q is not an outbound subject the relay delivers (written by an older version?); not replayed", seq, dl.Subject)
	}
	if _, err := js.Consumer(ctx, WebhooksStream, replayConsumer(dl.Endpoint)); errors.Is(err, jetstream.ErrConsumerNotFound) {
		return WebhookDeadLetter{}, fmt.Errorf("dead letter %d: no engine delivers to endpoint %q (is it still in the webhooks file?); not replayed", seq, dl.Endpoint)
	} else if err != nil {
		return WebhookDeadLetter{}, err
	}
	out := nats.NewMsg(WebhookReplaySubject(dl.Endpoint))
	out.Data = m.Data
	out.Header.Set(HeaderWebhookID, dl.ID)
	out.Header.Set(HeaderOriginalSubject, dl.Subject)
	out.Header.Set(HeaderReplayOf, strconv.FormatUint(seq, 10))
	out.Header.Set(jetstream.MsgIDHeader, "replay/"+strconv.FormatUint(seq, 10))
	if _, err := js.PublishMsg(ctx, out); err != nil {
		return WebhookDeadLetter{}, fmt.Errorf("replay dead letter %d: %w", seq, err)
	}
	if err := s.DeleteMsg(ctx, seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return dl, fmt.Errorf("dead letter %d was sent again but is still listed: %w", seq, err)
	}
	return dl, nil
}
