package handlers_test

import (
	"os"
	"strings"
	"testing"

	"github.com/pointsledger/loyalty/handlers"
)

// docs/events.md's table of dead-letter reasons has a row for every reason a
// dead letter can carry: operators are sent there from the metric and the
// alert.
func TestEventsDocListsEveryDeadLetterReason(t *testing.T) {
	doc, err := os.ReadFile("../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range handlers.DeadLetterReasons() {
		if !strings.Contains(string(doc), "\n| `"+string(r)+"` |") {
			t.Errorf("docs/events.md has no row for the dead-letter reason %s", r)
		}
	}
}
