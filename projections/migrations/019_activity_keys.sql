-- Event ids are unique per member, not across members: the engine refuses
-- an id that the member's partition has applied, but two members' events
-- may carry the same id, and both are in the ledger. A primary key on
-- event_id alone stopped the activity projection at the second of them, for
-- good. The key is now (ledger_seq, event_id): a ledger message holds one
-- record per input event, all of one partition, where the engine keeps ids
-- unique. New rows also go to the end of the index instead of a random
-- place in it, which makes each insert cheaper.
alter table loyalty.visits drop constraint visits_pkey, add primary key (ledger_seq, event_id);
alter table loyalty.feedback drop constraint feedback_pkey, add primary key (ledger_seq, event_id);
alter table loyalty.refunds drop constraint refunds_pkey, add primary key (ledger_seq, event_id);

comment on column loyalty.visits.event_id is 'Id of the upstream visit event: unique per member, not across members.';
comment on column loyalty.feedback.event_id is 'Id of the upstream feedback event: unique per member, not across members.';
comment on column loyalty.refunds.event_id is 'Id of the upstream refund event: unique per member, not across members.';
