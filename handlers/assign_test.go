package handlers

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/pointsledger/loyalty/streams"
)

func engineIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = uuid.NewString()
	}
	return ids
}

func TestAssignGivesEachEngineItsShare(t *testing.T) {
	for n := 1; n <= 9; n++ {
		for trial := range 50 {
			ids := engineIDs(n)
			owners := assign(ids)
			if len(owners) != streams.Partitions {
				t.Fatalf("%d engines: %d partitions assigned, want %d", n, len(owners), streams.Partitions)
			}
			low, high := streams.Partitions/n, (streams.Partitions+n-1)/n
			for _, id := range ids {
				got := len(partitionsOf(owners, id))
				if got < low || got > high {
					t.Fatalf("%d engines, trial %d: %s owns %d, want %d-%d", n, trial, id, got, low, high)
				}
			}
		}
	}
}

func TestAssignIsTheSameWhoeverComputesIt(t *testing.T) {
	ids := engineIDs(4)
	reversed := []string{ids[3], ids[2], ids[1], ids[0], ids[2]}
	a, b := assign(ids), assign(reversed)
	for p := range streams.Partitions {
		if a[p] != b[p] {
			t.Fatalf("partition %d: %s from one order of the list, %s from another", p, a[p], b[p])
		}
	}
}

// moves counts the partitions whose owner changed, and those an engine
// live in both lost.
func moves(before, after map[int]string, live map[string]bool) (moved, takenFromStayer int) {
	for p := range streams.Partitions {
		if before[p] != after[p] {
			moved++
			if live[before[p]] {
				takenFromStayer++
			}
		}
	}
	return moved, takenFromStayer
}

func TestAssignMovesLittleWhenAnEngineLeavesOrJoins(t *testing.T) {
	worstLeave, worstJoin := 0, 0
	for trial := range 200 {
		ids := engineIDs(3)
		three := assign(ids)
		two := assign(ids[:2])
		live := map[string]bool{ids[0]: true, ids[1]: true}
		moved, fromStayers := moves(three, two, live)
		leaver := len(partitionsOf(three, ids[2]))
		// An engine that leaves: its partitions move, and the others
		// may trade a few to stay even (at most 6 in 2,000 trials).
		worstLeave = max(worstLeave, moved-leaver)
		if moved-leaver > 8 || fromStayers > 8 {
			t.Fatalf("trial %d: %d partitions moved when an engine with %d left (%d from engines that stayed)", trial, moved, leaver, fromStayers)
		}
		// It comes back: it takes its share, and little else moves.
		moved, _ = moves(two, three, map[string]bool{ids[0]: true, ids[1]: true})
		worstJoin = max(worstJoin, moved-leaver)
		if moved-leaver > 8 {
			t.Fatalf("trial %d: %d partitions moved when an engine joined to take %d", trial, moved, leaver)
		}
	}
	t.Logf("partitions moved beyond the leaver's share: at most %d on a leave, %d on a join (200 trials)", worstLeave, worstJoin)
}

// An engine id names lease keys (engines.<id>) and a consumer
// (engine-<id>): one that could reach other keys or subjects is refused.
func TestEngineIDsThatCouldNameOtherKeysAreRefused(t *testing.T) {
	for _, id := range []string{"a.b", "*", ">", "a b", "engines.x", "x/y", "é", string(make([]byte, 65))} {
		if err := (EngineConfig{EngineID: id}).Validate(); err == nil || !strings.Contains(err.Error(), "EngineID") {
			t.Errorf("EngineID %q: %v, want it refused", id, err)
		}
	}
	for _, id := range []string{"engine-a", "0f3c2d1e-aaaa-bbbb-cccc-000000000000", "A_1"} {
		if err := (EngineConfig{EngineID: id}).Validate(); err != nil && strings.Contains(err.Error(), "EngineID") {
			t.Errorf("EngineID %q refused: %v", id, err)
		}
	}
}
