-- Notices of points about to expire (loyalty.points.expiring.v1), for the
-- messages that tell members.
create table loyalty.expiry_notices (
	member_id       text        not null,
	expires_at      timestamptz not null,
	points          bigint      not null,
	noticed_at      timestamptz not null,
	program_version text        not null,
	source_event_id text        not null,
	ledger_seq      bigint      not null,
	fact_index      int         not null,
	primary key (member_id, expires_at)
);
create index expiry_notices_noticed on loyalty.expiry_notices (noticed_at);

comment on table loyalty.expiry_notices is 'One row per notice that a member''s points are about to expire (PointsExpiring fact): the program''s earning.expiry.notice_days before their date. A date is noticed once per member. Maintained by the "members" projection.';
comment on column loyalty.expiry_notices.member_id is 'Member whose points expire.';
comment on column loyalty.expiry_notices.expires_at is 'When the points expire.';
comment on column loyalty.expiry_notices.points is 'Points of the balance that expire then, as of the notice (spending them before the date makes fewer expire).';
comment on column loyalty.expiry_notices.noticed_at is 'When the notice fell due: notice_days before expires_at.';
comment on column loyalty.expiry_notices.program_version is 'Version of the loyalty program that gave notice.';
comment on column loyalty.expiry_notices.source_event_id is 'Id of the event (often the clock''s) whose arrival decided the notice.';
comment on column loyalty.expiry_notices.ledger_seq is 'LOYALTY_LEDGER stream sequence of the message holding the fact.';
comment on column loyalty.expiry_notices.fact_index is 'Position of the fact among the facts of its ledger message (0-based).';
