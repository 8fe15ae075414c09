package projections

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
)

// Members keeps loyalty.members, loyalty.points_ledger and
// loyalty.tier_changes. The member row and the ledger rows are written in the
// same transaction, so points_balance equals the sum of the member's
// points_ledger rows at every commit. Member columns match what
// domain.Member.Evolve computes from the same facts.
type Members struct{}

// MembersName is the Members projection's checkpoint key. See the warning on
// Projection.Name before changing it.
const MembersName = "members"

// Name implements Projection.
func (Members) Name() string { return MembersName }

// Tables implements Rebuildable.
func (Members) Tables() []string {
	return []string{"members", "points_ledger", "tier_changes", "redemptions", "expiry_notices", "reward_stock", "adjustments", "vouchers", "erasures", "member_scores", "experiment_assignments", "offers"}
}

// memberChange is what one batch does to one member row, folded in ledger
// order like domain.Member.Evolve does.
type memberChange struct {
	id        string
	balance   int64 // sum of domain.PointsDelta
	earned    int64 // PointsEarned only: lifetime points
	debt      int64 // PointsDebt
	redeemed  int64 // PointsRedeemed
	pending   int64 // sum of domain.PendingDelta
	purchases int64
	tier      *string // last TierChanged.To
	tierSince time.Time
	// expiresSet: a TierChanged or TierRenewed set tier_expires_at to
	// expires (nil: never reviewed).
	expiresSet bool
	expires    *time.Time
	floor      *string              // last TierAssigned.Tier
	progress   *domain.TierProgress // last TierProgress
	spend      int64                // QualifyingSpendAfter of the last purchase or refund
	spendAsOf  *time.Time
	enrolledAt *time.Time // last MemberEnrolled
	birthday   *string    // its birthday, MM-DD
	status     *string    // last StatusChanged.To
	statusAt   time.Time
	first      time.Time
	last       time.Time
	seq        uint64
}

func (c *memberChange) evolve(f domain.Fact, seq uint64) {
	at := f.Meta().OccurredAt
	c.pending += domain.PendingDelta(f)
	switch f := f.(type) {
	case domain.TierRenewed:
		c.expiresSet, c.expires = true, nullIfZero(f.ExpiresAt)
	case domain.TierProgress:
		c.progress = &f
	}
	if domain.IsActivity(f) {
		if c.first.IsZero() || at.Before(c.first) {
			c.first = at
		}
		if at.After(c.last) {
			c.last = at
		}
	}
	c.seq = seq
	c.balance += domain.PointsDelta(f)
	switch f := f.(type) {
	case domain.MemberEnrolled:
		c.enrolledAt = &at
		if !f.Birthday.IsZero() {
			b := f.Birthday.String()
			c.birthday = &b
		}
	case domain.PurchaseRecorded:
		c.purchases++
		c.spend, c.spendAsOf = f.QualifyingSpendAfter, &at
	case domain.RefundRecorded:
		c.spend, c.spendAsOf = f.QualifyingSpendAfter, &at
	case domain.PointsEarned:
		c.earned += f.Points
	case domain.PointsDebt:
		c.debt += f.Points
	case domain.DebtRepaid:
		c.debt -= f.Points
	case domain.RedemptionCancelled:
		c.redeemed -= f.Points
	case domain.PointsRedeemed:
		c.redeemed += f.Points
	case domain.HoldRedeemed:
		c.redeemed += f.Points
	case domain.TierChanged:
		c.tier, c.tierSince = &f.To, at
		c.expiresSet, c.expires = true, nullIfZero(f.ExpiresAt)
	case domain.TierAssigned:
		c.floor = &f.Tier
	case domain.StatusChanged:
		status := string(f.To)
		c.status, c.statusAt = &status, at
	}
}

var (
	tierChangesTable = newCopyTable("tier_changes", "ledger_seq", "fact_index", "member_id", "source_event_id", "from_tier",
		"to_tier", "reason", "occurred_at", "expires_at")
	noticesTable = newCopyTable("expiry_notices", "member_id", "expires_at", "points", "noticed_at", "program_version",
		"source_event_id", "ledger_seq", "fact_index")
)

// upsertMembers adds one batch's changes to the member rows: one row per
// member of the batch, aggregated in Go. Nullable arrays carry "no such fact
// in this batch": the row keeps its value then.
const upsertMembers = `
insert into members as m (member_id, points_balance, lifetime_points, tier, tier_since,
	qualifying_spend, qualifying_spend_as_of, enrolled_at, first_activity_at, last_activity_at,
	purchases_count, last_ledger_seq, status, status_since, points_debt, points_redeemed, points_pending,
	tier_expires_at, tier_floor, tier_value, next_tier, next_tier_missing, projected_tier, tier_progress_as_of, birthday)
select id, balance, lifetime, tier, tier_since, spend, spend_as_of, enrolled_at,
	-- a member whose batch holds no activity (only expired points): the
	-- placeholders lose to the row's own times in least and greatest
	coalesce(first_at, 'infinity'::timestamptz), coalesce(last_at, '-infinity'::timestamptz),
	purchases, seq, coalesce(status, 'active'), status_since, debt, redeemed, pending,
	-- '-infinity': the batch set "never reviewed" (made null on conflict, or
	-- below for a member this inserts)
	case when expires_set then coalesce(expires, '-infinity'::timestamptz) end, floor, coalesce(tier_value, 0), next_tier, coalesce(missing, 0), projected, progress_at,
	birthday
from unnest($1::text[], $2::int8[], $3::int8[], $4::text[], $5::timestamptz[],
	$6::int8[], $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], $10::timestamptz[],
	$11::int8[], $12::int8[], $13::text[], $14::timestamptz[], $15::int8[], $16::int8[], $17::int8[],
	$18::bool[], $19::timestamptz[], $20::text[], $21::int8[], $22::text[], $23::int8[], $24::text[], $25::timestamptz[],
	$26::text[])
	as u(id, balance, lifetime, tier, tier_since, spend, spend_as_of, enrolled_at, first_at, last_at,
	purchases, seq, status, status_since, debt, redeemed, pending,
	expires_set, expires, floor, tier_value, next_tier, missing, projected, progress_at, birthday)
on conflict (member_id) do update set
	points_balance = m.points_balance + excluded.points_balance,
	lifetime_points = m.lifetime_points + excluded.lifetime_points,
	tier = case when excluded.tier_since is null then m.tier else excluded.tier end,
	tier_since = coalesce(excluded.tier_since, m.tier_since),
	qualifying_spend = case when excluded.qualifying_spend_as_of is null then m.qualifying_spend else excluded.qualifying_spend end,
	qualifying_spend_as_of = coalesce(excluded.qualifying_spend_as_of, m.qualifying_spend_as_of),
	enrolled_at = coalesce(excluded.enrolled_at, m.enrolled_at),
	first_activity_at = least(m.first_activity_at, excluded.first_activity_at),
	last_activity_at = greatest(m.last_activity_at, excluded.last_activity_at),
	purchases_count = m.purchases_count + excluded.purchases_count,
	last_ledger_seq = excluded.last_ledger_seq,
	status = case when excluded.status_since is null then m.status else excluded.status end,
	status_since = coalesce(excluded.status_since, m.status_since),
	points_debt = m.points_debt + excluded.points_debt,
	points_redeemed = m.points_redeemed + excluded.points_redeemed,
	points_pending = m.points_pending + excluded.points_pending,
	tier_expires_at = case when excluded.tier_expires_at = '-infinity' then null else coalesce(excluded.tier_expires_at, m.tier_expires_at) end,
	tier_floor = coalesce(excluded.tier_floor, m.tier_floor),
	tier_value = case when excluded.tier_progress_as_of is null then m.tier_value else excluded.tier_value end,
	next_tier = case when excluded.tier_progress_as_of is null then m.next_tier else excluded.next_tier end,
	next_tier_missing = case when excluded.tier_progress_as_of is null then m.next_tier_missing else excluded.next_tier_missing end,
	projected_tier = case when excluded.tier_progress_as_of is null then m.projected_tier else excluded.projected_tier end,
	tier_progress_as_of = coalesce(excluded.tier_progress_as_of, m.tier_progress_as_of),
	birthday = coalesce(excluded.birthday, m.birthday)`

// Apply implements Projection: COPY into points_ledger and tier_changes, then
// one multi-row upsert of the batch's members.
func (Members) Apply(ctx context.Context, tx pgx.Tx, batch []streams.LedgerRecord) error {
	changes := map[string]*memberChange{}
	ledgerRows, tierRows, noticeRows := copyData{table: pointsLedgerTable}, copyData{table: tierChangesTable}, copyData{table: noticesTable}
	var redemptions redemptionRecords
	adjustmentRows := copyData{table: adjustmentsTable}
	erasureRows := copyData{table: erasuresTable}
	scoreRows := copyData{table: scoresTable}
	assignmentRows := copyData{table: assignmentsTable}
	offerRows := copyData{table: offersTable}
	vouchers := voucherChanges{issued: copyData{table: vouchersTable}}
	var stockRewards []string
	var stockUnits []int64
	var stockAt []time.Time
	for _, rec := range batch {
		seq := int64(rec.Seq)
		for n, f := range rec.Facts {
			i := rec.FirstFact + n // the fact's index in its ledger message
			meta := f.Meta()
			switch f := f.(type) { // a reward's stock is not a member
			case domain.StockTaken:
				stockRewards, stockUnits, stockAt = append(stockRewards, f.RewardID), append(stockUnits, f.Quantity), append(stockAt, meta.OccurredAt)
				continue
			case domain.StockReturned:
				stockRewards, stockUnits, stockAt = append(stockRewards, f.RewardID), append(stockUnits, -f.Quantity), append(stockAt, meta.OccurredAt)
				continue
			case domain.StockRefused:
				continue
			}
			c := changes[meta.MemberID]
			if c == nil {
				c = &memberChange{id: meta.MemberID}
				changes[meta.MemberID] = c
			}
			c.evolve(f, rec.Seq)
			addPointsRows(&ledgerRows, seq, int32(i), f)
			redemptions.add(f, seq, int32(i))
			addAdjustmentRow(&adjustmentRows, seq, int32(i), f)
			addErasureRow(&erasureRows, seq, int32(i), f)
			addScoreRow(&scoreRows, seq, int32(i), f)
			addAssignmentRow(&assignmentRows, seq, int32(i), f)
			addOfferRow(&offerRows, seq, int32(i), f)
			vouchers.add(seq, int32(i), f)
			switch f := f.(type) {
			case domain.PointsExpiring:
				noticeRows.row()
				noticeRows.text(meta.MemberID)
				noticeRows.time(f.ExpiresAt)
				noticeRows.int8(f.Points)
				noticeRows.time(meta.OccurredAt)
				noticeRows.text(f.ProgramVersion)
				noticeRows.text(meta.EventID)
				noticeRows.int8(seq)
				noticeRows.int4(int32(i))
			case domain.TierChanged:
				tierRows.row()
				tierRows.int8(seq)
				tierRows.int4(int32(i))
				tierRows.text(meta.MemberID)
				tierRows.text(meta.EventID)
				tierRows.textOrNull(f.From)
				tierRows.text(f.To)
				tierRows.text(f.Reason)
				tierRows.time(meta.OccurredAt)
				tierRows.timeOrNull(f.ExpiresAt)
			}
		}
	}
	if err := ledgerRows.write(ctx, tx); err != nil {
		return err
	}
	if err := tierRows.write(ctx, tx); err != nil {
		return err
	}
	if err := redemptions.write(ctx, tx); err != nil {
		return err
	}
	if len(stockRewards) > 0 {
		if _, err := tx.Exec(ctx, upsertStock, stockRewards, stockUnits, stockAt); err != nil {
			return fmt.Errorf("add to %d reward stocks: %w", len(stockRewards), err)
		}
	}
	if err := noticeRows.write(ctx, tx); err != nil {
		return err
	}
	if err := adjustmentRows.write(ctx, tx); err != nil {
		return err
	}
	if err := erasureRows.write(ctx, tx); err != nil {
		return err
	}
	if err := scoreRows.write(ctx, tx); err != nil {
		return err
	}
	if err := assignmentRows.write(ctx, tx); err != nil {
		return err
	}
	if err := offerRows.write(ctx, tx); err != nil {
		return err
	}
	if err := vouchers.write(ctx, tx); err != nil {
		return err
	}
	if len(changes) == 0 {
		return nil
	}

	// Rows in member id order, so concurrent writers (a rebuild next to a
	// live projection, say) lock members in the same order.
	list := make([]*memberChange, 0, len(changes))
	for _, c := range changes {
		list = append(list, c)
	}
	slices.SortFunc(list, func(a, b *memberChange) int { return strings.Compare(a.id, b.id) })
	n := len(list)
	var (
		ids        = make([]string, n)
		balance    = make([]int64, n)
		earned     = make([]int64, n)
		tier       = make([]*string, n)
		tierSince  = make([]*time.Time, n)
		spend      = make([]int64, n)
		spendAsOf  = make([]*time.Time, n)
		enrolledAt = make([]*time.Time, n)
		first      = make([]*time.Time, n) // nil: no activity in the batch (see upsertMembers)
		last       = make([]*time.Time, n)
		purchases  = make([]int64, n)
		seqs       = make([]int64, n)
		status     = make([]*string, n)
		statusAt   = make([]*time.Time, n)
		debt       = make([]int64, n)
		redeemed   = make([]int64, n)
		pending    = make([]int64, n)
		expSet     = make([]bool, n)
		expires    = make([]*time.Time, n)
		floor      = make([]*string, n)
		value      = make([]*int64, n)
		nextTier   = make([]*string, n)
		missing    = make([]*int64, n)
		projected  = make([]*string, n)
		progressAt = make([]*time.Time, n)
		birthday   = make([]*string, n)
	)
	for i, c := range list {
		ids[i], balance[i], earned[i], tier[i] = c.id, c.balance, c.earned, c.tier
		if c.tier != nil {
			tierSince[i] = &c.tierSince
		}
		spend[i], spendAsOf[i], enrolledAt[i] = c.spend, c.spendAsOf, c.enrolledAt
		first[i], last[i], purchases[i], seqs[i] = nullIfZero(c.first), nullIfZero(c.last), c.purchases, int64(c.seq)
		if c.status != nil {
			status[i], statusAt[i] = c.status, &c.statusAt
		}
		debt[i], redeemed[i], pending[i] = c.debt, c.redeemed, c.pending
		expSet[i], expires[i], floor[i], birthday[i] = c.expiresSet, c.expires, c.floor, c.birthday
		if pr := c.progress; pr != nil {
			value[i], nextTier[i], missing[i], projected[i] = &pr.Value, nullIfEmpty(pr.NextTier), &pr.Missing, &pr.Projected
			progressAt[i] = &pr.OccurredAt
		}
	}
	var params arrayParams
	params.texts(ids)
	params.int8s(balance)
	params.int8s(earned)
	params.nullableTexts(tier)
	params.nullableTimes(tierSince)
	params.int8s(spend)
	params.nullableTimes(spendAsOf)
	params.nullableTimes(enrolledAt)
	params.nullableTimes(first)
	params.nullableTimes(last)
	params.int8s(purchases)
	params.int8s(seqs)
	params.nullableTexts(status)
	params.nullableTimes(statusAt)
	params.int8s(debt)
	params.int8s(redeemed)
	params.int8s(pending)
	params.bools(expSet)
	params.nullableTimes(expires)
	params.nullableTexts(floor)
	params.nullableInt8s(value)
	params.nullableTexts(nextTier)
	params.nullableInt8s(missing)
	params.nullableTexts(projected)
	params.nullableTimes(progressAt)
	params.nullableTexts(birthday)
	if err := execArrays(ctx, tx, "loyalty_upsert_members", upsertMembers, &params); err != nil {
		return fmt.Errorf("upsert %d members: %w", n, err)
	}
	// The upsert clears the review date of members it updates; a member it
	// inserted holds the placeholder until this.
	var neverReviewed []string // the members whose tier the batch set to no review
	for i, c := range list {
		if c.expiresSet && c.expires == nil {
			neverReviewed = append(neverReviewed, ids[i])
		}
	}
	if len(neverReviewed) > 0 {
		if _, err := tx.Exec(ctx, `update members set tier_expires_at = null
			where member_id = any($1) and tier_expires_at = '-infinity'`, neverReviewed); err != nil {
			return fmt.Errorf("clear tier review dates of %d members: %w", len(neverReviewed), err)
		}
	}
	return nil
}

// nullIfZero maps an absent optional time to SQL NULL.
func nullIfZero(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// nullIfEmpty maps an absent optional string to SQL NULL.
func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
