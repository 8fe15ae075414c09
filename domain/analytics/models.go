package analytics

// The models' names, as model_fits, member_churn and model_validations
// record them.
const (
	ModelBGNBD     = "bgnbd"
	ModelParetoNBD = "pareto_nbd"
)

// Models are the purchase models the engine fits, in the order it tries
// them.
var Models = []string{ModelBGNBD, ModelParetoNBD}

// Model is a fitted model of how often members buy and when they drop out.
type Model interface {
	Name() string
	LogLikelihood(h History) float64
	// ProbabilityAlive is the probability that a member with history h is
	// still active at the end of observation.
	ProbabilityAlive(h History) float64
	// ExpectedPurchases is the number of purchases a member with history h
	// is expected to make in the next t time units. With a zero History it
	// is what a member who has just made a first purchase is expected to
	// buy again in t.
	ExpectedPurchases(h History, t float64) float64
}

// Name is how the model is recorded.
func (p BGNBD) Name() string { return ModelBGNBD }
