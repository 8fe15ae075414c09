// Package programs reads loyalty program files (YAML) into domain.Program.
//
// The file format is the snake_case structure documented in default.yaml,
// the program the engine runs when it is given none. Amounts and ratios are
// read from the text of the YAML scalar, never through float64, so "1.1"
// means exactly 11/10 and "0.10" EUR exactly 10 cents.
package programs

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/pointsledger/loyalty/domain"
)

// DefaultYAML is the default program file. Read it, never modify it: it is
// shared by every caller of LoadDefault.
//
//go:embed default.yaml
var DefaultYAML []byte

// defaultName is how errors in DefaultYAML name the file.
const defaultName = "programs/default.yaml"

// MaxFileBytes bounds a program file; real programs are a few KiB.
const MaxFileBytes = 1 << 20

// Error lists every problem found in one program file. Problems about a
// field are *domain.FieldError (errors.As finds them) whose Field is the
// YAML path, such as "tiers[1].multiplier"; problems about the YAML itself
// (syntax, duplicate keys) name the line.
type Error struct {
	// File is the file as given to Load, or "" for Parse.
	File     string
	Problems []error
}

// Error prints one problem per line, each prefixed with the file, e.g.
// "program programs/x.yaml: tiers[1].multiplier: must be greater than zero".
func (e *Error) Error() string {
	prefix := "program"
	if e.File != "" {
		prefix += " " + e.File
	}
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = prefix + ": " + p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, for errors.Is and errors.As.
func (e *Error) Unwrap() []error { return e.Problems }

// Parse reads a program file's contents and validates the program.
// It returns an *Error listing every problem it found: a YAML syntax error,
// an unknown key or a value of the wrong shape stops decoding and is the only
// problem reported; otherwise every bad value and every rule broken
// (domain.Program.Validate) is reported.
func Parse(data []byte) (*domain.Program, error) {
	return parse("", data)
}

// Load reads and validates the program file at path. Errors name the path;
// besides *Error it returns the error of reading the file.
func Load(path string) (*domain.Program, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return parse(path, data)
}

// LoadDefault returns a fresh copy of the default program (DefaultYAML).
// A test keeps the default valid, so the error is only there for honesty.
func LoadDefault() (*domain.Program, error) {
	return parse(defaultName, DefaultYAML)
}

func parse(name string, data []byte) (*domain.Program, error) {
	versions, err := parseDocs(name, data)
	if err != nil {
		return nil, err
	}
	if len(versions) > 1 {
		return nil, &Error{File: name, Problems: []error{
			fmt.Errorf("holds %d YAML documents (program versions); load it with LoadVersions", len(versions))}}
	}
	return versions[0], nil
}

// ParseVersions reads a program file that holds one or more versions, one
// YAML document each (separated by ---), and checks that they fit together
// (domain.NewPrograms). Problems of a version name it.
func ParseVersions(data []byte) (*domain.Programs, error) {
	return parseVersions("", data)
}

// LoadVersions reads a program's versions from a file (see ParseVersions)
// or from a directory, whose *.yaml and *.yml files hold one or more
// versions each.
func LoadVersions(path string) (*domain.Programs, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("program %s: %w", path, err)
	}
	if !info.IsDir() {
		data, err := readFile(path)
		if err != nil {
			return nil, err
		}
		return parseVersions(path, data)
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("program %s: %w", path, err)
	}
	var versions []*domain.Program
	for _, e := range entries {
		if e.IsDir() || !(strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
			continue
		}
		file := filepath.Join(path, e.Name())
		data, err := readFile(file)
		if err != nil {
			return nil, err
		}
		vs, err := parseDocs(file, data)
		if err != nil {
			return nil, err
		}
		versions = append(versions, vs...)
	}
	if len(versions) == 0 {
		return nil, &Error{File: path, Problems: []error{errors.New("holds no program files (*.yaml)")}}
	}
	ps, err := domain.NewPrograms(versions...)
	if err != nil {
		return nil, &Error{File: path, Problems: unwrapJoined(err)}
	}
	return ps, nil
}

func parseVersions(name string, data []byte) (*domain.Programs, error) {
	versions, err := parseDocs(name, data)
	if err != nil {
		return nil, err
	}
	ps, err := domain.NewPrograms(versions...)
	if err != nil {
		return nil, &Error{File: name, Problems: unwrapJoined(err)}
	}
	return ps, nil
}

// parseDocs converts every document of a file, reporting every problem of
// every version.
func parseDocs(name string, data []byte) ([]*domain.Program, error) {
	if len(data) > MaxFileBytes {
		return nil, &Error{File: name, Problems: []error{fmt.Errorf("is larger than %d bytes", MaxFileBytes)}}
	}
	files, err := decodeAll(data)
	if err != nil {
		return nil, &Error{File: name, Problems: []error{err}}
	}
	var versions []*domain.Program
	var problems []error
	for i, f := range files {
		p, errs := f.program()
		for _, e := range errs {
			if len(files) > 1 {
				e = fmt.Errorf("document %d: %w", i+1, e)
			}
			problems = append(problems, e)
		}
		versions = append(versions, p)
	}
	if len(problems) > 0 {
		return nil, &Error{File: name, Problems: problems}
	}
	return versions, nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("program %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("program %s: %w", path, err)
	}
	return data, nil
}

// unwrapJoined splits an errors.Join result into its parts.
func unwrapJoined(err error) []error {
	if err == nil {
		return nil
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		return joined.Unwrap()
	}
	return []error{err}
}
