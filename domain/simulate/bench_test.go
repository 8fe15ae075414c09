package simulate

import (
	"testing"
)

// BenchmarkGenerate measures generation alone: one op is one event, taken
// from a 20,000-member, one-year simulation (about 475,000 events) that is
// restarted when it runs out. It reports events/s.
func BenchmarkGenerate(b *testing.B) {
	cfg := Config{Members: 20_000, Days: 365, Seed: 1}
	g, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, ok := g.Next(); !ok {
			b.StopTimer()
			if g, err = New(cfg); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
