package projections

import (
	"context"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
)

// An order sent again after the engine forgot it (two years behind the
// member's latest activity) is recorded again in the ledger; its second row
// failed the purchases COPY on the primary key and stopped the activity
// projection for everyone, for good. The repeated purchase is left out,
// whether it comes in the same batch as the first or a later one.
func TestARepeatedOrderDoesNotStopTheActivityProjection(t *testing.T) {
	pool, env := migratedWithNATS(t)
	at := time.Date(2022, 3, 1, 10, 0, 0, 0, time.UTC)
	bought := func(event string, at time.Time) streams.LedgerRecord {
		return record("m-1", event, domain.PurchaseRecorded{FactMeta: meta("m-1", event, at), OrderID: "o-1",
			Total: domain.Money{Minor: 1000, Currency: "EUR"}, QualifyingSpend: 1000})
	}
	first := publish(t, env.JS, []streams.LedgerRecord{bought("e-1", at), bought("e-2", at.AddDate(3, 0, 0))})
	r := start(t, pool, env.JS, Activity{}, RunnerConfig{})
	waitFor(t, first[len(first)-1].Seq, r)
	later := publish(t, env.JS, []streams.LedgerRecord{bought("e-3", at.AddDate(6, 0, 0))})
	waitFor(t, later[0].Seq, r)
	r.stop(t)
	var rows int
	var event string
	if err := pool.QueryRow(context.Background(), "select count(*), min(event_id) from loyalty.purchases").Scan(&rows, &event); err != nil || rows != 1 || event != "e-1" {
		t.Errorf("purchases: %d rows, first event %q (%v); want the one row of e-1", rows, event, err)
	}
}
