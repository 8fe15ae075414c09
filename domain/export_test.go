package domain

import (
	"maps"
	"slices"
)

// Normalized is m with its empty collections nil, as DecodeMember gives
// them: the one way a decoded member may differ from the folded one.
func Normalized(m *Member) *Member {
	c := deepCopy(m)
	nilIfEmpty(&c.spend)
	nilIfEmpty(&c.lots)
	nilIfEmpty(&c.visitDays)
	nilIfEmpty(&c.tierPoints)
	nilIfEmpty(&c.orderAges)
	nilIfEmpty(&c.pendingQueue)
	nilIfEmpty(&c.requestAges)
	for _, o := range c.orders {
		nilIfEmpty(&o.Lines)
		nilIfEmptyMap(&o.returned)
	}
	for id, h := range c.holds {
		nilIfEmpty(&h.lots)
		c.holds[id] = h
	}
	for id, r := range c.spent {
		nilIfEmpty(&r.lots)
		c.spent[id] = r
	}
	for _, days := range []map[string][]daySpend{c.ruleDays, c.rewardDays} {
		for k, d := range days {
			nilIfEmpty(&d)
			days[k] = d
		}
	}
	nilIfEmptyMap(&c.orders)
	nilIfEmptyMap(&c.visitBonuses)
	nilIfEmptyMap(&c.ruleDays)
	nilIfEmptyMap(&c.rewardDays)
	nilIfEmptyMap(&c.requests)
	nilIfEmptyMap(&c.holds)
	nilIfEmptyMap(&c.stockTaken)
	nilIfEmptyMap(&c.spent)
	nilIfEmptyMap(&c.vouchers)
	return c
}

func nilIfEmpty[S ~[]E, E any](s *S) {
	if len(*s) == 0 {
		*s = nil
	}
}

func nilIfEmptyMap[M ~map[K]V, K comparable, V any](m *M) {
	if len(*m) == 0 {
		*m = nil
	}
}

// deepCopy copies every part of m's state.
func deepCopy(m *Member) *Member {
	c := *m
	c.spend = slices.Clone(m.spend)
	c.tierPoints = slices.Clone(m.tierPoints)
	c.lots = slices.Clone(m.lots)
	c.visitDays = slices.Clone(m.visitDays)
	if m.orders != nil {
		c.orders = make(map[string]*Order, len(m.orders))
		for id, o := range m.orders {
			oc := *o
			oc.returned = maps.Clone(o.returned)
			c.orders[id] = &oc
		}
	}
	c.visitBonuses = maps.Clone(m.visitBonuses)
	c.ruleDays = cloneDays(m.ruleDays)
	c.rewardDays = cloneDays(m.rewardDays)
	c.requests = maps.Clone(m.requests)
	c.orderAges = slices.Clone(m.orderAges)
	c.pendingQueue = slices.Clone(m.pendingQueue)
	c.requestAges = slices.Clone(m.requestAges)
	c.holds = maps.Clone(m.holds)
	c.stockTaken = maps.Clone(m.stockTaken)
	c.spent = maps.Clone(m.spent)
	c.vouchers = maps.Clone(m.vouchers)
	return &c
}
