-- A LOYALTY_LEDGER message holds one or more records (a partition appends the
-- records of several inputs in one write): ledger_seq names the message, and
-- fact_index counts the facts of the whole message. The data is unchanged;
-- the comments say so.

comment on column loyalty.members.last_ledger_seq is 'LOYALTY_LEDGER stream sequence of the last message that changed this row.';
comment on column loyalty.points_ledger.ledger_seq is 'LOYALTY_LEDGER stream sequence of the message holding the fact (a message holds the records of one or more input events).';
comment on column loyalty.points_ledger.fact_index is 'Position of the fact among the facts of its ledger message (0-based). (ledger_seq, fact_index) identifies a fact.';
comment on column loyalty.tier_changes.ledger_seq is 'LOYALTY_LEDGER stream sequence of the message holding the fact.';
comment on column loyalty.tier_changes.fact_index is 'Position of the fact among the facts of its ledger message (0-based).';
comment on column loyalty.purchases.ledger_seq is 'LOYALTY_LEDGER stream sequence of the message holding the fact.';
comment on column loyalty.refunds.ledger_seq is 'LOYALTY_LEDGER stream sequence of the message holding the fact.';
comment on column loyalty.visits.ledger_seq is 'LOYALTY_LEDGER stream sequence of the message holding the fact.';
comment on column loyalty.feedback.ledger_seq is 'LOYALTY_LEDGER stream sequence of the message holding the fact.';
comment on column loyalty.projection_checkpoints.ledger_seq is 'LOYALTY_LEDGER stream sequence of the last message applied; 0 before the first.';
