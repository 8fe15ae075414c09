package projections

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// arrayParams are the parameters of a statement whose every parameter is a
// one-dimensional array, encoded in PostgreSQL's binary array format as they
// are added. pgx's own array encoding boxes every element in an interface
// and looks up its encoder by reflection (a pointer element allocates twice):
// for the members upsert, 26 arrays of a few hundred elements per batch, that
// was most of the projections' allocations. These append to one buffer and
// allocate nothing per element.
type arrayParams struct {
	buf  []byte
	ends []int // where each parameter's bytes end in buf
}

// Element type OIDs: PostgreSQL refuses an array whose header names another.
const (
	oidBool        = pgtype.BoolOID
	oidInt8        = pgtype.Int8OID
	oidText        = pgtype.TextOID
	oidTimestamptz = pgtype.TimestamptzOID
)

// microsecondsToY2K is PostgreSQL's timestamp epoch (2000-01-01 UTC) in
// microseconds after the Unix epoch.
const microsecondsToY2K = 946_684_800 * 1_000_000

// appendArray adds one array parameter of n elements; element appends the
// i-th element's binary form to buf, or reports it null.
func (p *arrayParams) appendArray(oid uint32, n int, element func(buf []byte, i int) ([]byte, bool)) {
	if p.buf == nil {
		p.buf = takeBuffer()
	}
	start := len(p.buf)
	p.buf = binary.BigEndian.AppendUint32(p.buf, 1) // dimensions
	flags := len(p.buf)
	p.buf = binary.BigEndian.AppendUint32(p.buf, 0) // 1 once a null is written
	p.buf = binary.BigEndian.AppendUint32(p.buf, oid)
	p.buf = binary.BigEndian.AppendUint32(p.buf, uint32(n))
	p.buf = binary.BigEndian.AppendUint32(p.buf, 1) // lower bound
	for i := range n {
		lenAt := len(p.buf)
		p.buf = append(p.buf, 0, 0, 0, 0)
		var ok bool
		p.buf, ok = element(p.buf, i)
		if !ok {
			p.buf = p.buf[:lenAt]
			p.buf = binary.BigEndian.AppendUint32(p.buf, 0xFFFFFFFF) // -1: null
			binary.BigEndian.PutUint32(p.buf[flags:], 1)
			continue
		}
		binary.BigEndian.PutUint32(p.buf[lenAt:], uint32(len(p.buf)-lenAt-4))
	}
	if n == 0 { // an empty array has no dimensions
		p.buf = p.buf[:start]
		p.buf = binary.BigEndian.AppendUint32(p.buf, 0)
		p.buf = binary.BigEndian.AppendUint32(p.buf, 0)
		p.buf = binary.BigEndian.AppendUint32(p.buf, oid)
	}
	p.ends = append(p.ends, len(p.buf))
}

func (p *arrayParams) int8s(vs []int64) {
	p.appendArray(oidInt8, len(vs), func(buf []byte, i int) ([]byte, bool) {
		return binary.BigEndian.AppendUint64(buf, uint64(vs[i])), true
	})
}

func (p *arrayParams) nullableInt8s(vs []*int64) {
	p.appendArray(oidInt8, len(vs), func(buf []byte, i int) ([]byte, bool) {
		if vs[i] == nil {
			return buf, false
		}
		return binary.BigEndian.AppendUint64(buf, uint64(*vs[i])), true
	})
}

func (p *arrayParams) bools(vs []bool) {
	p.appendArray(oidBool, len(vs), func(buf []byte, i int) ([]byte, bool) {
		if vs[i] {
			return append(buf, 1), true
		}
		return append(buf, 0), true
	})
}

// texts adds a text array. The strings must be valid UTF-8 (PostgreSQL
// refuses the statement otherwise), as every id and name the ledger holds is.
func (p *arrayParams) texts(vs []string) {
	p.appendArray(oidText, len(vs), func(buf []byte, i int) ([]byte, bool) {
		return append(buf, vs[i]...), true
	})
}

func (p *arrayParams) nullableTexts(vs []*string) {
	p.appendArray(oidText, len(vs), func(buf []byte, i int) ([]byte, bool) {
		if vs[i] == nil {
			return buf, false
		}
		return append(buf, *vs[i]...), true
	})
}

// nullableTimes adds a timestamptz array: microseconds after 2000-01-01
// UTC, what PostgreSQL stores (finer digits are cut toward the past, as pgx
// cuts them).
func (p *arrayParams) nullableTimes(vs []*time.Time) {
	p.appendArray(oidTimestamptz, len(vs), func(buf []byte, i int) ([]byte, bool) {
		if vs[i] == nil {
			return buf, false
		}
		return binary.BigEndian.AppendUint64(buf, uint64(vs[i].UnixMicro()-microsecondsToY2K)), true
	})
}

// values returns the parameters, each a slice of the one buffer.
func (p *arrayParams) values() [][]byte {
	vs := make([][]byte, len(p.ends))
	start := 0
	for i, end := range p.ends {
		vs[i] = p.buf[start:end:end]
		start = end
	}
	return vs
}

// binaryFormat says every parameter is in binary (one code applies to all).
var binaryFormat = []int16{pgtype.BinaryFormatCode}

// execArrays runs sql, prepared once per connection under name, with
// params. It fails if the statement takes another number of parameters.
func execArrays(ctx context.Context, tx pgx.Tx, name, sql string, params *arrayParams) error {
	sd, err := tx.Conn().Prepare(ctx, name, sql)
	if err != nil {
		return fmt.Errorf("prepare %s: %w", name, err)
	}
	if len(sd.ParamOIDs) != len(params.ends) {
		return fmt.Errorf("%s takes %d parameters, %d given", name, len(sd.ParamOIDs), len(params.ends))
	}
	_, err = tx.Conn().PgConn().ExecPrepared(ctx, sd.Name, params.values(), binaryFormat, nil).Close()
	if err == nil {
		giveBuffer(params.buf)
	}
	params.buf, params.ends = nil, nil
	return err
}

// buffers keeps the encoding buffers between batches: grown from nothing,
// a batch's buffer (100 KB or more) was copied a dozen times on the way.
var buffers sync.Pool

func takeBuffer() []byte {
	if b, ok := buffers.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, 64<<10)
}

// giveBuffer returns a buffer no one uses any more.
func giveBuffer(b []byte) {
	if cap(b) > 0 {
		buffers.Put(&b)
	}
}

// copyTable is a table the projections COPY into (of the transaction's
// search_path, see applyInTx), with its statement, built once.
type copyTable struct {
	name    string
	columns []string
	sql     string
}

func newCopyTable(name string, columns ...string) copyTable {
	quoted := make([]string, len(columns))
	for i, col := range columns {
		quoted[i] = pgx.Identifier{col}.Sanitize()
	}
	return copyTable{name: name, columns: columns,
		sql: "copy " + pgx.Identifier{name}.Sanitize() + " (" + strings.Join(quoted, ", ") + ") from stdin binary"}
}

// copyData is rows for one table in PostgreSQL's binary COPY format,
// appended field by field: what pgx.CopyFrom would send for rows of []any,
// without boxing every value in an interface and looking up its encoder.
// Each row starts with row() and must then add a field for each column, in
// the table's column order and of the columns' types (PostgreSQL refuses
// the COPY otherwise).
type copyData struct {
	table copyTable
	buf   []byte
	rows  int
}

// copySignature starts binary COPY data; flags and the header extension's
// length (both 0) follow it.
const copySignature = "PGCOPY\n\377\r\n\000"

func (c *copyData) row() {
	if c.buf == nil {
		c.buf = append(takeBuffer(), copySignature...)
		c.buf = binary.BigEndian.AppendUint32(c.buf, 0)
		c.buf = binary.BigEndian.AppendUint32(c.buf, 0)
	}
	c.buf = binary.BigEndian.AppendUint16(c.buf, uint16(len(c.table.columns)))
	c.rows++
}

func (c *copyData) null() { c.buf = binary.BigEndian.AppendUint32(c.buf, 0xFFFFFFFF) }

func (c *copyData) int8(v int64) {
	c.buf = binary.BigEndian.AppendUint32(c.buf, 8)
	c.buf = binary.BigEndian.AppendUint64(c.buf, uint64(v))
}

func (c *copyData) int4(v int32) {
	c.buf = binary.BigEndian.AppendUint32(c.buf, 4)
	c.buf = binary.BigEndian.AppendUint32(c.buf, uint32(v))
}

// int2OrNull writes a smallint, or null for nil.
func (c *copyData) int2OrNull(v *int) {
	if v == nil {
		c.null()
		return
	}
	c.buf = binary.BigEndian.AppendUint32(c.buf, 2)
	c.buf = binary.BigEndian.AppendUint16(c.buf, uint16(int16(*v)))
}

// text writes a string, which must be valid UTF-8.
func (c *copyData) text(s string) {
	c.buf = binary.BigEndian.AppendUint32(c.buf, uint32(len(s)))
	c.buf = append(c.buf, s...)
}

// textOrNull writes a string, or null for "".
func (c *copyData) textOrNull(s string) {
	if s == "" {
		c.null()
		return
	}
	c.text(s)
}

// time writes a timestamptz (see arrayParams.nullableTimes).
func (c *copyData) time(t time.Time) {
	c.buf = binary.BigEndian.AppendUint32(c.buf, 8)
	c.buf = binary.BigEndian.AppendUint64(c.buf, uint64(t.UnixMicro()-microsecondsToY2K))
}

// timeOrNull writes a timestamptz, or null for the zero time.
func (c *copyData) timeOrNull(t time.Time) {
	if t.IsZero() {
		c.null()
		return
	}
	c.time(t)
}

// jsonb writes a JSON document (jsonb's binary form is a version byte, 1,
// before the text).
func (c *copyData) jsonb(doc []byte) {
	c.buf = binary.BigEndian.AppendUint32(c.buf, uint32(1+len(doc)))
	c.buf = append(c.buf, 1)
	c.buf = append(c.buf, doc...)
}

// write COPYs the rows into the table; nothing happens for no rows.
func (c *copyData) write(ctx context.Context, tx pgx.Tx) error {
	if c.rows == 0 {
		return nil
	}
	data := binary.BigEndian.AppendUint16(c.buf, 0xFFFF) // the trailer: -1 fields
	tag, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(data), c.table.sql)
	rows := c.rows
	c.buf, c.rows = nil, 0
	if err != nil {
		// Not reused: pgconn may still be reading it when a failed COPY
		// returns.
		return fmt.Errorf("copy %d rows into %s: %w", rows, c.table.name, err)
	}
	giveBuffer(data)
	if tag.RowsAffected() != int64(rows) {
		return fmt.Errorf("copy into %s: %d of %d rows written", c.table.name, tag.RowsAffected(), rows)
	}
	return nil
}
