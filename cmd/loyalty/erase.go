package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/projections"
	"github.com/pointsledger/loyalty/streams"
)

type eraseOptions struct {
	channel string
	pending bool
	wait    time.Duration
}

func newMemberEraseCommand(g *globals) *cobra.Command {
	o := &eraseOptions{}
	cmd := &cobra.Command{
		Use:   "erase MEMBER_ID... | erase --pending",
		Short: "Erase members' personal data (GDPR article 17); their points stay in every total",
		Long: `Erases each member: the engine records the erasure in the ledger (with no
personal data) and takes no event for the id again; then this command
erases the member's key, so that their ledger records read as
erased:<token> without their free text and birth date, renames their rows
in every table to that id, and deletes what the streams and buckets hold
of them (their input, outbound events, dead letters, webhook dead letters,
voucher keys). Balances, revenue, cohorts and model fits stay as they were.

--pending completes the erasures upstream requested
(loyalty.member.erasure_requested.v1) and those an interrupted run left.
Erasing a member again deletes what arrived for them since (their input,
other members' input naming them), and is refused when there is nothing.
An unknown member is refused, and nothing changes. Against your own NATS
and PostgreSQL it needs --database-url and the operator's NATS user (it
deletes messages). docs/privacy.md says what is kept where.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.pending == (len(args) > 0) {
				return errors.New("name the members to erase, or give --pending (not both)")
			}
			return g.withTool("loyalty-erase", func(t tool) error {
				return g.withDatabase(cmd.Context(), func(pool *pgxpool.Pool) error {
					return eraseMembers(cmd.Context(), g.stdout, t.js, pool, args, o)
				})
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.channel, "channel", "back-office", "where the request was taken, recorded with the erasure")
	f.BoolVar(&o.pending, "pending", false, "complete the erasures decided but not completed")
	f.DurationVar(&o.wait, "wait", 2*time.Minute, "how long to wait for the engine's decision and the projections")
	return cmd
}

// eraseMembers has each member's erasure decided, then completes every
// erasure decided; refusals are reported together at the end.
func eraseMembers(ctx context.Context, out io.Writer, js jetstream.JetStream, pool *pgxpool.Pool, ids []string, o *eraseOptions) error {
	secret, err := handlers.ReadFollowUpIDKey(ctx, js)
	if err != nil {
		return fmt.Errorf("the deployment's secret: %w (has loyalty serve ever run against this NATS?)", err)
	}
	keys := streams.ReadMemberKeys(js)
	var refused []error
	var decided, again []string
	for _, id := range slices.Compact(slices.Sorted(slices.Values(ids))) {
		erased, err := decideErasure(ctx, js, pool, keys, secret, id, o)
		switch {
		case err != nil:
			refused = append(refused, err)
		case erased:
			again = append(again, id)
		default:
			decided = append(decided, id)
		}
	}
	if o.pending {
		if decided, err = pendingErasures(ctx, pool); err != nil {
			return err
		}
		if len(decided) == 0 {
			fmt.Fprintln(out, "no erasures pending")
		}
	}
	if len(decided) > 0 {
		if err := completeErasures(ctx, out, js, pool, keys, secret, decided, o.wait); err != nil {
			return err
		}
	}
	for _, id := range again {
		if err := sweepAgain(ctx, out, js, secret, id); err != nil {
			refused = append(refused, err)
		}
	}
	return errors.Join(refused...)
}

// sweepAgain deletes what arrived for a member erased before (their own
// input since, another member's that names them): a repeated erasure
// changes nothing else, and is refused when there is nothing to delete.
func sweepAgain(ctx context.Context, out io.Writer, js jetstream.JetStream, secret []byte, id string) error {
	deleted, report, err := sweepStreams(ctx, js, []string{id})
	if err != nil {
		return err
	}
	if deleted == 0 {
		return fmt.Errorf("member %q was erased already: nothing to do (%s)", id, domain.ReasonMemberErased)
	}
	fmt.Fprintf(out, "%s was erased already, as %s; deleted what arrived since:\n%s", id, streams.ErasedID(streams.MemberToken(secret, id)), report)
	return nil
}

// decideErasure has the engine decide the member's erasure and waits until
// the projections hold it; erased is true for a member erased before.
func decideErasure(ctx context.Context, js jetstream.JetStream, pool *pgxpool.Pool, keys *streams.MemberKeys, secret []byte,
	id string, o *eraseOptions) (erased bool, err error) {
	if strings.HasPrefix(id, domain.ErasedMemberPrefix) {
		return false, fmt.Errorf("%q is the id an erased member's records read as: they were erased already (%s)", id, domain.ReasonMemberErased)
	}
	if erased, err := keys.Erased(ctx, streams.MemberToken(secret, id)); err != nil || erased {
		return erased, err
	}
	if ok, err := erasureRecorded(ctx, pool, id); err != nil || ok {
		return false, err // decided before: only the completion is left
	}
	var known bool
	if err := pool.QueryRow(ctx, `select exists (select 1 from loyalty.members where member_id = $1)`, id).Scan(&known); err != nil {
		return false, err
	}
	if !known {
		return false, fmt.Errorf("no member %q is on record: check the id (ids are exact: case, spaces and dots count); nothing was erased (%s)",
			id, domain.ReasonUnknownMember)
	}
	ev := domain.Event{ID: "erase-" + uuid.NewString(), Type: domain.TypeErasure, Source: "loyalty-cli", MemberID: id,
		OccurredAt: time.Now().UTC(), Body: domain.ErasureRequest{Channel: o.channel}}
	if err := domain.Validate(ev, ev.OccurredAt); err != nil {
		return false, fmt.Errorf("member %q: %w", id, err)
	}
	data, err := streams.EncodeEvent(ev)
	if err != nil {
		return false, err
	}
	subject, err := streams.InputSubject(ev.Type, id)
	if err != nil {
		return false, err
	}
	if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: data, Header: nats.Header{jetstream.MsgIDHeader: {ev.ID}}}); err != nil {
		return false, fmt.Errorf("publish the erasure of %q: %w", id, err)
	}
	deadline := time.Now().Add(o.wait)
	for time.Now().Before(deadline) {
		if ok, err := erasureRecorded(ctx, pool, id); err != nil || ok {
			return false, err
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return false, fmt.Errorf("the erasure of %q was not in loyalty.erasures within --wait %s: is loyalty serve running, and "+
		"are the projections caught up? The request is stored: run loyalty member erase --pending later (or with a longer --wait)", id, o.wait)
}

// erasureRecorded reports whether loyalty.erasures holds the member's
// erasure under their id: decided, not completed.
func erasureRecorded(ctx context.Context, pool *pgxpool.Pool, id string) (bool, error) {
	var ok bool
	err := pool.QueryRow(ctx, `select exists (select 1 from loyalty.erasures where member_id = $1)`, id).Scan(&ok)
	return ok, err
}

// pendingErasures are the erasures decided and not completed: rows of
// loyalty.erasures not renamed yet.
func pendingErasures(ctx context.Context, pool *pgxpool.Pool) ([]string, error) {
	rows, err := pool.Query(ctx, `select member_id from loyalty.erasures where member_id not like 'erased:%' order by erased_at`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// completeErasures completes decided erasures. The key goes first, so
// that from then on no reader can reveal the members; the streams are
// swept once the projections have read everything appended before; the
// tables are renamed last, which marks the erasure complete: a run that
// stops before leaves the row under the id, and --pending takes it up.
// Each step can be run again.
func completeErasures(ctx context.Context, out io.Writer, js jetstream.JetStream, pool *pgxpool.Pool, keys *streams.MemberKeys,
	secret []byte, ids []string, wait time.Duration) error {
	renames := map[string]string{}
	for _, id := range ids {
		token := streams.MemberToken(secret, id)
		if err := keys.Erase(ctx, token); err != nil {
			return err
		}
		renames[id] = streams.ErasedID(token)
	}
	if err := waitProjections(ctx, js, pool, wait); err != nil {
		return err
	}
	_, report, err := sweepStreams(ctx, js, ids)
	if err != nil {
		return fmt.Errorf("%w; the members' keys are erased, run loyalty member erase --pending to complete", err)
	}
	if err := projections.RenameErased(ctx, pool, renames); err != nil {
		return fmt.Errorf("%w; the members' keys are erased, run loyalty member erase --pending to complete", err)
	}
	for _, id := range ids {
		fmt.Fprintf(out, "erased %s as %s\n", id, renames[id])
	}
	fmt.Fprint(out, report)
	fmt.Fprintln(out, "each engine's member snapshots still hold these ids until it folds the ledger again: stop it, delete <data-dir>/keys, start it (docs/operations.md)")
	return nil
}

// waitProjections waits until every projection has applied the ledger as
// it is now.
func waitProjections(ctx context.Context, js jetstream.JetStream, pool *pgxpool.Pool, wait time.Duration) error {
	ledger, err := js.Stream(ctx, streams.LedgerStream)
	if err != nil {
		return err
	}
	info, err := ledger.Info(ctx)
	if err != nil {
		return err
	}
	last := info.State.LastSeq
	deadline := time.Now().Add(wait)
	for {
		var behind int
		err := pool.QueryRow(ctx, `select count(*) from loyalty.projection_checkpoints where ledger_seq < $1`, int64(last)).Scan(&behind)
		if err != nil {
			return err
		}
		if behind == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d projections have not reached ledger seq %d within %s: is loyalty serve running? "+
				"The members' keys are erased; run loyalty member erase --pending to complete", behind, last, wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
