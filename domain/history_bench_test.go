package domain_test

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

// The cost of one purchase for a member by the size of their history: the
// orders within the two years a member's state remembers. The purchases are
// evenly spaced, so that as each new one comes an old one leaves the
// member's memory and the history stays the size named. A member's cost
// should not grow with that history; the figures are in docs/benchmarks.md.
func BenchmarkPurchaseByHistory(b *testing.B) {
	for _, pendingDays := range []int{0, 14} {
		for _, orders := range []int{0, 1_000, 10_000, 100_000} {
			benchmarkPurchase(b, orders, pendingDays, nil)
		}
		// A new member in a heap that holds another member's 100,000
		// orders: in an engine the garbage collector scans every member,
		// so this, not the bare new member, is what a long history's cost
		// compares with.
		beside := domain.NewMember("beside")
		p := testProgram()
		at := t0.Add(-730 * day)
		for i := range 100_000 {
			id := "b-" + strconv.Itoa(i)
			if _, err := domain.Apply(beside, buy(id, at, id, eur(1000)), p); err != nil {
				b.Fatal(err)
			}
			at = at.Add(730 * day / 100_000)
		}
		benchmarkPurchase(b, 0, pendingDays, beside)
		runtime.KeepAlive(beside)
	}
}

// benchmarkPurchase is one case of BenchmarkPurchaseByHistory; with
// pendingDays, each purchase's points are pending that long (at 100,000
// orders over two years, about 1,900 orders are pending at any time).
func benchmarkPurchase(b *testing.B, orders, pendingDays int, beside *domain.Member) {
	name := fmt.Sprintf("pending=%dd/orders=%d", pendingDays, orders)
	if beside != nil {
		name += "/beside=100000"
	}
	b.Run(name, func(b *testing.B) {
		p := testProgram()
		p.Earning.Pending = domain.Pending{Days: pendingDays}
		m := domain.NewMember(memberID)
		apply := func(ev domain.Event) {
			if _, err := domain.Apply(m, ev, p); err != nil {
				b.Fatal(err)
			}
		}
		apply(enrolled())
		step := 731 * day // past the memory: none stays
		if orders > 0 {
			step = 730 * day / time.Duration(orders)
		}
		at := t0.Add(-time.Duration(orders) * step)
		for i := range orders {
			id := "h-" + strconv.Itoa(i)
			apply(buy(id, at, id, eur(1000)))
			at = at.Add(step)
		}
		b.ResetTimer()
		for i := range b.N {
			id := "n-" + strconv.Itoa(i)
			apply(buy(id, at, id, eur(1000)))
			at = at.Add(step)
		}
	})
}
