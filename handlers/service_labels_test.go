package handlers

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Whatever answered a forwarded request, the caller gets the service's two
// error headers and no other, and the metrics count the answer under one of
// the service's own codes: an unknown one is "other", so no answer adds a
// series.
func TestForwardedAnswersCannotAddLabelsOrHeaders(t *testing.T) {
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	before := testutil.CollectAndCount(m.serviceAnswers)
	for _, code := range []string{"x-1", "999", "307", "", "200", "other"} {
		m.serviceAnswered("balance", code, time.Millisecond)
	}
	if after := testutil.CollectAndCount(m.serviceAnswers); after != before {
		t.Errorf("answers with made-up codes added series: %d before, %d after", before, after)
	}
	if n := testutil.ToFloat64(m.serviceAnswers.WithLabelValues("balance", codeOther)); n != 4 {
		t.Errorf("%v answers counted as other, want 4 (x-1, 999, 307, other)", n)
	}

	reply := &nats.Msg{Header: nats.Header{}}
	forged := nats.Header{micro.ErrorCodeHeader: {"503"}, micro.ErrorHeader: {"down"}, "Nats-Msg-Id": {"x"}, "Set-Cookie": {"a"}}
	for _, o := range answerHeaders(forged) {
		o(reply)
	}
	if len(reply.Header) != 2 || reply.Header.Get(micro.ErrorCodeHeader) != "503" || reply.Header.Get(micro.ErrorHeader) != "down" {
		t.Errorf("headers passed on: %v; want the error code and description only", reply.Header)
	}
	if opts := answerHeaders(nats.Header{"Set-Cookie": {"a"}}); len(opts) != 0 {
		t.Errorf("an answer without an error passed on %d header options, want none", len(opts))
	}
}
