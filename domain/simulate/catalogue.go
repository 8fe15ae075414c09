package simulate

import "strconv"

// categories are the product categories of the simulated catalogue.
var categories = []string{"grocery", "beauty", "electronics", "fashion", "home", "toys"}

// categoryWeights is how often a basket line falls in each category.
var categoryWeights = []float64{35, 15, 8, 18, 14, 10}

// prices lists, per category, the catalogue's prices in hundredths of a
// major unit, cheapest first. SKU j of category c is prefix(c)-00(j+1).
var prices = [][]int64{
	{129, 249, 399, 549, 799, 999, 1249, 1890},         // grocery
	{499, 799, 1299, 1999, 2999, 3999, 5900, 8900},     // beauty
	{999, 1999, 3499, 5999, 9900, 14900, 29900, 49900}, // electronics
	{999, 1499, 2499, 3999, 5999, 7999, 11900, 18900},  // fashion
	{399, 899, 1499, 2499, 3999, 6999, 12900, 24900},   // home
	{499, 999, 1499, 2499, 3499, 4999, 7999, 12900},    // toys
}

// redeemRewards are rewards of the default program's catalogue
// (programs/default.yaml), and how often each is asked for.
var (
	redeemRewards       = []string{"coffee", "voucher-10", "lounge-pass"}
	redeemRewardWeights = []float64{60, 35, 5}
)

var skuPrefixes = []string{"GRO", "BEA", "ELE", "FAS", "HOM", "TOY"}

// skus holds the SKU names, built once so that events share the strings.
var skus = func() [][]string {
	out := make([][]string, len(prices))
	for c := range prices {
		for j := range prices[c] {
			out[c] = append(out[c], skuPrefixes[c]+"-"+leftPad(strconv.Itoa(j+1), 3))
		}
	}
	return out
}()

// stores are the physical stores; "web" and "app" are the other channels.
var stores = [...]string{"store-berlin", "store-hamburg", "store-munich", "store-paris", "store-lyon", "store-amsterdam"}

// Channels are numbered: stores first, then web and app.
const (
	channelWeb = uint8(len(stores)) + iota
	channelApp
)

func channelName(ch uint8) string {
	switch ch {
	case channelWeb:
		return "web"
	case channelApp:
		return "app"
	}
	return stores[ch]
}

func isStore(ch uint8) bool { return int(ch) < len(stores) }

// foreignRates converts catalogue prices into other currencies, roughly as
// for EUR.
var foreignRates = map[string]float64{"EUR": 1, "USD": 1.08, "GBP": 0.85}

var comments = [...][]string{
	// by rating 1..5 (index rating-1)
	{"Waited far too long at the till.", "Item arrived damaged.", "Nobody could help me.", "Très déçu, commande incomplète."},
	{"Checkout was slow.", "Product was not as described.", "App kept crashing during payment."},
	{"It was okay.", "Fine, nothing special.", "Prices went up again."},
	{"Good selection.", "Friendly staff.", "Quick delivery, thanks!"},
	{"Great service!", "Love the app 👍", "Super schnelle Lieferung, danke!", "Best store in town."},
}

var awkwardIDs = []string{
	"jürgen.müller+%d@example",
	"a.b.%d",
	"x y %d",
	"vip*%d",
	"%d>gold",
	"émilie dupont.%d",
	"山田.太郎.%d",
	"*.>.%d",
	"o'brien > admin %d",
	"ÅSA.ÖBERG_%d",
}

func leftPad(s string, n int) string {
	for len(s) < n {
		s = "0" + s
	}
	return s
}
