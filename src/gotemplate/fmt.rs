//! Go's `fmt` as templates reach it: `print`, `println`, `printf` and the printing of an
//! action's value (`%v`), with Go's verbs, flags, widths, precisions, argument indexes and its
//! in-band errors (`%!d(string=x)`, `%!s(MISSING)`, `%!(EXTRA …)`).

use super::value::Value;
use super::{too_long, Data};
use crate::gocompat::quote::{can_backquote, is_print, quote_bytes};
use crate::gocompat::strconv::format_float;
use crate::gocompat::utf8::{decode_rune, rune_count};

const LDIGITS: &[u8; 17] = b"0123456789abcdefx";
const UDIGITS: &[u8; 17] = b"0123456789ABCDEFX";

/// Go's `fmt` flags for one verb.
#[derive(Clone, Copy, Default)]
struct Flags {
    wid: usize,
    wid_present: bool,
    prec: usize,
    prec_present: bool,
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    plus_v: bool,
    sharp_v: bool,
}

/// Go's `pp`: the output buffer, the current verb's flags and the data (to print the struct).
pub(super) struct Printer<'d> {
    pub(super) buf: Vec<u8>,
    f: Flags,
    data: Data<'d>,
}

/// Where Go's `doPrintf` is: the next format byte and argument, and its `reordered` and
/// `goodArgNum` flags for explicit `[n]` argument indexes.
struct Cursor<'f> {
    format: &'f [u8],
    i: usize,
    arg_num: usize,
    num_args: usize,
    reordered: bool,
    good_arg_num: bool,
}

impl Cursor<'_> {
    /// Go's `argNumber`: reads an explicit `[n]` at the cursor, if any, and says whether there
    /// was one (Go's `afterIndex`); a bad index clears `good_arg_num`.
    fn arg_number(&mut self) -> bool {
        if self.format.get(self.i) != Some(&b'[') {
            return false;
        }
        self.reordered = true;
        let s = &self.format[self.i..];
        let (index, wid, ok) = match s.iter().position(|&c| c == b']') {
            Some(close) if s.len() >= 3 => match parse_num(s, 1) {
                (Some(n), newi) if newi == close => (n.checked_sub(1), close + 1, true),
                _ => (None, close + 1, false),
            },
            _ => (None, 1, false),
        };
        self.i += wid;
        match index {
            Some(index) if ok && index < self.num_args => {
                self.arg_num = index;
                true
            }
            _ => {
                self.good_arg_num = false;
                ok
            }
        }
    }
}

/// Go's `fmt` limit on widths and precisions.
fn too_large(x: usize) -> bool {
    x > 1_000_000
}

/// Go's `parsenum`: digits at `s[start..]`, or `None` if none or too large.
fn parse_num(s: &[u8], start: usize) -> (Option<usize>, usize) {
    let mut i = start;
    let mut num = 0usize;
    let mut found = false;
    while i < s.len() && s[i].is_ascii_digit() {
        if too_large(num) {
            return (None, s.len());
        }
        num = num * 10 + usize::from(s[i] - b'0');
        found = true;
        i += 1;
    }
    (found.then_some(num), i)
}

impl<'d> Printer<'d> {
    pub(super) fn new(data: Data<'d>) -> Self {
        Printer {
            buf: Vec::new(),
            f: Flags::default(),
            data,
        }
    }

    fn write_padding(&mut self, n: usize) {
        let byte = if self.f.zero && !self.f.minus {
            b'0'
        } else {
            b' '
        };
        self.buf.resize(self.buf.len() + n, byte);
    }

    /// Writes `b` padded to the width (counted in characters).
    fn pad(&mut self, b: &[u8]) {
        if !self.f.wid_present || self.f.wid == 0 {
            self.buf.extend_from_slice(b);
            return;
        }
        let width = self.f.wid.saturating_sub(rune_count(b));
        if self.f.minus {
            self.buf.extend_from_slice(b);
            self.write_padding(width);
        } else {
            self.write_padding(width);
            self.buf.extend_from_slice(b);
        }
    }

    fn pad_unzeroed(&mut self, b: &[u8]) {
        let zero = self.f.zero;
        self.f.zero = false;
        self.pad(b);
        self.f.zero = zero;
    }

    /// `fmt.Sprint`: spaces between operands when neither is a string.
    pub(super) fn do_print(&mut self, args: &[Value]) {
        let mut prev_string = false;
        for (i, arg) in args.iter().enumerate() {
            let is_string = matches!(arg, Value::Str(_));
            if i > 0 && !is_string && !prev_string {
                self.buf.push(b' ');
            }
            self.print_arg(arg, 'v');
            prev_string = is_string;
        }
    }

    /// `fmt.Sprintln`.
    pub(super) fn do_println(&mut self, args: &[Value]) {
        for (i, arg) in args.iter().enumerate() {
            if i > 0 {
                self.buf.push(b' ');
            }
            self.print_arg(arg, 'v');
        }
        self.buf.push(b'\n');
    }

    /// Go's `intFromArg` for `*` widths and precisions.
    fn int_from_arg(args: &[Value], arg_num: usize) -> (i64, bool, usize) {
        let Some(arg) = args.get(arg_num) else {
            return (0, false, arg_num);
        };
        let (num, ok) = match arg {
            Value::Int(i) => (*i, true),
            Value::Uint8(u) => (i64::from(*u), true),
            _ => (0, false),
        };
        if num.unsigned_abs() > 1_000_000 {
            return (0, false, arg_num + 1);
        }
        (num, ok, arg_num + 1)
    }

    /// `fmt.Sprintf`. Errors only when the result outgrows [`super::MAX_VALUE_LEN`].
    pub(super) fn do_printf(&mut self, format: &[u8], args: &[Value]) -> Result<(), String> {
        let end = format.len();
        let mut c = Cursor {
            format,
            i: 0,
            arg_num: 0,
            num_args: args.len(),
            reordered: false,
            good_arg_num: true,
        };
        let mut after_index;
        'format: while c.i < end {
            too_long(self.buf.len())?;
            c.good_arg_num = true;
            let last = c.i;
            while c.i < end && format[c.i] != b'%' {
                c.i += 1;
            }
            self.buf.extend_from_slice(&format[last..c.i]);
            if c.i >= end {
                break;
            }
            c.i += 1;
            self.f = Flags::default();
            while c.i < end {
                match format[c.i] {
                    b'#' => self.f.sharp = true,
                    b'0' => self.f.zero = true,
                    b'+' => self.f.plus = true,
                    b'-' => self.f.minus = true,
                    b' ' => self.f.space = true,
                    ch => {
                        if ch.is_ascii_lowercase() && c.arg_num < args.len() {
                            if ch == b'v' || ch == b'w' {
                                self.f.sharp_v = self.f.sharp;
                                self.f.sharp = false;
                                self.f.plus_v = self.f.plus;
                                self.f.plus = false;
                            }
                            self.print_arg(&args[c.arg_num], char::from(ch));
                            c.arg_num += 1;
                            c.i += 1;
                            continue 'format;
                        }
                        break;
                    }
                }
                c.i += 1;
            }
            after_index = c.arg_number();
            if c.i < end && format[c.i] == b'*' {
                c.i += 1;
                let (wid, ok, next) = Self::int_from_arg(args, c.arg_num);
                c.arg_num = next;
                self.f.wid_present = ok;
                if !ok {
                    self.buf.extend_from_slice(b"%!(BADWIDTH)");
                }
                self.f.wid = usize::try_from(wid.unsigned_abs()).unwrap_or(0);
                if wid < 0 {
                    self.f.minus = true;
                    self.f.zero = false;
                }
                after_index = false;
            } else {
                let (wid, next) = parse_num(format, c.i);
                c.i = next;
                self.f.wid_present = wid.is_some();
                self.f.wid = wid.unwrap_or(0);
                if after_index && self.f.wid_present {
                    c.good_arg_num = false;
                }
            }
            if c.i + 1 < end && format[c.i] == b'.' {
                c.i += 1;
                if after_index {
                    c.good_arg_num = false;
                }
                after_index = c.arg_number();
                if c.i < end && format[c.i] == b'*' {
                    c.i += 1;
                    let (prec, ok, next) = Self::int_from_arg(args, c.arg_num);
                    c.arg_num = next;
                    self.f.prec_present = ok && prec >= 0;
                    self.f.prec = if prec < 0 {
                        0
                    } else {
                        usize::try_from(prec).unwrap_or(0)
                    };
                    if !self.f.prec_present {
                        self.buf.extend_from_slice(b"%!(BADPREC)");
                    }
                    after_index = false;
                } else {
                    let (prec, next) = parse_num(format, c.i);
                    c.i = next;
                    self.f.prec = prec.unwrap_or(0);
                    self.f.prec_present = true;
                }
            }
            if !after_index {
                c.arg_number();
            }
            if c.i >= end {
                self.buf.extend_from_slice(b"%!(NOVERB)");
                break;
            }
            let (verb, size) = decode_rune(&format[c.i..]);
            let verb = verb.unwrap_or(char::REPLACEMENT_CHARACTER);
            c.i += size;
            if verb == '%' {
                self.buf.push(b'%');
            } else if !c.good_arg_num {
                self.verb_error(verb, "(BADINDEX)");
            } else if c.arg_num >= args.len() {
                self.verb_error(verb, "(MISSING)");
            } else {
                if verb == 'v' || verb == 'w' {
                    self.f.sharp_v = self.f.sharp;
                    self.f.sharp = false;
                    self.f.plus_v = self.f.plus;
                    self.f.plus = false;
                }
                self.print_arg(&args[c.arg_num], verb);
                c.arg_num += 1;
            }
        }
        if !c.reordered && c.arg_num < args.len() {
            self.f = Flags::default();
            self.buf.extend_from_slice(b"%!(EXTRA ");
            for (k, arg) in args[c.arg_num..].iter().enumerate() {
                if k > 0 {
                    self.buf.extend_from_slice(b", ");
                }
                self.type_and_value(arg);
            }
            self.buf.push(b')');
        }
        too_long(self.buf.len())
    }

    fn verb_error(&mut self, verb: char, what: &str) {
        self.buf.extend_from_slice(b"%!");
        self.push_char(verb);
        self.buf.extend_from_slice(what.as_bytes());
    }

    fn push_char(&mut self, c: char) {
        let mut b = [0u8; 4];
        self.buf.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
    }

    /// `%!verb(type=value)` for a verb the value does not support.
    fn bad_verb(&mut self, arg: &Value, verb: char) {
        self.buf.extend_from_slice(b"%!");
        self.push_char(verb);
        self.buf.push(b'(');
        self.type_and_value(arg);
        self.buf.push(b')');
    }

    /// `type=value` (`<nil>` for nil), as Go's `badVerb` and `%!(EXTRA …)` print an argument.
    fn type_and_value(&mut self, arg: &Value) {
        if *arg == Value::Nil {
            self.buf.extend_from_slice(b"<nil>");
        } else {
            self.buf.extend_from_slice(arg.type_name().as_bytes());
            self.buf.push(b'=');
            self.print_arg(arg, 'v');
        }
    }

    pub(super) fn print_arg(&mut self, arg: &Value, verb: char) {
        match (arg, verb) {
            (Value::Nil, 'T' | 'v') => return self.pad(b"<nil>"),
            (Value::Nil, _) => return self.bad_verb(arg, verb),
            (_, 'T') => return self.fmt_s(arg.type_name().as_bytes()),
            // `%w` only means something in `fmt.Errorf`; a struct gets no per-field treatment.
            (_, 'p') | (Value::Struct(_), 'w') => return self.bad_verb(arg, verb),
            _ => {}
        }
        match arg {
            Value::Bool(b) => match verb {
                't' | 'v' => self.pad(if *b { b"true" } else { b"false" }),
                _ => self.bad_verb(arg, verb),
            },
            Value::Int(i) => self.fmt_integer(*i as u64, true, verb, arg),
            Value::Uint8(u) => self.fmt_integer(u64::from(*u), false, verb, arg),
            Value::Float(x) => self.fmt_float(*x, verb, arg),
            Value::Str(s) => self.fmt_string(s, verb, arg),
            Value::Struct(_) => self.print_struct(verb),
            Value::Nil => {}
        }
    }

    /// A struct: `{a b c}`, `{Type:a …}` with `%+v`, Go syntax with `%#v`.
    fn print_struct(&mut self, verb: char) {
        let data = self.data;
        if self.f.sharp_v {
            self.buf.extend_from_slice(data.type_name.as_bytes());
        }
        self.buf.push(b'{');
        for (i, (name, value)) in data.fields.iter().enumerate() {
            if i > 0 {
                if self.f.sharp_v {
                    self.buf.extend_from_slice(b", ");
                } else {
                    self.buf.push(b' ');
                }
            }
            if self.f.plus_v || self.f.sharp_v {
                self.buf.extend_from_slice(name.as_bytes());
                self.buf.push(b':');
            }
            let field = Value::Str(value.as_bytes().to_vec());
            self.fmt_string(value.as_bytes(), verb, &field);
        }
        self.buf.push(b'}');
    }

    fn fmt_integer(&mut self, u: u64, signed: bool, verb: char, arg: &Value) {
        match verb {
            'v' if self.f.sharp_v && !signed => {
                let sharp = self.f.sharp;
                self.f.sharp = true;
                self.fmt_int(u, 16, signed, verb, LDIGITS);
                self.f.sharp = sharp;
            }
            'v' | 'd' => self.fmt_int(u, 10, signed, verb, LDIGITS),
            'b' => self.fmt_int(u, 2, signed, verb, LDIGITS),
            'o' | 'O' => self.fmt_int(u, 8, signed, verb, LDIGITS),
            'x' => self.fmt_int(u, 16, signed, verb, LDIGITS),
            'X' => self.fmt_int(u, 16, signed, verb, UDIGITS),
            'c' => {
                let mut b = [0u8; 4];
                let c = rune_of(u);
                self.pad(c.encode_utf8(&mut b).as_bytes());
            }
            'q' => {
                let quoted = quote_bytes(&rune_bytes(rune_of(u)), b'\'', self.f.plus);
                self.pad(quoted.as_bytes());
            }
            'U' => self.fmt_unicode(u),
            _ => self.bad_verb(arg, verb),
        }
    }

    /// Go's `fmt.fmtInteger`.
    fn fmt_int(&mut self, u: u64, base: u64, signed: bool, verb: char, digits: &[u8; 17]) {
        let negative = signed && (u as i64) < 0;
        let mut u = if negative { u.wrapping_neg() } else { u };
        let mut prec = 0usize;
        if self.f.prec_present {
            prec = self.f.prec;
            if prec == 0 && u == 0 {
                let zero = self.f.zero;
                self.f.zero = false;
                self.write_padding(self.f.wid);
                self.f.zero = zero;
                return;
            }
        } else if self.f.zero && !self.f.minus && self.f.wid_present {
            prec = self.f.wid;
            if negative || self.f.plus || self.f.space {
                prec = prec.saturating_sub(1);
            }
        }
        let mut rev = Vec::new();
        loop {
            rev.push(digits[(u % base) as usize]);
            u /= base;
            if u == 0 {
                break;
            }
        }
        while rev.len() < prec {
            rev.push(b'0');
        }
        if self.f.sharp {
            match base {
                2 => rev.extend_from_slice(b"b0"),
                8 if rev.last() != Some(&b'0') => rev.push(b'0'),
                16 => {
                    rev.push(digits[16]);
                    rev.push(b'0');
                }
                _ => {}
            }
        }
        if verb == 'O' {
            rev.extend_from_slice(b"o0");
        }
        if negative {
            rev.push(b'-');
        } else if self.f.plus {
            rev.push(b'+');
        } else if self.f.space {
            rev.push(b' ');
        }
        rev.reverse();
        self.pad_unzeroed(&rev);
    }

    /// `%U`: `U+0041`, and with `#` the character too.
    fn fmt_unicode(&mut self, u: u64) {
        let prec = if self.f.prec_present && self.f.prec > 4 {
            self.f.prec
        } else {
            4
        };
        let mut s = format!("U+{u:0prec$X}");
        if self.f.sharp {
            if let Some(c) = u32::try_from(u).ok().and_then(char::from_u32) {
                if is_print(c) {
                    s.push_str(&format!(" '{c}'"));
                }
            }
        }
        self.pad_unzeroed(s.as_bytes());
    }

    fn fmt_string(&mut self, s: &[u8], verb: char, arg: &Value) {
        match verb {
            'v' if self.f.sharp_v => self.fmt_q(s),
            'v' | 's' => self.fmt_s(s),
            'x' => self.fmt_sx(s, LDIGITS),
            'X' => self.fmt_sx(s, UDIGITS),
            'q' => self.fmt_q(s),
            _ => self.bad_verb(arg, verb),
        }
    }

    /// The string cut to the precision, counted in characters.
    fn truncate_string<'s>(&self, s: &'s [u8]) -> &'s [u8] {
        if self.f.prec_present {
            let mut n = self.f.prec;
            let mut i = 0;
            while i < s.len() {
                if n == 0 {
                    return &s[..i];
                }
                n -= 1;
                i += decode_rune(&s[i..]).1;
            }
        }
        s
    }

    fn fmt_s(&mut self, s: &[u8]) {
        let s = self.truncate_string(s);
        self.pad(s);
    }

    /// `%x`/`%X` of a string: hex of its bytes.
    fn fmt_sx(&mut self, s: &[u8], digits: &[u8; 17]) {
        let mut length = s.len();
        if self.f.prec_present && self.f.prec < length {
            length = self.f.prec;
        }
        let mut width = 2 * length;
        if width == 0 {
            if self.f.wid_present {
                self.write_padding(self.f.wid);
            }
            return;
        }
        if self.f.space {
            if self.f.sharp {
                width *= 2;
            }
            width += length - 1;
        } else if self.f.sharp {
            width += 2;
        }
        if self.f.wid_present && self.f.wid > width && !self.f.minus {
            self.write_padding(self.f.wid - width);
        }
        if self.f.sharp {
            self.buf.push(b'0');
            self.buf.push(digits[16]);
        }
        for (i, &c) in s[..length].iter().enumerate() {
            if self.f.space && i > 0 {
                self.buf.push(b' ');
                if self.f.sharp {
                    self.buf.push(b'0');
                    self.buf.push(digits[16]);
                }
            }
            self.buf.push(digits[usize::from(c >> 4)]);
            self.buf.push(digits[usize::from(c & 15)]);
        }
        if self.f.wid_present && self.f.wid > width && self.f.minus {
            self.write_padding(self.f.wid - width);
        }
    }

    /// `%q` of a string: Go-quoted, or backquoted with `#` when possible.
    fn fmt_q(&mut self, s: &[u8]) {
        let s = self.truncate_string(s);
        if self.f.sharp && can_backquote(s) {
            let mut quoted = Vec::with_capacity(s.len() + 2);
            quoted.push(b'`');
            quoted.extend_from_slice(s);
            quoted.push(b'`');
            self.pad(&quoted);
            return;
        }
        let quoted = quote_bytes(s, b'"', self.f.plus);
        self.pad(quoted.as_bytes());
    }

    fn fmt_float(&mut self, v: f64, verb: char, arg: &Value) {
        match verb {
            'v' => self.fmt_float_with(v, 'g', -1),
            'b' | 'g' | 'G' | 'x' | 'X' => {
                let verb = if self.f.sharp_v { 'g' } else { verb };
                self.fmt_float_with(v, verb, -1)
            }
            'f' | 'e' | 'E' | 'F' => self.fmt_float_with(v, verb, 6),
            _ => self.bad_verb(arg, verb),
        }
    }

    /// Go's `fmt.fmtFloat`.
    fn fmt_float_with(&mut self, v: f64, verb: char, prec: i64) {
        let prec = if self.f.prec_present {
            i64::try_from(self.f.prec).unwrap_or(i64::MAX)
        } else {
            prec
        };
        let formatted = format_float(v, verb, prec);
        let mut num: Vec<u8> = Vec::with_capacity(formatted.len() + 1);
        if formatted.starts_with('-') || formatted.starts_with('+') {
            num.extend_from_slice(formatted.as_bytes());
        } else {
            num.push(b'+');
            num.extend_from_slice(formatted.as_bytes());
        }
        if self.f.space && num[0] == b'+' && !self.f.plus {
            num[0] = b' ';
        }
        if self.f.sharp && verb != 'b' {
            let mut digits: i64 = match verb {
                'v' | 'g' | 'G' | 'x' => {
                    if prec == -1 {
                        6
                    } else {
                        prec
                    }
                }
                _ => 0,
            };
            let mut tail = Vec::new();
            let mut has_point = false;
            let mut saw_nonzero = false;
            let mut k = 1;
            while k < num.len() {
                match num[k] {
                    b'.' => has_point = true,
                    b'p' | b'P' => {
                        tail = num.split_off(k);
                        break;
                    }
                    b'e' | b'E' if verb != 'x' && verb != 'X' => {
                        tail = num.split_off(k);
                        break;
                    }
                    c => {
                        if c != b'0' {
                            saw_nonzero = true;
                        }
                        if saw_nonzero {
                            digits -= 1;
                        }
                    }
                }
                k += 1;
            }
            if !has_point {
                if num.len() == 2 && num[1] == b'0' {
                    digits -= 1;
                }
                num.push(b'.');
            }
            while digits > 0 {
                num.push(b'0');
                digits -= 1;
            }
            num.extend_from_slice(&tail);
        }
        if self.f.plus || num[0] != b'+' {
            if self.f.zero && !self.f.minus && self.f.wid_present && self.f.wid > num.len() {
                self.buf.push(num[0]);
                self.write_padding(self.f.wid - num.len());
                self.buf.extend_from_slice(&num[1..]);
                return;
            }
            self.pad(&num);
            return;
        }
        self.pad(&num[1..]);
    }
}

fn rune_of(u: u64) -> char {
    u32::try_from(u)
        .ok()
        .and_then(char::from_u32)
        .unwrap_or(char::REPLACEMENT_CHARACTER)
}

fn rune_bytes(c: char) -> Vec<u8> {
    let mut b = [0u8; 4];
    c.encode_utf8(&mut b).as_bytes().to_vec()
}
