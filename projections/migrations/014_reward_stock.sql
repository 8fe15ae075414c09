-- Rewards with a stock (domain.Reward.Stock): a redemption holds the
-- member's points (a redeemed row) until the reward's stock answers; a
-- refusal gives them back (a returned row) and rejects the request.
alter table loyalty.points_ledger drop constraint points_ledger_kind;
alter table loyalty.points_ledger drop constraint points_ledger_sign;
alter table loyalty.points_ledger add constraint points_ledger_kind check (kind in ('earned', 'reversed', 'expired', 'redeemed', 'released', 'cancelled', 'transferred', 'received', 'returned'));
alter table loyalty.points_ledger add constraint points_ledger_sign check (
	(kind = 'earned' and points >= 0)
	or (kind = 'released' and (account = 'available') = (points >= 0))
	or (kind in ('reversed', 'expired', 'redeemed', 'transferred') and account = 'available' and points <= 0)
	or (kind in ('received', 'returned') and account = 'available' and points >= 0)
	or (kind = 'cancelled' and account = 'pending' and points <= 0));
comment on column loyalty.points_ledger.kind is 'earned (PointsEarned fact), reversed (PointsReversed), expired (PointsExpired), redeemed (PointsRedeemed, or PointsHeld for a reward with a stock), released (PointsReleased: pending points became available), cancelled (PointsCancelled: a refund took back pending points), transferred (PointsTransferred: given to another member), received (PointsReceived: given by one) or returned (HoldReturned: a held redemption''s points back, the reward out of stock).';

alter table loyalty.redemptions drop constraint redemptions_status;
alter table loyalty.redemptions drop constraint redemptions_reason;
alter table loyalty.redemptions add constraint redemptions_status check (status in ('accepted', 'rejected', 'held'));
alter table loyalty.redemptions add constraint redemptions_reason check ((status = 'rejected') = (reason is not null));
comment on table loyalty.redemptions is 'One row per redemption request the engine decided (PointsRedeemed or RedemptionRejected fact), or holds for a reward with a stock (PointsHeld, then HoldRedeemed or an out_of_stock RedemptionRejected); a request is decided once, so (member_id, request_id) is unique. Maintained by the "members" projection, in the same transaction as points_ledger.';
comment on column loyalty.redemptions.status is 'accepted (the points were spent), rejected, or held (a reward with a stock: the points are held until its stock answers, normally within milliseconds).';

create table loyalty.reward_stock (
	reward_id   text        primary key,
	units_taken bigint      not null,
	updated_at  timestamptz not null
);
comment on table loyalty.reward_stock is 'Units of each reward with a stock given to members so far (StockTaken facts of the reward''s stock); the program''s redemption.rewards[].stock less units_taken is what is left. Maintained by the "members" projection.';
comment on column loyalty.reward_stock.reward_id is 'The reward.';
comment on column loyalty.reward_stock.units_taken is 'Units given over the reward''s life.';
comment on column loyalty.reward_stock.updated_at is 'Event time of the latest unit given.';
