package main

import (
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"time"
)

// gen builds random templates over the language the Rust engine supports, typed so that most
// of them run, with a share of wrong types, wrong counts and text mutations for the errors.
type gen struct {
	r    *rand.Rand
	vars []string // variables declared at the top level so far
}

type kind int

const (
	kStr kind = iota
	kInt
	kBool
	kAny
)

func (g *gen) pick(xs ...string) string { return xs[g.r.Intn(len(xs))] }
func (g *gen) chance(p float64) bool    { return g.r.Float64() < p }

// Data sets: plain names, empty ones, long ones (for truncation), and characters whose
// printing, case mapping or escaping is interesting.
var dataSets = [][3]string{
	{"IAM", "token", "deploy"},
	{"STS", "", ""},
	{"IAM", "approle-my-app", "read-only"},
	{"IAM", "this---is---a---very---long---name", "long------policy------name"},
	{"IAM", "Ünïcode-Σσ-İ", "日本-😀"},
	{"IAM", "a b/c<d>&'\"", "x=y,z@w.v+u"},
	{"STS", "root", "admin"},
	{"IAM", "ǅungla-ﬀ-ß", "MiXeD_Case.123"},
}

// clocks are pinned times: midnight, noon, end of year, single-digit days and months,
// whole seconds and every fraction length.
var clocks = []string{
	"2024-02-29T13:04:05.123456789Z",
	"2001-01-01T00:00:00Z",
	"1999-12-31T23:59:59.999999999Z",
	"2009-11-10T23:00:00Z",
	"2030-07-04T09:05:07.0000005Z",
	"1971-03-05T12:00:00.5Z",
	"2100-12-31T11:59:59.0001Z",
	"2024-10-09T08:07:06.05Z",
}

func (g *gen) newCase(tpl string) record {
	d := dataSets[g.r.Intn(len(dataSets))]
	var now time.Time
	if g.chance(0.5) {
		now, _ = time.Parse(time.RFC3339Nano, clocks[g.r.Intn(len(clocks))])
	} else {
		secs := int64(40_000_000) + g.r.Int63n(7_000_000_000-40_000_000)
		nanos := int64(0)
		if g.chance(0.7) {
			nanos = g.r.Int63n(1_000_000_000)
		}
		now = time.Unix(secs, nanos).UTC()
	}
	return record{Tpl: tpl, Type: d[0], Display: d[1], Policy: d[2], Now: now.UnixNano(), Seed: g.r.Uint64()}
}

// Literals.

var strPool = []string{
	"", "a", "abc", "Hello, World", "a-b_c.d", "x y", "é", "日本", "😀", "İ", "ß", "Σσ",
	"<a&b>", `a'b"c`, "tab\there", "new\nline", "\x00\x01", "\xff\xfe", "aGk=", "aGVsbG8=",
	"YR==", "aG=x", "a===", "aG\nk=", "6869", "6g", "686", "*", "to*", "*oy", "a*b*c", "**",
	"%", "%d", "0x1F", "\u00a0", "\u200b", "\u0085", "\ufeff", "ǅ", "ﬀ", "-", "_", "=",
	"a/b?c=d&e f", "~!@#$^", "\\", "`", "{{", "}}", "ÀÉÎ", "ÿ", "\u2028", "\x7f",
}

func (g *gen) strLit() string {
	s := strPool[g.r.Intn(len(strPool))]
	switch {
	case g.chance(0.1) && strconv.CanBackquote(s):
		return "`" + s + "`"
	case g.chance(0.1):
		if g.chance(0.2) {
			return g.pick(`"\'"`, `"\q"`, `"\400"`, `"\ud800"`) // invalid escapes
		}
		return g.pick(`"\x41\102\u00e9\U0001F600"`, `"\a\b\f\v\r"`, `"\xff"`,
			`"a\"b"`, `"\\"`, "`raw\\n`", `"\u00E9"`)
	}
	return strconv.Quote(s)
}

func (g *gen) intLit() string {
	if g.chance(0.9) {
		return strconv.Itoa(g.r.Intn(70))
	}
	return g.pick("-1", "-5", "1000", "1_000", "0x1F", "0X1f", "0o17", "017", "0b101", "0B11",
		"9223372036854775807", "-9223372036854775808", "9223372036854775808",
		"18446744073709551615", "18446744073709551616", "1e3", "1.0", "'a'", "'\\n'",
		"'\\x41'", "'\\u00e9'", "'日'", "0x_1F", "1__0", "08", "0x", "255", "+5", "-0", "'''",
		"'ab'", "1_", "0b2")
}

func (g *gen) floatLit() string {
	return g.pick("1.5", "0.1", "1e100", "0x1p-2", ".5", "5.", "1e-7", "1.5e300", "0x1.8p1",
		"100000000.0", "3.14159", "-2.5", "1e21", "123456.789", "0.000012345", "1e6", "2.0",
		"1_0.5", "0x1P+3", "-0.0", "6.02214076e23", "0.5", "1E+2")
}

func (g *gen) layout() string {
	return strconv.Quote(g.pick(
		time.RFC3339, time.RFC3339Nano, time.Kitchen, time.ANSIC, time.UnixDate,
		time.RubyDate, time.RFC822, time.RFC822Z, time.RFC850, time.RFC1123, time.RFC1123Z,
		time.Stamp, time.StampMilli, time.StampMicro, time.StampNano, time.DateTime,
		time.DateOnly, time.TimeOnly, "20060102150405", "2006-01-02T15:04:05.000Z07:00",
		".999999999 .000000 ,999 .9", "002 __2 _2 2", "Jan January Mon Monday",
		"Month Jant Mond", "3 03 15 4 04 5 05 PM pm", "06 2006 _2006 1 01",
		"-07 -0700 -07:00 -070000 -07:00:00", "Z07 Z0700 Z07:00 Z070000 Z07:00:00",
		"MST", ".0 .00 ,0 .09", "05.000000000", "2006-01-02 15:04:05.9999", "", "no layout",
		"Janu 2006x", "15h04m05s", "__2/002", ".99x.00x"))
}

// Expressions, typed.

var fields = []string{".Type", ".DisplayName", ".PolicyName"}

func (g *gen) field() string {
	if g.chance(0.02) {
		return g.pick(".Nope", ".Type.Foo", "$.Type", "$.DisplayName", ".displayName")
	}
	if g.chance(0.1) {
		return "$" + fields[g.r.Intn(len(fields))]
	}
	return fields[g.r.Intn(len(fields))]
}

func (g *gen) variable() string {
	if len(g.vars) == 0 || g.chance(0.02) {
		return g.pick("$", "$undefined")
	}
	return g.vars[g.r.Intn(len(g.vars))]
}

// expr gives an operand: a literal, field, variable or parenthesised call of type k.
func (g *gen) expr(k kind, depth int) string {
	if g.chance(0.02) {
		k = kind(g.r.Intn(4)) // a wrong type now and then
	}
	leaf := depth <= 0 || g.chance(0.35)
	switch k {
	case kStr:
		if leaf {
			switch g.r.Intn(4) {
			case 0, 1:
				return g.strLit()
			case 2:
				return g.field()
			default:
				if len(g.vars) > 0 {
					return g.variable()
				}
				return g.field()
			}
		}
		return "(" + g.strCall(depth-1) + ")"
	case kInt:
		if leaf {
			return g.intLit()
		}
		return "(" + g.pick("len "+g.expr(kStr, depth-1), "index "+g.expr(kStr, depth-1)+" "+g.intLit(),
			"or 0 "+g.intLit(), "and 1 "+g.intLit()) + ")"
	case kBool:
		if leaf {
			return g.pick("true", "false")
		}
		return "(" + g.boolCall(depth-1) + ")"
	}
	if leaf {
		switch g.r.Intn(7) {
		case 0:
			return g.floatLit()
		case 1:
			return g.pick("nil", ".", "$", "true")
		case 2:
			return g.intLit()
		}
		return g.expr(kStr, 0)
	}
	return g.expr(kind(g.r.Intn(3)), depth)
}

// strCall is a call returning a string, sometimes written as a pipeline.
func (g *gen) strCall(depth int) string {
	s := func() string { return g.expr(kStr, depth) }
	small := func() string {
		if g.chance(0.9) {
			return strconv.Itoa(g.r.Intn(40))
		}
		return g.expr(kInt, depth)
	}
	var name string
	var args []string
	switch g.r.Intn(22) {
	case 0:
		name, args = "uppercase", []string{s()}
	case 1:
		name, args = "lowercase", []string{s()}
	case 2:
		name, args = "replace", []string{s(), s(), s()}
	case 3:
		name, args = "truncate", []string{small(), s()}
	case 4:
		name, args = "truncate_sha256", []string{g.pick("9", "10", "12", "8", "20", "0"), s()}
	case 5:
		name, args = "sha256", []string{s()}
	case 6:
		name, args = "base64", []string{s()}
	case 7:
		name, args = "decode_base64", []string{g.pick(s(), "(base64 "+s()+")", "(base64 "+s()+")")}
	case 8:
		name, args = "hex", []string{s()}
	case 9:
		name, args = "decode_hex", []string{g.pick(s(), "(hex "+s()+")", "(hex "+s()+")")}
	case 10:
		name, args = "random", []string{small()}
	case 11:
		name = g.pick("unix_time", "unix_time_millis", "uuid")
	case 12:
		name, args = "timestamp", []string{g.layout()}
	case 13, 14, 15:
		f, n := g.format()
		name, args = "printf", []string{f}
		for i := 0; i < n+g.r.Intn(2)-g.r.Intn(2); i++ {
			args = append(args, g.expr(kAny, depth))
		}
	case 16:
		name = g.pick("print", "println")
		for i := g.r.Intn(4); i > 0; i-- {
			args = append(args, g.expr(kAny, depth))
		}
	case 17:
		name = g.pick("html", "js", "urlquery")
		for i := 1 + g.r.Intn(2); i > 0; i-- {
			args = append(args, g.expr(kAny, depth))
		}
	case 18:
		name, args = "slice", []string{s()}
		for i := g.r.Intn(3); i > 0; i-- {
			args = append(args, strconv.Itoa(g.r.Intn(6)))
		}
	case 19:
		name, args = g.pick("or", "and"), []string{s(), s()}
	case 20:
		name, args = "call", []string{g.pick(s(), "nil", ".Type")}
	default:
		if g.chance(0.3) {
			name, args = g.pick("nope", "Upper", "truncate"), []string{s()} // unknown, or too few args
		} else {
			name, args = "printf", []string{`"%s"`, s()}
		}
	}
	if len(args) > 0 && g.chance(0.3) {
		// The piped value becomes the last argument.
		last := args[len(args)-1]
		return strings.TrimSpace(last + " | " + name + " " + strings.Join(args[:len(args)-1], " "))
	}
	return strings.TrimSpace(name + " " + strings.Join(args, " "))
}

func (g *gen) boolCall(depth int) string {
	a := func() string { return g.expr(kAny, depth) }
	switch g.r.Intn(8) {
	case 0:
		args := []string{a(), a()}
		for i := g.r.Intn(3); i > 0; i-- {
			args = append(args, a())
		}
		return "eq " + strings.Join(args, " ")
	case 1:
		return g.pick("ne", "lt", "le", "gt", "ge") + " " + a() + " " + a()
	case 2:
		same := g.pick("kStr", "kInt")
		k := kStr
		if same == "kInt" {
			k = kInt
		}
		return g.pick("lt", "le", "gt", "ge", "eq", "ne") + " " + g.expr(k, depth) + " " + g.expr(k, depth)
	case 3:
		return "not " + a()
	case 4:
		return g.pick("and", "or") + " " + a() + " " + a()
	case 5:
		return "glob " + g.strLit() + " " + g.expr(kStr, depth)
	case 6:
		return "glob " + g.pick(`"*"`, `"to*"`, `"*oy"`, `"a*b*c"`, `"**"`, `"de*lo*"`, `"x*"`, `"*n"`) + " " + g.expr(kStr, depth)
	default:
		return "eq " + g.field() + " " + g.pick(`"IAM"`, `"STS"`, `""`, `"token"`)
	}
}

// format builds a printf format and says how many arguments it consumes.
func (g *gen) format() (string, int) {
	var b strings.Builder
	n := 0
	for i := 1 + g.r.Intn(4); i > 0; i-- {
		if g.chance(0.4) {
			b.WriteString(g.pick("a", "-", " ", "x=", "%%", "[", "é", "\\n"))
		}
		b.WriteByte('%')
		for f := g.r.Intn(4); f > 0; f-- {
			b.WriteByte("#0+- "[g.r.Intn(5)])
		}
		if g.chance(0.1) {
			fmt.Fprintf(&b, "[%d]", g.r.Intn(4))
		}
		if g.chance(0.35) {
			if g.chance(0.15) {
				b.WriteByte('*')
				n++
			} else {
				b.WriteString(strconv.Itoa(g.r.Intn(12)))
			}
		}
		if g.chance(0.3) {
			b.WriteByte('.')
			if g.chance(0.15) {
				b.WriteByte('*')
				n++
			} else if g.chance(0.9) {
				b.WriteString(strconv.Itoa(g.r.Intn(8)))
			}
		}
		if g.chance(0.05) {
			fmt.Fprintf(&b, "[%d]", g.r.Intn(4))
		}
		if g.chance(0.03) {
			break // no verb: %!(NOVERB)
		}
		verb := "vvvsssdqxXobcUeEfFgGtTpw%zé"[g.r.Intn(27)]
		if verb == 0xc3 {
			b.WriteString("é")
		} else {
			b.WriteByte(verb)
		}
		if verb != '%' {
			n++
		}
	}
	return strconv.Quote(b.String()), n
}

// Pipelines, actions and templates.

func (g *gen) pipeline() string {
	switch g.r.Intn(10) {
	case 0:
		return g.boolCall(2)
	case 1:
		return g.expr(kAny, 0)
	case 2:
		// A chain of pipeline stages after a value.
		p := g.expr(kStr, 1)
		for i := 1 + g.r.Intn(3); i > 0; i-- {
			p += " | " + g.pick("uppercase", "lowercase", "truncate 5", "truncate_sha256 10",
				"sha256", "base64", "hex", "printf \"%s-%s\" \"x\"", "replace \"a\" \"b\"", "len",
				"html", "js", "urlquery", "print", "println 1", "printf \"%q\"", "not", "eq \"x\"")
		}
		return p
	default:
		return g.strCall(2)
	}
}

func (g *gen) open() string {
	if g.chance(0.15) {
		return "{{- "
	}
	return g.pick("{{ ", "{{", "{{  ")
}

func (g *gen) close() string {
	if g.chance(0.15) {
		return " -}}"
	}
	return g.pick(" }}", "}}", "  }}")
}

func (g *gen) text() string {
	return g.pick("a", " ", "\n", "x-", "  \t", "é", "}}", "{ ", "-", "name-", " \n ", "", "<b>")
}

// item is one piece of a template body: text, an action, a variable, a comment or a block.
func (g *gen) item(depth int) string {
	switch r := g.r.Intn(20); {
	case r < 4:
		return g.text()
	case r < 13 || depth <= 0:
		return g.open() + g.pipeline() + g.close()
	case r < 14:
		name := "$" + g.pick("x", "y", "s", "n", "v")
		if g.chance(0.7) {
			g.vars = append(g.vars, name)
			return g.open() + name + " := " + g.pipeline() + g.close()
		}
		return g.open() + name + " = " + g.pipeline() + g.close()
	case r < 15:
		return g.pick("{{/* c */}}", "{{- /* comment */ -}}", "{{/* a\nb */}}", "{{ /* x */ }}",
			"{{/* unclosed }}")
	case r < 18:
		return g.block("if", depth)
	default:
		return g.block("with", depth)
	}
}

func (g *gen) body(depth int) string {
	var b strings.Builder
	saved := len(g.vars)
	for i := 1 + g.r.Intn(3); i > 0; i-- {
		b.WriteString(g.item(depth))
	}
	g.vars = g.vars[:saved] // inner declarations end with the block
	return b.String()
}

func (g *gen) block(word string, depth int) string {
	cond := func() string {
		if g.chance(0.5) {
			return g.boolCall(1)
		}
		return g.expr(kAny, 1)
	}
	var b strings.Builder
	b.WriteString(g.open() + word + " " + cond() + g.close())
	b.WriteString(g.body(depth - 1))
	for g.chance(0.3) {
		b.WriteString(g.open() + "else " + word + " " + cond() + g.close())
		b.WriteString(g.body(depth - 1))
	}
	if g.chance(0.5) {
		b.WriteString(g.open() + "else" + g.close())
		b.WriteString(g.body(depth - 1))
	}
	b.WriteString(g.open() + "end" + g.close())
	return b.String()
}

// template is a random template; a fifth of them are mutated for parse errors.
func (g *gen) template() string {
	g.vars = nil
	var b strings.Builder
	for i := 1 + g.r.Intn(4); i > 0; i-- {
		b.WriteString(g.item(2))
	}
	s := b.String()
	if g.chance(0.15) {
		s = g.mutate(s)
	}
	return s
}

// mutate deletes, inserts or doubles a character (whole characters, so the text stays UTF-8).
func (g *gen) mutate(s string) string {
	rs := []rune(s)
	if len(rs) == 0 {
		return s
	}
	i := g.r.Intn(len(rs))
	switch g.r.Intn(3) {
	case 0:
		return string(rs[:i]) + string(rs[i+1:])
	case 1:
		ins := []rune("{}()|$.\"'`:=,-*/ \n0aZ_!#%\\é")
		return string(rs[:i]) + string(ins[g.r.Intn(len(ins))]) + string(rs[i:])
	default:
		return string(rs[:i+1]) + string(rs[i:])
	}
}

// Targeted cases: many successful outputs of the parts most likely to drift — fmt verbs on
// every value type, number literals, printability and case mapping, and time layouts.

// printfCase is one printf with well-typed arguments, so that the output (not an error) is
// compared.
func (g *gen) printfCase() string {
	f, n := g.format()
	args := []string{f}
	for i := 0; i < n; i++ {
		args = append(args, g.value())
	}
	return "{{ printf " + strings.Join(args, " ") + " }}"
}

// value is a constant of any type a template can produce.
func (g *gen) value() string {
	switch g.r.Intn(9) {
	case 0, 1:
		return strconv.Itoa(g.r.Intn(2000) - 1000)
	case 2:
		return g.numberLit()
	case 3, 4:
		return strconv.Quote(g.word())
	case 5:
		return g.pick("true", "false", "nil", ".", "$", "(index .DisplayName 0)", `(index "é" 1)`)
	case 6:
		return g.field()
	default:
		return g.floatLit()
	}
}

// numberLit is a number literal of Go's syntax, including the extremes of float64.
func (g *gen) numberLit() string {
	return g.pick("0x1.fffffffffffff8p0", "0x1.00000000000008p0", "0x1.00000000000018p0",
		"0x1.0000000000000801p0", "1e-320", "4.9e-324", "2.5e-324", "1.7976931348623157e308",
		"0x1p-1074", "0x1p-1022", "0x1.ffffffffffffep-1023", "0x1p1023", "123456789012345678",
		"0.1e1", "1_2.3_4", "0x_1p0", "0b1_0", "0o1_7", "9007199254740993", "9007199254740993.0",
		"2.2250738585072014e-308", "0.000001", "0.0000001", "999999.0", "1000000.0", "-1e-5",
		"'\\377'", "'\\u2028'", "'\\U0001F600'", "'\\t'", "0X1P-2", "1E6", "05", "0.", "00.5")
}

// word is a string with characters whose printing, escaping or case mapping is checked.
func (g *gen) word() string {
	special := []string{"\u00ad", "\u0600", "\u0890", "\u08e2", "\u180e", "\u200d", "\u2066",
		"\ufdd0", "\ufffe", "\U0001fffe", "\U000110bd", "\U000e0001", "\ue000", "\U000f0000",
		"\u0085", "\u00a0", "\u2028", "\u3000", "\u0007", "\x1b", "\x7f", "\ufeff", "\ufffd",
		"\xff", "\xc3", "é", "Ω", "ǅ", "ﬀ", "ß", "ẞ", "İ", "ı", "Σ", "ς", "Ж", "ж", "Ա", "ա",
		"ა", "Ⴀ", "ⴀ", "Ꭰ", "ꭰ", "ǈ", "Ǳ", "ǲ", "µ", "ÿ", "Ÿ", "K", "Å", "ſ", "日本語", "😀",
		"a", "Z", "0", " ", "'", "\"", "\\", "`", "%", "<", ">", "&", "=", "+", "/", "?", "#",
		"~", "\t", "\n", "\r", "\x00"}
	var b strings.Builder
	for i := g.r.Intn(5); i >= 0; i-- {
		b.WriteString(special[g.r.Intn(len(special))])
	}
	return b.String()
}

// escapeCase runs a word through the functions that escape, quote or map characters.
func (g *gen) escapeCase() string {
	w := strconv.Quote(g.word())
	return g.pick(
		"{{ printf \"%q|%+q|%#q|%x|% X|%U|%s\" "+w+" "+w+" "+w+" "+w+" "+w+" (index "+w+" 0) "+w+" }}",
		"{{ js "+w+" }}|{{ html "+w+" }}|{{ urlquery "+w+" }}",
		"{{ uppercase "+w+" }}|{{ lowercase "+w+" }}",
		"{{ "+w+" | hex | decode_hex | base64 | decode_base64 | printf \"%q\" }}",
		"{{ printf \"%c|%q|%U|%#U|%+q\" "+g.runeLit()+" "+g.runeLit()+" "+g.runeLit()+" "+g.runeLit()+" "+g.runeLit()+" }}",
		"{{ len "+w+" }} {{ slice "+w+" 0 1 | printf \"%q\" }} {{ truncate 3 "+w+" | printf \"%+q\" }}",
	)
}

func (g *gen) runeLit() string {
	return g.pick("'a'", "'\\x00'", "'\\u00ad'", "'\\u0600'", "'\\ufdd0'", "'\\U0001fffe'",
		"'\\U000e0001'", "'\\ue000'", "'é'", "'😀'", "'\\u2028'", "'\\x7f'", "0x10FFFF", "0x110000",
		"-1", "0xD800", "65", "0x1F600", "'\\u0085'", "'\\u00a0'", "'\\u3000'")
}

// layoutCase formats the pinned clock with a random Go layout.
func (g *gen) layoutCase() string {
	parts := []string{"2006", "06", "_2006", "01", "1", "Jan", "January", "02", "2", "_2", "002",
		"__2", "15", "03", "3", "04", "4", "05", "5", "PM", "pm", "Mon", "Monday", "MST", "-07",
		"-0700", "-07:00", "-070000", "-07:00:00", "Z07", "Z0700", "Z07:00", "Z070000",
		"Z07:00:00", ".0", ".000", ".000000", ".000000000", ".9", ".999", ".999999999", ",000",
		",999", " ", "-", ":", "T", "x", "Janx", "Mond", "Monx", "Jant", "1234", "20060102", "0"}
	var b strings.Builder
	for i := 1 + g.r.Intn(6); i > 0; i-- {
		b.WriteString(parts[g.r.Intn(len(parts))])
	}
	return "{{ timestamp " + strconv.Quote(b.String()) + " }}"
}
