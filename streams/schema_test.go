package streams

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pointsledger/loyalty/domain"
)

// The JSON Schemas in docs/schemas are the contract upstream teams validate
// against. These tests hold them, the codec and docs/events.md together: the
// events EncodeEvent writes satisfy the schemas, the schemas' and the docs'
// examples decode and validate, and events the schemas forbid are rejected
// by the engine too.

const schemaDir = "../docs/schemas"

func loadSchema(t *testing.T, typ domain.EventType) map[string]any {
	t.Helper()
	return loadSchemaFile(t, filepath.Join(schemaDir, string(typ)+".json"))
}

// loadSchemaFile reads a JSON Schema and checks it uses only the keywords
// validate knows.
func loadSchemaFile(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("schema: %v", err)
	}
	v, err := parseJSON(raw)
	if err != nil {
		t.Fatalf("schema %s is not JSON: %v", path, err)
	}
	s, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("schema %s is not an object", path)
	}
	if err := checkSchemaKeywords(s, "#"); err != nil {
		t.Fatalf("schema %s: %v", path, err)
	}
	return s
}

func parseJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

func TestSchemasCoverEventTypes(t *testing.T) {
	for _, typ := range domain.EventTypes {
		s := loadSchema(t, typ)
		if got, want := s["$schema"], "https://json-schema.org/draft/2020-12/schema"; got != want {
			t.Errorf("%s: $schema = %v, want %v", typ, got, want)
		}
		if got, want := s["title"], string(typ); got != want {
			t.Errorf("%s: title = %v, want %v", typ, got, want)
		}
		if got, want := schemaAt(s, "properties", "type", "const"), string(typ); got != want {
			t.Errorf("%s: properties.type.const = %v, want %v", typ, got, want)
		}
		if got := schemaAt(s, "properties", "data", "properties", "member_id", "maxLength"); got != json.Number(strconv.Itoa(domain.MaxMemberIDBytes)) {
			t.Errorf("%s: member_id maxLength = %v, want %d", typ, got, domain.MaxMemberIDBytes)
		}
	}
	files, err := filepath.Glob(filepath.Join(schemaDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		typ := domain.EventType(strings.TrimSuffix(filepath.Base(f), ".json"))
		if !slices.Contains(domain.EventTypes, typ) {
			t.Errorf("schema %s is for no event type in domain.EventTypes", f)
		}
	}
}

func schemaAt(s any, path ...string) any {
	for _, p := range path {
		m, ok := s.(map[string]any)
		if !ok {
			return nil
		}
		s = m[p]
	}
	return s
}

func TestSchemasAcceptEncodedEvents(t *testing.T) {
	for _, e := range sampleEvents() {
		s := loadSchema(t, e.Type)
		data, err := EncodeEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		inst, err := parseJSON(data)
		if err != nil {
			t.Fatal(err)
		}
		// The check the brief asks for, spelled out: every required data
		// property is present. validate below checks the rest.
		body := inst.(map[string]any)["data"].(map[string]any)
		for _, req := range schemaAt(s, "properties", "data", "required").([]any) {
			if _, ok := body[req.(string)]; !ok {
				t.Errorf("%s: EncodeEvent left out required data property %s: %s", e.ID, req, data)
			}
		}
		for _, problem := range validate(s, inst, "") {
			t.Errorf("%s: %s does not satisfy its schema: %s", e.ID, data, problem)
		}
	}
}

// acceptExample checks an example from the contract: it satisfies its
// schema, decodes, and passes domain.Validate when it arrives on time.
func acceptExample(t *testing.T, where string, raw []byte) domain.EventType {
	t.Helper()
	inst, err := parseJSON(raw)
	if err != nil {
		t.Errorf("%s: example is not JSON: %v\n%s", where, err, raw)
		return ""
	}
	e, err := DecodeEvent(raw)
	if err != nil {
		t.Errorf("%s: example does not decode: %v\n%s", where, err, raw)
		return ""
	}
	for _, problem := range validate(loadSchema(t, e.Type), inst, "") {
		t.Errorf("%s: example does not satisfy the %s schema: %s", where, e.Type, problem)
	}
	if err := domain.Validate(e, e.OccurredAt); err != nil {
		t.Errorf("%s: example fails domain.Validate: %v", where, err)
	}
	return e.Type
}

func TestSchemaExamples(t *testing.T) {
	for _, typ := range domain.EventTypes {
		examples, _ := loadSchema(t, typ)["examples"].([]any)
		if len(examples) == 0 {
			t.Errorf("schema %s has no examples", typ)
		}
		for i, ex := range examples {
			raw, err := json.Marshal(ex)
			if err != nil {
				t.Fatal(err)
			}
			if got := acceptExample(t, fmt.Sprintf("%s examples[%d]", typ, i), raw); got != "" && got != typ {
				t.Errorf("%s examples[%d] is a %s", typ, i, got)
			}
		}
	}
}

// eventsDoc returns the text of docs/events.md.
func eventsDoc(t *testing.T) []byte {
	t.Helper()
	doc, err := os.ReadFile("../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// Every event in a ```json block of docs/events.md is a valid event.
func TestDocsExamples(t *testing.T) {
	doc := eventsDoc(t)
	seen := map[domain.EventType]bool{}
	blocks := regexp.MustCompile("(?s)```json\n(.*?)```").FindAllSubmatch(doc, -1)
	for i, b := range blocks {
		if !bytes.Contains(b[1], []byte(`"specversion"`)) {
			continue
		}
		if typ := acceptExample(t, fmt.Sprintf("docs/events.md json block %d", i+1), b[1]); typ != "" {
			seen[typ] = true
		}
	}
	for _, typ := range domain.EventTypes {
		if !seen[typ] {
			t.Errorf("docs/events.md has no example of %s", typ)
		}
	}
}

// docs/events.md lists every dead-letter reason, so adding one to the domain
// without documenting it fails here.
func TestDocsListEveryReason(t *testing.T) {
	doc := eventsDoc(t)
	reasons := domainReasons(t)
	reasons = append(reasons, ReasonMalformedJSON, ReasonUnknownType, ReasonOversized,
		"duplicate_event", "event_id_conflict", "subject_mismatch")
	for _, r := range reasons {
		if !bytes.Contains(doc, []byte("| `"+string(r)+"`")) {
			t.Errorf("docs/events.md has no table row for reason %s", r)
		}
	}
}

// domainReasons reads the Reason constants declared in domain/reject.go.
func domainReasons(t *testing.T) []domain.Reason {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../domain/reject.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var reasons []domain.Reason
	for _, lit := range constLiterals([]*ast.File{f}, "Reason") {
		if lit.Kind == token.STRING {
			s, _ := strconv.Unquote(lit.Value)
			reasons = append(reasons, domain.Reason(s))
		}
	}
	if len(reasons) < 10 {
		t.Fatalf("found only %d Reason constants in domain/reject.go", len(reasons))
	}
	return reasons
}

// constLiterals returns the literal values of the constants files declare
// with the named type.
func constLiterals(files []*ast.File, typeName string) []*ast.BasicLit {
	var lits []*ast.BasicLit
	for _, f := range files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != typeName {
					continue
				}
				for _, v := range vs.Values {
					if lit, ok := v.(*ast.BasicLit); ok {
						lits = append(lits, lit)
					}
				}
			}
		}
	}
	return lits
}

// What the schemas forbid, the engine rejects too (in DecodeEvent or in
// domain.Validate), and the validator below is not vacuous.
func TestSchemasRejectBadEvents(t *testing.T) {
	attrs := func(m string) string {
		return event(string(domain.TypeAttributesUpdated), okTime, `{"member_id":"m-42","attributes":`+m+`}`)
	}
	var names []string
	for i := range 33 {
		names = append(names, fmt.Sprintf(`"a%d":%d`, i, i))
	}
	thirtyThree := "{" + strings.Join(names, ",") + "}"
	tests := []struct {
		name string
		in   string
	}{
		{"amount as string", purchase(`{"member_id":"m-42","order_id":"A-1","amount":"1299","currency":"EUR"}`)},
		{"decimal amount", purchase(`{"member_id":"m-42","order_id":"A-1","amount":12.5,"currency":"EUR"}`)},
		{"negative amount", purchase(`{"member_id":"m-42","order_id":"A-1","amount":-1,"currency":"EUR"}`)},
		{"absurd amount", purchase(`{"member_id":"m-42","order_id":"A-1","amount":1000000000001,"currency":"EUR"}`)},
		{"lowercase currency", purchase(`{"member_id":"m-42","order_id":"A-1","amount":1,"currency":"eur"}`)},
		{"no currency", purchase(`{"member_id":"m-42","order_id":"A-1","amount":1}`)},
		{"no member id", purchase(`{"order_id":"A-1","amount":1,"currency":"EUR"}`)},
		{"empty member id", purchase(`{"member_id":"","order_id":"A-1","amount":1,"currency":"EUR"}`)},
		{"member id of 129 characters", purchase(`{"member_id":"` + strings.Repeat("m", 129) + `","order_id":"A-1","amount":1,"currency":"EUR"}`)},
		{"zero quantity", purchase(`{"member_id":"m-42","order_id":"A-1","amount":1,"currency":"EUR","lines":[{"sku":"S","quantity":0,"unit_price":1}]}`)},
		{"line without price", purchase(`{"member_id":"m-42","order_id":"A-1","amount":1,"currency":"EUR","lines":[{"sku":"S","quantity":1}]}`)},
		{"refund without amount or lines", refund(`{"member_id":"m-42","order_id":"A-1"}`)},
		{"refund amount without currency", refund(`{"member_id":"m-42","order_id":"A-1","amount":1}`)},
		{"refund with empty lines", refund(`{"member_id":"m-42","order_id":"A-1","lines":[]}`)},
		{"rating 6", feedback(`{"member_id":"m-42","rating":6}`)},
		{"rating 0", feedback(`{"member_id":"m-42","rating":0}`)},
		{"nps 11", feedback(`{"member_id":"m-42","nps":11}`)},
		{"decimal rating", feedback(`{"member_id":"m-42","rating":4.5}`)},
		{"feedback without score", feedback(`{"member_id":"m-42","comment":"meh"}`)},
		{"no id", strings.Replace(purchase(okPurchase), `"id":"e-1",`, ``, 1)},
		{"no time", strings.Replace(purchase(okPurchase), `"time":"2026-03-01T10:15:00Z",`, ``, 1)},
		{"date only", at(`"2026-03-01"`)},
		{"specversion 0.3", strings.Replace(purchase(okPurchase), `"1.0"`, `"0.3"`, 1)},
		{"data an array", purchase(`[]`)},
		{"NUL in a member id", purchase(`{"member_id":"m\u0000","order_id":"A-1","amount":1,"currency":"EUR"}`)},
		{"C1 control in a sku", purchase(`{"member_id":"m-42","order_id":"A-1","amount":1,"currency":"EUR","lines":[{"sku":"S\u0085","quantity":1,"unit_price":1}]}`)},
		{"order id of 3200 characters", purchase(`{"member_id":"m-42","order_id":"` + strings.Repeat("o", 3200) + `","amount":1,"currency":"EUR"}`)},
		{"escape sequence in a comment", feedback(`{"member_id":"m-42","rating":4,"comment":"\u001b[31mred"}`)},
		{"member id of a reward's stock", purchase(`{"member_id":"stock:mug","order_id":"A-1","amount":1,"currency":"EUR"}`)},
		{"transfer to a reward's stock", event(string(domain.TypeTransfer), okTime, `{"member_id":"m-42","request_id":"t-1","to_member_id":"stock:gift-box","points":5}`)},
		{"referred by a reward's stock", event(string(domain.TypeMemberEnrolled), okTime, `{"member_id":"m-42","referred_by":"stock:gift-box"}`)},
		{"member id of an erased member", purchase(`{"member_id":"erased:t07-0123456789abcdef0123456789abcdef","order_id":"A-1","amount":1,"currency":"EUR"}`)},
		{"transfer to an erased member", event(string(domain.TypeTransfer), okTime, `{"member_id":"m-42","request_id":"t-1","to_member_id":"erased:t07-0123456789abcdef0123456789abcdef","points":5}`)},
		{"attribute of a fraction", attrs(`{"a":1.5}`)},
		{"attribute of an object", attrs(`{"a":{"b":1}}`)},
		{"attribute of an array", attrs(`{"a":[1]}`)},
		{"attribute name in upper case", attrs(`{"Store":"x"}`)},
		{"attribute name with a dot", attrs(`{"a.b":"x"}`)},
		{"attribute name of 65 characters", attrs(`{"` + strings.Repeat("a", 65) + `":"x"}`)},
		{"attribute value of 257 characters", attrs(`{"a":"` + strings.Repeat("v", 257) + `"}`)},
		{"attribute value with an escape sequence", attrs(`{"a":"\u001b[31m"}`)},
		{"no attributes", attrs(`{}`)},
		{"33 attributes", attrs(thirtyThree)},
		{"integer attribute beyond 64 bits", attrs(`{"a":9223372036854775808}`)},
		{"probability alive above one", event(string(domain.TypeMemberScored), okTime, `{"member_id":"m-42","fit_id":"1","p_alive_ppm":1000001,"risk_band":"low","predicted_value":1,"currency":"EUR","value_band":"low","segment":"loyal"}`)},
		{"unknown segment", event(string(domain.TypeMemberScored), okTime, `{"member_id":"m-42","fit_id":"1","p_alive_ppm":1,"risk_band":"low","predicted_value":1,"currency":"EUR","value_band":"low","segment":"whale"}`)},
		{"source of 257 characters", strings.Replace(purchase(okPurchase), `"source":"test"`, `"source":"`+strings.Repeat("s", 257)+`"`, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := parseJSON([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			typ := inst.(map[string]any)["type"].(string)
			if len(validate(loadSchema(t, domain.EventType(typ)), inst, "")) == 0 {
				t.Errorf("the %s schema accepts %s", typ, tt.in)
			}
			e, err := DecodeEvent([]byte(tt.in))
			if err == nil {
				err = domain.Validate(e, sampleTime)
			}
			if !errors.Is(err, domain.ErrRejected) {
				t.Errorf("the engine accepts %s", tt.in)
			}
		})
	}
}

// The validator below implements the part of JSON Schema 2020-12 the
// contract uses, fully; checkSchemaKeywords fails on any other keyword so a
// schema cannot outgrow it unnoticed. format is an annotation (as the spec
// says by default), so time also carries a pattern.
var (
	annotationKeywords = []string{"$schema", "$id", "$comment", "title", "description", "examples", "format", "default", "deprecated"}
	assertionKeywords  = []string{"type", "const", "enum", "properties", "required", "dependentRequired", "items",
		"minItems", "maxItems", "minimum", "maximum", "minLength", "maxLength", "pattern", "anyOf", "allOf", "not",
		"minProperties", "maxProperties", "propertyNames", "additionalProperties"}
)

func checkSchemaKeywords(s map[string]any, path string) error {
	for k, v := range s {
		switch {
		case slices.Contains(annotationKeywords, k):
		case !slices.Contains(assertionKeywords, k):
			return fmt.Errorf("%s: keyword %q is not supported by the test's validator", path, k)
		case k == "properties":
			for name, sub := range v.(map[string]any) {
				if err := checkSchemaKeywords(sub.(map[string]any), path+"/properties/"+name); err != nil {
					return err
				}
			}
		case k == "items" || k == "not" || k == "propertyNames" || k == "additionalProperties":
			if err := checkSchemaKeywords(v.(map[string]any), path+"/"+k); err != nil {
				return err
			}
		case k == "anyOf" || k == "allOf":
			for i, sub := range v.([]any) {
				if err := checkSchemaKeywords(sub.(map[string]any), fmt.Sprintf("%s/%s/%d", path, k, i)); err != nil {
					return err
				}
			}
		case k == "pattern":
			if _, err := regexp.Compile(v.(string)); err != nil {
				return fmt.Errorf("%s: pattern: %v", path, err)
			}
		}
	}
	return nil
}

// validate returns every way inst (decoded by parseJSON) breaks schema s.
func validate(s map[string]any, inst any, path string) []string {
	var problems []string
	fail := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf("%s: %s", cmpOr(path, "/"), fmt.Sprintf(format, args...)))
	}
	if t, ok := s["type"]; ok {
		types, _ := t.([]any)
		if name, ok := t.(string); ok {
			types = []any{name}
		}
		if !slices.ContainsFunc(types, func(n any) bool { return hasJSONType(inst, n.(string)) }) {
			fail("is %s, want type %v", jsonTypeOf(inst), t)
		}
	}
	if c, ok := s["const"]; ok && !jsonEqual(inst, c) {
		fail("is %v, want %v", inst, c)
	}
	if e, ok := s["enum"]; ok && !slices.ContainsFunc(e.([]any), func(v any) bool { return jsonEqual(inst, v) }) {
		fail("is %v, want one of %v", inst, e)
	}
	for _, k := range []string{"anyOf", "allOf"} {
		subs, ok := s[k].([]any)
		if !ok {
			continue
		}
		passed := 0
		for _, sub := range subs {
			if len(validate(sub.(map[string]any), inst, path)) == 0 {
				passed++
			}
		}
		if k == "anyOf" && passed == 0 || k == "allOf" && passed < len(subs) {
			fail("does not satisfy %s %v", k, subs)
		}
	}
	if not, ok := s["not"].(map[string]any); ok && len(validate(not, inst, path)) == 0 {
		fail("satisfies not %v", not)
	}
	switch v := inst.(type) {
	case map[string]any:
		for _, r := range asList(s["required"]) {
			if _, ok := v[r.(string)]; !ok {
				fail("lacks required property %s", r)
			}
		}
		if deps, ok := s["dependentRequired"].(map[string]any); ok {
			for k, reqs := range deps {
				if _, ok := v[k]; !ok {
					continue
				}
				for _, r := range reqs.([]any) {
					if _, ok := v[r.(string)]; !ok {
						fail("has %s but lacks %s", k, r)
					}
				}
			}
		}
		props, _ := s["properties"].(map[string]any)
		for k, sub := range props {
			if pv, ok := v[k]; ok {
				problems = append(problems, validate(sub.(map[string]any), pv, path+"/"+k)...)
			}
		}
		n := json.Number(strconv.Itoa(len(v)))
		if m, ok := s["minProperties"]; ok && compareNumber(n, m) < 0 {
			fail("has %s properties, want at least %v", n, m)
		}
		if m, ok := s["maxProperties"]; ok && compareNumber(n, m) > 0 {
			fail("has %s properties, want at most %v", n, m)
		}
		names, _ := s["propertyNames"].(map[string]any)
		others, _ := s["additionalProperties"].(map[string]any)
		for k, pv := range v {
			if names != nil {
				problems = append(problems, validate(names, k, path+"/"+k+" (name)")...)
			}
			if _, named := props[k]; others != nil && !named {
				problems = append(problems, validate(others, pv, path+"/"+k)...)
			}
		}
	case []any:
		if n, ok := s["minItems"]; ok && compareNumber(json.Number(strconv.Itoa(len(v))), n) < 0 {
			fail("has %d items, want at least %v", len(v), n)
		}
		if n, ok := s["maxItems"]; ok && compareNumber(json.Number(strconv.Itoa(len(v))), n) > 0 {
			fail("has %d items, want at most %v", len(v), n)
		}
		if items, ok := s["items"].(map[string]any); ok {
			for i, item := range v {
				problems = append(problems, validate(items, item, fmt.Sprintf("%s/%d", path, i))...)
			}
		}
	case string:
		n := json.Number(strconv.Itoa(utf8.RuneCountInString(v)))
		if m, ok := s["minLength"]; ok && compareNumber(n, m) < 0 {
			fail("has %s characters, want at least %v", n, m)
		}
		if m, ok := s["maxLength"]; ok && compareNumber(n, m) > 0 {
			fail("has %s characters, want at most %v", n, m)
		}
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(v) {
			fail("%q does not match %s", v, p)
		}
	case json.Number:
		if m, ok := s["minimum"]; ok && compareNumber(v, m) < 0 {
			fail("is %s, want at least %v", v, m)
		}
		if m, ok := s["maximum"]; ok && compareNumber(v, m) > 0 {
			fail("is %s, want at most %v", v, m)
		}
	}
	return problems
}

func cmpOr(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func numberRat(n any) *big.Rat {
	num, ok := n.(json.Number)
	if !ok {
		return nil
	}
	r, ok := new(big.Rat).SetString(string(num))
	if !ok {
		return nil
	}
	return r
}

// compareNumber compares two JSON numbers exactly.
func compareNumber(a, b any) int {
	ra, rb := numberRat(a), numberRat(b)
	if ra == nil || rb == nil {
		panic(fmt.Sprintf("not numbers: %v, %v", a, b))
	}
	return ra.Cmp(rb)
}

func jsonTypeOf(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case json.Number:
		if r := numberRat(v); r != nil && r.IsInt() {
			return "integer"
		}
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

// hasJSONType follows the spec: an integer is any number with a zero
// fractional part (12.0 is one; the engine is stricter and says so).
func hasJSONType(v any, name string) bool {
	got := jsonTypeOf(v)
	return got == name || name == "number" && got == "integer"
}

// jsonEqual compares decoded JSON values, numbers by value.
func jsonEqual(a, b any) bool {
	if ra, rb := numberRat(a), numberRat(b); ra != nil && rb != nil {
		return ra.Cmp(rb) == 0
	}
	return reflect.DeepEqual(a, b)
}

// Every string field the engine limits (domain.StringFields) is in the
// schema of its event with the same limit as maxLength, the byte limit in
// its description, and a pattern of the characters its rule allows; and
// every other string of a schema has a fixed form (const, enum or pattern).
func TestSchemasStateTheEngineStringLimits(t *testing.T) {
	patterns := map[domain.TextRule]string{
		domain.Identifier: `^[^\x00-\x1F\x7F-\x9F]*$`,
		domain.FreeText:   `^[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*$`,
	}
	seen := map[domain.EventType]bool{}
	for _, e := range sampleEvents() {
		seen[e.Type] = true
		s := loadSchema(t, e.Type)
		limited := map[string]domain.StringField{}
		for f := range domain.StringFields(withEveryString(e)) {
			limited[schemaPath(f.Name)] = f
		}
		for path, prop := range schemaStrings(s, "") {
			f, ok := limited[path]
			delete(limited, path)
			if !ok {
				if prop["const"] == nil && prop["enum"] == nil && prop["pattern"] == nil {
					t.Errorf("%s: %s is a string of no fixed form that the engine does not limit", e.Type, path)
				}
				continue
			}
			if got, want := prop["maxLength"], json.Number(strconv.Itoa(f.MaxBytes)); got != want {
				t.Errorf("%s: %s maxLength = %v, want %v", e.Type, path, got, want)
			}
			if desc, _ := prop["description"].(string); !strings.Contains(desc, fmt.Sprintf("At most %d UTF-8 bytes", f.MaxBytes)) {
				t.Errorf("%s: the description of %s does not state its limit of %d UTF-8 bytes", e.Type, path, f.MaxBytes)
			}
			if got, want := prop["pattern"], patterns[f.Rule]; got != want && !(path == "data.member_id" && e.Type == domain.TypeStockRequest) {
				t.Errorf("%s: %s pattern = %v, want %v", e.Type, path, got, want)
			}
			if reserved := schemaAt(prop, "not", "pattern") == "^(stock|erased):"; f.NamesMember && !reserved {
				t.Errorf("%s: %s names a member but does not refuse ids starting with %s or %s", e.Type, path, domain.StockMemberPrefix, domain.ErasedMemberPrefix)
			}
		}
		for path := range limited {
			t.Errorf("%s: the engine limits %s, which the schema lacks", e.Type, path)
		}
	}
	for _, typ := range domain.EventTypes {
		if !seen[typ] {
			t.Errorf("sampleEvents has no %s: its schema's limits are not checked", typ)
		}
	}
}

// docs/events.md has a row for every string field the engine limits, with
// its byte limit and character rule.
func TestDocsStateTheStringLimits(t *testing.T) {
	doc := eventsDoc(t)
	_, section, _ := strings.Cut(string(doc), "\n## Strings\n")
	section, _, _ = strings.Cut(section, "\n## ")
	if section == "" {
		t.Fatal("docs/events.md has no section ## Strings")
	}
	rules := map[domain.TextRule]string{domain.Identifier: "identifier", domain.FreeText: "free text"}
	for _, e := range sampleEvents() {
		for f := range domain.StringFields(withEveryString(e)) {
			name := strings.TrimPrefix(schemaPath(f.Name), "data.")
			row := regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(name) + "` \\| [^|]* \\| ([^|]*) \\| ([^|]*) \\|$").FindStringSubmatch(section)
			if row == nil {
				t.Errorf("docs/events.md has no row for %s in its table of strings", name)
				continue
			}
			if got, want := row[1], strconv.Itoa(f.MaxBytes); got != want {
				t.Errorf("docs/events.md gives %s a limit of %s bytes, the engine %s", name, got, want)
			}
			if got, want := row[2], rules[f.Rule]; !strings.HasPrefix(got, want) {
				t.Errorf("docs/events.md says %s holds %q, the engine's rule is %s", name, got, want)
			}
		}
	}
}

// withEveryString is e with every string of its body set, slices given one
// element, so that StringFields names every field of its type.
func withEveryString(e domain.Event) domain.Event {
	v := reflect.New(reflect.TypeOf(e.Body)).Elem()
	var fill func(reflect.Value)
	fill = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.String:
			v.SetString("x")
		case reflect.Struct:
			for i := range v.NumField() {
				if v.Type().Field(i).IsExported() {
					fill(v.Field(i))
				}
			}
		case reflect.Slice:
			v.Set(reflect.MakeSlice(v.Type(), 1, 1))
			fill(v.Index(0))
		}
	}
	fill(v)
	e.Body = v.Interface().(domain.EventBody)
	return e
}

// schemaPath is a StringField name as schemaStrings writes it:
// "lines[0].sku" is "data.lines[].sku", and only id and source are outside
// data.
func schemaPath(name string) string {
	if name == "id" || name == "source" {
		return name
	}
	if attr, ok := strings.CutPrefix(name, "attributes."); ok && attr != "" {
		return "data.attributes.*" // a value of the map, whatever its name
	}
	return "data." + regexp.MustCompile(`\[[0-9]+\]`).ReplaceAllString(name, "[]")
}

func schemaList(s map[string]any, key string) []any {
	l, _ := s[key].([]any)
	return l
}

// schemaStrings maps the path of every string property of s (data.x,
// data.lines[].sku, data.attributes.* for the string values of a map) to
// its schema.
func schemaStrings(s map[string]any, prefix string) map[string]map[string]any {
	out := map[string]map[string]any{}
	props, _ := s["properties"].(map[string]any)
	for name, p := range props {
		prop := p.(map[string]any)
		switch prop["type"] {
		case "string":
			out[prefix+name] = prop
		case "object":
			maps.Copy(out, schemaStrings(prop, prefix+name+"."))
			values, _ := prop["additionalProperties"].(map[string]any)
			for _, v := range append([]any{values}, schemaList(values, "anyOf")...) {
				if v, _ := v.(map[string]any); v["type"] == "string" {
					out[prefix+name+".*"] = v
				}
			}
		case "array":
			if items, ok := prop["items"].(map[string]any); ok {
				maps.Copy(out, schemaStrings(items, prefix+name+"[]."))
			}
		}
	}
	return out
}

// docs/events.md's table of type tokens has a row for every input type, with
// the token the engine uses, and no other.
func TestDocsTypeTokenTable(t *testing.T) {
	doc := string(eventsDoc(t))
	start := strings.Index(doc, "| Type | Type token |")
	if start < 0 {
		t.Fatal("docs/events.md has no type token table")
	}
	end := strings.Index(doc[start:], "\n\n")
	rows := regexp.MustCompile("(?m)^\\| `([a-z_.0-9]+)` \\| `([a-z-]+)` \\|").FindAllStringSubmatch(doc[start:start+end], -1)
	documented := map[string]string{}
	for _, r := range rows {
		documented[r[1]] = r[2]
	}
	for _, typ := range domain.EventTypes {
		subject, err := InputSubject(typ, "m")
		if err != nil {
			t.Fatal(err)
		}
		token := strings.Split(subject, ".")[2]
		if documented[string(typ)] != token {
			t.Errorf("docs/events.md gives %s the token %q, the engine %q", typ, documented[string(typ)], token)
		}
		delete(documented, string(typ))
	}
	for typ := range documented {
		t.Errorf("docs/events.md lists %s, which is not an input type", typ)
	}
}
