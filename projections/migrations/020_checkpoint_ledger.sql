-- A checkpoint is a position in one ledger stream. When the stream was
-- deleted and created again, the same sequence numbers name other records:
-- the projections resumed in the new stream after their old checkpoint and
-- skipped its first records without a word. The creation time of the stream
-- a checkpoint was written against tells the two apart; the runner refuses
-- to start when they differ (projections.ErrLedgerReplaced).
alter table loyalty.projection_checkpoints add column ledger_created timestamptz;

comment on column loyalty.projection_checkpoints.ledger_created is 'Creation time of the LOYALTY_LEDGER stream this checkpoint counts in (JetStream stream info, to the microsecond); null until the projection first starts, and after a rebuild. A projection does not start on a ledger created at another time: the stream was deleted or replaced.';
