-- Member account status, from loyalty.member.status_changed.v1 facts.
alter table loyalty.members add column status text not null default 'active';
alter table loyalty.members add column status_since timestamptz;

comment on column loyalty.members.status is 'Account status: active, blocked or closed, as set by the member''s latest status change; blocked and closed members earn no points. active for members never set a status.';
comment on column loyalty.members.status_since is 'Event time of the status change that set the current status; null for members never set a status.';
