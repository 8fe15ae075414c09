-- Transfers between members (loyalty.points.transferred.v1 out of the
-- sender's balance, loyalty.points.received.v1 into the recipient's).
alter table loyalty.points_ledger drop constraint points_ledger_kind;
alter table loyalty.points_ledger drop constraint points_ledger_sign;
alter table loyalty.points_ledger add constraint points_ledger_kind check (kind in ('earned', 'reversed', 'expired', 'redeemed', 'released', 'cancelled', 'transferred', 'received'));
alter table loyalty.points_ledger add constraint points_ledger_sign check (
	(kind = 'earned' and points >= 0)
	or (kind = 'released' and (account = 'available') = (points >= 0))
	or (kind in ('reversed', 'expired', 'redeemed', 'transferred') and account = 'available' and points <= 0)
	or (kind = 'received' and account = 'available' and points >= 0)
	or (kind = 'cancelled' and account = 'pending' and points <= 0));

comment on table loyalty.points_ledger is 'Append-only audit trail of every points movement, one row per PointsEarned, PointsReversed, PointsExpired, PointsRedeemed, PointsCancelled, PointsTransferred or PointsReceived fact and two per PointsReleased (out of pending, into available). Rows are never updated or deleted. Maintained by the "members" projection.';
comment on column loyalty.points_ledger.kind is 'earned (PointsEarned fact), reversed (PointsReversed), expired (PointsExpired), redeemed (PointsRedeemed), released (PointsReleased: pending points became available), cancelled (PointsCancelled: a refund took back pending points), transferred (PointsTransferred: given to another member) or received (PointsReceived: given by one).';
comment on column loyalty.points_ledger.rule is 'Program rule that decided the movement: base, tier_bonus, first_purchase_bonus, feedback_bonus, visit_bonus, referral_bonus, referrer_bonus or a program rule''s id for earned points; refund for reversals and cancellations; expiry or inactivity for expired points; redemption for redeemed points (the request is in redemptions, by source_event_id); pending_release for released points; transfer_out and transfer_in for transfers.';
comment on column loyalty.points_ledger.order_id is 'Order the points were earned on or reversed for; for a referrer''s bonus, referral: and the referred member''s id; for a transfer, the other member''s id; null for points tied to neither.';
