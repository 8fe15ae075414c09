-- Pending points (domain.Pending): purchase points that wait for the return
-- window. points_ledger gets a second account, pending, beside the balance:
-- a pending award is an earned row of account pending, its release a
-- released row out of pending and one into available, a refund of a
-- pending order a cancelled row out of pending.
alter table loyalty.points_ledger add column account text not null default 'available';
alter table loyalty.points_ledger add column available_at timestamptz;
alter table loyalty.points_ledger drop constraint points_ledger_pkey;
alter table loyalty.points_ledger add primary key (ledger_seq, fact_index, account);
alter table loyalty.points_ledger drop constraint points_ledger_kind;
alter table loyalty.points_ledger drop constraint points_ledger_sign;
alter table loyalty.points_ledger add constraint points_ledger_account check (account in ('available', 'pending'));
alter table loyalty.points_ledger add constraint points_ledger_kind check (kind in ('earned', 'reversed', 'expired', 'redeemed', 'released', 'cancelled'));
alter table loyalty.points_ledger add constraint points_ledger_sign check (
	(kind = 'earned' and points >= 0)
	or (kind = 'released' and (account = 'available') = (points >= 0))
	or (kind in ('reversed', 'expired', 'redeemed') and account = 'available' and points <= 0)
	or (kind = 'cancelled' and account = 'pending' and points <= 0));
-- The clock wakes members whose points are due to expire (released points
-- carry a date too) or to become available.
drop index loyalty.points_ledger_expires;
create index points_ledger_expires on loyalty.points_ledger (expires_at) where kind in ('earned', 'released') and expires_at is not null;
create index points_ledger_available on loyalty.points_ledger (available_at) where account = 'pending' and kind = 'earned';

alter table loyalty.members add column points_pending bigint not null default 0;

comment on table loyalty.points_ledger is 'Append-only audit trail of every points movement, one row per PointsEarned, PointsReversed, PointsExpired, PointsRedeemed or PointsCancelled fact and two per PointsReleased (out of pending, into available). Rows are never updated or deleted. Maintained by the "members" projection.';
comment on column loyalty.points_ledger.fact_index is 'Position of the fact among the facts of its ledger message (0-based). (ledger_seq, fact_index, account) identifies a row.';
comment on column loyalty.points_ledger.points is 'Signed points moved in the row''s account: positive when earned or released into available, negative when reversed, expired, redeemed, cancelled or released out of pending.';
comment on column loyalty.points_ledger.kind is 'earned (PointsEarned fact), reversed (PointsReversed), expired (PointsExpired), redeemed (PointsRedeemed), released (PointsReleased: pending points became available) or cancelled (PointsCancelled: a refund took back pending points).';
comment on column loyalty.points_ledger.rule is 'Program rule that decided the movement: base, tier_bonus, first_purchase_bonus, feedback_bonus, visit_bonus or a program rule''s id for earned points; refund for reversals and cancellations; expiry or inactivity for expired points; redemption for redeemed points (the request is in redemptions, by source_event_id); pending_release for released points.';
comment on column loyalty.points_ledger.account is 'available (the balance: members.points_balance is the sum of these rows) or pending (points earned that cannot be spent yet: members.points_pending is the sum of these rows).';
comment on column loyalty.points_ledger.available_at is 'For pending earned rows, when the points become available unless the order is confirmed or refunded first; null for other rows.';
comment on column loyalty.points_ledger.expires_at is 'For available earned rows and for released rows into available, when the points expire under the program''s expiry policy; null when they expire on no date of their own (policy never or inactivity) and for other rows.';
comment on column loyalty.points_ledger.occurred_at is 'Event time of the source event; for expired and released points, when they expired or became available (which may be before the event that noticed it).';
comment on column loyalty.members.points_balance is 'Current points balance, what the member may spend: earned minus reversed, expired and redeemed points, pending points not included. Always equals sum(points_ledger.points) of the member''s rows of account available.';
comment on column loyalty.members.points_pending is 'Points earned that are not available yet (the program''s pending period): the sum of the member''s points_ledger rows of account pending. 0 under a program without pending points.';
comment on column loyalty.members.lifetime_points is 'All points ever earned (points_ledger rows of kind earned, pending ones included); reversals, cancellations and expiry do not reduce it.';
comment on table loyalty.members is 'One row per member with any ledger fact: current balance, tier and activity summary. Maintained by the "members" projection, in the same transaction as points_ledger, so points_balance = sum(points_ledger.points) of the member''s available rows at every commit.';
