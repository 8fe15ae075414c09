package handlers

import (
	"cmp"
	"encoding/binary"
	"hash/fnv"
	"slices"

	"github.com/pointsledger/loyalty/streams"
)

// assign shares the partitions among the live engines (their ids): with n
// engines each gets 64/n of them, or one more, and every engine that
// computes it from the same list gets the same answer (decision 025).
//
// Each (partition, engine) pair has a score, a hash of both; pairs are
// taken best first, a partition going to the first engine that still has
// room. A partition's best engines are the same whoever else is live, so
// when an engine leaves the others keep what they had and share its
// partitions, and when one joins it takes about its share and little more.
func assign(engines []string) map[int]string {
	engines = slices.Compact(slices.Sorted(slices.Values(engines)))
	owners := make(map[int]string, streams.Partitions)
	if len(engines) == 0 {
		return owners
	}
	room := make(map[string]int, len(engines))
	for i, id := range engines {
		room[id] = streams.Partitions / len(engines)
		if i < streams.Partitions%len(engines) {
			room[id]++
		}
	}
	type pair struct {
		partition int
		engine    string
		score     uint64
	}
	pairs := make([]pair, 0, streams.Partitions*len(engines))
	for p := range streams.Partitions {
		for _, id := range engines {
			pairs = append(pairs, pair{p, id, assignScore(p, id)})
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		if c := cmp.Compare(a.partition, b.partition); c != 0 {
			return c
		}
		return cmp.Compare(a.engine, b.engine)
	})
	for _, pr := range pairs {
		if _, taken := owners[pr.partition]; taken || room[pr.engine] == 0 {
			continue
		}
		owners[pr.partition] = pr.engine
		room[pr.engine]--
	}
	return owners
}

// assignScore is the pair's rank: FNV-1a of both, mixed so that ids that
// differ in one character still rank far apart.
func assignScore(partition int, engine string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write(binary.BigEndian.AppendUint16(nil, uint16(partition)))
	_, _ = h.Write([]byte(engine))
	x := h.Sum64()
	// splitmix64's finaliser
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// partitionsOf lists the partitions owners gives to engine, in order.
func partitionsOf(owners map[int]string, engine string) []int {
	var out []int
	for p := range streams.Partitions {
		if owners[p] == engine {
			out = append(out, p)
		}
	}
	return out
}
