package analytics

import (
	"fmt"
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

// SyntheticHoldout is a population drawn from a model's own story and
// followed past the end of calibration: a Holdout to validate with, and
// the model with the true parameters, whose predictions are the best any
// fit can do.
type SyntheticHoldout struct {
	Holdout Holdout
	Truth   Model
	// PurchaseDays holds each member's purchase days (the first, then the
	// repeats), counted from day 0, in the order of Holdout.Members.
	PurchaseDays [][]int32
}

// SynthesizeHoldout draws members from truth's story (BGNBD or ParetoNBD):
// each member makes a first purchase on a day spread evenly over the first
// birthDays days, then buys at exponential intervals of a rate λ ~
// Gamma(r, α) per member; a BG/NBD member drops out after each repeat
// purchase with a probability p ~ Beta(a, b), a Pareto/NBD member after an
// exponential lifetime of rate μ ~ Gamma(s, β). Purchases are counted in
// whole days, as the engine counts them; daysPerUnit is the models' time
// unit. Same seed, same members.
func SynthesizeHoldout(truth Model, members, birthDays, calibrationDays, holdoutDays, daysPerUnit int, seed uint64) SyntheticHoldout {
	src := rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)
	rng := rand.New(src)
	days := calibrationDays + holdoutDays
	h := Holdout{Length: float64(holdoutDays) / float64(daysPerUnit), DaysPerUnit: daysPerUnit,
		CalibrationDays: calibrationDays, HoldoutDays: holdoutDays,
		FirstPurchases: make([]int, days), RepeatPurchases: make([]int, days),
		Members: make([]HoldoutMember, members)}
	purchaseDays := make([][]int32, members)
	draw := lifeStory(truth, src, rng)
	unit := float64(daysPerUnit)
	for i := range members {
		birth := rng.IntN(min(birthDays, calibrationDays))
		h.FirstPurchases[birth]++
		purchaseDays[i] = []int32{int32(birth)}
		m := HoldoutMember{Calibration: History{Age: float64(calibrationDays-1-birth) / unit}}
		last := birth
		for _, t := range draw(float64(days-birth) / unit) {
			day := birth + int(t*unit)
			if day == last {
				continue // a second purchase the same day is the same purchase day
			}
			last = day
			purchaseDays[i] = append(purchaseDays[i], int32(day))
			h.RepeatPurchases[day]++
			if day < calibrationDays {
				m.Calibration.Frequency++
				m.Calibration.Recency = float64(day-birth) / unit
			} else {
				m.Holdout++
			}
		}
		h.Members[i] = m
	}
	return SyntheticHoldout{Holdout: h, Truth: truth, PurchaseDays: purchaseDays}
}

// lifeStory returns a function that draws a new member and returns the
// times of their repeat purchases before end.
func lifeStory(truth Model, src rand.Source, rng *rand.Rand) func(end float64) []float64 {
	switch p := truth.(type) {
	case BGNBD:
		rate, dropout := distuv.Gamma{Alpha: p.R, Beta: p.Alpha, Src: src}, distuv.Beta{Alpha: p.A, Beta: p.B, Src: src}
		return func(end float64) []float64 {
			lambda, q := rate.Rand(), dropout.Rand()
			var times []float64
			for t := rng.ExpFloat64() / lambda; t < end; t += rng.ExpFloat64() / lambda {
				times = append(times, t)
				if rng.Float64() < q {
					break
				}
			}
			return times
		}
	case ParetoNBD:
		rate, death := distuv.Gamma{Alpha: p.R, Beta: p.Alpha, Src: src}, distuv.Gamma{Alpha: p.S, Beta: p.Beta, Src: src}
		return func(end float64) []float64 {
			lambda, lifetime := rate.Rand(), rng.ExpFloat64()/death.Rand()
			var times []float64
			for t := rng.ExpFloat64() / lambda; t < min(end, lifetime); t += rng.ExpFloat64() / lambda {
				times = append(times, t)
			}
			return times
		}
	}
	panic(fmt.Sprintf("no story for a %T", truth))
}
