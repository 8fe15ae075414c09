-- Churn risk and lifetime value from the BG/NBD and Gamma-Gamma models
-- (docs/analytics.md), written by `loyalty analytics fit` and the refits of
-- `loyalty serve`; cohort retention, activity and tier distribution per
-- month as views over the read models.
create table loyalty.model_fits (
	id                   bigint generated always as identity primary key,
	fitted_at            timestamptz not null,
	as_of                date        not null,
	time_unit            text        not null,
	reason               text        not null,
	status               text        not null,
	error                text,
	duration             interval    not null,
	members              int         not null,
	bgnbd_r              double precision,
	bgnbd_alpha          double precision,
	bgnbd_a              double precision,
	bgnbd_b              double precision,
	bgnbd_std_errors     double precision[],
	bgnbd_log_likelihood double precision,
	bgnbd_optimiser      text,
	bgnbd_iterations     int,
	repeat_members       int,
	gg_p                 double precision,
	gg_q                 double precision,
	gg_gamma             double precision,
	gg_std_errors        double precision[],
	gg_log_likelihood    double precision,
	gg_optimiser         text,
	gg_iterations        int,
	constraint model_fits_time_unit check (time_unit in ('day', 'week')),
	constraint model_fits_status check (status in ('converged', 'failed'))
);

comment on table loyalty.model_fits is 'Every fit of the BG/NBD (purchases and dropout) and Gamma-Gamma (spend per purchase) models, failed ones included. member_churn and member_ltv hold the scores of the latest converged fit. Written by `loyalty analytics fit` and by `loyalty serve` on its refit schedule.';
comment on column loyalty.model_fits.id is 'Fit id; member_churn.fit_id and member_ltv.fit_id refer to it.';
comment on column loyalty.model_fits.fitted_at is 'When the fit ran.';
comment on column loyalty.model_fits.as_of is 'Purchases up to the end of this UTC date were used; the members'' age T runs to it.';
comment on column loyalty.model_fits.time_unit is 'day or week: the unit of recency, age and the rate parameter alpha.';
comment on column loyalty.model_fits.reason is 'command (loyalty analytics fit), schedule (a refit by serve when the latest is older than its refit interval) or rebuild (a refit by serve after `loyalty projections rebuild` rebuilt the activity projection).';
comment on column loyalty.model_fits.status is 'converged, or failed (then error says why and no scores were written).';
comment on column loyalty.model_fits.error is 'Why the fit failed; null when it converged.';
comment on column loyalty.model_fits.duration is 'Wall time of reading the histories, fitting both models, scoring and writing the scores.';
comment on column loyalty.model_fits.members is 'Members with a purchase up to as_of: the BG/NBD data.';
comment on column loyalty.model_fits.bgnbd_r is 'BG/NBD r: shape of the Gamma distribution of purchase rates across members.';
comment on column loyalty.model_fits.bgnbd_alpha is 'BG/NBD alpha: scale of the purchase rates, in time units (mean rate r/alpha purchases per unit).';
comment on column loyalty.model_fits.bgnbd_a is 'BG/NBD a: first shape of the Beta distribution of the dropout probability after a purchase.';
comment on column loyalty.model_fits.bgnbd_b is 'BG/NBD b: second shape of that Beta distribution (mean dropout probability a/(a+b)).';
comment on column loyalty.model_fits.bgnbd_std_errors is 'Standard errors of r, alpha, a and b (in that order) from the observed information; null if it is singular.';
comment on column loyalty.model_fits.bgnbd_log_likelihood is 'BG/NBD log-likelihood at the fit, summed over the members.';
comment on column loyalty.model_fits.bgnbd_optimiser is 'How the optimiser (gonum BFGS) stopped, e.g. GradientThreshold.';
comment on column loyalty.model_fits.bgnbd_iterations is 'Optimiser iterations, over every starting point tried.';
comment on column loyalty.model_fits.repeat_members is 'Members with repeat purchases and positive spend: the Gamma-Gamma data.';
comment on column loyalty.model_fits.gg_p is 'Gamma-Gamma p: shape of the value of one purchase.';
comment on column loyalty.model_fits.gg_q is 'Gamma-Gamma q: shape of the distribution of that value''s rate across members.';
comment on column loyalty.model_fits.gg_gamma is 'Gamma-Gamma gamma: its scale, in minor units of the program currency (population mean spend p·gamma/(q−1)).';
comment on column loyalty.model_fits.gg_std_errors is 'Standard errors of p, q and gamma (in that order); null if the information is singular.';
comment on column loyalty.model_fits.gg_log_likelihood is 'Gamma-Gamma log-likelihood at the fit.';
comment on column loyalty.model_fits.gg_optimiser is 'How the optimiser stopped for Gamma-Gamma.';
comment on column loyalty.model_fits.gg_iterations is 'Optimiser iterations for Gamma-Gamma.';

create table loyalty.member_churn (
	member_id                text             primary key,
	fit_id                   bigint           not null,
	as_of                    date             not null,
	frequency                int              not null,
	recency                  double precision not null,
	age                      double precision not null,
	probability_alive        double precision not null,
	expected_purchases_30d   double precision not null,
	expected_purchases_90d   double precision not null,
	expected_purchases_365d  double precision not null,
	last_activity_on         date             not null,
	days_since_activity      int              not null,
	risk_band                text             not null,
	constraint member_churn_band check (risk_band in ('low', 'medium', 'high'))
);
create index member_churn_band on loyalty.member_churn (risk_band, probability_alive);

comment on table loyalty.member_churn is 'Per member with a purchase up to the fit''s as-of date: the BG/NBD probability of being active, expected purchases and a risk band. Replaced whole by each converged fit.';
comment on column loyalty.member_churn.member_id is 'The member.';
comment on column loyalty.member_churn.fit_id is 'The model_fits row these scores come from.';
comment on column loyalty.member_churn.as_of is 'The fit''s as-of date.';
comment on column loyalty.member_churn.frequency is 'Repeat purchase days up to as_of (member_rfm.frequency as of that date).';
comment on column loyalty.member_churn.recency is 'First to latest purchase day, in the fit''s time unit.';
comment on column loyalty.member_churn.age is 'First purchase day to as_of (T), in the fit''s time unit.';
comment on column loyalty.member_churn.probability_alive is 'Probability the member is still active (has not dropped out) at as_of; 1 without repeat purchases, as the model has it.';
comment on column loyalty.member_churn.expected_purchases_30d is 'Expected purchase days in the 30 days after as_of.';
comment on column loyalty.member_churn.expected_purchases_90d is 'Expected purchase days in the 90 days after as_of.';
comment on column loyalty.member_churn.expected_purchases_365d is 'Expected purchase days in the 365 days after as_of.';
comment on column loyalty.member_churn.last_activity_on is 'UTC date of the latest purchase, visit or feedback up to as_of.';
comment on column loyalty.member_churn.days_since_activity is 'as_of less last_activity_on, in days.';
comment on column loyalty.member_churn.risk_band is 'low (probability_alive at least the low threshold, default 0.7), high (below the high threshold, default 0.3) or medium.';

create table loyalty.member_ltv (
	member_id           text             primary key,
	fit_id              bigint           not null,
	as_of               date             not null,
	historical_revenue  bigint           not null,
	points_cost         bigint           not null,
	expected_spend      bigint           not null,
	predicted_purchases double precision not null,
	predicted_value     bigint           not null,
	horizon_months      int              not null,
	margin              numeric          not null,
	annual_discount_rate numeric         not null
);
create index member_ltv_value on loyalty.member_ltv (predicted_value desc);

comment on table loyalty.member_ltv is 'Per member with a purchase up to the fit''s as-of date: revenue so far, what its points cost, and the value the models predict over the horizon. Replaced whole by each converged fit.';
comment on column loyalty.member_ltv.member_id is 'The member.';
comment on column loyalty.member_ltv.fit_id is 'The model_fits row these scores come from.';
comment on column loyalty.member_ltv.as_of is 'The fit''s as-of date.';
comment on column loyalty.member_ltv.historical_revenue is 'Qualifying spend up to as_of net of refunds (minor units, program currency).';
comment on column loyalty.member_ltv.points_cost is 'Points earned up to as_of less reversed, cancelled and expired ones, times the configured cost per point (minor units, rounded).';
comment on column loyalty.member_ltv.expected_spend is 'Gamma-Gamma expected spend of a future purchase day (minor units, rounded); the population mean for members without repeat purchases.';
comment on column loyalty.member_ltv.predicted_purchases is 'Expected purchase days over the horizon.';
comment on column loyalty.member_ltv.predicted_value is 'Margin on the expected spend of those purchases, month by month, discounted to as_of (minor units, rounded).';
comment on column loyalty.member_ltv.horizon_months is 'Horizon of the prediction, in 30-day months.';
comment on column loyalty.member_ltv.margin is 'Share of spend counted as value.';
comment on column loyalty.member_ltv.annual_discount_rate is 'Yearly rate the monthly values were discounted at, compounded monthly.';

create table loyalty.points_liability_valuations (
	fit_id          bigint  primary key,
	as_of           date    not null,
	available       bigint  not null,
	pending         bigint  not null,
	cost_per_point  numeric not null,
	available_value bigint  not null,
	pending_value   bigint  not null
);

comment on table loyalty.points_liability_valuations is 'The points outstanding at the end of each fit''s as-of date and their value at the configured cost per point: one row per converged fit, so a daily refit makes a daily trend.';
comment on column loyalty.points_liability_valuations.fit_id is 'The fit that took the valuation.';
comment on column loyalty.points_liability_valuations.as_of is 'Points movements up to the end of this UTC date are counted.';
comment on column loyalty.points_liability_valuations.available is 'Points in the available account, summed over members (negative balances net against positive ones).';
comment on column loyalty.points_liability_valuations.pending is 'Points in the pending account.';
comment on column loyalty.points_liability_valuations.cost_per_point is 'What one point costs the program, in minor units of the program currency.';
comment on column loyalty.points_liability_valuations.available_value is 'available × cost_per_point, rounded (minor units).';
comment on column loyalty.points_liability_valuations.pending_value is 'pending × cost_per_point, rounded (minor units).';

create view loyalty.cohort_retention as
with firsts as (
	select member_id, date_trunc('month', min(day))::date as cohort
	from loyalty.member_purchase_days group by member_id
), sizes as (
	select cohort, count(*) as members from firsts group by cohort
), active as (
	select distinct member_id, date_trunc('month', day)::date as month from loyalty.member_purchase_days
), counts as (
	select f.cohort, a.month, count(*) as active from firsts f join active a using (member_id) group by 1, 2
), months as (
	-- every month from the cohort's first to the latest with a purchase,
	-- so that a month in which none of a cohort bought shows 0
	select s.cohort, m::date as month, s.members
	from sizes s, generate_series(s.cohort::timestamp,
		(select date_trunc('month', max(day)) from loyalty.member_purchase_days), interval '1 month') m
)
select m.cohort, m.month,
	((extract(year from m.month) - extract(year from m.cohort)) * 12 + extract(month from m.month) - extract(month from m.cohort))::int as months_since_first,
	m.members as cohort_members,
	coalesce(c.active, 0) as active_members,
	(coalesce(c.active, 0)::numeric / m.members)::numeric(6, 4) as retention
from months m
left join counts c using (cohort, month);

comment on view loyalty.cohort_retention is 'Members by the month (UTC) of their first purchase and the share of them that bought in each later month. A view over member_purchase_days.';
comment on column loyalty.cohort_retention.cohort is 'First day of the month of the members'' first purchase.';
comment on column loyalty.cohort_retention.month is 'First day of each month from the cohort''s to the latest month with a purchase.';
comment on column loyalty.cohort_retention.months_since_first is 'Months from cohort to month (0 is the first month).';
comment on column loyalty.cohort_retention.cohort_members is 'Members in the cohort.';
comment on column loyalty.cohort_retention.active_members is 'Of them, members with a purchase in the month (0 when none bought).';
comment on column loyalty.cohort_retention.retention is 'active_members / cohort_members.';

create view loyalty.activity_by_month as
with months as (
	select member_id, date_trunc('month', day)::date as month, sum(orders) as orders, sum(spend) as spend
	from loyalty.member_purchase_days group by 1, 2
), calendar as (
	-- every month from the first purchase to the latest, so that a month
	-- without buyers shows 0 and the month after it compares with that
	select m::date as month
	from generate_series((select date_trunc('month', min(day)) from loyalty.member_purchase_days),
		(select date_trunc('month', max(day)) from loyalty.member_purchase_days), interval '1 month') m
), totals as (
	select c.month, count(m.member_id) as buyers, coalesce(sum(m.orders), 0)::bigint as orders,
		coalesce(sum(m.spend), 0)::bigint as revenue
	from calendar c left join months m using (month) group by c.month
), lapsed as (
	select (m.month + interval '1 month')::date as month, count(*) as lapsed
	from months m
	where not exists (select 1 from months n where n.member_id = m.member_id and n.month = (m.month + interval '1 month')::date)
	group by 1
)
select t.month, t.buyers, t.orders, t.revenue,
	(t.orders::numeric / nullif(t.buyers, 0))::numeric(10, 3) as purchase_frequency,
	(t.revenue::numeric / nullif(t.orders, 0))::numeric(14, 2) as average_order_value,
	p.buyers as previous_buyers,
	(coalesce(l.lapsed, 0)::numeric / nullif(p.buyers, 0))::numeric(6, 4) as churn_rate
from totals t
left join totals p on p.month = (t.month - interval '1 month')::date
left join lapsed l on l.month = t.month;

comment on view loyalty.activity_by_month is 'Buyers, orders and revenue per calendar month (UTC) from the first purchase to the latest, with purchase frequency, average order value and the monthly churn rate. The latest month may still be open: its churn rate counts the month before''s buyers who have not bought yet. A view over member_purchase_days.';
comment on column loyalty.activity_by_month.month is 'First day of the month.';
comment on column loyalty.activity_by_month.buyers is 'Members with a purchase in the month (0 in a month without any).';
comment on column loyalty.activity_by_month.orders is 'Orders placed in the month.';
comment on column loyalty.activity_by_month.revenue is 'Their qualifying spend net of refunds (minor units, program currency).';
comment on column loyalty.activity_by_month.purchase_frequency is 'orders / buyers; null without buyers.';
comment on column loyalty.activity_by_month.average_order_value is 'revenue / orders (minor units); null without orders.';
comment on column loyalty.activity_by_month.previous_buyers is 'Buyers of the month before; null for the first month.';
comment on column loyalty.activity_by_month.churn_rate is 'Share of the month before''s buyers with no purchase this month; null when the month before had no buyers or is before the first.';

create view loyalty.tier_distribution_by_month as
with months as (
	select generate_series(date_trunc('month', min(occurred_at at time zone 'UTC')),
		date_trunc('month', max(occurred_at at time zone 'UTC')), interval '1 month')::date as month
	from loyalty.tier_changes
), latest as (
	select distinct on (m.month, t.member_id) m.month, t.to_tier
	from months m
	join loyalty.tier_changes t on t.occurred_at < ((m.month + interval '1 month')::timestamp at time zone 'UTC')
	order by m.month, t.member_id, t.occurred_at desc, t.ledger_seq desc, t.fact_index desc
)
select month, to_tier as tier, count(*) as members
from latest group by month, to_tier;

comment on view loyalty.tier_distribution_by_month is 'Members per tier at the end of each calendar month (UTC), from the first tier change to the latest. A view over tier_changes.';
comment on column loyalty.tier_distribution_by_month.month is 'First day of the month; counts are at its end.';
comment on column loyalty.tier_distribution_by_month.tier is 'Tier name.';
comment on column loyalty.tier_distribution_by_month.members is 'Members in that tier at the end of the month.';

alter table loyalty.projection_checkpoints add column rebuilt_at timestamptz;
comment on column loyalty.projection_checkpoints.rebuilt_at is 'When `loyalty projections rebuild` last swapped in a rebuilt copy of the projection; null if never. serve refits the analytics models after a rebuild of activity.';
