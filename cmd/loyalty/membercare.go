package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/spf13/cobra"

	"github.com/pointsledger/loyalty/handlers"
)

// careOptions are the flags the back office's member commands share.
type careOptions struct {
	requestID, reason, operator string
	timeout                     time.Duration
	asJSON                      bool
}

func (o *careOptions) flags(cmd *cobra.Command, g *globals) {
	f := cmd.Flags()
	f.StringVar(&o.requestID, "request-id", "", "your id for the request, to retry it safely (default: a new one, printed)")
	f.StringVar(&o.reason, "reason", "", "why, as a code to report on (missing_points, goodwill, customer_request, ...) (required)")
	f.StringVar(&o.operator, "operator", g.getenv("LOYALTY_OPERATOR"), "who asks: your back-office user id (or LOYALTY_OPERATOR)")
	f.DurationVar(&o.timeout, "timeout", 10*time.Second, "how long to wait for the engine's decision")
	f.BoolVar(&o.asJSON, "json", false, "print the engine's answer as JSON")
}

// check fills the request id and says what is missing.
func (o *careOptions) check() error {
	switch {
	case o.reason == "":
		return errors.New("--reason is required: a code such as missing_points, goodwill or customer_request")
	case o.operator == "":
		return errors.New("--operator is required (or set LOYALTY_OPERATOR): the back-office user the ledger records")
	case o.timeout <= 0:
		return fmt.Errorf("--timeout %s: want a positive duration such as 10s", o.timeout)
	}
	if o.requestID == "" {
		o.requestID = "cli-" + uuid.NewString()
	}
	return nil
}

func newMemberAdjustCommand(g *globals) *cobra.Command {
	var o careOptions
	var points int64
	var note string
	cmd := &cobra.Command{
		Use:   "adjust MEMBER_ID",
		Short: "Credit (--points 250) or debit (--points -250) a member's points by hand, within the program's limits",
		Long: `Credits or debits a member's points through the engine's service
(loyalty.svc.adjust), within the program's adjustments limits. The request
is decided once: run it again with the same --request-id and the first
decision is shown, nothing more moves.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if points == 0 {
				return errors.New("--points is required: a credit such as 250, or a debit such as -250")
			}
			if err := o.check(); err != nil {
				return err
			}
			req := handlers.AdjustRequestJSON{MemberID: args[0], RequestID: o.requestID, Points: points, ReasonCode: o.reason,
				Note: note, OperatorID: o.operator}
			return g.careRequest(handlers.AdjustSubject, req, &o)
		},
	}
	o.flags(cmd, g)
	cmd.Flags().Int64Var(&points, "points", 0, "points to credit (positive) or debit (negative) (required)")
	cmd.Flags().StringVar(&note, "note", "", "what happened, for the record (personal data: erased with the member)")
	return cmd
}

func newMemberCancelCommand(g *globals) *cobra.Command {
	var o careOptions
	cmd := &cobra.Command{
		Use:   "cancel-redemption MEMBER_ID REDEMPTION_ID",
		Short: "Cancel a member's redemption: its points come back with their own expiry dates",
		Long: `Cancels a member's redemption through the engine's service
(loyalty.svc.cancel): REDEMPTION_ID is the request_id the redemption was
made with. Its points come back to the lots they were taken from, and a
stocked reward's units to its stock. The request is decided once: run it
again with the same --request-id and the first decision is shown.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.check(); err != nil {
				return err
			}
			req := handlers.CancelRequestJSON{MemberID: args[0], RequestID: o.requestID, RedemptionID: args[1], ReasonCode: o.reason,
				OperatorID: o.operator}
			return g.careRequest(handlers.CancelSubject, req, &o)
		},
	}
	o.flags(cmd, g)
	return cmd
}

// careRequest asks the service and prints its answer; a refusal is an
// error, so that scripts see it in the exit status.
func (g *globals) careRequest(subject string, req any, o *careOptions) error {
	data, err := json.Marshal(req)
	if err != nil {
		return err
	}
	return g.withTool("loyalty-member", func(t tool) error {
		msg, err := t.js.Conn().Request(subject, data, o.timeout)
		switch {
		case errors.Is(err, nats.ErrNoResponders):
			return fmt.Errorf("no engine answers on %s: is loyalty serve running, with its service on, and may this user publish there?", subject)
		case errors.Is(err, nats.ErrTimeout):
			return fmt.Errorf("no answer within %s; run again with --request-id %s: it is decided once (a user of "+
				"deploy/nats/permissions.conf also needs --nats-inbox-prefix _INBOX_<user>, or no answer reaches it)", o.timeout, o.requestID)
		case err != nil:
			return fmt.Errorf("%s: %w", subject, err)
		}
		if code := msg.Header.Get(micro.ErrorCodeHeader); code != "" {
			return fmt.Errorf("the engine refused the request (%s): %s", code, msg.Header.Get(micro.ErrorHeader))
		}
		var reply handlers.RedeemReply
		if err := json.Unmarshal(msg.Data, &reply); err != nil {
			return fmt.Errorf("the engine's answer: %w", err)
		}
		if o.asJSON {
			if err := writeJSON(g.stdout, reply); err != nil {
				return err
			}
		} else {
			printCareReply(g.stdout, reply)
		}
		if reply.Status != "accepted" {
			return fmt.Errorf("refused: %s: %s", reply.Reason, reply.Detail)
		}
		return nil
	})
}

func printCareReply(w io.Writer, r handlers.RedeemReply) {
	repeated := ""
	if r.Repeated {
		repeated = " (decided before: nothing more moved)"
	}
	fmt.Fprintf(w, "request %s: %s%s\n", r.RequestID, r.Status, repeated)
	switch {
	case r.Status != "accepted":
	case r.RedemptionID != "":
		fmt.Fprintf(w, "redemption %s: %d points back\n", r.RedemptionID, r.Points)
	default:
		fmt.Fprintf(w, "points %+d\n", r.Points)
	}
	fmt.Fprintf(w, "member %s: balance %d, available %d (ledger message %d)\n", r.MemberID, r.Balance, r.Available, r.LedgerSeq)
}
