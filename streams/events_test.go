package streams

import (
	"regexp"
	"slices"
	"testing"

	"github.com/pointsledger/loyalty/domain"
)

// TestEventCodecsCoverTheDomain: every input type the domain accepts has an
// entry in eventCodecs, and no entry names a type the domain does not list.
func TestEventCodecsCoverTheDomain(t *testing.T) {
	for _, typ := range domain.EventTypes {
		if codecByType[typ] == nil {
			t.Errorf("%s is in domain.EventTypes but has no entry in eventCodecs", typ)
		}
	}
	for _, c := range eventCodecs {
		if !slices.Contains(domain.EventTypes, c.typ) {
			t.Errorf("eventCodecs has %s, which domain.EventTypes does not list", c.typ)
		}
	}
}

// TestEventCodecEntriesAreDistinct: tokens are subject tokens and unique,
// digest tags unique but for the legacy tag.
func TestEventCodecEntriesAreDistinct(t *testing.T) {
	token := regexp.MustCompile(`^[a-z]+(-[a-z]+)*$`)
	tags := map[uint64]domain.EventType{}
	tokens := map[string]domain.EventType{}
	types := map[domain.EventType]bool{}
	for _, c := range eventCodecs {
		if types[c.typ] {
			t.Errorf("%s is in eventCodecs twice", c.typ)
		}
		types[c.typ] = true
		if !token.MatchString(c.token) {
			t.Errorf("%s: token %q is not lower-case words joined by '-'", c.typ, c.token)
		}
		if other, dup := tokens[c.token]; dup {
			t.Errorf("%s and %s share token %q", other, c.typ, c.token)
		}
		tokens[c.token] = c.typ
		if other, dup := tags[c.digestTag]; dup && c.digestTag != legacyDigestTag {
			t.Errorf("%s and %s share digest tag %d", other, c.typ, c.digestTag)
		}
		tags[c.digestTag] = c.typ
		if got, ok := TypeForToken(c.token); !ok || got != c.typ {
			t.Errorf("TypeForToken(%q) = %q, %v; want %q", c.token, got, ok, c.typ)
		}
	}
}
