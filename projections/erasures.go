package projections

import "github.com/pointsledger/loyalty/domain"

var erasuresTable = newCopyTable("erasures", "member_id", "channel", "erased_at", "source_event_id", "ledger_seq", "fact_index")

// addErasureRow adds the erasures row of a MemberErased fact; other facts
// add none.
func addErasureRow(rows *copyData, seq int64, i int32, f domain.Fact) {
	e, ok := f.(domain.MemberErased)
	if !ok {
		return
	}
	rows.row()
	rows.text(e.MemberID)
	rows.textOrNull(e.Channel)
	rows.time(e.OccurredAt)
	rows.text(e.EventID)
	rows.int8(seq)
	rows.int4(i)
}
