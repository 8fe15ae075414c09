package handlers

import (
	"strings"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/streams"
)

// A clock event's id names no member: it holds neither the id nor its
// subject key, differs per member, second and deployment key, and is the
// same for a tick published again.
func TestClockEventIDsNameNoMember(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	member := "ana@example.com"
	id := clockEventID([]byte("key-1"), member, now)
	if strings.Contains(id, member) || strings.Contains(id, streams.MemberKey(member)) || !strings.HasPrefix(id, "clock-k1-") {
		t.Errorf("clock event id %q", id)
	}
	if id != clockEventID([]byte("key-1"), member, now) {
		t.Error("one member and second give two ids")
	}
	for _, other := range []string{clockEventID([]byte("key-2"), member, now), clockEventID([]byte("key-1"), "bob@example.com", now),
		clockEventID([]byte("key-1"), member, now.Add(time.Second))} {
		if other == id {
			t.Errorf("another key, member or second gives the same id %q", id)
		}
	}
}

// A scores event's id is the same for one member, fit and fit time, names
// no member, and differs for another of each.
func TestScoredEventIDsNameNoMember(t *testing.T) {
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	member := "ana@example.com"
	id := scoredEventID([]byte("key-1"), member, "7", at)
	if strings.Contains(id, member) || strings.Contains(id, streams.MemberKey(member)) || !strings.HasPrefix(id, "scored-k1-") {
		t.Errorf("scores event id %q", id)
	}
	if id != scoredEventID([]byte("key-1"), member, "7", at) {
		t.Error("one member and fit give two ids")
	}
	for _, other := range []string{scoredEventID([]byte("key-2"), member, "7", at), scoredEventID([]byte("key-1"), "bob@example.com", "7", at),
		scoredEventID([]byte("key-1"), member, "8", at), scoredEventID([]byte("key-1"), member, "7", at.Add(time.Nanosecond))} {
		if other == id {
			t.Errorf("another key, member, fit or fit time gives the same id %q", id)
		}
	}
}
