package analytics

import (
	"errors"
	"math"
)

// ValueSettings say how a member's future purchases become money.
type ValueSettings struct {
	// Months is the horizon.
	Months int
	// MonthLength is a month in the models' time unit (30 for days).
	MonthLength float64
	// AnnualDiscountRate discounts each month's value, compounded monthly
	// (0.1 for 10% a year).
	AnnualDiscountRate float64
	// Margin is the share of spend that is profit (1 to value revenue).
	Margin float64
}

// Validate lists what is wrong with the settings.
func (v ValueSettings) Validate() error {
	var errs []error
	if v.Months < 1 || v.Months > 120 {
		errs = append(errs, errors.New("the horizon must be 1 to 120 months"))
	}
	if !(v.MonthLength > 0) {
		errs = append(errs, errors.New("the month length must be positive"))
	}
	if !(v.AnnualDiscountRate >= 0 && v.AnnualDiscountRate < 10) {
		errs = append(errs, errors.New("the annual discount rate must be at least 0 and below 10 (1000%)"))
	}
	if !(v.Margin > 0 && v.Margin <= 1) {
		errs = append(errs, errors.New("the margin must be above 0 and at most 1"))
	}
	return errors.Join(errs...)
}

// Value is a member's predicted purchases and their value over the horizon.
type Value struct {
	Purchases float64
	// Discounted is the margin on the expected spend of those purchases,
	// month by month, discounted to the as-of date.
	Discounted float64
}

// PredictValue is the discounted cash flow of the member's expected
// purchases month by month (the customer_lifetime_value method of the
// lifetimes library): each month's expected purchases, times the expected
// spend per purchase and the margin, discounted by the months elapsed.
func PredictValue(model Model, h History, spend float64, v ValueSettings) Value {
	monthly := math.Pow(1+v.AnnualDiscountRate, 1.0/12) - 1
	var out Value
	before := 0.0
	for m := 1; m <= v.Months; m++ {
		cum := model.ExpectedPurchases(h, float64(m)*v.MonthLength)
		out.Discounted += (cum - before) * spend * v.Margin / math.Pow(1+monthly, float64(m))
		before = cum
	}
	out.Purchases = before
	return out
}
