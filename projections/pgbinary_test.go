package projections

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/projections/pgtest"
)

// TestArrayParamsReadAsPgxWrites sends the same arrays twice, encoded by
// arrayParams and by pgx, and has PostgreSQL say whether each pair is equal:
// nulls, empty arrays, extreme integers, times before 1970 and 2000 and with
// nanoseconds, and text beyond ASCII.
func TestArrayParamsReadAsPgxWrites(t *testing.T) {
	pool := pgtest.NewDatabase(t)
	ctx := context.Background()
	at := func(s string) *time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return &v
	}
	str := func(s string) *string { return &s }
	num := func(n int64) *int64 { return &n }
	ints := []int64{0, -1, 1, math.MaxInt64, math.MinInt64, 1 << 40}
	nullableInts := []*int64{num(7), nil, num(-300)}
	texts := []string{"", "a.b", "x y", "ünï ✓", "*", ">"}
	nullableTexts := []*string{nil, str("gold"), nil}
	bools := []bool{true, false, true}
	times := []*time.Time{at("2026-12-02T13:04:05.123456789Z"), nil, at("1969-12-31T23:59:59.999999999Z"),
		at("1999-12-31T23:59:59.5+02:00"), at("2000-01-01T00:00:00Z"), at("0001-01-01T00:00:00Z")}

	var params arrayParams
	params.int8s(ints)
	params.nullableInt8s(nullableInts)
	params.texts(texts)
	params.nullableTexts(nullableTexts)
	params.bools(bools)
	params.nullableTimes(times)
	params.int8s(nil)
	params.nullableTimes([]*time.Time{nil})

	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// Ours stored in binary, then compared with pgx's encoding of the same
	// values in a second statement.
	if _, err := tx.Exec(ctx, `create temp table ours (i int8[], ni int8[], t text[], nt text[], b bool[], tm timestamptz[],
		e int8[], nn timestamptz[])`); err != nil {
		t.Fatal(err)
	}
	if err := execArrays(ctx, tx, "insert_ours", `insert into ours values ($1, $2, $3, $4, $5, $6, $7, $8)`, &params); err != nil {
		t.Fatalf("PostgreSQL refused the arrays: %v", err)
	}
	var equal [8]bool
	var emptyLen *int
	err = tx.QueryRow(ctx, `select i = $1, ni is not distinct from $2, t = $3, nt is not distinct from $4, b = $5,
		tm is not distinct from $6, e = $7, nn is not distinct from $8, cardinality(e) from ours`,
		ints, nullableInts, texts, nullableTexts, bools, times, []int64{}, []*time.Time{nil}).
		Scan(&equal[0], &equal[1], &equal[2], &equal[3], &equal[4], &equal[5], &equal[6], &equal[7], &emptyLen)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(equal[:], false) {
		var read [8]string
		if err := tx.QueryRow(ctx, `select i::text, ni::text, t::text, nt::text, b::text, tm::text, e::text, nn::text from ours`).
			Scan(&read[0], &read[1], &read[2], &read[3], &read[4], &read[5], &read[6], &read[7]); err != nil {
			t.Fatal(err)
		}
		for i, ok := range equal {
			if !ok {
				t.Errorf("parameter %d: PostgreSQL read %s, which differs from what pgx sends", i+1, read[i])
			}
		}
	}
	if emptyLen == nil || *emptyLen != 0 {
		t.Errorf("empty array: cardinality %v, want 0", emptyLen)
	}
}
