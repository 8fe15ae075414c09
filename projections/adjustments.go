package projections

import "github.com/pointsledger/loyalty/domain"

var adjustmentsTable = newCopyTable("adjustments", "member_id", "request_id", "status", "points", "reason_code", "note",
	"operator_id", "refused_reason", "detail", "program_version", "source_event_id", "ledger_seq", "fact_index", "occurred_at")

// addAdjustmentRow adds the adjustments row of a back-office adjustment,
// accepted or refused; other facts add none.
func addAdjustmentRow(rows *copyData, seq int64, i int32, f domain.Fact) {
	var request, status, reasonCode, note, operator, refused, detail, version string
	var points int64
	switch f := f.(type) {
	case domain.PointsAdjusted:
		request, status, points, reasonCode, note = f.RequestID, "accepted", f.Points, f.Reason, f.Note
		operator, version = f.OperatorID, f.ProgramVersion
	case domain.AdjustmentRejected:
		request, status, points, operator, version = f.RequestID, "rejected", f.Points, f.OperatorID, f.ProgramVersion
		refused, detail = string(f.Reason), f.Detail
	default:
		return
	}
	meta := f.Meta()
	rows.row()
	rows.text(meta.MemberID)
	rows.text(request)
	rows.text(status)
	rows.int8(points)
	rows.textOrNull(reasonCode)
	rows.textOrNull(note)
	rows.text(operator)
	rows.textOrNull(refused)
	rows.textOrNull(detail)
	rows.text(version)
	rows.text(meta.EventID)
	rows.int8(seq)
	rows.int4(i)
	rows.time(meta.OccurredAt)
}
