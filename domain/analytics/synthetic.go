package analytics

import (
	"math/rand/v2"

	"gonum.org/v1/gonum/stat/distuv"
)

// Synthetic is a population drawn from known parameters, for testing that
// a fit finds them again and for benchmarks.
type Synthetic struct {
	Histories []History
	// Spends holds each member's repeat purchases and their mean value, in
	// the order of Histories.
	Spends []Spend
}

// Synthesize draws members from the models' own story: each member has a
// purchase rate λ ~ Gamma(r, α) and a dropout probability p ~ Beta(a, b),
// buys at time 0 and then at exponential intervals of rate λ until the end
// of observation, dropping out after each repeat purchase with probability
// p; each purchase is worth Gamma(p, ν) with ν ~ Gamma(q, γ) per member.
// Ages are spread evenly over [minAge, maxAge]. Same seed, same members.
func Synthesize(bg BGNBD, gg GammaGamma, members int, minAge, maxAge float64, seed uint64) Synthetic {
	src := rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)
	rng := rand.New(src)
	rate := distuv.Gamma{Alpha: bg.R, Beta: bg.Alpha, Src: src}
	dropout := distuv.Beta{Alpha: bg.A, Beta: bg.B, Src: src}
	spendRate := distuv.Gamma{Alpha: gg.Q, Beta: gg.Gamma, Src: src}
	out := Synthetic{Histories: make([]History, members), Spends: make([]Spend, members)}
	for i := range members {
		age := minAge + (maxAge-minAge)*rng.Float64()
		lambda, p := rate.Rand(), dropout.Rand()
		h := History{Age: age}
		for t := 0.0; ; {
			t += rng.ExpFloat64() / lambda
			if t > age {
				break
			}
			h.Frequency++
			h.Recency = t
			if rng.Float64() < p {
				break
			}
		}
		out.Histories[i] = h
		s := Spend{Frequency: h.Frequency}
		if h.Frequency > 0 {
			value := distuv.Gamma{Alpha: gg.P, Beta: spendRate.Rand(), Src: src}
			sum := 0.0
			for range h.Frequency {
				sum += value.Rand()
			}
			s.Mean = sum / float64(h.Frequency)
		}
		out.Spends[i] = s
	}
	return out
}
