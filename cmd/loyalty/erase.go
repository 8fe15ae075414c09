package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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
It needs --database-url and the operator's NATS user (it purges streams).
An unknown or already erased member is refused, and nothing changes.
docs/privacy.md says what is kept where.`,
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
	keys, err := streams.ReadMemberKeys(ctx, js)
	if err != nil {
		return err
	}
	var refused []error
	var decided []string
	for _, id := range ids {
		if err := decideErasure(ctx, js, pool, keys, secret, id, o); err != nil {
			refused = append(refused, err)
			continue
		}
		decided = append(decided, id)
	}
	if o.pending {
		if decided, err = pendingErasures(ctx, pool); err != nil {
			return err
		}
	}
	if len(decided) > 0 {
		renames := map[string]string{}
		for _, id := range decided {
			renames[id] = streams.ErasedID(streams.MemberToken(secret, id))
		}
		report, err := completeErasures(ctx, js, pool, keys, renames, o.wait)
		if err != nil {
			return err
		}
		for _, id := range decided {
			fmt.Fprintf(out, "erased %s\n", renames[id])
		}
		fmt.Fprint(out, report)
	}
	return errors.Join(refused...)
}

// decideErasure has the engine decide the member's erasure and waits until
// the projections hold it.
func decideErasure(ctx context.Context, js jetstream.JetStream, pool *pgxpool.Pool, keys *streams.MemberKeys, secret []byte, id string, o *eraseOptions) error {
	if erased, err := keys.Erased(ctx, streams.MemberToken(secret, id)); err != nil {
		return err
	} else if erased {
		return fmt.Errorf("member %q was erased already: nothing to do (%s)", id, domain.ReasonMemberErased)
	}
	if ok, err := erasureRecorded(ctx, pool, id); err != nil || ok {
		return err // decided before: only the completion is left
	}
	var known bool
	if err := pool.QueryRow(ctx, `select exists (select 1 from loyalty.members where member_id = $1)`, id).Scan(&known); err != nil {
		return err
	}
	if !known {
		return fmt.Errorf("no member %q is on record: check the id (ids are exact: case, spaces and dots count); nothing was erased (%s)",
			id, domain.ReasonUnknownMember)
	}
	ev := domain.Event{ID: "erase-" + uuid.NewString(), Type: domain.TypeErasure, Source: "loyalty-cli", MemberID: id,
		OccurredAt: time.Now().UTC(), Body: domain.ErasureRequest{Channel: o.channel}}
	if err := domain.Validate(ev, ev.OccurredAt); err != nil {
		return fmt.Errorf("member %q: %w", id, err)
	}
	data, err := streams.EncodeEvent(ev)
	if err != nil {
		return err
	}
	subject, err := streams.InputSubject(ev.Type, id)
	if err != nil {
		return err
	}
	if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: data, Header: nats.Header{jetstream.MsgIDHeader: {ev.ID}}}); err != nil {
		return fmt.Errorf("publish the erasure of %q: %w", id, err)
	}
	deadline := time.Now().Add(o.wait)
	for time.Now().Before(deadline) {
		if ok, err := erasureRecorded(ctx, pool, id); err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("the erasure of %q was not in loyalty.erasures within %s: is loyalty serve running? "+
		"Run loyalty member erase --pending once it is (the request is stored)", id, o.wait)
}

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

// completeErasures completes decided erasures (renames: member id to
// erased id). Each step can be run again: an interrupted run is completed
// by --pending. The key goes first, so that from then on no reader can
// reveal the members; the tables are renamed once the projections have
// read everything appended before; the streams are swept last.
func completeErasures(ctx context.Context, js jetstream.JetStream, pool *pgxpool.Pool, keys *streams.MemberKeys,
	renames map[string]string, wait time.Duration) (string, error) {
	for _, erased := range renames {
		token, _ := streams.ErasedToken(erased)
		if err := keys.Erase(ctx, token); err != nil {
			return "", err
		}
	}
	if err := waitProjections(ctx, js, pool, wait); err != nil {
		return "", err
	}
	if err := projections.RenameErased(ctx, pool, renames); err != nil {
		return "", err
	}
	return sweepStreams(ctx, js, renames)
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
