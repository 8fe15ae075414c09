package domain_test

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/pointsledger/loyalty"

// allowedEdges says which of the module's packages each may import (by
// prefix; a package may always import those below itself). The layers run
// one way: the domain knows nothing else; the wire format knows the domain;
// the engine (handlers) and the read models (projections) know both and
// never each other; commands wire everything.
var allowedEdges = map[string][]string{
	"domain":      {},
	"programs":    {"domain"},
	"streams":     {"domain"},
	"handlers":    {"domain", "streams"},
	"projections": {"domain", "streams"},
	"cmd":         {"domain", "programs", "streams", "handlers", "projections"},
}

// domainLibraries are the modules the domain may use besides the standard
// library: pure computation, no I/O.
var domainLibraries = []string{"github.com/expr-lang/expr", "gonum.org/v1/gonum", "github.com/google/uuid"}

// ioPackages are standard packages that reach outside the process or its
// clock and randomness: the domain must stay replayable.
var ioPackages = []string{"os", "net", "syscall", "database", "log", "crypto/rand", "io/fs", "io/ioutil", "runtime/debug", "plugin",
	"embed", "hash/maphash", "unsafe"}

// clockAndChance are calls that read the clock or an unseeded random
// source, by package path.
var clockAndChance = map[string][]string{
	// LoadLocation reads the zone database on disk; Local is the machine's zone.
	"time": {"Now", "Since", "Until", "Sleep", "After", "AfterFunc", "Tick", "NewTimer", "NewTicker", "LoadLocation", "Local"},
	"math/rand/v2": {"Int", "IntN", "Int32", "Int32N", "Int64", "Int64N", "Uint", "UintN", "Uint32", "Uint32N", "Uint64", "Uint64N",
		"Float32", "Float64", "ExpFloat64", "NormFloat64", "Perm", "Shuffle", "N"},
	"math/rand": {"Int", "Intn", "Int31", "Int31n", "Int63", "Int63n", "Uint32", "Uint64", "Float32", "Float64",
		"ExpFloat64", "NormFloat64", "Perm", "Shuffle", "Seed", "Read"},
}

type listedPackage struct {
	ImportPath string
	Dir        string
	GoFiles    []string
}

func listModule(t *testing.T) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found %d packages in the module; expected the whole module", len(pkgs))
	}
	return pkgs
}

// layer is the top-level directory of a package of the module.
func layer(importPath string) string {
	rel := strings.TrimPrefix(importPath, module+"/")
	top, _, _ := strings.Cut(rel, "/")
	return top
}

func under(path, prefix string) bool { return path == prefix || strings.HasPrefix(path, prefix+"/") }

// TestPackageEdges: no package imports one of the module's packages its
// layer may not know (see allowedEdges).
func TestPackageEdges(t *testing.T) {
	for _, p := range listModule(t) {
		from := layer(p.ImportPath)
		allowed, known := allowedEdges[from]
		if !known {
			if len(p.GoFiles) > 0 {
				t.Errorf("%s: layer %q is not in allowedEdges; add it with what it may import", p.ImportPath, from)
			}
			continue
		}
		for _, imp := range importsOfDir(t, p.Dir) {
			if !under(imp, module) {
				continue
			}
			to := layer(imp)
			if to == from || slices.Contains(allowed, to) {
				continue
			}
			t.Errorf("%s imports %s: %s may import only %v", p.ImportPath, imp, from, allowed)
		}
	}
}

// domainFiles parses every non-test Go file of the domain's packages,
// whatever its build constraints: a file built only with some tag is still
// code the domain may run.
func domainFiles(t *testing.T) map[string]*ast.File {
	t.Helper()
	files := map[string]*ast.File{}
	for _, p := range listModule(t) {
		if layer(p.ImportPath) != "domain" {
			continue
		}
		names, err := filepath.Glob(filepath.Join(p.Dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range names {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			files[path] = file
		}
	}
	if len(files) == 0 {
		t.Fatal("no domain file was found")
	}
	return files
}

// importsOfDir is what the non-test Go files of dir import, whatever
// their build constraints.
func importsOfDir(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var imports []string
	for _, path := range names {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, spec := range file.Imports {
			imp, _ := strconv.Unquote(spec.Path.Value)
			imports = append(imports, imp)
		}
	}
	return imports
}

// TestDomainDoesNoIO: the domain imports no package that does I/O and no
// library beyond pure computation, so that the same events and program
// always give the same facts.
func TestDomainDoesNoIO(t *testing.T) {
	for path, file := range domainFiles(t) {
		for _, spec := range file.Imports {
			imp, _ := strconv.Unquote(spec.Path.Value)
			switch {
			case under(imp, module):
			case strings.Contains(strings.Split(imp, "/")[0], "."): // a module outside the standard library
				if !slices.ContainsFunc(domainLibraries, func(lib string) bool { return under(imp, lib) }) {
					t.Errorf("%s imports %s, which is not one of the domain's libraries %v", path, imp, domainLibraries)
				}
			case slices.ContainsFunc(ioPackages, func(io string) bool { return under(imp, io) }):
				t.Errorf("%s imports %s: the domain does no I/O", path, imp)
			}
		}
	}
}

// TestDomainReadsNoClock: no non-test file of the domain calls the clock or
// an unseeded random source; time comes in with events, chance from seeds.
func TestDomainReadsNoClock(t *testing.T) {
	for path, file := range domainFiles(t) {
		for _, use := range clockCalls(file) {
			t.Errorf("%s: %s: the domain must not read the clock or unseeded chance", path, use)
		}
	}
}

// clockCalls lists the uses in file of clockAndChance's functions, by the
// name file gives each package.
func clockCalls(file *ast.File) []string {
	names := map[string]string{} // local name -> package path
	for _, imp := range file.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if _, watched := clockAndChance[path]; !watched {
			continue
		}
		local := path[strings.LastIndex(path, "/")+1:]
		if path == "math/rand/v2" {
			local = "rand"
		}
		if imp.Name != nil {
			local = imp.Name.Name
		}
		names[local] = path
	}
	var uses []string
	for _, imp := range file.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if _, watched := clockAndChance[path]; watched && imp.Name != nil && imp.Name.Name == "." {
			uses = append(uses, "a dot import of "+path+" (its functions could not be told from the domain's)")
		}
	}
	ast.Inspect(file, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if id, ok := sel.X.(*ast.Ident); ok && id.Obj == nil {
			if path, ok := names[id.Name]; ok && slices.Contains(clockAndChance[path], sel.Sel.Name) {
				uses = append(uses, path+"."+sel.Sel.Name)
			}
		}
		return true
	})
	return uses
}
