-- Recency, frequency and monetary value per member, the inputs of the
-- buy-till-you-die models (issue: member analytics), kept by the activity
-- projection: purchase days incrementally, each touched member's row
-- recomputed from them in the same transaction.
create table loyalty.member_purchase_days (
	member_id text   not null,
	day       date   not null,
	orders    int    not null,
	spend     bigint not null,
	primary key (member_id, day)
);

comment on table loyalty.member_purchase_days is 'One row per member and UTC day with a purchase: how many orders and their qualifying spend net of refunds (refunds count on the day of their order). Maintained by the "activity" projection.';
comment on column loyalty.member_purchase_days.member_id is 'The member.';
comment on column loyalty.member_purchase_days.day is 'UTC calendar date of the purchases.';
comment on column loyalty.member_purchase_days.orders is 'Orders placed that day.';
comment on column loyalty.member_purchase_days.spend is 'Their qualifying spend in minor units of the program currency, less what refunds of them took back.';

create table loyalty.member_rfm (
	member_id         text   primary key,
	first_purchase_on date   not null,
	last_purchase_on  date   not null,
	frequency         int    not null,
	recency_days      int    not null,
	monetary_value    numeric,
	orders            bigint not null,
	revenue           bigint not null,
	average_order_value numeric not null
);

comment on table loyalty.member_rfm is 'Per member with a purchase, in whole days between UTC calendar dates: frequency (repeat purchase days), recency (first to last purchase day) and monetary value (mean spend of the repeat purchase days), with orders, revenue and average order value. The age T of the models is the as-of date less first_purchase_on. Maintained by the "activity" projection from member_purchase_days.';
comment on column loyalty.member_rfm.member_id is 'The member.';
comment on column loyalty.member_rfm.first_purchase_on is 'UTC date of the first purchase.';
comment on column loyalty.member_rfm.last_purchase_on is 'UTC date of the latest purchase.';
comment on column loyalty.member_rfm.frequency is 'Days with a purchase after the first: purchases on one day count once, the first purchase is not a repeat.';
comment on column loyalty.member_rfm.recency_days is 'Days from the first to the latest purchase day (0 without repeats).';
comment on column loyalty.member_rfm.monetary_value is 'Mean spend (minor units, program currency, net of refunds) of the repeat purchase days; null without repeats.';
comment on column loyalty.member_rfm.orders is 'Orders placed.';
comment on column loyalty.member_rfm.revenue is 'Qualifying spend of all orders net of refunds (minor units, program currency).';
comment on column loyalty.member_rfm.average_order_value is 'revenue / orders.';
