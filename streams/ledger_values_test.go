package streams_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
)

// A ledger record whose member status, tier change reason or redemption
// refusal reason is none the engine gives does not decode: the read models'
// check constraints would refuse its row and stall the projection for good,
// while a record that does not decode can be quarantined (loyalty ledger
// quarantine) and the projection goes on.
func TestLedgerRefusesValuesTheReadModelsRefuse(t *testing.T) {
	meta := domain.FactMeta{MemberID: "m-1", EventID: "e-1", OccurredAt: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	for _, c := range []struct {
		fact       domain.Fact
		valid, bad string
	}{
		{domain.StatusChanged{FactMeta: meta, From: domain.StatusActive, To: domain.StatusBlocked}, `"to":"blocked"`, `"to":"frozen"`},
		{domain.StatusChanged{FactMeta: meta, From: domain.StatusActive, To: domain.StatusBlocked}, `"from":"active"`, `"from":"gone"`},
		{domain.TierChanged{FactMeta: meta, To: "gold", Reason: domain.TierReasonAssigned}, `"reason":"assigned"`, `"reason":"bribe"`},
		{domain.RedemptionRejected{FactMeta: meta, RequestID: "r", Reason: domain.RedeemOutOfStock}, `"reason":"out_of_stock"`, `"reason":"whim"`},
	} {
		data, err := streams.EncodeLedgerRecord(streams.LedgerRecord{Partition: 3, InputSeq: 7, EventID: "e-1", MemberID: "m-1",
			EventType: domain.TypeMemberStatus, Facts: []domain.Fact{c.fact}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := streams.DecodeLedgerRecord(data); err != nil {
			t.Fatalf("%T as the engine writes it: %v", c.fact, err)
		}
		forged := strings.Replace(string(data), c.valid, c.bad, 1)
		if forged == string(data) {
			t.Fatalf("%s is not in %s", c.valid, data)
		}
		if _, err := streams.DecodeLedgerRecord([]byte(forged)); err == nil {
			t.Errorf("a record with %s decoded", c.bad)
		}
	}
}
