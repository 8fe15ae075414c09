package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pointsledger/loyalty/domain"
)

var vouchersTable = newCopyTable("vouchers", "code_hash", "code_hint", "member_id", "redemption_id", "reward_id", "status",
	"issued_at", "expires_at", "source_event_id", "ledger_seq", "fact_index")

// voucherChanges is what a batch does to loyalty.vouchers: codes issued
// (COPY), then used, then voided by cancelled redemptions.
type voucherChanges struct {
	issued                                copyData
	usedHashes, usedRequests, usedChannel []string
	usedAt                                []time.Time
	voidMembers, voidRedemptions          []string
}

func (v *voucherChanges) add(seq int64, i int32, f domain.Fact) {
	meta := f.Meta()
	switch f := f.(type) {
	case domain.VoucherIssued:
		r := &v.issued
		r.row()
		r.text(domain.VoucherCodeHash(f.Code))
		r.text(f.Code[max(len(f.Code)-4, 0):])
		r.text(meta.MemberID)
		r.text(f.RequestID)
		r.text(f.RewardID)
		r.text("issued")
		r.time(meta.OccurredAt)
		r.time(f.ExpiresAt)
		r.text(meta.EventID)
		r.int8(seq)
		r.int4(i)
	case domain.VoucherUsed:
		v.usedHashes, v.usedRequests = append(v.usedHashes, domain.VoucherCodeHash(f.Code)), append(v.usedRequests, f.RequestID)
		v.usedChannel, v.usedAt = append(v.usedChannel, f.Channel), append(v.usedAt, meta.OccurredAt)
	case domain.RedemptionCancelled:
		v.voidMembers, v.voidRedemptions = append(v.voidMembers, meta.MemberID), append(v.voidRedemptions, f.RedemptionID)
	}
}

const (
	useVouchers = `
update vouchers as v set status = 'used', used_at = u.at, used_request_id = u.request, used_channel = nullif(u.channel, '')
from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) as u(hash, request, channel, at)
where v.code_hash = u.hash`
	voidVouchers = `
update vouchers as v set status = 'cancelled'
from unnest($1::text[], $2::text[]) as c(member_id, redemption_id)
where v.member_id = c.member_id and v.redemption_id = c.redemption_id and v.status = 'issued'`
)

func (v *voucherChanges) write(ctx context.Context, tx pgx.Tx) error {
	if err := v.issued.write(ctx, tx); err != nil {
		return err
	}
	if len(v.usedHashes) > 0 {
		if _, err := tx.Exec(ctx, useVouchers, v.usedHashes, v.usedRequests, v.usedChannel, v.usedAt); err != nil {
			return fmt.Errorf("use %d vouchers: %w", len(v.usedHashes), err)
		}
	}
	if len(v.voidMembers) > 0 {
		if _, err := tx.Exec(ctx, voidVouchers, v.voidMembers, v.voidRedemptions); err != nil {
			return fmt.Errorf("void the vouchers of %d cancelled redemptions: %w", len(v.voidMembers), err)
		}
	}
	return nil
}
