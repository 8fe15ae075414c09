package programs

import (
	"testing"
)

// FuzzParse checks that no input makes Parse panic, and that Parse returns
// either a valid program or an error. Its seed corpus, testdata/fuzz/FuzzParse,
// runs with every go test; `go test -fuzz=FuzzParse ./programs/` explores more.
func FuzzParse(f *testing.F) {
	f.Add(DefaultYAML)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		switch {
		case err != nil && p != nil:
			t.Fatalf("Parse returned a program and the error %v", err)
		case err != nil && err.Error() == "":
			t.Fatal("Parse returned an error with no message")
		case err == nil && p == nil:
			t.Fatal("Parse returned neither a program nor an error")
		case err == nil:
			if err := p.Validate(); err != nil {
				t.Fatalf("Parse returned a program that does not validate: %v", err)
			}
		}
	})
}
