// Package cdnow reads the CDNOW sample (sample.csv.gz beside this file,
// see PROVENANCE.md), the data set the buy-till-you-die literature
// publishes its fits and holdout checks on, for the tests that reproduce
// them. The tests open the file; the engine's binary does not carry it.
package cdnow

import (
	"compress/gzip"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"
)

// File is the sample's name in this package's directory.
const File = "sample.csv.gz"

// The published checks fit to the purchases up to the end of
// CalibrationEnd and compare with the 39 weeks to the end of HoldoutEnd.
var (
	CalibrationEnd = time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC)
	HoldoutEnd     = time.Date(1998, 6, 30, 0, 0, 0, 0, time.UTC)
)

// Purchase is one purchase day of one customer.
type Purchase struct {
	// Customer is the sample's customer id, 1 to 2,357.
	Customer int
	Day      time.Time
	// Cents is the day's spend in US cents.
	Cents int64
}

// Read returns every purchase day of the sample read from r (File, as
// it is, gzipped), in customer and date order.
func Read(r io.Reader) ([]Purchase, error) {
	z, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("the CDNOW sample: %w", err)
	}
	records, err := csv.NewReader(z).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("the CDNOW sample: %w", err)
	}
	out := make([]Purchase, 0, len(records))
	for i, r := range records[1:] {
		p := Purchase{}
		var errs [3]error
		p.Customer, errs[0] = strconv.Atoi(r[0])
		p.Day, errs[1] = time.Parse("20060102", r[1])
		p.Cents, errs[2] = strconv.ParseInt(r[2], 10, 64)
		for _, err := range errs {
			if err != nil {
				return nil, fmt.Errorf("the CDNOW sample, line %d: %w", i+2, err)
			}
		}
		out = append(out, p)
	}
	return out, nil
}
