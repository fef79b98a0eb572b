//! Go's `text/template` with the Vault SDK's template functions (`sdk/helper/template`), for
//! the engine's `username_template`.
//!
//! The template is stored in `config/root`, and a mount written by the Go plugin keeps it when
//! the binary is swapped, so the same text must give the same names here, and fail the same
//! way. This is a small interpreter for the part of the Go language such a template can use,
//! built to match Go's output, argument typing and error texts, in Go's own stages:
//! [`lexer`] (`parse/lex.go`), [`parser`] and [`node`] (`parse/parse.go`, `parse/node.go`),
//! [`value`] and [`exec`] (`exec.go`), [`funcs`] (`funcs.go` and the SDK's functions) and
//! [`fmt`] (Go's `fmt` printing). Go's standard-library pieces it shares with the rest of the
//! plugin (quoting, number parsing, base64/hex, `time.Format`) live in [`crate::gocompat`].
//!
//! - syntax: text, `{{ }}` actions with `{{- `/` -}}` trim markers, `{{/* */}}` comments,
//!   fields of the data (a struct in Go, so an unknown field is an error, not `<no value>`),
//!   `$` variables (`:=`, `=`), string (`"…"` with Go escapes, `` `raw` ``), character, number
//!   and boolean literals, `nil`, parentheses, `|` pipelines (the piped value becomes the last
//!   argument), `if`/`else if`/`else`/`end` and `with`/`else with`;
//! - Go's builtins: `and`, `or`, `not`, `len`, `index`, `slice`, `eq`, `ne`, `lt`, `le`, `gt`,
//!   `ge`, `print`, `printf`, `println`, `html`, `js`, `urlquery`, `call`, with Go's `fmt` output
//!   (`%s %d %v %q %x %t %c %T`…, widths, flags, `%!d(string=x)` for mismatches);
//! - the SDK's functions: `random`, `truncate`, `truncate_sha256`, `uppercase`, `lowercase`,
//!   `replace`, `sha256`, `base64`, `unix_time`, `unix_time_millis`, `timestamp`, `uuid`, and
//!   OpenBao's additions `decode_base64`, `hex`, `decode_hex`, `glob` (a superset: templates
//!   valid for either server work here).
//!
//! Outputs and error texts are compared with Go's own `text/template` on a few thousand
//! generated templates: `tests/gotemplate/gen` is the Go generator, `tests/gotemplate/corpus.jsonl`
//! what Go answered, and the `corpus_tests` unit test replays every case here with the same
//! pinned clock and random bytes (see `tests/gotemplate/README.md` to regenerate). Known
//! differences, all outside what a username template plausibly contains: `range`, `define`,
//! `template` and `block` are parse errors (the data holds nothing to range over and there are
//! no other templates); complex-number constants are refused; `timestamp` formats in UTC (Go
//! uses the server's local zone, UTC in the usual deployments); `uuid` sets the version-4 bits
//! (go-uuid leaves all 128 bits random); parse errors carry `line:column` where Go gives only
//! the line; nesting is capped at 50 parentheses and 50 `if`/`with` blocks and values at
//! 1 MiB, so a hostile template cannot exhaust the stack or memory (Go allows 10000
//! parentheses and unbounded sizes); Unicode classification (printable, letters, case mapping)
//! follows Rust's tables; and output that is not valid UTF-8 (a byte `truncate` splitting a
//! multi-byte character) gets U+FFFD replacements, where Go would pass the raw bytes on. Where
//! Go itself panics (`{{ .Type | call }}` indexes an empty argument list in Go 1.26, which would
//! crash a Go plugin), this engine returns an execution error.

mod exec;
mod fmt;
mod funcs;
mod lexer;
mod node;
mod parser;
mod value;

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod tests;

use rand::TryRngCore as _;
use time::OffsetDateTime;

use crate::gocompat::utf8::runes_lossy;
use node::Node;

/// The data a template runs on (`.` at the top): a Go struct whose fields are all strings,
/// such as the AWS engine's `UsernameMetadata{Type, DisplayName, PolicyName}`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Data<'a> {
    /// The struct's Go type as messages, `%T` and `%#v` print it (`aws.UsernameMetadata`).
    pub(crate) type_name: &'static str,
    /// Field names and values, in declaration order (the order `%v` prints them in).
    pub(crate) fields: &'a [(&'static str, &'a str)],
}

/// A template that could not be parsed or executed, worded as the SDK's `StringTemplate`
/// (which wraps Go's `text/template` errors) so operators see the messages they know.
///
/// Public because `aws::username::UsernameError` carries it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TemplateError {
    /// The template text is empty (the SDK refuses it before parsing).
    #[error("missing template")]
    Missing,
    /// The text is not a valid template. `column` is the byte offset in the line (0-based, as Go
    /// counts for execution errors); Go itself reports only the line for parse errors.
    #[error("unable to parse template: template: template:{line}:{column}: {message}")]
    Parse {
        /// 1-based line of the offending token.
        line: usize,
        /// 0-based byte offset of the offending token within its line.
        column: usize,
        /// Go's message, e.g. `function "foo" not defined`.
        message: String,
    },
    /// Execution failed; `context` is the expression being evaluated, printed as Go prints it.
    #[error(
        "unable to apply template: template: template:{line}:{column}: executing \"template\" at <{context}>: {message}"
    )]
    Execute {
        /// 1-based line of the expression.
        line: usize,
        /// 0-based byte offset of the expression within its line.
        column: usize,
        /// The expression, e.g. `truncate 0 "x"`.
        context: String,
        /// Go's message, e.g. `error calling truncate: max length must be > 0 but was 0`.
        message: String,
    },
}

/// A parsed template, ready to render many times (the SDK's `StringTemplate`).
#[derive(Clone, Debug)]
pub(crate) struct Template {
    src: String,
    root: Vec<Node>,
}

impl Template {
    /// Parses Go template text. Errors are those the Go SDK gives at `NewTemplate` (an empty
    /// text, syntax errors, unknown functions, undefined variables), so a broken template is
    /// reported when credentials are requested, as in Go.
    pub(crate) fn parse(src: &str) -> Result<Self, TemplateError> {
        if src.is_empty() {
            return Err(TemplateError::Missing);
        }
        let items = lexer::Lexer::new(src).run();
        match parser::Parser::new(src, items).parse() {
            Ok(root) => Ok(Template {
                src: src.to_string(),
                root,
            }),
            Err(e) => {
                let (line, column) = line_col(src, e.pos);
                Err(TemplateError::Parse {
                    line,
                    column,
                    message: e.msg,
                })
            }
        }
    }

    /// Renders the template for `data` with the given clock and random source (the SDK's
    /// `Generate`); production passes [`SystemEffects`], tests pin both.
    pub(crate) fn render_with(
        &self,
        data: Data<'_>,
        effects: &mut dyn Effects,
    ) -> Result<String, TemplateError> {
        match exec::run(&self.root, data, effects) {
            // Go passes raw bytes on; a Rust string needs valid UTF-8.
            Ok(out) => Ok(runes_lossy(out)),
            Err(e) => {
                let (line, column) = line_col(&self.src, e.pos);
                Err(TemplateError::Execute {
                    line,
                    column,
                    context: e.context,
                    message: e.msg,
                })
            }
        }
    }
}

/// Where the time and random bytes come from; production reads the system, tests pin both.
pub(crate) trait Effects {
    /// The current time (UTC).
    fn now(&mut self) -> OffsetDateTime;
    /// Fills `buf` from a cryptographically secure source.
    fn fill_random(&mut self, buf: &mut [u8]) -> Result<(), String>;
}

/// The system clock and the OS random source (Go's `time.Now` and `crypto/rand`).
pub(crate) struct SystemEffects;

impl Effects for SystemEffects {
    fn now(&mut self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn fill_random(&mut self, buf: &mut [u8]) -> Result<(), String> {
        rand::rngs::OsRng
            .try_fill_bytes(buf)
            .map_err(|e| e.to_string())
    }
}

/// A pinned clock (2024-02-29T13:04:05.123456789Z) and constant random bytes (23, which the
/// base62 alphabet maps to `X`), so tests can compare outputs exactly.
#[cfg(test)]
pub(crate) struct Pinned;

#[cfg(test)]
impl Effects for Pinned {
    fn now(&mut self) -> OffsetDateTime {
        time::macros::datetime!(2024-02-29 13:04:05.123456789 UTC)
    }

    fn fill_random(&mut self, buf: &mut [u8]) -> Result<(), String> {
        buf.fill(23);
        Ok(())
    }
}

/// Test helpers: whether `s` is `n` decimal digits.
#[cfg(test)]
pub(crate) fn is_digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

/// Test helpers: whether `s` is `n` characters of the `random` alphabet.
#[cfg(test)]
pub(crate) fn is_base62(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Test helpers: the system clock's Unix seconds.
#[cfg(test)]
pub(crate) fn unix_now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Largest string a function may build (Go has no limit but would exhaust memory instead).
const MAX_VALUE_LEN: usize = 1 << 20;
/// Deepest nesting of parentheses. Go allows 10000; each level costs up to ~6 KiB of stack in
/// debug builds, and names are rendered on 2 MiB async worker threads.
const MAX_PAREN_DEPTH: usize = 50;
/// Deepest nesting of `if`/`with` blocks, counting each `else if` (up to ~12 KiB of stack per
/// level in debug builds).
const MAX_CONTROL_DEPTH: usize = 50;

/// The error of a function whose result would outgrow [`MAX_VALUE_LEN`].
fn too_long(len: usize) -> Result<(), String> {
    if len > MAX_VALUE_LEN {
        return Err(format!(
            "result of {len} bytes exceeds this engine's limit of {MAX_VALUE_LEN}"
        ));
    }
    Ok(())
}

/// 1-based line and 0-based byte column of `pos`, as Go's `ErrorContext` computes them.
fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let before = &src.as_bytes()[..pos.min(src.len())];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let column = match before.iter().rposition(|&b| b == b'\n') {
        Some(i) => before.len() - (i + 1),
        None => before.len(),
    };
    (line, column)
}
