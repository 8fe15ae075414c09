package domain

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// StateVersion is the layout of AppendBinary. Bump it whenever Member, or
// what Evolve keeps in it, changes meaning: the engine's store records the
// version it was written with, and a start with another one empties the
// store and folds the whole ledger again (keyindex.Index.Bind). A snapshot
// of another version is never decoded.
const StateVersion = 8

// ErrSnapshot means a member snapshot cannot be decoded: damaged, or of
// another StateVersion.
var ErrSnapshot = errors.New("member snapshot cannot be decoded")

// AppendBinary appends the member's whole state to b, for the engine's
// snapshots: DecodeMember gives back a member that decides and evolves as
// this one does. Maps are written in key order, so equal states encode to
// equal bytes.
func (m *Member) AppendBinary(b []byte) ([]byte, error) {
	if m.forked {
		return b, errors.New("a fork of a member is not snapshotted: it lives within one decision")
	}
	w := snapshotWriter{b: append(b, StateVersion)}
	w.str(m.ID)
	w.time(m.EnrolledAt)
	w.int(m.Balance)
	w.int(m.Lifetime)
	w.str(m.Tier)
	w.time(m.TierSince)
	w.time(m.TierExpires)
	w.str(m.TierFloor)
	w.time(m.FirstActivity)
	w.time(m.LastActivity)
	w.int(m.Purchases)
	w.int(m.Debt)
	w.int(m.Redeemed)
	w.str(m.ReferredBy)
	w.int(int64(m.Birthday.Month))
	w.int(int64(m.Birthday.Day))
	w.time(m.lastBirthday)
	w.time(m.lastAnniversary)
	w.time(m.noticedUntil)
	w.int(m.Pending)
	w.str(string(m.Status))
	w.time(m.StatusSince)
	w.time(m.ErasedAt)
	w.scores(m.Scores)
	w.time(m.ScoredAt)
	writeSlice(&w, m.Attributes, w.attribute)
	writeMap(&w, m.experiments, func(x, arm string) {
		w.str(x)
		w.str(arm)
	})
	writeMap(&w, m.ruleFired, func(rule string, at time.Time) {
		w.str(rule)
		w.time(at)
	})
	w.time(m.LastPurchaseAt)
	writeMap(&w, m.withheld, func(rule string, at time.Time) {
		w.str(rule)
		w.time(at)
	})
	w.int(m.QualifyingSpend)
	w.days(m.spend)
	w.orders(m.orders)
	writeMap(&w, m.visitBonuses, func(day int64, bonuses int) {
		w.int(day)
		w.int(int64(bonuses))
	})
	w.dayMap(m.ruleDays)
	w.lots(m.lots)
	writeSlice(&w, m.visitDays, w.int)
	w.dayMap(m.rewardDays)
	w.requests(m.requests)
	w.days(m.tierPoints)
	w.int(m.progress.Value)
	w.str(m.progress.NextTier)
	w.int(m.progress.Missing)
	w.str(m.progress.Projected)
	writeMap(&w, m.holds, func(id string, h hold) {
		w.str(id)
		w.int(h.points)
		w.lots(h.lots)
		w.time(h.at)
		w.str(h.reward)
		w.int(h.quantity)
	})
	writeMap(&w, m.spent, func(id string, s spent) {
		w.str(id)
		w.time(s.at)
		w.int(s.points)
		w.str(s.reward)
		w.int(s.quantity)
		w.lots(s.lots)
		w.bool(s.stocked)
		w.bool(s.cancelled)
	})
	writeMap(&w, m.vouchers, func(code string, v voucher) {
		w.str(code)
		w.str(v.redemption)
		w.str(v.reward)
		w.time(v.expires)
		w.bool(v.used)
		w.bool(v.cancelled)
	})
	writeMap(&w, m.stockTaken, w.strInt)
	// The queues are sorted lists: written as they are, so the decoded
	// member takes from them in the same order.
	writeSlice(&w, m.orderAges, func(a orderAge) {
		w.time(a.placedAt)
		w.str(a.id)
	})
	writeSlice(&w, m.pendingQueue, func(e pendingEntry) {
		w.time(e.at)
		w.str(e.order)
	})
	writeSlice(&w, m.requestAges, func(a requestAge) {
		w.int(a.day)
		w.uint(uint64(a.ref.Kind))
		w.str(a.ref.ID)
	})
	return w.b, nil
}

// DecodeMember decodes what AppendBinary wrote.
func DecodeMember(b []byte) (*Member, error) {
	if len(b) == 0 || b[0] != StateVersion {
		return nil, fmt.Errorf("%w: not of state version %d", ErrSnapshot, StateVersion)
	}
	r := snapshotReader{b: b[1:]}
	m := &Member{ID: r.str(), EnrolledAt: r.time(), Balance: r.int(), Lifetime: r.int(), Tier: r.str(),
		TierSince: r.time(), TierExpires: r.time(), TierFloor: r.str(), FirstActivity: r.time(),
		LastActivity: r.time(), Purchases: r.int(), Debt: r.int(), Redeemed: r.int(), ReferredBy: r.str()}
	m.Birthday = Birthday{Month: time.Month(r.int()), Day: int(r.int())}
	m.lastBirthday, m.lastAnniversary, m.noticedUntil = r.time(), r.time(), r.time()
	m.Pending, m.Status, m.StatusSince = r.int(), MemberStatus(r.str()), r.time()
	m.ErasedAt = r.time()
	m.Scores, m.ScoredAt = r.scores(), r.time()
	m.Attributes = readSlice(&r, 5, r.attribute)
	m.experiments = readMap(&r, 2, func() (string, string) { return r.str(), r.str() })
	m.ruleFired = readMap(&r, 3, func() (string, time.Time) { return r.str(), r.time() })
	m.LastPurchaseAt = r.time()
	m.withheld = readMap(&r, 3, func() (string, time.Time) { return r.str(), r.time() })
	m.QualifyingSpend = r.int()
	m.spend = r.days()
	m.orders = r.orders()
	m.visitBonuses = readMap(&r, 2, func() (int64, int) { return r.int(), int(r.int()) })
	m.ruleDays = r.dayMap()
	m.lots = r.lots()
	m.visitDays = readSlice(&r, 1, r.int)
	m.rewardDays = r.dayMap()
	m.requests = r.requests()
	m.tierPoints = r.days()
	m.progress = TierOutlook{Value: r.int(), NextTier: r.str(), Missing: r.int(), Projected: r.str()}
	m.holds = readMap(&r, 3, func() (string, hold) {
		return r.str(), hold{points: r.int(), lots: r.lots(), at: r.time(), reward: r.str(), quantity: r.int()}
	})
	m.spent = readMap(&r, 8, func() (string, spent) {
		return r.str(), spent{at: r.time(), points: r.int(), reward: r.str(), quantity: r.int(), lots: r.lots(),
			stocked: r.bool(), cancelled: r.bool()}
	})
	m.vouchers = readMap(&r, 6, func() (string, voucher) {
		return r.str(), voucher{redemption: r.str(), reward: r.str(), expires: r.time(), used: r.bool(), cancelled: r.bool()}
	})
	m.stockTaken = readMap(&r, 2, r.strInt)
	m.orderAges = readSlice(&r, 3, func() orderAge { return orderAge{placedAt: r.time(), id: r.str()} })
	m.pendingQueue = readSlice(&r, 3, func() pendingEntry { return pendingEntry{at: r.time(), order: r.str()} })
	m.requestAges = readSlice(&r, 3, func() requestAge {
		return requestAge{day: r.int(), ref: RequestRef{Kind: RequestKind(r.uint()), ID: r.str()}}
	})
	if r.failed || len(r.b) != 0 {
		return nil, fmt.Errorf("%w: member %q", ErrSnapshot, m.ID)
	}
	return m, nil
}

// snapshotWriter appends a snapshot's fields: integers as varints, strings
// and collections with their length first.
type snapshotWriter struct{ b []byte }

func (w *snapshotWriter) int(v int64)   { w.b = binary.AppendVarint(w.b, v) }
func (w *snapshotWriter) uint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *snapshotWriter) count(n int)   { w.uint(uint64(n)) }

func (w *snapshotWriter) str(s string) {
	w.count(len(s))
	w.b = append(w.b, s...)
}

func (w *snapshotWriter) bool(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}

// time keeps the instant, not the location: the state's times are UTC.
func (w *snapshotWriter) time(t time.Time) {
	w.int(t.Unix())
	w.uint(uint64(t.Nanosecond()))
}

// writeSlice writes a list as its length, then each element with elem.
func writeSlice[T any](w *snapshotWriter, s []T, elem func(T)) {
	w.count(len(s))
	for _, v := range s {
		elem(v)
	}
}

// writeMap writes a map as its length, then each entry with entry, in key
// order: equal maps encode to equal bytes.
func writeMap[K cmp.Ordered, V any](w *snapshotWriter, m map[K]V, entry func(K, V)) {
	w.count(len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		entry(k, m[k])
	}
}

// strInt writes an entry of a map of strings to integers.
func (w *snapshotWriter) strInt(k string, v int64) {
	w.str(k)
	w.int(v)
}

func (w *snapshotWriter) scores(s Scores) {
	w.str(s.FitID)
	w.int(s.PAlivePPM)
	w.str(s.RiskBand)
	w.int(s.PredictedValue.Minor)
	w.str(s.PredictedValue.Currency)
	w.str(s.ValueBand)
	w.str(s.Segment)
}

func (w *snapshotWriter) attribute(a Attribute) {
	w.str(a.Name)
	w.str(string(a.Kind))
	w.str(a.String)
	w.int(a.Int)
	w.bool(a.Bool)
}

func (w *snapshotWriter) days(ds []daySpend) {
	writeSlice(w, ds, func(d daySpend) {
		w.int(d.day)
		w.int(d.amount)
	})
}

func (w *snapshotWriter) dayMap(m map[string][]daySpend) {
	writeMap(w, m, func(k string, ds []daySpend) {
		w.str(k)
		w.days(ds)
	})
}

func (w *snapshotWriter) lots(ls []lot) {
	writeSlice(w, ls, func(l lot) {
		w.time(l.expires)
		w.int(l.remaining)
	})
}

func (w *snapshotWriter) requests(rs map[RequestRef]RedemptionOutcome) {
	w.count(len(rs))
	refs := slices.SortedFunc(maps.Keys(rs), func(a, b RequestRef) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.ID, b.ID))
	})
	for _, ref := range refs {
		o := rs[ref]
		w.uint(uint64(ref.Kind))
		w.str(ref.ID)
		w.time(o.At)
		w.int(o.Points)
		w.str(string(o.Rejected))
		w.bool(o.Held)
	}
}

func (w *snapshotWriter) orders(os map[string]*Order) {
	writeMap(w, os, func(id string, o *Order) {
		w.str(id)
		w.time(o.PlacedAt)
		w.int(o.Total.Minor)
		w.str(o.Total.Currency)
		writeSlice(w, o.Lines, func(l LineItem) {
			w.str(l.SKU)
			w.str(l.Category)
			w.int(l.Quantity)
			w.int(l.UnitPrice)
		})
		w.int(o.QualifyingSpend)
		w.int(o.Earned)
		w.int(o.Bonus)
		w.int(o.Refunded)
		w.int(o.Reversed)
		w.int(o.QualifyingLost)
		w.int(o.Pending)
		w.time(o.AvailableAt)
		w.bool(o.FeedbackRewarded)
		writeMap(w, o.returned, w.strInt)
	})
}

// snapshotReader reads what snapshotWriter wrote. A read past the end or of
// a malformed number sets failed, and every read after it gives zero.
type snapshotReader struct {
	b      []byte
	failed bool
}

func (r *snapshotReader) fail() { r.b, r.failed = nil, true }

func (r *snapshotReader) int() int64   { return readVarint(r, binary.Varint) }
func (r *snapshotReader) uint() uint64 { return readVarint(r, binary.Uvarint) }

// readVarint reads one number with decode, binary.Varint or binary.Uvarint.
func readVarint[T int64 | uint64](r *snapshotReader, decode func([]byte) (T, int)) T {
	v, n := decode(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a collection's length, each element of which takes at least
// min bytes: a length the rest cannot hold is damage, not an allocation.
func (r *snapshotReader) count(min int) int {
	n := r.uint()
	if n > uint64(len(r.b)/min) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *snapshotReader) str() string {
	n := r.uint()
	if r.failed || n > uint64(len(r.b)) {
		r.fail()
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *snapshotReader) bool() bool {
	if len(r.b) == 0 || r.b[0] > 1 {
		r.fail()
		return false
	}
	v := r.b[0] == 1
	r.b = r.b[1:]
	return v
}

func (r *snapshotReader) time() time.Time {
	sec, nsec := r.int(), r.uint()
	if nsec >= 1e9 {
		r.fail()
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// readSlice reads a list written as its length, then its elements, each
// of which takes at least min bytes. An empty list reads as nil, as the
// member's state keeps it.
func readSlice[T any](r *snapshotReader, min int, elem func() T) []T {
	n := r.count(min)
	if n == 0 {
		return nil
	}
	s := make([]T, n)
	for i := range s {
		s[i] = elem()
	}
	return s
}

// readMap reads a map written as its length, then its entries (key first),
// each of which takes at least min bytes. An empty map reads as nil.
func readMap[K comparable, V any](r *snapshotReader, min int, entry func() (K, V)) map[K]V {
	n := r.count(min)
	if n == 0 {
		return nil
	}
	m := make(map[K]V, n)
	for range n {
		k, v := entry()
		m[k] = v
	}
	return m
}

// strInt reads what snapshotWriter.strInt wrote.
func (r *snapshotReader) strInt() (string, int64) { return r.str(), r.int() }

func (r *snapshotReader) scores() Scores {
	return Scores{FitID: r.str(), PAlivePPM: r.int(), RiskBand: r.str(),
		PredictedValue: Money{Minor: r.int(), Currency: r.str()}, ValueBand: r.str(), Segment: r.str()}
}

func (r *snapshotReader) attribute() Attribute {
	return Attribute{Name: r.str(), Kind: AttributeKind(r.str()), String: r.str(), Int: r.int(), Bool: r.bool()}
}

func (r *snapshotReader) days() []daySpend {
	return readSlice(r, 2, func() daySpend { return daySpend{day: r.int(), amount: r.int()} })
}

func (r *snapshotReader) dayMap() map[string][]daySpend {
	return readMap(r, 2, func() (string, []daySpend) { return r.str(), r.days() })
}

func (r *snapshotReader) lots() []lot {
	return readSlice(r, 3, func() lot { return lot{expires: r.time(), remaining: r.int()} })
}

func (r *snapshotReader) requests() map[RequestRef]RedemptionOutcome {
	return readMap(r, 7, func() (RequestRef, RedemptionOutcome) {
		return RequestRef{Kind: RequestKind(r.uint()), ID: r.str()},
			RedemptionOutcome{At: r.time(), Points: r.int(), Rejected: RedemptionReason(r.str()), Held: r.bool()}
	})
}

func (r *snapshotReader) orders() map[string]*Order {
	n := r.count(17)
	if n == 0 {
		return nil
	}
	os := make(map[string]*Order, n)
	for range n {
		id := r.str()
		o := &Order{PlacedAt: r.time(), Total: Money{Minor: r.int(), Currency: r.str()}}
		o.Lines = readSlice(r, 4, func() LineItem {
			return LineItem{SKU: r.str(), Category: r.str(), Quantity: r.int(), UnitPrice: r.int()}
		})
		o.QualifyingSpend, o.Earned, o.Bonus, o.Refunded = r.int(), r.int(), r.int(), r.int()
		o.Reversed, o.QualifyingLost, o.Pending = r.int(), r.int(), r.int()
		o.AvailableAt, o.FeedbackRewarded = r.time(), r.bool()
		o.returned = readMap(r, 2, r.strInt)
		os[id] = o
		if r.failed {
			return nil
		}
	}
	return os
}
