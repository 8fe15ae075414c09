package streams

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"testing"
)

// TestFactCodecsCoverTheDomain: every FactType constant the domain declares
// has an entry in factCodecs, and every entry's type is one of them. The
// domain has no list of its fact types, so its source is read for them.
func TestFactCodecsCoverTheDomain(t *testing.T) {
	pkgs, err := parser.ParseDir(token.NewFileSet(), "../domain", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]bool{}
	for _, pkg := range pkgs {
		for _, file := range pkg.Files {
			for _, decl := range file.Decls {
				gen, ok := decl.(*ast.GenDecl)
				if !ok || gen.Tok != token.CONST {
					continue
				}
				for _, spec := range gen.Specs {
					vs := spec.(*ast.ValueSpec)
					if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "FactType" {
						continue
					}
					for _, v := range vs.Values {
						if lit, ok := v.(*ast.BasicLit); ok {
							s, _ := strconv.Unquote(lit.Value)
							declared[s] = true
						}
					}
				}
			}
		}
	}
	if len(declared) == 0 {
		t.Fatal("found no FactType constants in ../domain")
	}
	for typ := range declared {
		if factCodecByType[typ] == nil {
			t.Errorf("domain declares fact type %s, which has no entry in factCodecs", typ)
		}
	}
	for _, c := range factCodecs {
		if !declared[string(c.typ)] {
			t.Errorf("factCodecs has %s, which the domain does not declare", c.typ)
		}
	}
}
