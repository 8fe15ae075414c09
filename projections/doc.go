// Package projections keeps the PostgreSQL read models that analysts query,
// built from the LOYALTY_LEDGER stream.
//
// A [Projection] turns batches of ledger records into rows. A [Runner] feeds
// projections from the ledger with an ordered consumer, starting after their
// checkpoints, and commits each batch to each projection together with its
// new checkpoint in one transaction, so every record is applied exactly once
// whatever crashes, restarts or redeliveries happen. [Migrate] creates and
// upgrades the tables (schema loyalty); docs/tables.md and the COMMENTs in
// the database describe them.
//
// Two projections exist: [Members] (members, points_ledger, tier_changes) and
// [Activity] (purchases, refunds, visits, feedback). Each has its own
// checkpoint, so one can be rebuilt without the other. `loyalty serve` runs
// both from one runner ([NewSharedRunner]), which reads and decodes the
// ledger once and applies each batch to both at once, each in its own
// transaction with its checkpoint.
package projections
