package streams

import "github.com/pointsledger/loyalty/domain"

// loyalty.experiment.assigned.v1 in the ledger: domain.ExperimentAssigned and the fields of wireFact it uses.
var factExperimentAssigned = newFactCodec(encodeExperimentAssigned, decodeExperimentAssigned)

func encodeExperimentAssigned(w *wireFact, f domain.ExperimentAssigned) {
	w.Experiment, w.Arm, w.Rules = f.Experiment, f.Arm, f.Withheld
}

func decodeExperimentAssigned(w *wireFact, meta domain.FactMeta) (domain.ExperimentAssigned, error) {
	return domain.ExperimentAssigned{FactMeta: meta, Experiment: w.Experiment, Arm: w.Arm, Withheld: w.Rules}, nil
}
