package streams

import (
	"bytes"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// This file holds the small JSON toolkit the codecs use on the hot path in
// place of encoding/json's reflection and json.Decoder: a validator that
// agrees with json.Valid, helpers that walk text the validator has passed,
// and a string writer that produces encoding/json's exact bytes.
//
// The differential tests and fuzz targets in codec_diff_test.go hold these
// to encoding/json's behaviour (FuzzScanJSONText, FuzzAppendJSONString) and
// the codecs to their old reflection-based selves; run them after a change.

// maxJSONDepth is encoding/json's nesting limit: json.Valid rejects a text
// with more than this many open objects and arrays.
const maxJSONDepth = 10000

// scanJSONText reports whether data is one JSON text exactly as json.Valid
// accepts it (UTF-8 is not checked: json.Valid accepts any bytes ≥ 0x80 in a
// string). lone is the offset of the first \u escape of a UTF-16 surrogate
// that is not part of a high-low pair, or -1. It records in ends where
// every object and array ends.
func scanJSONText(data []byte, ends *containerEnds) (ok bool, lone int) {
	lone = -1
	var stackBuf [64]int32 // the open containers, by their index in ends
	stack := stackBuf[:0]
	n := len(data)
	i := 0
	for {
		// A value starts at data[i], perhaps after white space.
		i = skipSpace(data, i)
		if i >= n {
			return false, lone
		}
		switch c := data[i]; c {
		case '{', '[':
			if len(stack) == maxJSONDepth {
				return false, lone
			}
			stack = append(stack, ends.open(i))
			if i = skipSpace(data, i+1); i < n && data[i] == c+2 { // {} or []
				ends.close(stack[len(stack)-1], i+1)
				stack = stack[:len(stack)-1]
				i, ok = i+1, true
				break
			}
			if c == '{' {
				if i, ok = scanKey(data, i, &lone); !ok {
					return false, lone
				}
			}
			continue
		case '"':
			i, ok = scanString(data, i, &lone)
		case 't':
			i, ok = scanLiteral(data, i, "true")
		case 'f':
			i, ok = scanLiteral(data, i, "false")
		case 'n':
			i, ok = scanLiteral(data, i, "null")
		default:
			i, ok = scanNumber(data, i)
		}
		if !ok {
			return false, lone
		}
		// After a value: close what it ends, or step to the next one.
	after:
		for {
			i = skipSpace(data, i)
			if len(stack) == 0 {
				return i == n, lone
			}
			if i >= n {
				return false, lone
			}
			open := data[ends.start(stack[len(stack)-1])]
			switch c := data[i]; c {
			case ',':
				i++
				if open == '{' {
					if i, ok = scanKey(data, skipSpace(data, i), &lone); !ok {
						return false, lone
					}
				}
				break after
			case open + 2: // '}' closes '{', ']' closes '['
				ends.close(stack[len(stack)-1], i+1)
				stack = stack[:len(stack)-1]
				i++
			default:
				return false, lone
			}
		}
	}
}

// containerEnds records where the objects and arrays of a text end, in the
// order they open. The first few live in an array, so that for an event of
// usual size they stay on the stack.
type containerEnds struct {
	n    int
	buf  [32]container
	more []container
}

type container struct{ start, end int }

// open records a container starting at offset start and returns its index.
func (c *containerEnds) open(start int) int32 {
	k := container{start: start}
	switch {
	case c.n < len(c.buf):
		c.buf[c.n] = k
	default:
		c.more = append(c.more, k)
	}
	c.n++
	return int32(c.n - 1)
}

func (c *containerEnds) at(k int32) *container {
	if int(k) < len(c.buf) {
		return &c.buf[k]
	}
	return &c.more[int(k)-len(c.buf)]
}

func (c *containerEnds) start(k int32) int { return c.at(k).start }

func (c *containerEnds) close(k int32, end int) { c.at(k).end = end }

// end returns the end of the container starting at offset start.
func (c *containerEnds) end(start int) int {
	lo, hi := 0, c.n // binary search: containers open in the order of their offsets
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if c.at(int32(mid)).start < start {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return c.at(int32(lo)).end
}

// skipSpace returns the offset of the first byte at or after i that is not
// JSON white space.
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanKey scans an object key and the colon after it, returning the offset
// after the colon.
func scanKey(data []byte, i int, lone *int) (int, bool) {
	if i >= len(data) || data[i] != '"' {
		return 0, false
	}
	i, ok := scanString(data, i, lone)
	if !ok {
		return 0, false
	}
	if i = skipSpace(data, i); i >= len(data) || data[i] != ':' {
		return 0, false
	}
	return i + 1, true
}

// stringSpecial marks the bytes a string scan must stop at: the quote, the
// backslash and the control characters JSON does not allow unescaped.
var stringSpecial = [256]bool{
	'"': true, '\\': true,
	0x00: true, 0x01: true, 0x02: true, 0x03: true, 0x04: true, 0x05: true, 0x06: true, 0x07: true,
	0x08: true, 0x09: true, 0x0a: true, 0x0b: true, 0x0c: true, 0x0d: true, 0x0e: true, 0x0f: true,
	0x10: true, 0x11: true, 0x12: true, 0x13: true, 0x14: true, 0x15: true, 0x16: true, 0x17: true,
	0x18: true, 0x19: true, 0x1a: true, 0x1b: true, 0x1c: true, 0x1d: true, 0x1e: true, 0x1f: true,
}

// scanString scans the string starting at data[i] == '"' and returns the
// offset after its closing quote. It records the first lone surrogate escape
// in *lone, as the old whole-text check did: a high surrogate escape not
// immediately followed by a low one, or a low one on its own.
func scanString(data []byte, i int, lone *int) (int, bool) {
	n := len(data)
	for j := i + 1; j < n; {
		c := data[j]
		if !stringSpecial[c] {
			j++
			continue
		}
		switch c {
		case '"':
			return j + 1, true
		case '\\':
			if j+1 >= n {
				return 0, false
			}
			switch data[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				r, ok := hex4(data, j+2)
				if !ok {
					return 0, false
				}
				if utf16.IsSurrogate(r) {
					if low, ok := unicodeEscapeAt(data, j+6); r < 0xDC00 && ok && low >= 0xDC00 && low < 0xE000 {
						j += 12 // a high-low pair
						continue
					}
					if *lone < 0 {
						*lone = j
					}
				}
				j += 6
			default:
				return 0, false
			}
		default: // a control character
			return 0, false
		}
	}
	return 0, false
}

// unicodeEscapeAt reads a \uXXXX escape at data[i:].
func unicodeEscapeAt(data []byte, i int) (rune, bool) {
	if i+6 > len(data) || data[i] != '\\' || data[i+1] != 'u' {
		return 0, false
	}
	return hex4(data, i+2)
}

// hex4 reads four hexadecimal digits at data[i:].
func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		v, ok := hexValue(c)
		if !ok {
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

// hexValue is the value of the hexadecimal digit c, either case.
func hexValue(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func scanLiteral(data []byte, i int, lit string) (int, bool) {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

// scanNumber scans a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(data []byte, i int) (int, bool) {
	n := len(data)
	if data[i] == '-' {
		if i++; i >= n {
			return 0, false
		}
	}
	switch c := data[i]; {
	case c == '0':
		i++
	case '1' <= c && c <= '9':
		i = skipDigits(data, i+1)
	default:
		return 0, false
	}
	if i < n && data[i] == '.' {
		j := skipDigits(data, i+1)
		if j == i+1 {
			return 0, false
		}
		i = j
	}
	if i < n && (data[i] == 'e' || data[i] == 'E') {
		if i++; i < n && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := skipDigits(data, i)
		if j == i {
			return 0, false
		}
		i = j
	}
	return i, true
}

func skipDigits(data []byte, i int) int {
	for i < len(data) && '0' <= data[i] && data[i] <= '9' {
		i++
	}
	return i
}

// The functions below walk text that scanJSONText has passed: they do not
// check it again.

// stringEnd returns the offset of the closing quote of the string starting
// at data[i] == '"', and whether the string holds an escape.
func stringEnd(data []byte, i int) (end int, escaped bool) {
	for i++; ; i++ {
		switch data[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			return i, escaped
		}
	}
}

// valueEnd returns the offset just after the value starting at data[i];
// ends are the text's containers.
func valueEnd(data []byte, i int, ends *containerEnds) int {
	switch data[i] {
	case '"':
		end, _ := stringEnd(data, i)
		return end + 1
	case '{', '[':
		return ends.end(i)
	}
	for i < len(data) {
		switch data[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// unquote decodes the JSON string v (quotes included) as encoding/json does
// for a string without lone surrogate escapes.
func unquote(v []byte) string {
	s := v[1 : len(v)-1]
	if bytes.IndexByte(s, '\\') < 0 {
		return string(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			j := i + 1
			for j < len(s) && s[j] != '\\' {
				j++
			}
			b.Write(s[i:j])
			i = j
			continue
		}
		switch s[i+1] {
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, _ := hex4(s, i+2)
			i += 6
			if utf16.IsSurrogate(r) {
				low, _ := unicodeEscapeAt(s, i)
				if dec := utf16.DecodeRune(r, low); dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			b.WriteRune(r)
			continue
		default: // '"', '\\', '/'
			b.WriteByte(s[i+1])
		}
		i += 2
	}
	return b.String()
}

// jsonStringIs reports whether the JSON string v (quotes included) decodes
// to s, without allocating when v holds no escape.
func jsonStringIs(v []byte, s string) bool {
	raw := v[1 : len(v)-1]
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw) == s
	}
	return unquote(v) == s
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as encoding/json writes a string: quotes,
// backslashes and control characters escaped, U+2028 and U+2029 escaped,
// invalid UTF-8 replaced by \ufffd, and with escapeHTML also <, > and &
// (json.Marshal's default; an Encoder with SetEscapeHTML(false) leaves
// them). It is a copy of encoding/json's appendString.
func appendJSONString(dst []byte, s string, escapeHTML bool) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && (!escapeHTML || b != '<' && b != '>' && b != '&') {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	dst = append(dst, '"')
	return dst
}
