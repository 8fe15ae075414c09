package domain

import (
	"errors"
	"fmt"
)

// Reason is a stable code for why an event was not applied. Dead letters
// carry it and metrics count by it, so the set is small and fixed.
type Reason string

const (
	ReasonMissingField        Reason = "missing_field"
	ReasonInvalidField        Reason = "invalid_field"
	ReasonInvalidAmount       Reason = "invalid_amount"
	ReasonUnknownCurrency     Reason = "unknown_currency"
	ReasonCurrencyNotAccepted Reason = "currency_not_accepted"
	ReasonCurrencyMismatch    Reason = "currency_mismatch"
	ReasonFutureTimestamp     Reason = "future_timestamp"
	ReasonInvalidTimestamp    Reason = "invalid_timestamp"
	ReasonUnknownOrder        Reason = "unknown_order"
	ReasonDuplicateOrder      Reason = "duplicate_order"
	ReasonRefundExceedsOrder  Reason = "refund_exceeds_order"
	ReasonRefundWindowClosed  Reason = "refund_window_closed"
	ReasonAlreadyEnrolled     Reason = "already_enrolled"
	ReasonUnknownMember       Reason = "unknown_member"
	ReasonMemberErased        Reason = "member_erased"
	ReasonDuplicateRequest    Reason = "duplicate_request"
)

// RuleReasons lists every reason Validate and Apply give, so that metrics can
// show each at zero before it first happens.
var RuleReasons = []Reason{
	ReasonMissingField, ReasonInvalidField, ReasonInvalidAmount, ReasonUnknownCurrency,
	ReasonCurrencyNotAccepted, ReasonCurrencyMismatch, ReasonFutureTimestamp, ReasonInvalidTimestamp,
	ReasonUnknownOrder, ReasonDuplicateOrder, ReasonRefundExceedsOrder, ReasonRefundWindowClosed,
	ReasonAlreadyEnrolled, ReasonUnknownMember, ReasonMemberErased, ReasonDuplicateRequest,
}

// ErrRejected is matched by every *RejectedError.
var ErrRejected = errors.New("event rejected")

// RejectedError says why an event cannot be applied: the event is bad, or it
// contradicts the member's history. Retrying it gives the same answer.
type RejectedError struct {
	Reason Reason
	Field  string
	Detail string
}

func (e *RejectedError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", e.Reason, e.Detail)
	}
	return fmt.Sprintf("%s: %s: %s", e.Reason, e.Field, e.Detail)
}

// Is makes errors.Is(err, ErrRejected) true for every rejection.
func (e *RejectedError) Is(target error) bool { return target == ErrRejected }

func reject(reason Reason, field, format string, args ...any) *RejectedError {
	return &RejectedError{Reason: reason, Field: field, Detail: fmt.Sprintf(format, args...)}
}

// unknownMember is the rejection of a request for a member not on record.
// It does not repeat the id: rejections are logged and kept with the dead
// letters, and a member's id is personal data (docs/privacy.md).
func unknownMember() *RejectedError {
	return reject(ReasonUnknownMember, "member_id", "no member with this id is on record; enrol them first")
}
