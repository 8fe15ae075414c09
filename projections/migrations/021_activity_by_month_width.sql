-- activity_by_month cast the average order value to numeric(14, 2) and the
-- purchase frequency to numeric(10, 3): one admitted order of the largest
-- amount (10^12 minor units) made every read of the view fail with
-- "numeric field overflow". The casts are now as wide as the bigint sums
-- they divide. A view's column types cannot be altered in place.
drop view loyalty.activity_by_month;

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
	(t.orders::numeric / nullif(t.buyers, 0))::numeric(20, 3) as purchase_frequency,
	(t.revenue::numeric / nullif(t.orders, 0))::numeric(20, 2) as average_order_value,
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
