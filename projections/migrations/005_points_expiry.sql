-- Points expire (loyalty.points.expired.v1 facts): points_ledger gets the
-- kind expired, and earned rows carry their expiry date.
alter table loyalty.points_ledger drop constraint points_ledger_kind;
alter table loyalty.points_ledger drop constraint points_ledger_sign;
alter table loyalty.points_ledger add constraint points_ledger_kind check (kind in ('earned', 'reversed', 'expired'));
alter table loyalty.points_ledger add constraint points_ledger_sign check ((kind = 'earned' and points >= 0) or (kind in ('reversed', 'expired') and points <= 0));
alter table loyalty.points_ledger add column expires_at timestamptz;

comment on table loyalty.points_ledger is 'Append-only audit trail of every points movement, one row per PointsEarned, PointsReversed or PointsExpired fact. Rows are never updated or deleted. Maintained by the "members" projection.';
comment on column loyalty.points_ledger.points is 'Signed points: positive when earned, negative when reversed or expired.';
comment on column loyalty.points_ledger.kind is 'earned (PointsEarned fact), reversed (PointsReversed fact) or expired (PointsExpired fact).';
comment on column loyalty.points_ledger.rule is 'Program rule that decided the movement: base, tier_bonus, first_purchase_bonus, feedback_bonus, visit_bonus or a program rule''s id for earned points; refund for reversals; expiry or inactivity for expired points.';
comment on column loyalty.points_ledger.occurred_at is 'Event time of the source event; for expired points, when they expired (which may be before the event that noticed it).';
comment on column loyalty.points_ledger.expires_at is 'For earned points, when they expire under the program''s expiry policy; null when they expire on no date of their own (policy never or inactivity) and for other kinds.';
comment on column loyalty.members.points_balance is 'Current points balance: earned minus reversed and expired points. Always equals sum(points_ledger.points) of the member.';
