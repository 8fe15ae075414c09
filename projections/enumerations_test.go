package projections

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// A column that holds one of a fixed set of values says so three times: in
// a check constraint, in its comment (and so, word for word, in
// docs/tables.md) with each value in backticks, and in the engine's
// constants that write it. These tests hold the three to one another, so
// that a value added to one is added to all.

// enumConstraint matches the definition PostgreSQL gives a check constraint
// of the form "column in ('a', 'b')".
var enumConstraint = regexp.MustCompile(`^CHECK \(\((\w+) = ANY \(ARRAY\[(.*)\]\)\)\)$`)

var enumValue = regexp.MustCompile(`'((?:[^']|'')*)'::text`)

// enumDocValue is a value as a comment names it: one lowercase word in
// backticks (a backticked command such as `loyalty projections rebuild` is
// not one).
var enumDocValue = regexp.MustCompile("`([a-z][a-z0-9_]*)`")

// readEnumConstraints returns the values each enumeration constraint of the
// schema allows, by "table.column".
func readEnumConstraints(t *testing.T, q Querier) map[string][]string {
	t.Helper()
	rows, err := q.Query(context.Background(), `select conrelid::regclass::text, pg_get_constraintdef(oid)
		from pg_constraint where connamespace = $1::regnamespace and contype = 'c'`, Schema)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	var table, def string
	for rows.Next() {
		if err := rows.Scan(&table, &def); err != nil {
			t.Fatal(err)
		}
		m := enumConstraint.FindStringSubmatch(def)
		if m == nil {
			continue
		}
		column := strings.TrimPrefix(table, Schema+".") + "." + m[1]
		for _, v := range enumValue.FindAllStringSubmatch(m[2], -1) {
			out[column] = append(out[column], strings.ReplaceAll(v[1], "''", "'"))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// documentedEnums returns the values each column comment names in
// backticks, by "table.column", for the columns whose comment names any.
func documentedEnums(t *testing.T, q Querier) map[string][]string {
	t.Helper()
	schema, err := readDocSchema(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, table := range schema {
		for _, c := range table.Columns {
			for _, m := range enumDocValue.FindAllStringSubmatch(c.Comment, -1) {
				out[table.Name+"."+c.Name] = append(out[table.Name+"."+c.Name], m[1])
			}
		}
	}
	return out
}

func TestDocumentedEnumerationsAreTheConstraints(t *testing.T) {
	pool := migrated(t)
	constraints := readEnumConstraints(t, pool)
	documented := documentedEnums(t, pool)
	if len(constraints) < 10 {
		t.Fatalf("found %d enumeration constraints (%v); the pattern no longer matches PostgreSQL's definitions",
			len(constraints), slices.Sorted(maps.Keys(constraints)))
	}
	for _, column := range slices.Sorted(maps.Keys(constraints)) {
		if !sameSet(constraints[column], documented[column]) {
			t.Errorf("%s: the check constraint allows %v, its comment (docs/tables.md) names %v in backticks",
				column, constraints[column], documented[column])
		}
	}
	for _, column := range slices.Sorted(maps.Keys(documented)) {
		if constraints[column] == nil {
			t.Errorf("%s: its comment names values %v, but no check constraint holds the column to them",
				column, documented[column])
		}
	}
}

// The engine writes only values the constraints allow, and every value they
// allow is one the engine can write.
func TestEngineEnumerationsAreTheConstraints(t *testing.T) {
	constraints := readEnumConstraints(t, migrated(t))
	for _, c := range []struct {
		column, dir, prefix, typ string
	}{
		{"members.status", "../domain", "Status", "MemberStatus"},
		{"tier_changes.reason", "../domain", "TierReason", ""},
		{"redemptions.reason", "../domain", "Redeem", "RedemptionReason"},
		{"points_ledger.kind", ".", "Kind", ""},
		{"adjustments.refused_reason", "../domain", "Adjust", "RedemptionReason"},
	} {
		consts := stringConsts(t, c.dir, c.prefix, c.typ)
		if !sameSet(consts, constraints[c.column]) {
			t.Errorf("%s: the constraint allows %v, the engine's %s* constants in %s are %v",
				c.column, constraints[c.column], c.prefix, c.dir, consts)
		}
	}
}

// stringConsts returns the values of the string constants in the Go package
// in dir (its test files left out) whose names start with prefix and, when
// typ is set, that are declared of that type.
func stringConsts(t *testing.T, dir, prefix, typ string) []string {
	t.Helper()
	pkgs, err := parser.ParseDir(token.NewFileSet(), dir, func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			ast.Inspect(f, func(n ast.Node) bool {
				spec, ok := n.(*ast.ValueSpec)
				if !ok || len(spec.Values) != len(spec.Names) {
					return true
				}
				if typ != "" {
					if id, ok := spec.Type.(*ast.Ident); !ok || id.Name != typ {
						return true
					}
				}
				for i, name := range spec.Names {
					lit, ok := spec.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING || !strings.HasPrefix(name.Name, prefix) {
						continue
					}
					if v, err := strconv.Unquote(lit.Value); err == nil {
						out = append(out, v)
					}
				}
				return true
			})
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))
	return slices.Equal(slices.Compact(a), slices.Compact(b)) && len(a) > 0
}

// docs/tables.md says which tables each projection writes; a rebuild
// truncates exactly its Tables.
func TestDocumentedProjectionTables(t *testing.T) {
	doc := readTablesDoc(t)
	for _, p := range []Rebuildable{Members{}, Activity{}} {
		line := regexp.MustCompile(`(?m)^- \*\*` + p.Name() + `\*\* writes ([^:]*):`).FindStringSubmatch(doc)
		if line == nil {
			t.Errorf("docs/tables.md has no line \"- **%s** writes ...:\"", p.Name())
			continue
		}
		var documented []string
		for _, m := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(line[1], -1) {
			documented = append(documented, m[1])
		}
		if !sameSet(documented, p.Tables()) {
			t.Errorf("docs/tables.md says %s writes %v; it writes %v", p.Name(), documented, p.Tables())
		}
	}
}
