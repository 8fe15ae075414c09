-- member_purchase_days and member_rfm (016) hold only what the activity
-- projection applied after 016 ran: purchases projected before it are
-- missing. Both are rebuilt here from the purchases and refunds the
-- projection already holds, as it keeps them (refunds count on the day of
-- their order), so a database upgraded with history gets it too.
delete from loyalty.member_purchase_days;

insert into loyalty.member_purchase_days (member_id, day, orders, spend)
select p.member_id, (p.occurred_at at time zone 'UTC')::date, count(*), sum(p.qualifying_spend + coalesce(r.spend, 0))
from loyalty.purchases p
left join (select member_id, order_id, sum(qualifying_spend) as spend from loyalty.refunds group by 1, 2) r
	using (member_id, order_id)
group by 1, 2;

delete from loyalty.member_rfm;

insert into loyalty.member_rfm (member_id, first_purchase_on, last_purchase_on, frequency, recency_days, monetary_value,
	orders, revenue, average_order_value)
select member_id, min(day), max(day), count(*) - 1, max(day) - min(day),
	case when count(*) > 1 then (sum(spend) - sum(spend) filter (where day = first_day))::numeric / (count(*) - 1) end,
	sum(orders), sum(spend), sum(spend)::numeric / sum(orders)
from (select *, min(day) over (partition by member_id) as first_day from loyalty.member_purchase_days) d
group by member_id;
