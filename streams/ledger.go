package streams

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

// LedgerRecord is one message of the ledger stream: every fact one input
// event caused, written together so that an input is either wholly in the
// ledger or not at all.
type LedgerRecord struct {
	// Seq is the record's ledger stream sequence; set when read, not written.
	Seq uint64
	// Stored is when the ledger stream stored the record; set when read.
	Stored time.Time
	// Partition and InputSeq locate the input event this record answers.
	Partition int
	InputSeq  uint64
	// InputStored is when the input stream stored the event, for measuring
	// event-to-table latency.
	InputStored time.Time
	EventID     string
	// EventDigest identifies the event's content, so a re-published id with a
	// different body is told apart from a plain duplicate.
	EventDigest uint64
	MemberID    string
	Facts       []domain.Fact
}

type wireRecord struct {
	Version     int        `json:"v"`
	Partition   int        `json:"partition"`
	InputSeq    uint64     `json:"input_seq"`
	InputStored time.Time  `json:"input_stored"`
	EventID     string     `json:"event_id"`
	EventDigest string     `json:"event_digest"`
	MemberID    string     `json:"member_id"`
	Facts       []wireFact `json:"facts"`
}

type wireFact struct {
	Type                 domain.FactType `json:"type"`
	OccurredAt           time.Time       `json:"occurred_at"`
	OrderID              string          `json:"order_id,omitempty"`
	Channel              string          `json:"channel,omitempty"`
	Amount               int64           `json:"amount,omitempty"`
	Currency             string          `json:"currency,omitempty"`
	Lines                []wireLine      `json:"lines,omitempty"`
	QualifyingSpend      int64           `json:"qualifying_spend,omitempty"`
	QualifyingSpendAfter int64           `json:"qualifying_spend_after,omitempty"`
	Rating               *int            `json:"rating,omitempty"`
	NPS                  *int            `json:"nps,omitempty"`
	Comment              string          `json:"comment,omitempty"`
	Points               int64           `json:"points,omitempty"`
	Rule                 string          `json:"rule,omitempty"`
	ProgramVersion       string          `json:"program_version,omitempty"`
	From                 string          `json:"from,omitempty"`
	To                   string          `json:"to,omitempty"`
	Reason               string          `json:"reason,omitempty"`
}

type wireLine struct {
	SKU       string `json:"sku,omitempty"`
	Category  string `json:"category,omitempty"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unit_price,omitempty"`
}

const ledgerVersion = 1

// EncodeLedgerRecord renders a record for the ledger stream.
func EncodeLedgerRecord(r LedgerRecord) ([]byte, error) {
	w := wireRecord{
		Version: ledgerVersion, Partition: r.Partition, InputSeq: r.InputSeq, InputStored: r.InputStored.UTC(), EventID: r.EventID,
		EventDigest: fmt.Sprintf("%016x", r.EventDigest), MemberID: r.MemberID,
		Facts: make([]wireFact, 0, len(r.Facts)),
	}
	for _, f := range r.Facts {
		wf, err := encodeFact(f)
		if err != nil {
			return nil, err
		}
		w.Facts = append(w.Facts, wf)
	}
	return json.Marshal(w)
}

// DecodeLedgerRecord reads a record written by EncodeLedgerRecord.
func DecodeLedgerRecord(data []byte) (LedgerRecord, error) {
	var w wireRecord
	if err := json.Unmarshal(data, &w); err != nil {
		return LedgerRecord{}, fmt.Errorf("decode ledger record: %w", err)
	}
	if w.Version != ledgerVersion {
		return LedgerRecord{}, fmt.Errorf("decode ledger record: unsupported version %d", w.Version)
	}
	r := LedgerRecord{Partition: w.Partition, InputSeq: w.InputSeq, InputStored: w.InputStored, EventID: w.EventID, MemberID: w.MemberID}
	if _, err := fmt.Sscanf(w.EventDigest, "%x", &r.EventDigest); err != nil {
		return LedgerRecord{}, fmt.Errorf("decode ledger record: event_digest %q: %w", w.EventDigest, err)
	}
	r.Facts = make([]domain.Fact, 0, len(w.Facts))
	for i, wf := range w.Facts {
		f, err := decodeFact(wf, domain.FactMeta{MemberID: w.MemberID, EventID: w.EventID, OccurredAt: wf.OccurredAt.UTC()})
		if err != nil {
			return LedgerRecord{}, fmt.Errorf("decode ledger record: facts[%d]: %w", i, err)
		}
		r.Facts = append(r.Facts, f)
	}
	return r, nil
}

func encodeFact(f domain.Fact) (wireFact, error) {
	w := wireFact{Type: f.FactType(), OccurredAt: f.Meta().OccurredAt.UTC()}
	switch f := f.(type) {
	case domain.MemberEnrolled:
		w.Channel = f.Channel
	case domain.PurchaseRecorded:
		w.OrderID, w.Amount, w.Currency, w.Channel = f.OrderID, f.Total.Minor, f.Total.Currency, f.Channel
		w.QualifyingSpend, w.QualifyingSpendAfter = f.QualifyingSpend, f.QualifyingSpendAfter
		for _, l := range f.Lines {
			w.Lines = append(w.Lines, wireLine{SKU: l.SKU, Category: l.Category, Quantity: l.Quantity, UnitPrice: l.UnitPrice})
		}
	case domain.RefundRecorded:
		w.OrderID, w.Amount, w.Currency = f.OrderID, f.Amount.Minor, f.Amount.Currency
		w.QualifyingSpend, w.QualifyingSpendAfter = f.QualifyingSpend, f.QualifyingSpendAfter
		for _, l := range f.Lines {
			w.Lines = append(w.Lines, wireLine{SKU: l.SKU, Quantity: l.Quantity})
		}
	case domain.VisitRecorded:
		w.Channel = f.Channel
	case domain.FeedbackRecorded:
		w.OrderID, w.Rating, w.NPS, w.Comment, w.Channel = f.OrderID, f.Rating, f.NPS, f.Comment, f.Channel
	case domain.PointsEarned:
		w.Points, w.Rule, w.OrderID, w.ProgramVersion = f.Points, f.Rule, f.OrderID, f.ProgramVersion
	case domain.PointsReversed:
		w.Points, w.Rule, w.OrderID, w.ProgramVersion = f.Points, f.Rule, f.OrderID, f.ProgramVersion
	case domain.TierChanged:
		w.From, w.To, w.Reason = f.From, f.To, f.Reason
	default:
		return w, fmt.Errorf("encode fact: unknown fact type %T", f)
	}
	return w, nil
}

func decodeFact(w wireFact, meta domain.FactMeta) (domain.Fact, error) {
	switch w.Type {
	case domain.FactMemberEnrolled:
		return domain.MemberEnrolled{FactMeta: meta, Channel: w.Channel}, nil
	case domain.FactPurchaseRecorded:
		f := domain.PurchaseRecorded{FactMeta: meta, OrderID: w.OrderID, Total: domain.Money{Minor: w.Amount, Currency: w.Currency},
			Channel: w.Channel, QualifyingSpend: w.QualifyingSpend, QualifyingSpendAfter: w.QualifyingSpendAfter}
		for _, l := range w.Lines {
			f.Lines = append(f.Lines, domain.LineItem{SKU: l.SKU, Category: l.Category, Quantity: l.Quantity, UnitPrice: l.UnitPrice})
		}
		return f, nil
	case domain.FactRefundRecorded:
		f := domain.RefundRecorded{FactMeta: meta, OrderID: w.OrderID, Amount: domain.Money{Minor: w.Amount, Currency: w.Currency},
			QualifyingSpend: w.QualifyingSpend, QualifyingSpendAfter: w.QualifyingSpendAfter}
		for _, l := range w.Lines {
			f.Lines = append(f.Lines, domain.RefundLine{SKU: l.SKU, Quantity: l.Quantity})
		}
		return f, nil
	case domain.FactVisitRecorded:
		return domain.VisitRecorded{FactMeta: meta, Channel: w.Channel}, nil
	case domain.FactFeedbackRecorded:
		return domain.FeedbackRecorded{FactMeta: meta, OrderID: w.OrderID, Rating: w.Rating, NPS: w.NPS, Comment: w.Comment, Channel: w.Channel}, nil
	case domain.FactPointsEarned:
		return domain.PointsEarned{FactMeta: meta, Points: w.Points, Rule: w.Rule, OrderID: w.OrderID, ProgramVersion: w.ProgramVersion}, nil
	case domain.FactPointsReversed:
		return domain.PointsReversed{FactMeta: meta, Points: w.Points, Rule: w.Rule, OrderID: w.OrderID, ProgramVersion: w.ProgramVersion}, nil
	case domain.FactTierChanged:
		return domain.TierChanged{FactMeta: meta, From: w.From, To: w.To, Reason: w.Reason}, nil
	}
	return nil, fmt.Errorf("unknown fact type %q", w.Type)
}
