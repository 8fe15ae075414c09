-- Scores reach the rules as input (decision 033): each fit gives its
-- members a value band and a segment besides the risk band, and the
-- engine publishes loyalty.member.scored.v1 for each member whose bands or
-- segment changed; member_scores keeps what the ledger recorded of them.
alter table loyalty.member_churn add column segment text;
alter table loyalty.member_churn add constraint member_churn_segment
	check (segment in ('new', 'one_time', 'champion', 'loyal', 'at_risk', 'cant_lose', 'hibernating'));
alter table loyalty.member_ltv add column value_band text;
alter table loyalty.member_ltv add constraint member_ltv_value_band check (value_band in ('low', 'medium', 'high'));

comment on column loyalty.member_churn.segment is 'The member''s segment by this fit: `new` or `one_time` without a repeat purchase (up to 90 days after the first, or later); otherwise `cant_lose` (high risk, high value), `hibernating` (high risk), `at_risk` (medium risk), `champion` (low risk, high value) or `loyal`. Null in scores of fits before the segments were introduced.';
comment on column loyalty.member_ltv.value_band is '`high` for the top 20% of the fit''s members by predicted_value, `medium` for the next 30%, `low` for the rest (equal values share the better band). Null in scores of fits before the bands were introduced.';

create table loyalty.member_scores (
	ledger_seq      bigint      not null,
	fact_index      int         not null,
	member_id       text        not null,
	fit_id          text        not null,
	p_alive_ppm     int         not null,
	risk_band       text        not null,
	predicted_value bigint      not null,
	currency        text        not null,
	value_band      text        not null,
	segment         text        not null,
	scored_at       timestamptz not null,
	source_event_id text        not null,
	primary key (ledger_seq, fact_index),
	-- the engine takes no other values (domain.Bands): a row never fails these
	constraint member_scores_risk_band check (risk_band in ('low', 'medium', 'high')),
	constraint member_scores_value_band check (value_band in ('low', 'medium', 'high'))
);
create index member_scores_member on loyalty.member_scores (member_id, ledger_seq desc);

comment on table loyalty.member_scores is 'Every loyalty.member.scored.v1 the ledger recorded: the scores the rules saw from then on (member.churn_risk, risk_band, value_band, predicted_value, segment), one row per member and change of band or segment. The latest row per member is what the engine holds; the engine publishes scores only for members whose bands or segment differ from it. Maintained by the "members" projection.';
comment on column loyalty.member_scores.ledger_seq is 'Ledger message of the fact.';
comment on column loyalty.member_scores.fact_index is 'Position of the fact within its ledger message.';
comment on column loyalty.member_scores.member_id is 'The member.';
comment on column loyalty.member_scores.fit_id is 'The fit (model_fits.id) the scores come from.';
comment on column loyalty.member_scores.p_alive_ppm is 'Probability alive in parts per million (member_churn.probability_alive, rounded).';
comment on column loyalty.member_scores.risk_band is '`low`, `medium` or `high` (member_churn.risk_band).';
comment on column loyalty.member_scores.predicted_value is 'member_ltv.predicted_value (minor units of currency).';
comment on column loyalty.member_scores.currency is 'Currency of predicted_value: the programme''s.';
comment on column loyalty.member_scores.value_band is '`low`, `medium` or `high` (member_ltv.value_band).';
comment on column loyalty.member_scores.segment is 'The segment (member_churn.segment).';
comment on column loyalty.member_scores.scored_at is 'When the fit ran: the event''s time.';
comment on column loyalty.member_scores.source_event_id is 'The loyalty.member.scored.v1 event''s id.';

comment on column loyalty.projection_checkpoints.name is 'Projection name: members (members, points_ledger, tier_changes, redemptions, expiry_notices, reward_stock, adjustments, vouchers, erasures, member_scores) or activity (purchases, refunds, visits, feedback, member_purchase_days, member_rfm).';
