package projections

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// docs/tables.md documents the loyalty schema column by column for analysts.
// The tests in this file keep it in step with the migrations: every table
// and column of a freshly migrated database must have its section and row,
// with the same type, nullability and description (the COMMENT, word for
// word), and every ```sql block on the page must run.

// tablesDocPath is docs/tables.md, relative to this package's directory
// (where go test runs).
const tablesDocPath = "../docs/tables.md"

// docColumnsHeader is the header row of every column table in the document.
var docColumnsHeader = []string{"column", "type", "null", "description"}

// docSchemaTable is a table of schema loyalty as the catalog describes it.
type docSchemaTable struct {
	Name       string
	Comment    string
	PrimaryKey []string // key columns; nil when the table has none
	Indexes    []string // other indexes, as "name (col, col)", sorted
	Columns    []docSchemaColumn
}

type docSchemaColumn struct {
	Name     string
	Type     string // as the document writes it, see docTypeName
	Nullable bool
	Comment  string
}

// docTypeName is how the document names a type: PostgreSQL's format_type,
// with timestamptz for the long spelling.
func docTypeName(formatType string) string {
	switch formatType {
	case "timestamp with time zone":
		return "timestamptz"
	case "timestamp without time zone":
		return "timestamp"
	}
	return formatType
}

func docNullName(nullable bool) string {
	if nullable {
		return "yes"
	}
	return "no"
}

// docRow is the markdown row the document should have for c.
func (c docSchemaColumn) docRow() string {
	return fmt.Sprintf("| `%s` | %s | %s | %s |", c.Name, c.Type, docNullName(c.Nullable),
		strings.ReplaceAll(c.Comment, "|", `\|`))
}

// readDocSchema reads every table of schema loyalty (tables, views and
// materialized views alike) with its columns, keys and comments.
func readDocSchema(ctx context.Context, q Querier) ([]docSchemaTable, error) {
	rows, err := q.Query(ctx, `
		select c.relname, coalesce(obj_description(c.oid, 'pg_class'), '')
		from pg_class c
		where c.relnamespace = $1::regnamespace and c.relkind in ('r', 'p', 'v', 'm') and not c.relispartition
		order by c.relname`, Schema)
	if err != nil {
		return nil, fmt.Errorf("read tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (docSchemaTable, error) {
		var t docSchemaTable
		return t, row.Scan(&t.Name, &t.Comment)
	})
	if err != nil {
		return nil, fmt.Errorf("read tables: %w", err)
	}
	byName := make(map[string]*docSchemaTable, len(tables))
	for i := range tables {
		byName[tables[i].Name] = &tables[i]
	}

	rows, err = q.Query(ctx, `
		select c.relname, a.attname, format_type(a.atttypid, a.atttypmod), not a.attnotnull,
		       coalesce(col_description(c.oid, a.attnum), '')
		from pg_class c
		join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
		where c.relnamespace = $1::regnamespace and c.relkind in ('r', 'p', 'v', 'm') and not c.relispartition
		order by c.relname, a.attnum`, Schema)
	if err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}
	var table, typ string
	var col docSchemaColumn
	_, err = pgx.ForEachRow(rows, []any{&table, &col.Name, &typ, &col.Nullable, &col.Comment}, func() error {
		col.Type = docTypeName(typ)
		byName[table].Columns = append(byName[table].Columns, col)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}

	rows, err = q.Query(ctx, `
		select t.relname, i.relname, x.indisprimary,
		       array(select pg_get_indexdef(x.indexrelid, k, true) from generate_series(1, x.indnkeyatts) k order by k)
		from pg_index x
		join pg_class t on t.oid = x.indrelid
		join pg_class i on i.oid = x.indexrelid
		where t.relnamespace = $1::regnamespace
		order by t.relname, i.relname`, Schema)
	if err != nil {
		return nil, fmt.Errorf("read indexes: %w", err)
	}
	var index string
	var primary bool
	var keys []string
	_, err = pgx.ForEachRow(rows, []any{&table, &index, &primary, &keys}, func() error {
		t, ok := byName[table]
		if !ok {
			return nil // an index on a partition
		}
		if primary {
			t.PrimaryKey = slices.Clone(keys)
		} else {
			t.Indexes = append(t.Indexes, fmt.Sprintf("%s (%s)", index, strings.Join(keys, ", ")))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read indexes: %w", err)
	}
	return tables, nil
}

// docTable is one "## loyalty.name" section of the document.
type docTable struct {
	Name       string
	Line       int    // of the heading
	Text       string // the section's prose, bullets included, whitespace collapsed
	PrimaryKey string // the "- Primary key:" bullet; "" when missing
	Indexes    string // the "- Indexes:" bullet; "" when missing
	Columns    []docColumn
}

type docColumn struct {
	Line                          int
	Name, Type, Null, Description string
}

var (
	docHeading      = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
	docTableHeading = regexp.MustCompile(`^loyalty\.([A-Za-z0-9_]+)$`)
	docSeparator    = regexp.MustCompile(`^:?-+:?$`)
	docCode         = regexp.MustCompile("`([^`]*)`")
	docIndexItem    = regexp.MustCompile(`^([A-Za-z0-9_]+) \((.*)\)$`)
)

// parseTablesDoc splits the document into table sections. A section starts
// at a heading "loyalty.<table>" (of any level) and ends at the next
// heading. It holds one column table, whose header is docColumnsHeader, and
// the bullets "- Primary key:" and "- Indexes:". Lines inside code fences
// are skipped. Problems name the line they are found on.
func parseTablesDoc(doc string) (tables []docTable, problems []string) {
	var (
		cur     *docTable
		prose   []string
		bullet  *string // the key bullet being continued
		inFence bool
		table   int // 0: not in a markdown table; 1: header seen; 2: in the body
		// inColumns: the markdown table being read is the section's column
		// table; seenColumns: the section has one.
		inColumns, seenColumns bool
	)
	finish := func() {
		if cur != nil {
			cur.Text = strings.Join(strings.Fields(strings.Join(prose, " ")), " ")
			cur.PrimaryKey = strings.Join(strings.Fields(cur.PrimaryKey), " ")
			cur.Indexes = strings.Join(strings.Fields(cur.Indexes), " ")
			tables = append(tables, *cur)
		}
		cur, prose, bullet, table, inColumns, seenColumns = nil, nil, nil, 0, false, false
	}
	for i, line := range strings.Split(doc, "\n") {
		n := i + 1
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			inFence = !inFence
			bullet, table, inColumns = nil, 0, false
			continue
		}
		if inFence {
			continue
		}
		if m := docHeading.FindStringSubmatch(line); m != nil {
			finish()
			title := strings.ReplaceAll(m[1], "`", "")
			if tm := docTableHeading.FindStringSubmatch(title); tm != nil {
				cur = &docTable{Name: tm[1], Line: n}
			}
			continue
		}
		if strings.HasPrefix(trimmed, "|") {
			bullet = nil
			cells := docCells(trimmed)
			switch table {
			case 0: // the header row
				table = 1
				isColumns := slices.Equal(cells, docColumnsHeader)
				switch {
				case cur == nil && isColumns:
					problems = append(problems, fmt.Sprintf("line %d: column table outside a \"## loyalty.<table>\" section", n))
				case cur != nil && !isColumns:
					problems = append(problems, fmt.Sprintf("line %d: table in section loyalty.%s has header %q, want %q",
						n, cur.Name, cells, docColumnsHeader))
				case cur != nil && seenColumns:
					problems = append(problems, fmt.Sprintf("line %d: second column table in section loyalty.%s", n, cur.Name))
				case cur != nil:
					inColumns, seenColumns = true, true
				}
			case 1:
				table = 2
				if !slices.ContainsFunc(cells, docSeparator.MatchString) {
					problems = append(problems, fmt.Sprintf("line %d: expected the table's separator row (| --- | ... |)", n))
				}
			default:
				if !inColumns {
					continue
				}
				if len(cells) != len(docColumnsHeader) {
					problems = append(problems, fmt.Sprintf("line %d: row has %d cells, want %d (%s): %s",
						n, len(cells), len(docColumnsHeader), strings.Join(docColumnsHeader, ", "), trimmed))
					continue
				}
				cur.Columns = append(cur.Columns, docColumn{Line: n, Name: strings.Trim(cells[0], "`"),
					Type: strings.Trim(cells[1], "`"), Null: cells[2], Description: cells[3]})
			}
			continue
		}
		table, inColumns = 0, false
		if cur == nil {
			continue
		}
		prose = append(prose, line)
		switch {
		case strings.HasPrefix(trimmed, "- Primary key:"):
			cur.PrimaryKey, bullet = trimmed, &cur.PrimaryKey
		case strings.HasPrefix(trimmed, "- Indexes:"):
			cur.Indexes, bullet = trimmed, &cur.Indexes
		case bullet != nil && trimmed != "" && (line[0] == ' ' || line[0] == '\t'):
			*bullet += " " + trimmed
		default:
			bullet = nil
		}
	}
	finish()
	return tables, problems
}

// docCells splits a markdown table row into trimmed cells; `\|` is a pipe
// inside a cell.
func docCells(row string) []string {
	row = strings.TrimSpace(row)
	row = strings.TrimPrefix(row, "|")
	if strings.HasSuffix(row, "|") && !strings.HasSuffix(row, `\|`) {
		row = row[:len(row)-1]
	}
	var cells []string
	var b strings.Builder
	for i := 0; i < len(row); i++ {
		switch {
		case row[i] == '\\' && i+1 < len(row) && row[i+1] == '|':
			b.WriteByte('|')
			i++
		case row[i] == '|':
			cells = append(cells, strings.TrimSpace(b.String()))
			b.Reset()
		default:
			b.WriteByte(row[i])
		}
	}
	return append(cells, strings.TrimSpace(b.String()))
}

// diffTablesDoc lists every way in which the document differs from the
// schema, each problem naming the table, column or line concerned.
func diffTablesDoc(doc string, schema []docSchemaTable) []string {
	sections, problems := parseTablesDoc(doc)
	byName := make(map[string]docTable, len(sections))
	for _, s := range sections {
		if prev, dup := byName[s.Name]; dup {
			problems = append(problems, fmt.Sprintf("line %d: second section for loyalty.%s (first at line %d)", s.Line, s.Name, prev.Line))
			continue
		}
		byName[s.Name] = s
	}
	inSchema := make(map[string]bool, len(schema))
	for _, want := range schema {
		inSchema[want.Name] = true
		got, ok := byName[want.Name]
		if !ok {
			problems = append(problems, fmt.Sprintf("table loyalty.%s is not documented: add a section \"## loyalty.%s\"", want.Name, want.Name))
			continue
		}
		problems = append(problems, diffDocTable(want, got)...)
	}
	for _, s := range sections {
		if !inSchema[s.Name] {
			problems = append(problems, fmt.Sprintf("line %d: section loyalty.%s documents a table the schema does not have", s.Line, s.Name))
		}
	}
	return problems
}

func diffDocTable(want docSchemaTable, got docTable) []string {
	var problems []string
	add := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf("line %d: loyalty.%s: ", got.Line, want.Name)+fmt.Sprintf(format, args...))
	}

	if c := strings.Join(strings.Fields(want.Comment), " "); !strings.Contains(got.Text, c) {
		add("the section does not quote the table comment %q", want.Comment)
	}

	switch {
	case got.PrimaryKey == "":
		add("no \"- Primary key:\" line")
	case want.PrimaryKey == nil && !strings.HasPrefix(got.PrimaryKey, "- Primary key: none"):
		add("the table has no primary key, but the document says %q", got.PrimaryKey)
	case want.PrimaryKey != nil:
		if pk := "`(" + strings.Join(want.PrimaryKey, ", ") + ")`"; !strings.Contains(got.PrimaryKey, pk) {
			add("primary key is %s, but the document says %q", pk, got.PrimaryKey)
		}
	}

	if got.Indexes == "" {
		add("no \"- Indexes:\" line")
	} else {
		var documented []string
		for _, m := range docCode.FindAllStringSubmatch(got.Indexes, -1) {
			if docIndexItem.MatchString(m[1]) {
				documented = append(documented, m[1])
			}
		}
		for _, ix := range want.Indexes {
			if !slices.Contains(documented, ix) {
				add("index `%s` is not listed on the \"- Indexes:\" line", ix)
			}
		}
		for _, ix := range documented {
			if !slices.Contains(want.Indexes, ix) {
				add("index `%s` is listed but the table has no such index (it has %q)", ix, want.Indexes)
			}
		}
	}

	gotCols := make(map[string]docColumn, len(got.Columns))
	var gotOrder []string
	for _, c := range got.Columns {
		if prev, dup := gotCols[c.Name]; dup {
			problems = append(problems, fmt.Sprintf("line %d: loyalty.%s.%s is documented twice (first at line %d)", c.Line, want.Name, c.Name, prev.Line))
			continue
		}
		gotCols[c.Name] = c
		gotOrder = append(gotOrder, c.Name)
	}
	var wantOrder []string
	for _, w := range want.Columns {
		wantOrder = append(wantOrder, w.Name)
		g, ok := gotCols[w.Name]
		if !ok {
			add("column %s is not documented; add the row\n\t%s", w.Name, w.docRow())
			continue
		}
		at := func(format string, args ...any) {
			problems = append(problems, fmt.Sprintf("line %d: loyalty.%s.%s: ", g.Line, want.Name, w.Name)+fmt.Sprintf(format, args...))
		}
		if g.Type != w.Type {
			at("type is %q in the document, %q in the schema", g.Type, w.Type)
		}
		if g.Null != docNullName(w.Nullable) {
			at("null is %q in the document, want %q (the column is nullable: %v)", g.Null, docNullName(w.Nullable), w.Nullable)
		}
		if g.Description != w.Comment {
			at("description differs from the column comment\n\t  doc: %s\n\twant: %s", g.Description, w.Comment)
		}
	}
	for _, g := range got.Columns {
		if !slices.Contains(wantOrder, g.Name) {
			problems = append(problems, fmt.Sprintf("line %d: loyalty.%s.%s is documented but the table has no such column", g.Line, want.Name, g.Name))
		}
	}
	// Order matters only once the sets agree; until then it is noise.
	if len(problems) == 0 && !slices.Equal(gotOrder, wantOrder) {
		add("columns are in the order %q, the table's order is %q", gotOrder, wantOrder)
	}
	return problems
}

// docSQL is a ```sql block of the document.
type docSQL struct {
	Line    int    // of the opening fence
	Heading string // the nearest heading above it
	SQL     string
}

// docSQLBlocks returns the document's ```sql blocks.
func docSQLBlocks(doc string) []docSQL {
	var blocks []docSQL
	var cur *docSQL
	var heading string
	inFence := false
	for i, line := range strings.Split(doc, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case cur != nil && strings.HasPrefix(trimmed, "```"):
			blocks = append(blocks, *cur)
			cur, inFence = nil, false
		case cur != nil:
			cur.SQL += line + "\n"
		case strings.HasPrefix(trimmed, "```"):
			if !inFence && strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(trimmed, "```")), "sql") {
				cur = &docSQL{Line: i + 1, Heading: heading}
				continue
			}
			inFence = !inFence
		case !inFence:
			if m := docHeading.FindStringSubmatch(line); m != nil {
				heading = m[1]
			}
		}
	}
	return blocks
}

func readTablesDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(tablesDocPath)
	if err != nil {
		t.Fatalf("read the table documentation: %v", err)
	}
	return string(b)
}

// TestDocsTablesMatchSchema checks docs/tables.md against a freshly migrated
// database: a section per table quoting the table comment, with its primary
// key and indexes, and a row per column with the column's type, nullability
// and comment, in the table's column order.
func TestDocsTablesMatchSchema(t *testing.T) {
	doc := readTablesDoc(t)
	pool := migrated(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	schema, err := readDocSchema(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(schema) == 0 {
		t.Fatalf("schema %s has no tables after Migrate", Schema)
	}
	for _, p := range diffTablesDoc(doc, schema) {
		t.Errorf("%s: %s", tablesDocPath, p)
	}
}

// TestDocsExampleQueriesRun runs every ```sql block of docs/tables.md, one
// statement each, in a read-only transaction against a migrated database
// holding the hand-built history, so that errors raised only by real rows
// (casts, JSON, division) show up too.
func TestDocsExampleQueriesRun(t *testing.T) {
	blocks := docSQLBlocks(readTablesDoc(t))
	if len(blocks) == 0 {
		t.Fatalf("%s has no ```sql blocks; the example queries are gone", tablesDocPath)
	}
	pool := migrated(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	projectAll(t, pool, handBuilt(), 0, Members{}, Activity{})

	for _, b := range blocks {
		t.Run(b.Heading, func(t *testing.T) {
			var n int
			err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
				rows, err := tx.Query(ctx, b.SQL)
				if err != nil {
					return err
				}
				for rows.Next() {
					n++
				}
				return rows.Err()
			})
			if err != nil {
				t.Errorf("%s:%d: the query under %q fails: %v\n%s", tablesDocPath, b.Line, b.Heading, err, b.SQL)
				return
			}
			t.Logf("%s:%d: %d rows", tablesDocPath, b.Line, n)
		})
	}
}

// TestDocsTablesDiff shows that diffTablesDoc catches each kind of drift
// and names it.
func TestDocsTablesDiff(t *testing.T) {
	schema := []docSchemaTable{{
		Name:       "things",
		Comment:    "One row per thing.",
		PrimaryKey: []string{"id"},
		Indexes:    []string{"things_at (at)"},
		Columns: []docSchemaColumn{
			{Name: "id", Type: "text", Comment: "Thing id."},
			{Name: "at", Type: "timestamptz", Nullable: true, Comment: "When | where."},
		},
	}}
	good := strings.Join([]string{
		"# Tables",
		"",
		"```sql",
		"## loyalty.inside_a_fence",
		"```",
		"",
		"## loyalty.things",
		"",
		"One row per",
		"thing.",
		"",
		"- Primary key: `(id)`",
		"- Indexes: `things_at",
		"  (at)`, by time.",
		"",
		"| column | type | null | description |",
		"| --- | --- | --- | --- |",
		"| `id` | text | no | Thing id. |",
		"| `at` | timestamptz | yes | When \\| where. |",
		"",
		"## Examples",
		"",
	}, "\n")
	tests := []struct {
		name        string
		old, new    string // replace old with new in good
		wantProblem string // "" for none
	}{
		{name: "in step"},
		{name: "missing table", old: "## loyalty.things", new: "## things", wantProblem: "table loyalty.things is not documented"},
		{name: "stale table", old: "## Examples", new: "## loyalty.gone", wantProblem: "section loyalty.gone documents a table the schema does not have"},
		{name: "missing column", old: "| `id` | text | no | Thing id. |\n", wantProblem: "column id is not documented; add the row\n\t| `id` | text | no | Thing id. |"},
		{name: "stale column", old: "| `id` | text | no | Thing id. |", new: "| `id` | text | no | Thing id. |\n| `old` | text | no | Gone. |", wantProblem: "loyalty.things.old is documented but the table has no such column"},
		{name: "type", old: "| `id` | text |", new: "| `id` | bigint |", wantProblem: `loyalty.things.id: type is "bigint" in the document, "text" in the schema`},
		{name: "nullability", old: "| `at` | timestamptz | yes |", new: "| `at` | timestamptz | no |", wantProblem: `loyalty.things.at: null is "no" in the document, want "yes"`},
		{name: "description", old: "Thing id.", new: "Thing identifier.", wantProblem: "loyalty.things.id: description differs from the column comment"},
		{name: "column order", old: "| `id` | text | no | Thing id. |\n| `at` | timestamptz | yes | When \\| where. |", new: "| `at` | timestamptz | yes | When \\| where. |\n| `id` | text | no | Thing id. |", wantProblem: "columns are in the order"},
		{name: "table comment", old: "One row per", new: "A row per", wantProblem: `does not quote the table comment "One row per thing."`},
		{name: "primary key", old: "`(id)`", new: "`(id, at)`", wantProblem: "primary key is `(id)`"},
		{name: "missing index", old: "`things_at\n  (at)`", new: "none", wantProblem: "index `things_at (at)` is not listed"},
		{name: "stale index", old: ", by time.", new: "; `things_old (id)`.", wantProblem: "index `things_old (id)` is listed but the table has no such index"},
		{name: "no columns header", old: "| column | type | null | description |", new: "| name | type | null | description |", wantProblem: "has header"},
		{name: "short row", old: "| `id` | text | no | Thing id. |", new: "| `id` | text | Thing id. |", wantProblem: "row has 3 cells, want 4"},
		{name: "second section", old: "## Examples", new: "## loyalty.things", wantProblem: "second section for loyalty.things"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := good
			if tt.old != "" {
				if !strings.Contains(doc, tt.old) {
					t.Fatalf("test case: %q is not in the document", tt.old)
				}
				doc = strings.Replace(doc, tt.old, tt.new, 1)
			}
			problems := diffTablesDoc(doc, schema)
			if tt.wantProblem == "" {
				if len(problems) > 0 {
					t.Errorf("diffTablesDoc = %q, want no problems", problems)
				}
				return
			}
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.wantProblem) }) {
				t.Errorf("diffTablesDoc = %q, want a problem containing %q", problems, tt.wantProblem)
			}
		})
	}
}

func TestDocsSQLBlocks(t *testing.T) {
	doc := "# A\n```sql\nselect 1;\n```\n## B\n```\n## not a heading\n```\n```SQL\nselect 2\nfrom x;\n```\n"
	got := docSQLBlocks(doc)
	want := []docSQL{{Line: 2, Heading: "A", SQL: "select 1;\n"}, {Line: 9, Heading: "B", SQL: "select 2\nfrom x;\n"}}
	if !slices.Equal(got, want) {
		t.Errorf("docSQLBlocks = %+v, want %+v", got, want)
	}
}
