package domain

import (
	"strconv"
	"strings"
	"time"
)

// MaxFutureSkew is how far after its arrival an event may claim to have
// happened; clocks drift, but a purchase dated next week is a bug upstream.
const MaxFutureSkew = 24 * time.Hour

// MinEventTime is the earliest event time any program may accept (see
// Program.AcceptEventsFrom): before it, a time is a zero value or a Unix
// time read in the wrong unit (seconds as milliseconds give January 1970),
// never history.
var MinEventTime = time.Date(1971, 1, 1, 0, 0, 0, 0, time.UTC)

// MaxAmount bounds any amount, whatever the program says, so that arithmetic
// on it cannot overflow.
const MaxAmount = 1_000_000_000_000

// Validate checks an event on its own, before any member history is
// consulted. receivedAt is when the stream stored it: a deterministic stand-in
// for "now", so replays judge the event the same way.
func Validate(e Event, receivedAt time.Time) error {
	if err := requireIDs(e); err != nil {
		return err
	}
	// Before anything reads them: a string the ledger admits stays there,
	// and must fit every read model (see StringFields).
	if err := validateStrings(e); err != nil {
		return err
	}
	switch {
	case e.OccurredAt.IsZero():
		return reject(ReasonMissingField, "occurred_at", "is required")
	case e.OccurredAt.Before(MinEventTime):
		return reject(ReasonInvalidTimestamp, "occurred_at", "%s is before %s", e.OccurredAt.UTC().Format(time.RFC3339), MinEventTime.Format(time.RFC3339))
	case e.OccurredAt.After(receivedAt.Add(MaxFutureSkew)):
		return reject(ReasonFutureTimestamp, "occurred_at", "%s is more than %s after the event arrived (%s)",
			e.OccurredAt.UTC().Format(time.RFC3339), MaxFutureSkew, receivedAt.UTC().Format(time.RFC3339))
	}
	// The engine's own members (a reward's stock) have ids no member may use.
	if IsReservedMemberID(e.MemberID) != (e.Type == TypeStockRequest) {
		return reject(ReasonInvalidField, "member_id", "ids starting with %q are the engine's own (a reward's stock)", StockMemberPrefix)
	}
	if strings.HasPrefix(e.MemberID, ErasedMemberPrefix) {
		return reject(ReasonInvalidField, "member_id", "ids starting with %q name erased members", ErasedMemberPrefix)
	}
	if e.Body == nil || e.Body.EventType() != e.Type {
		return reject(ReasonMissingField, "data", "body does not match type %s", e.Type)
	}
	return e.Body.validate(e)
}

func validateStatus(b StatusChange) error {
	if b.Status != StatusActive && b.Status != StatusBlocked && b.Status != StatusClosed {
		return reject(ReasonInvalidField, "status", "must be active, blocked or closed, got %q", b.Status)
	}
	return nil
}

func requireIDs(e Event) error {
	switch {
	case e.ID == "":
		return reject(ReasonMissingField, "id", "is required")
	case e.MemberID == "":
		return reject(ReasonMissingField, "member_id", "is required")
	}
	return nil
}

func validatePurchase(p Purchase) error {
	if p.OrderID == "" {
		return reject(ReasonMissingField, "order_id", "is required")
	}
	if err := validateMoney("amount", p.Total); err != nil {
		return err
	}
	for i, l := range p.Lines {
		if l.Quantity <= 0 || l.Quantity > MaxAmount {
			return reject(ReasonInvalidField, lineField(i, "quantity"), "must be between 1 and %d, got %d", int64(MaxAmount), l.Quantity)
		}
		if l.UnitPrice < 0 || l.UnitPrice > MaxAmount/l.Quantity {
			return reject(ReasonInvalidAmount, lineField(i, "unit_price"), "must be between 0 and %d, got %d", MaxAmount/l.Quantity, l.UnitPrice)
		}
	}
	return nil
}

func validateRefund(r Refund) error {
	if r.OrderID == "" {
		return reject(ReasonMissingField, "order_id", "is required")
	}
	if len(r.Lines) == 0 {
		if r.Amount.Minor == 0 && r.Amount.Currency == "" {
			return reject(ReasonMissingField, "amount", "a refund needs an amount or lines")
		}
		return validateMoney("amount", r.Amount)
	}
	// Lines price the refund, but a currency sent with them is still one.
	if r.Amount.Currency != "" {
		if err := validateMoney("amount", r.Amount); err != nil {
			return err
		}
	}
	for i, l := range r.Lines {
		if l.SKU == "" {
			return reject(ReasonMissingField, lineField(i, "sku"), "is required")
		}
		if l.Quantity <= 0 || l.Quantity > MaxAmount {
			return reject(ReasonInvalidField, lineField(i, "quantity"), "must be between 1 and %d, got %d", int64(MaxAmount), l.Quantity)
		}
	}
	return nil
}

func validateFeedback(f Feedback) error {
	if f.Rating == nil && f.NPS == nil {
		return reject(ReasonMissingField, "rating", "feedback needs a rating (1-5) or an nps score (0-10)")
	}
	if f.Rating != nil && (*f.Rating < 1 || *f.Rating > 5) {
		return reject(ReasonInvalidField, "rating", "must be 1 to 5, got %d", *f.Rating)
	}
	if f.NPS != nil && (*f.NPS < 0 || *f.NPS > 10) {
		return reject(ReasonInvalidField, "nps", "must be 0 to 10, got %d", *f.NPS)
	}
	return nil
}

func validateMoney(field string, m Money) error {
	if m.Currency == "" {
		return reject(ReasonMissingField, "currency", "is required")
	}
	if _, ok := Currencies[m.Currency]; !ok {
		return reject(ReasonUnknownCurrency, "currency", "%q is not an ISO 4217 currency code", m.Currency)
	}
	if m.Minor < 0 {
		return reject(ReasonInvalidAmount, field, "must not be negative, got %d", m.Minor)
	}
	if m.Minor > MaxAmount {
		return reject(ReasonInvalidAmount, field, "%d minor units is beyond any real order (limit %d)", m.Minor, int64(MaxAmount))
	}
	return nil
}

func lineField(i int, name string) string {
	return "lines[" + strconv.Itoa(i) + "]." + name
}
