-- Rewards with voucher terms issue a code per unit redeemed
-- (loyalty.voucher.issued.v1), which a till uses once
-- (loyalty.voucher.used.v1). The table keeps each code's SHA-256, never the
-- code: whoever reads the read models cannot use a member's voucher
-- (decision 031).
create table loyalty.vouchers (
	code_hash       text        primary key,
	code_hint       text        not null,
	member_id       text        not null,
	redemption_id   text        not null,
	reward_id       text        not null,
	status          text        not null,
	issued_at       timestamptz not null,
	expires_at      timestamptz not null,
	used_at         timestamptz,
	used_request_id text,
	used_channel    text,
	source_event_id text        not null,
	ledger_seq      bigint      not null,
	fact_index      int         not null,
	constraint vouchers_status check (status in ('issued', 'used', 'cancelled'))
);
create index vouchers_member on loyalty.vouchers (member_id, redemption_id);
create index vouchers_expires on loyalty.vouchers (expires_at);
comment on table loyalty.vouchers is 'One row per voucher code issued (VoucherIssued fact), its use (VoucherUsed) or its cancellation with its redemption (RedemptionCancelled). The code itself is not kept: code_hash is the hex SHA-256 of the code in its canonical form (16 characters, upper case, no dashes). Maintained by the "members" projection.';
comment on column loyalty.vouchers.code_hash is 'Hex SHA-256 of the code without dashes, upper case: encode(sha256(''7KQM2XHD9RTBVW4P''::bytea), ''hex'') finds the row of a code a member reads out.';
comment on column loyalty.vouchers.code_hint is 'The code''s last four characters, to tell a member''s codes apart on the phone.';
comment on column loyalty.vouchers.member_id is 'The member the code was issued to.';
comment on column loyalty.vouchers.redemption_id is 'The request_id of the redemption that issued it (redemptions.request_id).';
comment on column loyalty.vouchers.reward_id is 'The reward.';
comment on column loyalty.vouchers.status is '`issued` (not used; see expires_at), `used` (a till used it) or `cancelled` (its redemption was cancelled).';
comment on column loyalty.vouchers.issued_at is 'When it was issued (event time of the redemption, or of its stock''s answer).';
comment on column loyalty.vouchers.expires_at is 'When it stops being valid: issued_at plus the reward''s voucher.valid_days.';
comment on column loyalty.vouchers.used_at is 'When a till used it (event time); null unless used.';
comment on column loyalty.vouchers.used_request_id is 'The till''s request id of the use; null unless used.';
comment on column loyalty.vouchers.used_channel is 'Where it was used, as the till said; null unless used or not said.';
comment on column loyalty.vouchers.source_event_id is 'Event id of the input that issued it.';
comment on column loyalty.vouchers.ledger_seq is 'Ledger message of the issue.';
comment on column loyalty.vouchers.fact_index is 'Position of the fact within its ledger message.';
comment on column loyalty.projection_checkpoints.name is 'Projection name: members (members, points_ledger, tier_changes, redemptions, expiry_notices, reward_stock, adjustments, vouchers) or activity (purchases, refunds, visits, feedback, member_purchase_days, member_rfm).';
