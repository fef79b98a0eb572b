//! Username templates: how IAM user names, generated role session names and STS federation
//! token names are built from `config/root`'s `username_template` (spec §2.0).
//!
//! The template is Go `text/template` source run with the SDK's helper functions
//! (`sdk/helper/template`). It is stored in `config/root`, and a mount written by the Go plugin
//! keeps it when the binary is swapped, so the same text must give the same names here, and fail
//! the same way. This module is a small interpreter for the part of the Go language such a
//! template can use, built to match Go's output, argument typing and error texts:
//!
//! - syntax: text, `{{ }}` actions with `{{- `/` -}}` trim markers, `{{/* */}}` comments,
//!   `.Type`/`.DisplayName`/`.PolicyName` (a struct in Go, so an unknown field is an error, not
//!   `<no value>`), `$` variables (`:=`, `=`), string (`"…"` with Go escapes, `` `raw` ``),
//!   character, number and boolean literals, `nil`, parentheses, `|` pipelines (the piped value
//!   becomes the last argument), `if`/`else if`/`else`/`end` and `with`/`else with`;
//! - Go's builtins: `and`, `or`, `not`, `len`, `index`, `slice`, `eq`, `ne`, `lt`, `le`, `gt`,
//!   `ge`, `print`, `printf`, `println`, `html`, `js`, `urlquery`, `call`, with Go's `fmt` output
//!   (`%s %d %v %q %x %t %c %T`…, widths, flags, `%!d(string=x)` for mismatches);
//! - the SDK's functions: `random`, `truncate`, `truncate_sha256`, `uppercase`, `lowercase`,
//!   `replace`, `sha256`, `base64`, `unix_time`, `unix_time_millis`, `timestamp`, `uuid`, and
//!   OpenBao's additions `decode_base64`, `hex`, `decode_hex`, `glob` (a superset: templates
//!   valid for either server work here).
//!
//! Outputs and error texts were compared with Go's own `text/template` on several thousand
//! generated templates. Known differences, all outside what a username template plausibly
//! contains: `range`, `define`, `template` and `block` are parse errors (the data holds nothing
//! to range over and there are no other templates); complex-number constants are refused;
//! `timestamp` formats in UTC (Go uses the server's local zone, UTC in the usual deployments);
//! `uuid` sets the version-4 bits (go-uuid leaves all 128 bits random); parse errors carry
//! `line:column` where Go gives only the line; nesting is capped at 50 parentheses and 50
//! `if`/`with` blocks and values at 1 MiB, so a hostile template cannot exhaust the stack or
//! memory (Go allows 10000 parentheses and unbounded sizes); Unicode classification (printable,
//! letters, case mapping) follows Rust's tables; and output that is not valid UTF-8 (a byte
//! `truncate` splitting a multi-byte character) gets U+FFFD replacements, where Go would pass
//! the raw bytes on to AWS, which rejects them.

use std::fmt;

use base64::Engine as _;
use rand::TryRngCore as _;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

/// The template used when `config/root` has none, identical to the Go plugins'
/// `defaultUserNameTemplate` so generated names keep their shape: `STS` gives
/// `vault-<unix>-<random>` cut to 32 bytes, anything else `vault-<display>-<role>-<unix>-<random>`
/// with `<display>-<role>` cut to 42 and the whole cut to 64.
pub(crate) const DEFAULT_USERNAME_TEMPLATE: &str = r#"{{ if (eq .Type "STS") }}{{ printf "vault-%s-%s"  (unix_time) (random 20) | truncate 32 }}{{ else }}{{ printf "vault-%s-%s-%s" (printf "%s-%s" (.DisplayName) (.PolicyName) | truncate 42) (unix_time) (random 20) | truncate 64 }}{{ end }}"#;

/// Which AWS name is being generated; decides `.Type` and the length limit, because AWS caps IAM
/// user and role session names at 64 characters and federation token names at 32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum NameKind {
    /// IAM user names (`iam_user`) and generated role session names (`assumed_role`):
    /// `.Type` is `IAM`, at most 64 bytes.
    Iam,
    /// `GetFederationToken` names (`federation_token`): `.Type` is `STS`, at most 32 bytes.
    Sts,
}

impl NameKind {
    /// The value of `.Type` in the template, as the Go engine sets it.
    pub(crate) fn type_name(self) -> &'static str {
        match self {
            NameKind::Iam => "IAM",
            NameKind::Sts => "STS",
        }
    }

    /// The longest name AWS accepts for this kind, checked after rendering as Go does.
    pub(crate) fn max_len(self) -> usize {
        match self {
            NameKind::Iam => 64,
            NameKind::Sts => 32,
        }
    }
}

/// The data a template sees, the Go engine's `UsernameMetadata{Type, DisplayName, PolicyName}`.
///
/// Fields are used as given; [`generate_username`] is what normalises them first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TemplateData {
    /// Becomes `.Type` (`IAM` or `STS`).
    pub kind: NameKind,
    /// `.DisplayName`: the requesting token's display name.
    pub display_name: String,
    /// `.PolicyName`: the Vault role name.
    pub policy_name: String,
}

/// A template that could not be parsed or executed, worded as the SDK's `StringTemplate`
/// (which wraps Go's `text/template` errors) so operators see the messages they know.
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

/// Why a name could not be generated, with the Go engine's exact texts (each is a 500).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UsernameError {
    /// The configured template does not parse.
    #[error("unable to initialize username template: {0}")]
    Initialize(TemplateError),
    /// The template failed while rendering.
    #[error("failed to generate username: {0}")]
    Generate(TemplateError),
    /// The rendered name is longer than AWS allows for this kind.
    #[error(
        "the username generated by the template exceeds the {} username length limits of {} chars",
        .kind.type_name(),
        .kind.max_len()
    )]
    TooLong {
        /// Which limit was exceeded.
        kind: NameKind,
        /// Length in bytes of the rejected name.
        length: usize,
    },
}

/// A parsed template, ready to render many times.
#[derive(Clone, Debug)]
pub(crate) struct UsernameTemplate {
    src: String,
    root: Vec<Node>,
}

impl UsernameTemplate {
    /// Parses Go template text. Errors are those the Go SDK gives at `NewTemplate` (an empty
    /// text, syntax errors, unknown functions, undefined variables), so a broken template is
    /// reported when credentials are requested, as in Go.
    pub(crate) fn parse(src: &str) -> Result<Self, TemplateError> {
        if src.is_empty() {
            return Err(TemplateError::Missing);
        }
        let items = Lexer::new(src).run();
        let mut parser = Parser::new(src, items);
        match parser.parse() {
            Ok(root) => Ok(UsernameTemplate {
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

    /// Renders the template for `data`, reading the clock and the OS random source as the
    /// Go functions do (`unix_time`, `random`, `uuid`…).
    pub(crate) fn render(&self, data: &TemplateData) -> Result<String, TemplateError> {
        self.render_with(data, &mut SystemEffects)
    }

    /// Renders with a given clock and random source, so tests can pin both.
    pub(crate) fn render_with(
        &self,
        data: &TemplateData,
        effects: &mut dyn Effects,
    ) -> Result<String, TemplateError> {
        let mut exec = Exec {
            data,
            vars: vec![("$", Value::Data)],
            node: At::None,
            out: Vec::new(),
            effects,
        };
        match exec.walk_list(&Value::Data, &self.root) {
            Ok(()) => Ok(match String::from_utf8(exec.out) {
                Ok(s) => s,
                // One U+FFFD per stray byte, as Go sees such a string character by character.
                Err(e) => {
                    let bytes = e.into_bytes();
                    let mut s = String::with_capacity(bytes.len() + 8);
                    let mut i = 0;
                    while i < bytes.len() {
                        let (c, width) = decode_rune(&bytes[i..]);
                        s.push(c.unwrap_or(char::REPLACEMENT_CHARACTER));
                        i += width;
                    }
                    s
                }
            }),
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

/// Replaces every character outside `[a-zA-Z0-9+=,.@_-]` with `_`, as the Go engine does to
/// display names, role names and caller-supplied role session names, so they are valid in IAM
/// and STS names.
pub(crate) fn normalize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '+' | '=' | ',' | '.' | '@' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Generates a name the way the Go engine's `genUsername` does: an empty template means
/// [`DEFAULT_USERNAME_TEMPLATE`] (what the engine substitutes for an unset `username_template`);
/// for [`NameKind::Iam`] the display and role names are [`normalize`]d, for [`NameKind::Sts`]
/// both are empty; the result may not exceed [`NameKind::max_len`] bytes.
pub(crate) fn generate_username(
    template: &str,
    kind: NameKind,
    display_name: &str,
    role_name: &str,
) -> Result<String, UsernameError> {
    let template = if template.is_empty() {
        DEFAULT_USERNAME_TEMPLATE
    } else {
        template
    };
    let parsed = UsernameTemplate::parse(template).map_err(UsernameError::Initialize)?;
    let data = match kind {
        NameKind::Iam => TemplateData {
            kind,
            display_name: normalize(display_name),
            policy_name: normalize(role_name),
        },
        NameKind::Sts => TemplateData {
            kind,
            display_name: String::new(),
            policy_name: String::new(),
        },
    };
    let name = parsed.render(&data).map_err(UsernameError::Generate)?;
    if name.len() > kind.max_len() {
        return Err(UsernameError::TooLong {
            kind,
            length: name.len(),
        });
    }
    Ok(name)
}

// ---------------------------------------------------------------------------------------------
// Clock and randomness
// ---------------------------------------------------------------------------------------------

/// Where the time and random bytes come from; production reads the system, tests pin both.
pub(crate) trait Effects {
    /// The current time (UTC).
    fn now(&mut self) -> OffsetDateTime;
    /// Fills `buf` from a cryptographically secure source.
    fn fill_random(&mut self, buf: &mut [u8]) -> Result<(), String>;
}

/// The system clock and the OS random source (Go's `crypto/rand`).
struct SystemEffects;

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

/// Largest string a function may build (Go has no limit but would exhaust memory instead).
const MAX_VALUE_LEN: usize = 1 << 20;
/// Deepest nesting of parentheses. Go allows 10000; each level costs up to ~6 KiB of stack in
/// debug builds, and names are rendered on 2 MiB async worker threads.
const MAX_PAREN_DEPTH: usize = 50;
/// Deepest nesting of `if`/`with` blocks, counting each `else if` (up to ~12 KiB of stack per
/// level in debug builds).
const MAX_CONTROL_DEPTH: usize = 50;

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

// ---------------------------------------------------------------------------------------------
// Lexer (Go's text/template/parse/lex.go, run eagerly)
// ---------------------------------------------------------------------------------------------

const LEFT_DELIM: &str = "{{";
const RIGHT_DELIM: &str = "}}";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ItemType {
    Error,
    Bool,
    Char,
    CharConstant,
    Complex,
    Assign,
    Declare,
    Eof,
    Field,
    Identifier,
    LeftDelim,
    LeftParen,
    Number,
    Pipe,
    RawString,
    RightDelim,
    RightParen,
    Space,
    String,
    Text,
    Variable,
    // Keywords.
    Block,
    Break,
    Continue,
    Dot,
    Define,
    Else,
    End,
    If,
    Nil,
    Range,
    Template,
    With,
}

impl ItemType {
    fn is_keyword(self) -> bool {
        use ItemType::*;
        matches!(
            self,
            Block
                | Break
                | Continue
                | Dot
                | Define
                | Else
                | End
                | If
                | Nil
                | Range
                | Template
                | With
        )
    }

    fn keyword(word: &str) -> Option<ItemType> {
        use ItemType::*;
        Some(match word {
            "." => Dot,
            "block" => Block,
            "break" => Break,
            "continue" => Continue,
            "define" => Define,
            "else" => Else,
            "end" => End,
            "if" => If,
            "range" => Range,
            "nil" => Nil,
            "template" => Template,
            "with" => With,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug)]
struct Item {
    typ: ItemType,
    pos: usize,
    val: String,
}

impl fmt::Display for Item {
    /// Go's `item.String()`, used in "unexpected X in Y" messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.typ {
            ItemType::Eof => f.write_str("EOF"),
            ItemType::Error => f.write_str(&self.val),
            t if t.is_keyword() => write!(f, "<{}>", self.val),
            _ if self.val.len() > 10 => {
                let head: String = self.val.chars().take(10).collect();
                write!(f, "{}...", quote_str(&head))
            }
            _ => f.write_str(&quote_str(&self.val)),
        }
    }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

fn has_left_trim_marker(s: &[u8]) -> bool {
    s.len() >= 2 && s[0] == b'-' && is_space(char::from(s[1]))
}

fn has_right_trim_marker(s: &[u8]) -> bool {
    s.len() >= 2 && is_space(char::from(s[0])) && s[1] == b'-'
}

fn left_trim_length(s: &str) -> usize {
    s.len() - s.trim_start_matches(is_space).len()
}

fn right_trim_length(s: &str) -> usize {
    s.len() - s.trim_end_matches(is_space).len()
}

enum LexState {
    Text,
    LeftDelim,
    Comment,
    RightDelim,
    InsideAction,
    Space,
    Quote,
    RawQuote,
    Variable,
    Char,
    Number,
    Field,
    Identifier,
}

enum Step {
    Go(LexState),
    Emit(Item),
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    start: usize,
    at_eof: bool,
    paren_depth: i64,
    inside_action: bool,
}

impl<'a> Lexer<'a> {
    fn new(input: &'a str) -> Self {
        Lexer {
            input,
            pos: 0,
            start: 0,
            at_eof: false,
            paren_depth: 0,
            inside_action: false,
        }
    }

    /// All items up to and including EOF or the first error.
    fn run(mut self) -> Vec<Item> {
        let mut items = Vec::new();
        loop {
            let mut state = if self.inside_action {
                LexState::InsideAction
            } else {
                LexState::Text
            };
            let item = loop {
                match self.step(state) {
                    Step::Go(next) => state = next,
                    Step::Emit(item) => break item,
                }
            };
            let done = matches!(item.typ, ItemType::Eof | ItemType::Error);
            items.push(item);
            if done {
                return items;
            }
        }
    }

    fn step(&mut self, state: LexState) -> Step {
        match state {
            LexState::Text => self.lex_text(),
            LexState::LeftDelim => self.lex_left_delim(),
            LexState::Comment => self.lex_comment(),
            LexState::RightDelim => self.lex_right_delim(),
            LexState::InsideAction => self.lex_inside_action(),
            LexState::Space => self.lex_space(),
            LexState::Quote => self.lex_quote(),
            LexState::RawQuote => self.lex_raw_quote(),
            LexState::Variable => self.lex_variable(),
            LexState::Char => self.lex_char(),
            LexState::Number => self.lex_number(),
            LexState::Field => self.lex_field_or_variable(ItemType::Field),
            LexState::Identifier => self.lex_identifier(),
        }
    }

    fn rest(&self) -> &'a [u8] {
        self.input.as_bytes().get(self.pos..).unwrap_or(&[])
    }

    fn next(&mut self) -> Option<char> {
        match self.input.get(self.pos..).and_then(|s| s.chars().next()) {
            Some(c) => {
                self.pos += c.len_utf8();
                Some(c)
            }
            None => {
                self.at_eof = true;
                None
            }
        }
    }

    fn peek(&mut self) -> Option<char> {
        let c = self.next();
        self.backup();
        c
    }

    fn backup(&mut self) {
        if !self.at_eof && self.pos > 0 {
            if let Some(c) = self
                .input
                .get(..self.pos)
                .and_then(|s| s.chars().next_back())
            {
                self.pos -= c.len_utf8();
            }
        }
    }

    fn this_item(&mut self, typ: ItemType) -> Item {
        let item = Item {
            typ,
            pos: self.start,
            val: self
                .input
                .get(self.start..self.pos)
                .unwrap_or("")
                .to_string(),
        };
        self.start = self.pos;
        item
    }

    fn emit(&mut self, typ: ItemType) -> Step {
        Step::Emit(self.this_item(typ))
    }

    fn ignore(&mut self) {
        self.start = self.pos;
    }

    fn accept(&mut self, valid: &str) -> bool {
        if self.next().is_some_and(|c| valid.contains(c)) {
            return true;
        }
        self.backup();
        false
    }

    fn accept_run(&mut self, valid: &str) {
        while self.next().is_some_and(|c| valid.contains(c)) {}
        self.backup();
    }

    fn errorf(&mut self, msg: String) -> Step {
        Step::Emit(Item {
            typ: ItemType::Error,
            pos: self.start,
            val: msg,
        })
    }

    fn at_right_delim(&self) -> (bool, bool) {
        let rest = self.rest();
        if has_right_trim_marker(rest) && rest[2..].starts_with(RIGHT_DELIM.as_bytes()) {
            return (true, true);
        }
        (rest.starts_with(RIGHT_DELIM.as_bytes()), false)
    }

    fn at_terminator(&mut self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if is_space(c) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            Some(_) => self.rest().starts_with(RIGHT_DELIM.as_bytes()),
        }
    }

    fn lex_text(&mut self) -> Step {
        if let Some(x) = self.input[self.pos..].find(LEFT_DELIM) {
            if x > 0 {
                self.pos += x;
                let delim_end = self.pos + LEFT_DELIM.len();
                let trim = if has_left_trim_marker(&self.input.as_bytes()[delim_end..]) {
                    right_trim_length(&self.input[self.start..self.pos])
                } else {
                    0
                };
                self.pos -= trim;
                let item = self.this_item(ItemType::Text);
                self.pos += trim;
                self.ignore();
                if !item.val.is_empty() {
                    return Step::Emit(item);
                }
            }
            return Step::Go(LexState::LeftDelim);
        }
        self.pos = self.input.len();
        if self.pos > self.start {
            return self.emit(ItemType::Text);
        }
        self.emit(ItemType::Eof)
    }

    fn lex_left_delim(&mut self) -> Step {
        self.pos += LEFT_DELIM.len();
        let trim = has_left_trim_marker(self.rest());
        let after = if trim { 2 } else { 0 };
        if self
            .rest()
            .get(after..)
            .is_some_and(|r| r.starts_with(b"/*"))
        {
            self.pos += after;
            self.ignore();
            return Step::Go(LexState::Comment);
        }
        let item = self.this_item(ItemType::LeftDelim);
        self.inside_action = true;
        self.pos += after;
        self.ignore();
        self.paren_depth = 0;
        Step::Emit(item)
    }

    fn lex_comment(&mut self) -> Step {
        self.pos += 2;
        match self.input[self.pos..].find("*/") {
            Some(x) => self.pos += x + 2,
            None => return self.errorf("unclosed comment".into()),
        }
        let (delim, trim) = self.at_right_delim();
        if !delim {
            return self.errorf("comment ends before closing delimiter".into());
        }
        self.start = self.pos;
        if trim {
            self.pos += 2;
        }
        self.pos += RIGHT_DELIM.len();
        if trim {
            self.pos += left_trim_length(&self.input[self.pos..]);
        }
        self.ignore();
        Step::Go(LexState::Text)
    }

    fn lex_right_delim(&mut self) -> Step {
        let (_, trim) = self.at_right_delim();
        if trim {
            self.pos += 2;
            self.ignore();
        }
        self.pos += RIGHT_DELIM.len();
        let item = self.this_item(ItemType::RightDelim);
        if trim {
            self.pos += left_trim_length(&self.input[self.pos..]);
            self.ignore();
        }
        self.inside_action = false;
        Step::Emit(item)
    }

    fn lex_inside_action(&mut self) -> Step {
        let (delim, _) = self.at_right_delim();
        if delim {
            if self.paren_depth == 0 {
                return Step::Go(LexState::RightDelim);
            }
            return self.errorf("unclosed left paren".into());
        }
        let Some(r) = self.next() else {
            return self.errorf("unclosed action".into());
        };
        match r {
            c if is_space(c) => {
                self.backup();
                Step::Go(LexState::Space)
            }
            '=' => self.emit(ItemType::Assign),
            ':' => {
                if self.next() != Some('=') {
                    return self.errorf("expected :=".into());
                }
                self.emit(ItemType::Declare)
            }
            '|' => self.emit(ItemType::Pipe),
            '"' => Step::Go(LexState::Quote),
            '`' => Step::Go(LexState::RawQuote),
            '$' => Step::Go(LexState::Variable),
            '\'' => Step::Go(LexState::Char),
            '.' if self.rest().first().is_some_and(|b| !b.is_ascii_digit()) => {
                Step::Go(LexState::Field)
            }
            '.' | '+' | '-' | '0'..='9' => {
                self.backup();
                Step::Go(LexState::Number)
            }
            c if is_alnum(c) => {
                self.backup();
                Step::Go(LexState::Identifier)
            }
            '(' => {
                self.paren_depth += 1;
                self.emit(ItemType::LeftParen)
            }
            ')' => {
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    return self.errorf("unexpected right paren".into());
                }
                self.emit(ItemType::RightParen)
            }
            c if c.is_ascii() && go_is_print(c) => self.emit(ItemType::Char),
            c => self.errorf(format!(
                "unrecognized character in action: {}",
                sharp_u(Some(c))
            )),
        }
    }

    fn lex_space(&mut self) -> Step {
        let mut num_spaces = 0;
        while self.peek().is_some_and(is_space) {
            self.next();
            num_spaces += 1;
        }
        let from_space = self
            .input
            .as_bytes()
            .get(self.pos.saturating_sub(1)..)
            .unwrap_or(&[]);
        if has_right_trim_marker(from_space) && from_space[2..].starts_with(RIGHT_DELIM.as_bytes())
        {
            self.backup();
            if num_spaces == 1 {
                return Step::Go(LexState::RightDelim);
            }
        }
        self.emit(ItemType::Space)
    }

    fn lex_identifier(&mut self) -> Step {
        loop {
            let r = self.next();
            if r.is_some_and(is_alnum) {
                continue;
            }
            self.backup();
            if !self.at_terminator() {
                return self.errorf(format!("bad character {}", sharp_u(r)));
            }
            let word = &self.input[self.start..self.pos];
            let typ = match ItemType::keyword(word) {
                Some(k) => k,
                None if word == "true" || word == "false" => ItemType::Bool,
                None => ItemType::Identifier,
            };
            return self.emit(typ);
        }
    }

    fn lex_variable(&mut self) -> Step {
        if self.at_terminator() {
            return self.emit(ItemType::Variable);
        }
        self.lex_field_or_variable(ItemType::Variable)
    }

    fn lex_field_or_variable(&mut self, typ: ItemType) -> Step {
        if self.at_terminator() {
            return self.emit(if typ == ItemType::Variable {
                ItemType::Variable
            } else {
                ItemType::Dot
            });
        }
        let mut r;
        loop {
            r = self.next();
            if !r.is_some_and(is_alnum) {
                self.backup();
                break;
            }
        }
        if !self.at_terminator() {
            return self.errorf(format!("bad character {}", sharp_u(r)));
        }
        self.emit(typ)
    }

    fn lex_char(&mut self) -> Step {
        loop {
            match self.next() {
                Some('\\') => {
                    if matches!(self.next(), Some(c) if c != '\n') {
                        continue;
                    }
                    return self.errorf("unterminated character constant".into());
                }
                None | Some('\n') => return self.errorf("unterminated character constant".into()),
                Some('\'') => break,
                Some(_) => {}
            }
        }
        self.emit(ItemType::CharConstant)
    }

    fn lex_number(&mut self) -> Step {
        if !self.scan_number() {
            let text = self.input[self.start..self.pos].to_string();
            return self.errorf(format!("bad number syntax: {}", quote_str(&text)));
        }
        if matches!(self.peek(), Some('+' | '-')) {
            if !self.scan_number() || self.input.as_bytes()[self.pos - 1] != b'i' {
                let text = self.input[self.start..self.pos].to_string();
                return self.errorf(format!("bad number syntax: {}", quote_str(&text)));
            }
            return self.emit(ItemType::Complex);
        }
        self.emit(ItemType::Number)
    }

    fn scan_number(&mut self) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 10 + 1 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 16 + 6 + 1 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if self.peek().is_some_and(is_alnum) {
            self.next();
            return false;
        }
        true
    }

    fn lex_quote(&mut self) -> Step {
        loop {
            match self.next() {
                Some('\\') => {
                    if matches!(self.next(), Some(c) if c != '\n') {
                        continue;
                    }
                    return self.errorf("unterminated quoted string".into());
                }
                None | Some('\n') => return self.errorf("unterminated quoted string".into()),
                Some('"') => break,
                Some(_) => {}
            }
        }
        self.emit(ItemType::String)
    }

    fn lex_raw_quote(&mut self) -> Step {
        loop {
            match self.next() {
                None => return self.errorf("unterminated raw quoted string".into()),
                Some('`') => break,
                Some(_) => {}
            }
        }
        self.emit(ItemType::RawString)
    }
}

// ---------------------------------------------------------------------------------------------
// Parse tree and parser (Go's text/template/parse/parse.go and node.go)
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Node {
    Text(Vec<u8>),
    Action(Action),
    If(Branch),
    With(Branch),
}

#[derive(Clone, Debug)]
struct Action {
    pos: usize,
    pipe: Pipe,
}

/// `if` or `with`: the pipeline, the body and the optional `else` body.
#[derive(Clone, Debug)]
struct Branch {
    pos: usize,
    pipe: Pipe,
    list: Vec<Node>,
    else_list: Option<Vec<Node>>,
}

#[derive(Clone, Debug)]
struct Pipe {
    pos: usize,
    is_assign: bool,
    decl: Vec<String>,
    cmds: Vec<Command>,
}

#[derive(Clone, Debug)]
struct Command {
    pos: usize,
    args: Vec<Arg>,
}

/// An operand of a command (Go's argument node types).
#[derive(Clone, Debug)]
enum Arg {
    Identifier {
        pos: usize,
        name: String,
    },
    Dot {
        pos: usize,
    },
    Nil {
        pos: usize,
    },
    /// `$x` or `$x.Field…`: the variable name first, then fields.
    Variable {
        pos: usize,
        idents: Vec<String>,
    },
    /// `.A.B`, without the dots.
    Field {
        pos: usize,
        idents: Vec<String>,
    },
    Bool {
        pos: usize,
        value: bool,
    },
    Number(Box<Number>),
    Str {
        pos: usize,
        quoted: String,
        text: Vec<u8>,
    },
    Pipe(Box<Pipe>),
    /// `(pipeline).Field…` or `function.Field…`.
    Chain {
        pos: usize,
        node: Box<Arg>,
        fields: Vec<String>,
    },
}

/// A numeric constant, kept under every type it fits as Go's `NumberNode` does.
#[derive(Clone, Debug)]
struct Number {
    pos: usize,
    text: String,
    is_int: bool,
    int: i64,
    is_uint: bool,
    is_float: bool,
    float: f64,
}

impl Arg {
    fn pos(&self) -> usize {
        match self {
            Arg::Identifier { pos, .. }
            | Arg::Dot { pos }
            | Arg::Nil { pos }
            | Arg::Variable { pos, .. }
            | Arg::Field { pos, .. }
            | Arg::Bool { pos, .. }
            | Arg::Str { pos, .. }
            | Arg::Chain { pos, .. } => *pos,
            Arg::Number(n) => n.pos,
            Arg::Pipe(p) => p.pos,
        }
    }
}

// Go's node String() methods, used in error messages.

fn write_arg(a: &Arg, s: &mut String) {
    match a {
        Arg::Identifier { name, .. } => s.push_str(name),
        Arg::Dot { .. } => s.push('.'),
        Arg::Nil { .. } => s.push_str("nil"),
        Arg::Variable { idents, .. } => s.push_str(&idents.join(".")),
        Arg::Field { idents, .. } => {
            for id in idents {
                s.push('.');
                s.push_str(id);
            }
        }
        Arg::Bool { value, .. } => s.push_str(if *value { "true" } else { "false" }),
        Arg::Number(n) => s.push_str(&n.text),
        Arg::Str { quoted, .. } => s.push_str(quoted),
        Arg::Pipe(p) => write_pipe(p, s),
        Arg::Chain { node, fields, .. } => {
            if let Arg::Pipe(p) = node.as_ref() {
                s.push('(');
                write_pipe(p, s);
                s.push(')');
            } else {
                write_arg(node, s);
            }
            for f in fields {
                s.push('.');
                s.push_str(f);
            }
        }
    }
}

fn write_command(c: &Command, s: &mut String) {
    for (i, a) in c.args.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        if let Arg::Pipe(p) = a {
            s.push('(');
            write_pipe(p, s);
            s.push(')');
        } else {
            write_arg(a, s);
        }
    }
}

fn write_pipe(p: &Pipe, s: &mut String) {
    if !p.decl.is_empty() {
        s.push_str(&p.decl.join(", "));
        s.push_str(if p.is_assign { " = " } else { " := " });
    }
    for (i, c) in p.cmds.iter().enumerate() {
        if i > 0 {
            s.push_str(" | ");
        }
        write_command(c, s);
    }
}

fn write_node(n: &Node, s: &mut String) {
    match n {
        Node::Text(t) => s.push_str(&String::from_utf8_lossy(t)),
        Node::Action(a) => {
            s.push_str(LEFT_DELIM);
            write_pipe(&a.pipe, s);
            s.push_str(RIGHT_DELIM);
        }
        Node::If(b) | Node::With(b) => {
            let name = if matches!(n, Node::If(_)) {
                "if"
            } else {
                "with"
            };
            s.push_str(LEFT_DELIM);
            s.push_str(name);
            s.push(' ');
            write_pipe(&b.pipe, s);
            s.push_str(RIGHT_DELIM);
            for n in &b.list {
                write_node(n, s);
            }
            if let Some(list) = &b.else_list {
                s.push_str("{{else}}");
                for n in list {
                    write_node(n, s);
                }
            }
            s.push_str("{{end}}");
        }
    }
}

fn arg_string(a: &Arg) -> String {
    let mut s = String::new();
    write_arg(a, &mut s);
    s
}

struct ParseError {
    pos: usize,
    msg: String,
}

type ParseResult<T> = Result<T, ParseError>;

/// What a `{{ }}` produced: a node, or the `{{end}}`/`{{else}}` closing a list.
enum Parsed {
    Node(Node),
    End,
    Else,
}

impl Parsed {
    fn describe(&self) -> &'static str {
        match self {
            Parsed::End => "{{end}}",
            Parsed::Else => "{{else}}",
            Parsed::Node(_) => "node",
        }
    }
}

struct Parser<'s> {
    src: &'s str,
    items: Vec<Item>,
    /// Next item to read.
    i: usize,
    /// Furthest item read: Go reports parse errors at its most recently lexed token.
    max_read: usize,
    /// Variables in scope (Go's `t.vars`).
    vars: Vec<String>,
    /// Line of the `{{` of the action being parsed, for lexer errors in multi-line actions.
    action_line: Option<usize>,
    paren_depth: usize,
    control_depth: usize,
}

impl<'s> Parser<'s> {
    fn new(src: &'s str, items: Vec<Item>) -> Self {
        Parser {
            src,
            items,
            i: 0,
            max_read: 0,
            vars: vec!["$".to_string()],
            action_line: None,
            paren_depth: 0,
            control_depth: 0,
        }
    }

    fn item_at(&self, i: usize) -> Item {
        self.items.get(i).cloned().unwrap_or(Item {
            typ: ItemType::Eof,
            pos: self.src.len(),
            val: String::new(),
        })
    }

    fn next(&mut self) -> Item {
        let item = self.item_at(self.i);
        self.max_read = self.max_read.max(self.i);
        self.i += 1;
        item
    }

    fn backup(&mut self) {
        self.i = self.i.saturating_sub(1);
    }

    fn peek(&mut self) -> Item {
        self.max_read = self.max_read.max(self.i);
        self.item_at(self.i)
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let item = self.next();
            if item.typ != ItemType::Space {
                return item;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item {
        let item = self.next_non_space();
        self.backup();
        item
    }

    fn errorf<T>(&self, msg: impl Into<String>) -> ParseResult<T> {
        Err(ParseError {
            pos: self.item_at(self.max_read).pos,
            msg: msg.into(),
        })
    }

    fn unexpected<T>(&self, item: &Item, context: &str) -> ParseResult<T> {
        if item.typ == ItemType::Error {
            let mut extra = String::new();
            if let Some(action_line) = self.action_line {
                if action_line != line_col(self.src, item.pos).0 {
                    extra = format!(" in action started at template:{action_line}");
                    if item.val.ends_with(" action") {
                        extra = extra[" in action".len()..].to_string();
                    }
                }
            }
            return self.errorf(format!("{item}{extra}"));
        }
        self.errorf(format!("unexpected {item} in {context}"))
    }

    fn parse(&mut self) -> ParseResult<Vec<Node>> {
        let mut root = Vec::new();
        while self.peek().typ != ItemType::Eof {
            if self.peek().typ == ItemType::LeftDelim {
                let save = self.i;
                self.next();
                if self.next_non_space().typ == ItemType::Define {
                    return self.errorf("{{define}} is not supported by this engine");
                }
                self.i = save;
            }
            match self.text_or_action()? {
                Parsed::Node(n) => root.push(n),
                other => return self.errorf(format!("unexpected {}", other.describe())),
            }
        }
        Ok(root)
    }

    /// Items up to the `{{end}}` or `{{else}}` that closes them.
    fn item_list(&mut self) -> ParseResult<(Vec<Node>, Parsed)> {
        let mut list = Vec::new();
        while self.peek_non_space().typ != ItemType::Eof {
            match self.text_or_action()? {
                Parsed::Node(n) => list.push(n),
                closing => return Ok((list, closing)),
            }
        }
        self.errorf("unexpected EOF")
    }

    fn text_or_action(&mut self) -> ParseResult<Parsed> {
        let item = self.next_non_space();
        match item.typ {
            ItemType::Text => Ok(Parsed::Node(Node::Text(item.val.into_bytes()))),
            ItemType::LeftDelim => {
                self.action_line = Some(line_col(self.src, item.pos).0);
                let result = self.action();
                self.action_line = None;
                result
            }
            _ => self.unexpected(&item, "input"),
        }
    }

    fn action(&mut self) -> ParseResult<Parsed> {
        let item = self.next_non_space();
        match item.typ {
            ItemType::Block => self.errorf("{{block}} is not supported by this engine"),
            ItemType::Template => self.errorf("{{template}} is not supported by this engine"),
            ItemType::Range => self.errorf("{{range}} is not supported by this engine"),
            ItemType::Break | ItemType::Continue => {
                let word = if item.typ == ItemType::Break {
                    "{{break}}"
                } else {
                    "{{continue}}"
                };
                let next = self.next_non_space();
                if next.typ != ItemType::RightDelim {
                    return self.unexpected(&next, word);
                }
                self.errorf(format!("{word} outside {{{{range}}}}"))
            }
            ItemType::Else => {
                let peek = self.peek_non_space();
                if matches!(peek.typ, ItemType::If | ItemType::With) {
                    return Ok(Parsed::Else);
                }
                let next = self.next_non_space();
                if next.typ != ItemType::RightDelim {
                    return self.unexpected(&next, "else");
                }
                Ok(Parsed::Else)
            }
            ItemType::End => {
                let next = self.next_non_space();
                if next.typ != ItemType::RightDelim {
                    return self.unexpected(&next, "end");
                }
                Ok(Parsed::End)
            }
            ItemType::If => Ok(Parsed::Node(Node::If(self.parse_control("if")?))),
            ItemType::With => Ok(Parsed::Node(Node::With(self.parse_control("with")?))),
            _ => {
                self.backup();
                let pos = self.peek().pos;
                let pipe = self.pipeline("command", ItemType::RightDelim)?;
                Ok(Parsed::Node(Node::Action(Action { pos, pipe })))
            }
        }
    }

    fn parse_control(&mut self, context: &'static str) -> ParseResult<Branch> {
        if self.control_depth >= MAX_CONTROL_DEPTH {
            return self.errorf("max nesting depth exceeded");
        }
        self.control_depth += 1;
        let mark = self.vars.len();
        let result = self.parse_control_body(context);
        self.vars.truncate(mark);
        self.control_depth -= 1;
        result
    }

    fn parse_control_body(&mut self, context: &'static str) -> ParseResult<Branch> {
        let pipe = self.pipeline(context, ItemType::RightDelim)?;
        let (list, next) = self.item_list()?;
        let mut else_list = None;
        if let Parsed::Else = next {
            // `{{else if …}}` / `{{else with …}}` is `{{else}}{{if …}}…{{end}}{{end}}` with
            // the inner `{{end}}` serving both.
            let peek = self.peek().typ;
            if context == "if" && peek == ItemType::If {
                self.next();
                else_list = Some(vec![Node::If(self.parse_control("if")?)]);
            } else if context == "with" && peek == ItemType::With {
                self.next();
                else_list = Some(vec![Node::With(self.parse_control("with")?)]);
            } else {
                let (list, next) = self.item_list()?;
                if !matches!(next, Parsed::End) {
                    return self.errorf(format!("expected end; found {}", next.describe()));
                }
                else_list = Some(list);
            }
        }
        Ok(Branch {
            pos: pipe.pos,
            pipe,
            list,
            else_list,
        })
    }

    fn pipeline(&mut self, context: &str, end: ItemType) -> ParseResult<Pipe> {
        let pos = self.peek_non_space().pos;
        let mut pipe = Pipe {
            pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        let var = self.peek_non_space();
        if var.typ == ItemType::Variable {
            let save = self.i;
            self.next();
            let next = self.peek_non_space();
            if matches!(next.typ, ItemType::Assign | ItemType::Declare) {
                pipe.is_assign = next.typ == ItemType::Assign;
                self.next_non_space();
                pipe.decl.push(var.val.clone());
                self.vars.push(var.val);
            } else if next.typ == ItemType::Char && next.val == "," {
                self.next_non_space();
                self.vars.push(var.val);
                return self.errorf(format!("too many declarations in {context}"));
            } else {
                self.i = save;
            }
        }
        loop {
            let item = self.next_non_space();
            if item.typ == end {
                self.check_pipeline(&pipe, context)?;
                return Ok(pipe);
            }
            match item.typ {
                ItemType::Bool
                | ItemType::CharConstant
                | ItemType::Complex
                | ItemType::Dot
                | ItemType::Field
                | ItemType::Identifier
                | ItemType::Number
                | ItemType::Nil
                | ItemType::RawString
                | ItemType::String
                | ItemType::Variable
                | ItemType::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return self.unexpected(&item, context),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> ParseResult<()> {
        if pipe.cmds.is_empty() {
            return self.errorf(format!("missing value for {context}"));
        }
        for (i, cmd) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                cmd.args.first(),
                Some(
                    Arg::Bool { .. }
                        | Arg::Dot { .. }
                        | Arg::Nil { .. }
                        | Arg::Number(_)
                        | Arg::Str { .. }
                )
            ) {
                return self.errorf(format!(
                    "non executable command in pipeline stage {}",
                    i + 1
                ));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> ParseResult<Command> {
        let pos = self.peek_non_space().pos;
        let mut cmd = Command {
            pos,
            args: Vec::new(),
        };
        loop {
            self.peek_non_space();
            if let Some(operand) = self.operand()? {
                cmd.args.push(operand);
            }
            let item = self.next();
            match item.typ {
                ItemType::Space => continue,
                ItemType::RightDelim | ItemType::RightParen => self.backup(),
                ItemType::Pipe => {}
                _ => return self.unexpected(&item, "operand"),
            }
            break;
        }
        if cmd.args.is_empty() {
            return self.errorf("empty command");
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> ParseResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().typ != ItemType::Field {
            return Ok(Some(node));
        }
        let pos = self.peek().pos;
        let mut fields = Vec::new();
        while self.peek().typ == ItemType::Field {
            let item = self.next();
            fields.push(item.val[1..].to_string());
        }
        Ok(Some(match node {
            Arg::Field { mut idents, .. } => {
                idents.extend(fields);
                Arg::Field { pos, idents }
            }
            Arg::Variable { mut idents, .. } => {
                idents.extend(fields);
                Arg::Variable { pos, idents }
            }
            Arg::Bool { .. }
            | Arg::Str { .. }
            | Arg::Number(_)
            | Arg::Nil { .. }
            | Arg::Dot { .. } => {
                return self.errorf(format!(
                    "unexpected . after term {}",
                    quote_str(&arg_string(&node))
                ));
            }
            other => Arg::Chain {
                pos,
                node: Box::new(other),
                fields,
            },
        }))
    }

    fn term(&mut self) -> ParseResult<Option<Arg>> {
        let item = self.next_non_space();
        let pos = item.pos;
        Ok(Some(match item.typ {
            ItemType::Identifier => {
                if signature(&item.val).is_none() {
                    return self.errorf(format!("function {} not defined", quote_str(&item.val)));
                }
                Arg::Identifier {
                    pos,
                    name: item.val,
                }
            }
            ItemType::Dot => Arg::Dot { pos },
            ItemType::Nil => Arg::Nil { pos },
            ItemType::Variable => {
                if !self.vars.contains(&item.val) {
                    return self.errorf(format!("undefined variable {}", quote_str(&item.val)));
                }
                Arg::Variable {
                    pos,
                    idents: vec![item.val],
                }
            }
            ItemType::Field => Arg::Field {
                pos,
                idents: vec![item.val[1..].to_string()],
            },
            ItemType::Bool => Arg::Bool {
                pos,
                value: item.val == "true",
            },
            ItemType::CharConstant | ItemType::Complex | ItemType::Number => {
                match new_number(pos, &item.val, item.typ) {
                    Ok(n) => Arg::Number(Box::new(n)),
                    Err(msg) => return self.errorf(msg),
                }
            }
            ItemType::LeftParen => {
                if self.paren_depth >= MAX_PAREN_DEPTH {
                    return self.errorf("max expression depth exceeded");
                }
                self.paren_depth += 1;
                let pipe = self.pipeline("parenthesized pipeline", ItemType::RightParen);
                self.paren_depth -= 1;
                Arg::Pipe(Box::new(pipe?))
            }
            ItemType::String | ItemType::RawString => match unquote(&item.val) {
                Some(text) => Arg::Str {
                    pos,
                    quoted: item.val,
                    text,
                },
                None => return self.errorf("invalid syntax"),
            },
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }
}

// ---------------------------------------------------------------------------------------------
// Literals: Go's strconv rules for quoted strings, characters and numbers
// ---------------------------------------------------------------------------------------------

/// `strconv.Unquote` for a `"…"` or `` `…` `` token; `None` is Go's "invalid syntax".
/// Returns bytes because `\x` and octal escapes may produce bytes that are not UTF-8.
fn unquote(quoted: &str) -> Option<Vec<u8>> {
    let inner = quoted.get(1..quoted.len().checked_sub(1)?)?;
    if quoted.starts_with('`') {
        return Some(inner.bytes().filter(|&b| b != b'\r').collect());
    }
    let mut out = Vec::with_capacity(inner.len());
    let mut rest = inner;
    while !rest.is_empty() {
        if rest.starts_with('\n') {
            return None;
        }
        let (value, multibyte, tail) = unquote_char(rest, '"')?;
        match char::from_u32(value) {
            Some(c) if multibyte && value >= 0x80 => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            _ => out.push(value as u8),
        }
        rest = tail;
    }
    Some(out)
}

/// `strconv.UnquoteChar`: the value, whether it is a multi-byte rune, and the rest.
fn unquote_char(s: &str, quote: char) -> Option<(u32, bool, &str)> {
    let c = s.chars().next()?;
    if c == quote {
        return None;
    }
    if !c.is_ascii() {
        return Some((u32::from(c), true, &s[c.len_utf8()..]));
    }
    if c != '\\' {
        return Some((u32::from(c), false, &s[1..]));
    }
    let esc = s.as_bytes().get(1).copied().filter(u8::is_ascii)?;
    let mut rest = &s[2..];
    let value = match esc {
        b'a' => 7,
        b'b' => 8,
        b'f' => 12,
        b'n' => 10,
        b'r' => 13,
        b't' => 9,
        b'v' => 11,
        b'x' | b'u' | b'U' => {
            let n = match esc {
                b'x' => 2,
                b'u' => 4,
                _ => 8,
            };
            let digits = rest.get(..n)?;
            let mut v: u32 = 0;
            for d in digits.chars() {
                v = (v << 4) | d.to_digit(16)?;
            }
            rest = &rest[n..];
            if esc == b'x' {
                return Some((v, false, rest));
            }
            char::from_u32(v)?;
            return Some((v, true, rest));
        }
        b'0'..=b'7' => {
            let mut v = u32::from(esc - b'0');
            let digits = rest.as_bytes().get(..2)?;
            for &d in digits {
                if !(b'0'..=b'7').contains(&d) {
                    return None;
                }
                v = (v << 3) | u32::from(d - b'0');
            }
            rest = &rest[2..];
            if v > 255 {
                return None;
            }
            v
        }
        b'\\' => u32::from(b'\\'),
        b'\'' | b'"' => {
            if char::from(esc) != quote {
                return None;
            }
            u32::from(esc)
        }
        _ => return None,
    };
    Some((value, false, rest))
}

/// Go's `underscoreOK`: underscores only between digits or after a base prefix.
fn underscore_ok(s: &str) -> bool {
    let mut b = s.as_bytes();
    if let Some(b'+' | b'-') = b.first() {
        b = &b[1..];
    }
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1].eq_ignore_ascii_case(&b'x');
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// `strconv.ParseUint(s, 0, 64)`.
fn parse_go_uint(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.is_empty() {
        return None;
    }
    let (base, digits): (u64, &[u8]) = if b[0] == b'0' {
        match b.get(1).map(u8::to_ascii_lowercase) {
            Some(b'b') if b.len() >= 3 => (2, &b[2..]),
            Some(b'o') if b.len() >= 3 => (8, &b[2..]),
            Some(b'x') if b.len() >= 3 => (16, &b[2..]),
            _ => (8, &b[1..]),
        }
    } else {
        (10, b)
    };
    let mut n: u64 = 0;
    let mut underscores = false;
    for &c in digits {
        let d = match c {
            b'_' => {
                underscores = true;
                continue;
            }
            b'0'..=b'9' => c - b'0',
            b'a'..=b'z' => c - b'a' + 10,
            b'A'..=b'Z' => c - b'A' + 10,
            _ => return None,
        };
        if u64::from(d) >= base {
            return None;
        }
        n = n.checked_mul(base)?.checked_add(u64::from(d))?;
    }
    if base == 10 && digits.is_empty() {
        return None;
    }
    if underscores && !underscore_ok(s) {
        return None;
    }
    Some(n)
}

/// `strconv.ParseInt(s, 0, 64)`.
fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let u = parse_go_uint(rest)?;
    if neg {
        if u > 1 << 63 {
            return None;
        }
        Some((u as i64).wrapping_neg())
    } else {
        i64::try_from(u).ok()
    }
}

/// `strconv.ParseFloat(s, 64)` for what the lexer can produce; `None` on syntax or range errors.
fn parse_go_float(s: &str) -> Option<f64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let b = body.as_bytes();
    let hex = b.len() >= 2 && b[0] == b'0' && (b[1] == b'x' || b[1] == b'X');
    let mut i = if hex { 2 } else { 0 };
    let mut mantissa = String::new();
    let mut saw_digits = false;
    let mut saw_dot = false;
    let mut underscores = false;
    while i < b.len() {
        let c = b[i];
        if c == b'_' {
            underscores = true;
        } else if c == b'.' {
            if saw_dot {
                break;
            }
            saw_dot = true;
            mantissa.push('.');
        } else if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw_digits = true;
            mantissa.push(char::from(c));
        } else {
            break;
        }
        i += 1;
    }
    if !saw_digits {
        return None;
    }
    let exp_char = if hex { b'p' } else { b'e' };
    let mut exp: i64 = 0;
    let mut has_exp = false;
    if i < b.len() && b[i].to_ascii_lowercase() == exp_char {
        has_exp = true;
        i += 1;
        let mut esign = 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            if b[i] == b'-' {
                esign = -1;
            }
            i += 1;
        }
        if i >= b.len() || !b[i].is_ascii_digit() {
            return None;
        }
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            if b[i] == b'_' {
                underscores = true;
            } else if exp < 100_000 {
                exp = exp * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        exp *= esign;
    } else if hex {
        return None;
    }
    if i != b.len() || (underscores && !underscore_ok(s)) {
        return None;
    }
    let value = if hex {
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((&mantissa, ""));
        let mut v = 0f64;
        for d in int_part.chars().chain(frac_part.chars()) {
            v = v * 16.0 + f64::from(d.to_digit(16)?);
        }
        let shift = exp - 4 * frac_part.len() as i64;
        v * 2f64.powi(shift.clamp(-10_000, 10_000) as i32)
    } else {
        let text = if has_exp {
            format!("{mantissa}e{exp}")
        } else {
            mantissa
        };
        text.parse::<f64>().ok()?
    };
    if !value.is_finite() {
        return None;
    }
    Some(if neg { -value } else { value })
}

/// Go's `parse.newNumber`: which types a constant fits.
fn new_number(pos: usize, text: &str, typ: ItemType) -> Result<Number, String> {
    let mut n = Number {
        pos,
        text: text.to_string(),
        is_int: false,
        int: 0,
        is_uint: false,
        is_float: false,
        float: 0.0,
    };
    const COMPLEX: &str = "complex number constants are not supported by this engine";
    if typ == ItemType::CharConstant {
        let (value, _, tail) = unquote_char(&text[1..], '\'').ok_or("invalid syntax")?;
        if tail != "'" {
            return Err(format!("malformed character constant: {text}"));
        }
        n.is_int = true;
        n.int = i64::from(value);
        n.is_uint = true;
        n.is_float = true;
        n.float = f64::from(value);
        return Ok(n);
    }
    if typ == ItemType::Complex {
        return Err(COMPLEX.into());
    }
    if let Some(imag) = text.strip_suffix('i') {
        if parse_go_float(imag).is_some() {
            return Err(COMPLEX.into());
        }
    }
    let u = parse_go_uint(text);
    if u.is_some() {
        n.is_uint = true;
    }
    if let Some(i) = parse_go_int(text) {
        n.is_int = true;
        n.int = i;
        if i == 0 {
            n.is_uint = true;
        }
    }
    if n.is_int {
        n.is_float = true;
        n.float = n.int as f64;
    } else if let Some(u) = u {
        n.is_float = true;
        n.float = u as f64;
    } else if let Some(f) = parse_go_float(text) {
        if !text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Err(format!("integer overflow: {}", quote_str(text)));
        }
        n.is_float = true;
        n.float = f;
        const TWO_63: f64 = 9_223_372_036_854_775_808.0;
        if f.trunc() == f && (-TWO_63..TWO_63).contains(&f) {
            n.is_int = true;
            n.int = f as i64;
        }
        if f.trunc() == f && (0.0..2.0 * TWO_63).contains(&f) {
            n.is_uint = true;
        }
    }
    if !n.is_int && !n.is_uint && !n.is_float {
        return Err(format!("illegal number syntax: {}", quote_str(text)));
    }
    Ok(n)
}

// ---------------------------------------------------------------------------------------------
// Values and execution (Go's text/template/exec.go)
// ---------------------------------------------------------------------------------------------

/// The values a template can produce. Strings are bytes, as Go strings are.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    /// Go's invalid `reflect.Value` (an untyped nil).
    Nil,
    Bool(bool),
    Int(i64),
    /// A byte, what `index` of a string gives.
    Uint8(u8),
    Float(f64),
    Str(Vec<u8>),
    /// The template data (`.` at the top), a struct in Go.
    Data,
}

/// Go type name of the data struct, as it appears in Go's messages.
const DATA_TYPE: &str = "aws.UsernameMetadata";

impl Value {
    fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Uint8(_) => "uint8",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Data => DATA_TYPE,
        }
    }

    /// Go's `isTrue`: the zero value of its type is false, a struct always true.
    fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Uint8(u) => *u != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Data => true,
        }
    }
}

/// Parameter types of the functions (Go's `int`, `string`, and `any`/`reflect.Value`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Param {
    Int,
    Str,
    Any,
}

impl fmt::Display for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Param::Int => "int",
            Param::Str => "string",
            Param::Any => "interface {}",
        })
    }
}

/// A function's parameters: the fixed ones, then the type of `...` ones if variadic.
struct Signature {
    fixed: &'static [Param],
    variadic: Option<Param>,
}

/// Every function a template may call: Go's builtins, the SDK's and OpenBao's helpers.
fn signature(name: &str) -> Option<Signature> {
    use Param::*;
    let (fixed, variadic): (&'static [Param], Option<Param>) = match name {
        "and" | "or" | "call" | "index" | "slice" | "eq" => (&[Any], Some(Any)),
        "html" | "js" | "urlquery" | "print" | "println" => (&[], Some(Any)),
        "len" | "not" => (&[Any], None),
        "printf" => (&[Str], Some(Any)),
        "ne" | "lt" | "le" | "gt" | "ge" => (&[Any, Any], None),
        "random" => (&[Int], None),
        "truncate" | "truncate_sha256" => (&[Int, Str], None),
        "uppercase" | "lowercase" | "sha256" | "base64" | "decode_base64" | "hex"
        | "decode_hex" | "timestamp" => (&[Str], None),
        "replace" => (&[Str, Str, Str], None),
        "glob" => (&[Str, Str], None),
        "unix_time" | "unix_time_millis" | "uuid" => (&[], None),
        _ => return None,
    };
    Some(Signature { fixed, variadic })
}

/// The node being evaluated, for error messages (Go's `state.node`).
#[derive(Clone, Copy)]
enum At<'t> {
    None,
    Node(&'t Node),
    Pipe(&'t Pipe),
    Cmd(&'t Command),
    Arg(&'t Arg),
}

struct ExecError {
    pos: usize,
    context: String,
    msg: String,
}

type ExecResult<T> = Result<T, ExecError>;

struct Exec<'t, 'e> {
    data: &'t TemplateData,
    /// Variable stack (Go's `state.vars`); names borrow from the tree.
    vars: Vec<(&'t str, Value)>,
    node: At<'t>,
    out: Vec<u8>,
    effects: &'e mut dyn Effects,
}

impl<'t> Exec<'t, '_> {
    fn at(&mut self, node: At<'t>) {
        self.node = node;
    }

    fn errorf<T>(&self, msg: impl Into<String>) -> ExecResult<T> {
        let mut context = String::new();
        let pos = match self.node {
            At::None => 0,
            At::Node(n) => {
                write_node(n, &mut context);
                match n {
                    Node::Action(a) => a.pos,
                    Node::If(b) | Node::With(b) => b.pos,
                    Node::Text(_) => 0,
                }
            }
            At::Pipe(p) => {
                write_pipe(p, &mut context);
                p.pos
            }
            At::Cmd(c) => {
                write_command(c, &mut context);
                c.pos
            }
            At::Arg(a) => {
                write_arg(a, &mut context);
                a.pos()
            }
        };
        Err(ExecError {
            pos,
            context,
            msg: msg.into(),
        })
    }

    fn walk_list(&mut self, dot: &Value, list: &'t [Node]) -> ExecResult<()> {
        for node in list {
            self.walk(dot, node)?;
        }
        Ok(())
    }

    fn walk(&mut self, dot: &Value, node: &'t Node) -> ExecResult<()> {
        self.at(At::Node(node));
        match node {
            Node::Text(text) => self.out.extend_from_slice(text),
            Node::Action(action) => {
                let value = self.eval_pipeline(dot, &action.pipe)?;
                if action.pipe.decl.is_empty() {
                    self.at(At::Node(node));
                    match value {
                        Value::Nil => self.out.extend_from_slice(b"<no value>"),
                        v => {
                            let mut p = Printer::new(self.data);
                            p.print_arg(&v, 'v');
                            self.out.extend_from_slice(&p.buf);
                        }
                    }
                }
            }
            Node::If(b) => self.walk_if_or_with(false, dot, b)?,
            Node::With(b) => self.walk_if_or_with(true, dot, b)?,
        }
        if self.out.len() > MAX_VALUE_LEN {
            return self.errorf(format!(
                "output exceeds this engine's limit of {MAX_VALUE_LEN} bytes"
            ));
        }
        Ok(())
    }

    fn walk_if_or_with(&mut self, with: bool, dot: &Value, b: &'t Branch) -> ExecResult<()> {
        let mark = self.vars.len();
        let value = self.eval_pipeline(dot, &b.pipe)?;
        let result = if value.truth() {
            if with {
                self.walk_list(&value, &b.list)
            } else {
                self.walk_list(dot, &b.list)
            }
        } else if let Some(list) = &b.else_list {
            self.walk_list(dot, list)
        } else {
            Ok(())
        };
        self.vars.truncate(mark);
        result
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &'t Pipe) -> ExecResult<Value> {
        self.at(At::Pipe(pipe));
        let mut value = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value)?);
        }
        let value = value.unwrap_or(Value::Nil);
        for name in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone())?;
            } else {
                self.vars.push((name.as_str(), value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(
        &self,
        first: &Arg,
        extra: &[Arg],
        final_value: &Option<Value>,
    ) -> ExecResult<()> {
        if !extra.is_empty() || final_value.is_some() {
            return self.errorf(format!(
                "can't give argument to non-function {}",
                arg_string(first)
            ));
        }
        Ok(())
    }

    fn eval_command(
        &mut self,
        dot: &Value,
        cmd: &'t Command,
        final_value: Option<Value>,
    ) -> ExecResult<Value> {
        let Some((first, extra)) = cmd.args.split_first() else {
            return self.errorf("empty command");
        };
        match first {
            Arg::Field { idents, .. } => {
                return self.eval_field_node(dot, first, idents, extra, final_value)
            }
            Arg::Chain { node, fields, .. } => {
                return self.eval_chain_node(dot, first, node, fields, extra, final_value)
            }
            Arg::Identifier { name, .. } => {
                return self.eval_function(dot, first, name, At::Cmd(cmd), extra, final_value)
            }
            Arg::Pipe(pipe) => {
                self.not_a_function(first, extra, &final_value)?;
                return self.eval_pipeline(dot, pipe);
            }
            Arg::Variable { idents, .. } => {
                return self.eval_variable_node(first, idents, extra, final_value)
            }
            _ => {}
        }
        self.at(At::Arg(first));
        self.not_a_function(first, extra, &final_value)?;
        match first {
            Arg::Bool { value, .. } => Ok(Value::Bool(*value)),
            Arg::Dot { .. } => Ok(dot.clone()),
            Arg::Nil { .. } => self.errorf("nil is not a command"),
            Arg::Number(n) => self.ideal_constant(first, n),
            Arg::Str { text, .. } => Ok(Value::Str(text.clone())),
            _ => self.errorf(format!("can't evaluate command {}", arg_string(first))),
        }
    }

    /// A number where no type is expected: the syntax decides (Go's `idealConstant`).
    fn ideal_constant(&mut self, node: &'t Arg, n: &Number) -> ExecResult<Value> {
        self.at(At::Arg(node));
        let is_hex_int = n.text.len() > 2
            && n.text.starts_with('0')
            && matches!(n.text.as_bytes()[1], b'x' | b'X')
            && !n.text.contains(['p', 'P']);
        let is_rune = n.text.starts_with('\'');
        if n.is_float && !is_hex_int && !is_rune && n.text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Ok(Value::Float(n.float));
        }
        if n.is_int {
            return Ok(Value::Int(n.int));
        }
        if n.is_uint {
            return self.errorf(format!("{} overflows int", n.text));
        }
        Ok(Value::Nil)
    }

    fn eval_field_node(
        &mut self,
        dot: &Value,
        node: &'t Arg,
        idents: &'t [String],
        extra: &'t [Arg],
        final_value: Option<Value>,
    ) -> ExecResult<Value> {
        self.at(At::Arg(node));
        self.eval_field_chain(dot.clone(), idents, extra, final_value)
    }

    fn eval_chain_node(
        &mut self,
        dot: &Value,
        node: &'t Arg,
        inner: &'t Arg,
        fields: &'t [String],
        extra: &'t [Arg],
        final_value: Option<Value>,
    ) -> ExecResult<Value> {
        self.at(At::Arg(node));
        let receiver = self.eval_arg(dot, None, inner)?;
        self.eval_field_chain(receiver, fields, extra, final_value)
    }

    fn eval_variable_node(
        &mut self,
        node: &'t Arg,
        idents: &'t [String],
        extra: &'t [Arg],
        final_value: Option<Value>,
    ) -> ExecResult<Value> {
        self.at(At::Arg(node));
        let Some((name, fields)) = idents.split_first() else {
            return self.errorf("empty variable");
        };
        let value = self.var_value(name)?;
        if fields.is_empty() {
            self.not_a_function(node, extra, &final_value)?;
            return Ok(value);
        }
        self.eval_field_chain(value, fields, extra, final_value)
    }

    fn eval_field_chain(
        &mut self,
        receiver: Value,
        idents: &[String],
        extra: &[Arg],
        final_value: Option<Value>,
    ) -> ExecResult<Value> {
        let Some((last, init)) = idents.split_last() else {
            return Ok(receiver);
        };
        let mut receiver = receiver;
        for name in init {
            receiver = self.eval_field(name, &[], &None, receiver)?;
        }
        self.eval_field(last, extra, &final_value, receiver)
    }

    fn eval_field(
        &mut self,
        name: &str,
        extra: &[Arg],
        final_value: &Option<Value>,
        receiver: Value,
    ) -> ExecResult<Value> {
        let field = match (&receiver, name) {
            // Go's default `missingkey` option: a field of nothing is nothing.
            (Value::Nil, _) => return Ok(Value::Nil),
            (Value::Data, "Type") => self.data.kind.type_name().as_bytes().to_vec(),
            (Value::Data, "DisplayName") => self.data.display_name.as_bytes().to_vec(),
            (Value::Data, "PolicyName") => self.data.policy_name.as_bytes().to_vec(),
            _ => {
                return self.errorf(format!(
                    "can't evaluate field {name} in type {}",
                    receiver.type_name()
                ))
            }
        };
        if !extra.is_empty() || final_value.is_some() {
            return self.errorf(format!(
                "{name} has arguments but cannot be invoked as function"
            ));
        }
        Ok(Value::Str(field))
    }

    fn eval_function(
        &mut self,
        dot: &Value,
        node: &'t Arg,
        name: &str,
        call_node: At<'t>,
        extra: &'t [Arg],
        final_value: Option<Value>,
    ) -> ExecResult<Value> {
        self.at(At::Arg(node));
        self.eval_call(dot, name, call_node, extra, final_value)
    }

    /// Go's `evalCall`: argument count and types, `and`/`or` short-circuit, then the call.
    fn eval_call(
        &mut self,
        dot: &Value,
        name: &str,
        call_node: At<'t>,
        extra: &'t [Arg],
        final_value: Option<Value>,
    ) -> ExecResult<Value> {
        let Some(sig) = signature(name) else {
            return self.errorf(format!("{} is not a defined function", quote_str(name)));
        };
        let num_in = extra.len() + usize::from(final_value.is_some());
        let num_fixed = if sig.variadic.is_some() {
            if num_in < sig.fixed.len() {
                return self.errorf(format!(
                    "wrong number of args for {name}: want at least {} got {}",
                    sig.fixed.len(),
                    extra.len()
                ));
            }
            sig.fixed.len()
        } else {
            if num_in != sig.fixed.len() {
                return self.errorf(format!(
                    "wrong number of args for {name}: want {} got {num_in}",
                    sig.fixed.len()
                ));
            }
            extra.len()
        };
        if name == "and" || name == "or" {
            let mut value = Value::Nil;
            for arg in extra {
                value = self.eval_arg(dot, Some(Param::Any), arg)?;
                if value.truth() == (name == "or") {
                    return Ok(value);
                }
            }
            if let Some(f) = final_value {
                value = self.validate_type(f, Some(Param::Any))?;
            }
            return Ok(value);
        }
        let param = |i: usize| sig.fixed.get(i).copied().unwrap_or(Param::Any);
        let mut argv = Vec::with_capacity(num_in);
        for (i, arg) in extra.iter().enumerate() {
            let typ = if i < num_fixed {
                param(i)
            } else {
                sig.variadic.unwrap_or(Param::Any)
            };
            argv.push(self.eval_arg(dot, Some(typ), arg)?);
        }
        let callee = extra.first().map(arg_string);
        if let Some(f) = final_value {
            let typ = match sig.variadic {
                Some(v) if num_in > num_fixed => v,
                Some(_) => param(num_in - 1),
                None => param(sig.fixed.len().saturating_sub(1)),
            };
            let callee_from_final = match &f {
                Value::Str(s) => String::from_utf8_lossy(s).into_owned(),
                Value::Nil => "<invalid Value>".to_string(),
                v => format!("<{} Value>", v.type_name()),
            };
            argv.push(self.validate_type(f, Some(typ))?);
            if name == "call" && callee.is_none() {
                return self.call_error(call_node, &callee_from_final, &argv);
            }
        }
        if name == "call" {
            return self.call_error(call_node, &callee.unwrap_or_default(), &argv);
        }
        match self.call_function(name, argv) {
            Ok(v) => Ok(v),
            Err(e) => {
                self.at(call_node);
                self.errorf(format!("error calling {name}: {e}"))
            }
        }
    }

    /// `call` needs a function value, and templates here have none.
    fn call_error(&mut self, call_node: At<'t>, callee: &str, argv: &[Value]) -> ExecResult<Value> {
        let msg = match argv.first() {
            None | Some(Value::Nil) => "call of nil".to_string(),
            Some(v) => format!("non-function {callee} of type {}", v.type_name()),
        };
        self.at(call_node);
        self.errorf(format!("error calling call: {msg}"))
    }

    /// Go's `validateType`; `None` is the untyped receiver of a field chain.
    fn validate_type(&self, value: Value, typ: Option<Param>) -> ExecResult<Value> {
        match (typ, &value) {
            (None | Some(Param::Any), _)
            | (Some(Param::Int), Value::Int(_))
            | (Some(Param::Str), Value::Str(_)) => Ok(value),
            (Some(t), Value::Nil) => self.errorf(format!("invalid value; expected {t}")),
            (Some(t), v) => self.errorf(format!(
                "wrong type for value; expected {t}; got {}",
                v.type_name()
            )),
        }
    }

    fn eval_arg(&mut self, dot: &Value, typ: Option<Param>, n: &'t Arg) -> ExecResult<Value> {
        self.at(At::Arg(n));
        let value = match n {
            Arg::Dot { .. } => dot.clone(),
            Arg::Nil { .. } => {
                return match typ {
                    Some(t @ (Param::Int | Param::Str)) => {
                        self.errorf(format!("cannot assign nil to {t}"))
                    }
                    _ => Ok(Value::Nil),
                }
            }
            Arg::Field { idents, .. } => self.eval_field_node(dot, n, idents, &[], None)?,
            Arg::Variable { idents, .. } => self.eval_variable_node(n, idents, &[], None)?,
            Arg::Pipe(pipe) => self.eval_pipeline(dot, pipe)?,
            Arg::Identifier { name, .. } => {
                self.eval_function(dot, n, name, At::Arg(n), &[], None)?
            }
            Arg::Chain { node, fields, .. } => {
                self.eval_chain_node(dot, n, node, fields, &[], None)?
            }
            _ => {
                return match typ {
                    Some(Param::Int) => match n {
                        Arg::Number(num) if num.is_int => Ok(Value::Int(num.int)),
                        _ => self.errorf(format!("expected integer; found {}", arg_string(n))),
                    },
                    Some(Param::Str) => match n {
                        Arg::Str { text, .. } => Ok(Value::Str(text.clone())),
                        _ => self.errorf(format!("expected string; found {}", arg_string(n))),
                    },
                    _ => match n {
                        Arg::Bool { value, .. } => Ok(Value::Bool(*value)),
                        Arg::Number(num) => self.ideal_constant(n, num),
                        Arg::Str { text, .. } => Ok(Value::Str(text.clone())),
                        _ => self.errorf(format!(
                            "can't handle assignment of {} to empty interface argument",
                            arg_string(n)
                        )),
                    },
                };
            }
        };
        self.validate_type(value, typ)
    }

    fn var_value(&self, name: &str) -> ExecResult<Value> {
        match self.vars.iter().rev().find(|(n, _)| *n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => self.errorf(format!("undefined variable: {name}")),
        }
    }

    fn set_var(&mut self, name: &str, value: Value) -> ExecResult<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| *n == name) {
            Some(slot) => {
                slot.1 = value;
                Ok(())
            }
            None => self.errorf(format!("undefined variable: {name}")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Functions
// ---------------------------------------------------------------------------------------------

/// The alphabet of the SDK's `random` (go-secure-stdlib `base62`), in its order.
const BASE62: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn int_arg(v: Option<Value>) -> i64 {
    match v {
        Some(Value::Int(i)) => i,
        _ => 0,
    }
}

fn str_arg(v: Option<Value>) -> Vec<u8> {
    match v {
        Some(Value::Str(s)) => s,
        _ => Vec::new(),
    }
}

fn too_long(len: usize) -> Result<(), String> {
    if len > MAX_VALUE_LEN {
        return Err(format!(
            "result of {len} bytes exceeds this engine's limit of {MAX_VALUE_LEN}"
        ));
    }
    Ok(())
}

impl Exec<'_, '_> {
    /// Runs a function on checked arguments; `Err` is the function's error text.
    fn call_function(&mut self, name: &str, args: Vec<Value>) -> Result<Value, String> {
        let data = self.data;
        let mut it = args.iter().cloned();
        let mut arg = || it.next();
        Ok(match name {
            "random" => Value::Str(self.random_base62(int_arg(arg()))?),
            "truncate" => {
                let (max, s) = (int_arg(arg()), str_arg(arg()));
                if max <= 0 {
                    return Err(format!("max length must be > 0 but was {max}"));
                }
                let max = usize::try_from(max).unwrap_or(usize::MAX);
                Value::Str(s[..s.len().min(max)].to_vec())
            }
            "truncate_sha256" => {
                let (max, s) = (int_arg(arg()), str_arg(arg()));
                if max <= 8 {
                    return Err(format!("max length must be > 8 but was {max}"));
                }
                let max = usize::try_from(max).unwrap_or(usize::MAX);
                if s.len() <= max {
                    Value::Str(s)
                } else {
                    let cut = max - 8;
                    let mut out = s[..cut].to_vec();
                    out.extend_from_slice(&sha256_hex(&s[cut..]).as_bytes()[..8]);
                    Value::Str(out)
                }
            }
            "uppercase" => Value::Str(map_runes(&str_arg(arg()), true)),
            "lowercase" => Value::Str(map_runes(&str_arg(arg()), false)),
            "replace" => {
                let (find, with, s) = (str_arg(arg()), str_arg(arg()), str_arg(arg()));
                Value::Str(replace_all(&s, &find, &with)?)
            }
            "sha256" => Value::Str(sha256_hex(&str_arg(arg())).into_bytes()),
            "base64" => Value::Str(
                base64::engine::general_purpose::STANDARD
                    .encode(str_arg(arg()))
                    .into_bytes(),
            ),
            "decode_base64" => Value::Str(go_base64_decode(&str_arg(arg()))?),
            "hex" => Value::Str(hex_lower(&str_arg(arg())).into_bytes()),
            "decode_hex" => Value::Str(go_hex_decode(&str_arg(arg()))?),
            "unix_time" => Value::Str(self.effects.now().unix_timestamp().to_string().into_bytes()),
            "unix_time_millis" => Value::Str(
                (self.effects.now().unix_timestamp_nanos() / 1_000_000)
                    .to_string()
                    .into_bytes(),
            ),
            "timestamp" => {
                let layout = str_arg(arg());
                Value::Str(go_time_format(self.effects.now(), &layout))
            }
            "uuid" => {
                let mut bytes = [0u8; 16];
                self.effects
                    .fill_random(&mut bytes)
                    .map_err(|e| format!("failed to read random bytes: {e}"))?;
                let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
                Value::Str(id.hyphenated().to_string().into_bytes())
            }
            "glob" => {
                let (pattern, subject) = (str_arg(arg()), str_arg(arg()));
                Value::Bool(go_glob(&pattern, &subject)?)
            }
            "not" => Value::Bool(!arg().unwrap_or(Value::Nil).truth()),
            "len" => match arg().unwrap_or(Value::Nil) {
                Value::Str(s) => Value::Int(i64::try_from(s.len()).unwrap_or(i64::MAX)),
                Value::Nil => {
                    return Err("reflect: call of reflect.Value.Type on zero Value".into())
                }
                v => return Err(format!("len of type {}", v.type_name())),
            },
            "index" => go_index(&args)?,
            "slice" => go_slice(&args)?,
            "eq" => {
                let (first, rest) = args
                    .split_first()
                    .ok_or("missing argument for comparison")?;
                Value::Bool(go_eq(first, rest)?)
            }
            "ne" | "lt" | "le" | "gt" | "ge" => {
                let (a, b) = (arg().unwrap_or(Value::Nil), arg().unwrap_or(Value::Nil));
                Value::Bool(match name {
                    "ne" => !go_eq(&a, std::slice::from_ref(&b))?,
                    "lt" => go_lt(&a, &b)?,
                    "le" => go_lt(&a, &b)? || go_eq(&a, std::slice::from_ref(&b))?,
                    "gt" => !(go_lt(&a, &b)? || go_eq(&a, std::slice::from_ref(&b))?),
                    _ => !go_lt(&a, &b)?,
                })
            }
            "print" | "println" | "printf" => {
                let mut p = Printer::new(data);
                match name {
                    "print" => p.do_print(&args),
                    "println" => p.do_println(&args),
                    _ => {
                        let (format, rest) = args.split_first().ok_or("missing format")?;
                        let format = match format {
                            Value::Str(s) => s.as_slice(),
                            _ => &[],
                        };
                        p.do_printf(format, rest)?;
                    }
                }
                too_long(p.buf.len())?;
                Value::Str(p.buf)
            }
            "html" | "js" | "urlquery" => {
                let text = eval_args(data, &args);
                Value::Str(match name {
                    "html" => html_escape(&text),
                    "js" => js_escape(&text),
                    _ => url_query_escape(&text),
                })
            }
            _ => return Err(format!("function {name} is not implemented")),
        })
    }

    /// go-secure-stdlib's `base62.Random`: unbiased characters from 62*4 of 256 byte values.
    fn random_base62(&mut self, length: i64) -> Result<Vec<u8>, String> {
        if length < 0 {
            return Err("runtime error: makeslice: cap out of range".into());
        }
        let length = usize::try_from(length).unwrap_or(usize::MAX);
        if length == 0 {
            return Ok(Vec::new());
        }
        too_long(length)?;
        let mut out = Vec::with_capacity(length);
        let mut batch = vec![0u8; length + length / 4];
        loop {
            self.effects
                .fill_random(&mut batch)
                .map_err(|e| format!("failed to read random bytes: {e}"))?;
            for &b in &batch {
                if b < 62 * 4 {
                    out.push(BASE62[usize::from(b % 62)]);
                    if out.len() == length {
                        return Ok(out);
                    }
                }
            }
        }
    }
}

fn sha256_hex(data: &[u8]) -> String {
    hex_lower(&Sha256::digest(data))
}

fn hex_lower(data: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(data.len() * 2);
    for &b in data {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

/// Go's `utf8.DecodeRune`: the character and its width, or `None` with width 1 for a byte
/// that does not start a valid sequence.
fn decode_rune(b: &[u8]) -> (Option<char>, usize) {
    let head = &b[..b.len().min(4)];
    let valid = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or(""),
    };
    match valid.chars().next() {
        Some(c) => (Some(c), c.len_utf8()),
        None => (None, 1),
    }
}

fn rune_count(b: &[u8]) -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < b.len() {
        i += decode_rune(&b[i..]).1;
        n += 1;
    }
    n
}

/// `strings.ToUpper`/`ToLower`: simple per-character case mapping; bytes that are not UTF-8
/// become U+FFFD, as `strings.Map` does.
fn map_runes(s: &[u8], upper: bool) -> Vec<u8> {
    if s.is_ascii() {
        return if upper {
            s.to_ascii_uppercase()
        } else {
            s.to_ascii_lowercase()
        };
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let (c, w) = decode_rune(&s[i..]);
        let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
        let mapped = if upper {
            single_char(c.to_uppercase()).unwrap_or(c)
        } else if c == '\u{130}' {
            'i'
        } else {
            single_char(c.to_lowercase()).unwrap_or(c)
        };
        let mut buf = [0u8; 4];
        out.extend_from_slice(mapped.encode_utf8(&mut buf).as_bytes());
        i += w;
    }
    out
}

fn single_char(mut it: impl Iterator<Item = char>) -> Option<char> {
    let c = it.next()?;
    if it.next().is_some() {
        return None;
    }
    Some(c)
}

fn find_bytes(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `strings.ReplaceAll`; an empty `find` matches before each character and at the end.
fn replace_all(s: &[u8], find: &[u8], with: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    if find.is_empty() {
        out.extend_from_slice(with);
        let mut i = 0;
        while i < s.len() {
            let w = decode_rune(&s[i..]).1;
            out.extend_from_slice(&s[i..i + w]);
            out.extend_from_slice(with);
            i += w;
            too_long(out.len())?;
        }
        return Ok(out);
    }
    let mut rest = s;
    while let Some(i) = find_bytes(rest, find) {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(with);
        rest = &rest[i + find.len()..];
        too_long(out.len())?;
    }
    out.extend_from_slice(rest);
    Ok(out)
}

/// `base64.StdEncoding.DecodeString`: padding required, `\r` and `\n` ignored, Go's error text.
fn go_base64_decode(src: &[u8]) -> Result<Vec<u8>, String> {
    fn value(c: u8) -> Option<u8> {
        match c {
            b'A'..=b'Z' => Some(c - b'A'),
            b'a'..=b'z' => Some(c - b'a' + 26),
            b'0'..=b'9' => Some(c - b'0' + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let corrupt = |at: usize| format!("illegal base64 data at input byte {at}");
    let skip_newlines = |mut si: usize| {
        while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
            si += 1;
        }
        si
    };
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0;
    while si < src.len() {
        let mut quantum = [0u8; 4];
        let mut len = 4;
        let mut trailing = None;
        let mut j = 0;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(out);
                }
                return Err(corrupt(si - j));
            }
            let c = src[si];
            si += 1;
            if let Some(v) = value(c) {
                quantum[j] = v;
                j += 1;
                continue;
            }
            if c == b'\n' || c == b'\r' {
                continue;
            }
            if c != b'=' || j < 2 {
                return Err(corrupt(si - 1));
            }
            if j == 2 {
                si = skip_newlines(si);
                if si == src.len() {
                    return Err(corrupt(src.len()));
                }
                if src[si] != b'=' {
                    return Err(corrupt(si - 1));
                }
                si += 1;
            }
            si = skip_newlines(si);
            if si < src.len() {
                trailing = Some(si);
            }
            len = j;
            break;
        }
        let v = u32::from(quantum[0]) << 18
            | u32::from(quantum[1]) << 12
            | u32::from(quantum[2]) << 6
            | u32::from(quantum[3]);
        let bytes = [(v >> 16) as u8, (v >> 8) as u8, v as u8];
        out.extend_from_slice(&bytes[..len - 1]);
        if let Some(at) = trailing {
            return Err(corrupt(at));
        }
    }
    Ok(out)
}

/// `hex.DecodeString` with Go's error texts.
fn go_hex_decode(src: &[u8]) -> Result<Vec<u8>, String> {
    let digit = |c: u8| char::from(c).to_digit(16);
    let invalid = |c: u8| {
        format!(
            "encoding/hex: invalid byte: {}",
            sharp_u(Some(char::from(c)))
        )
    };
    let mut out = Vec::with_capacity(src.len() / 2);
    for pair in src.chunks(2) {
        let hi = digit(pair[0]).ok_or_else(|| invalid(pair[0]))?;
        let Some(&lo_byte) = pair.get(1) else {
            return Err("encoding/hex: odd length hex string".into());
        };
        let lo = digit(lo_byte).ok_or_else(|| invalid(lo_byte))?;
        out.push((hi << 4 | lo) as u8);
    }
    Ok(out)
}

/// ryanuber/go-glob's `Glob` (OpenBao's `glob`), including its out-of-range panic.
fn go_glob(pattern: &[u8], subject: &[u8]) -> Result<bool, String> {
    if pattern.is_empty() {
        return Ok(subject.is_empty());
    }
    let parts: Vec<&[u8]> = pattern.split(|&b| b == b'*').collect();
    if parts.len() == 1 {
        return Ok(subject == pattern);
    }
    let leading = pattern.first() == Some(&b'*');
    let trailing = pattern.last() == Some(&b'*');
    let end = parts.len() - 1;
    let mut subject = subject;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            if leading {
                continue;
            }
            if !subject.starts_with(part) {
                return Ok(false);
            }
        } else if i == end {
            if !subject.is_empty() {
                return Ok(trailing || subject.ends_with(part));
            }
        } else if find_bytes(subject, part).is_none() {
            return Ok(false);
        }
        let idx = match find_bytes(subject, part) {
            Some(at) => at + part.len(),
            None => part.len().saturating_sub(1),
        };
        if idx > subject.len() {
            return Err(format!(
                "runtime error: slice bounds out of range [{idx}:{}]",
                subject.len()
            ));
        }
        subject = &subject[idx..];
    }
    Ok(true)
}

/// Go's `indexArg`.
fn index_arg(index: &Value, cap: usize) -> Result<usize, String> {
    let x = match index {
        Value::Int(i) => *i,
        Value::Uint8(u) => i64::from(*u),
        Value::Nil => return Err("cannot index slice/array with nil".into()),
        v => {
            return Err(format!(
                "cannot index slice/array with type {}",
                v.type_name()
            ))
        }
    };
    match usize::try_from(x) {
        Ok(i) if i <= cap => Ok(i),
        _ => Err(format!("index out of range: {x}")),
    }
}

/// The `index` builtin; strings are the only indexable values here.
fn go_index(args: &[Value]) -> Result<Value, String> {
    let Some((first, indexes)) = args.split_first() else {
        return Err("index of untyped nil".into());
    };
    let mut item = first.clone();
    if item == Value::Nil {
        return Err("index of untyped nil".into());
    }
    for index in indexes {
        item = match &item {
            Value::Str(s) => {
                let i = index_arg(index, s.len())?;
                match s.get(i) {
                    Some(&b) => Value::Uint8(b),
                    None => return Err("reflect: string index out of range".into()),
                }
            }
            v => return Err(format!("can't index item of type {}", v.type_name())),
        };
    }
    Ok(item)
}

/// The `slice` builtin on strings.
fn go_slice(args: &[Value]) -> Result<Value, String> {
    let Some((item, indexes)) = args.split_first() else {
        return Err("slice of untyped nil".into());
    };
    if *item == Value::Nil {
        return Err("slice of untyped nil".into());
    }
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let Value::Str(s) = item else {
        return Err(format!("can't slice item of type {}", item.type_name()));
    };
    if indexes.len() == 3 {
        return Err("cannot 3-index slice a string".into());
    }
    let mut idx = [0, s.len()];
    for (i, index) in indexes.iter().enumerate() {
        idx[i] = index_arg(index, s.len())?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    Ok(Value::Str(s[idx[0]..idx[1]].to_vec()))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Uint,
    Float,
    Str,
}

fn basic_kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Uint8(_) => Kind::Uint,
        Value::Float(_) => Kind::Float,
        Value::Str(_) => Kind::Str,
        Value::Nil | Value::Data => Kind::Invalid,
    }
}

/// The `eq` builtin: `a == b || a == c || …`, with Go's type rules.
fn go_eq(a: &Value, rest: &[Value]) -> Result<bool, String> {
    if rest.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = basic_kind(a);
    for b in rest {
        let truth = if k1 != basic_kind(b) {
            match (a, b) {
                (Value::Int(x), Value::Uint8(y)) | (Value::Uint8(y), Value::Int(x)) => {
                    *x == i64::from(*y)
                }
                (Value::Nil, _) | (_, Value::Nil) => false,
                _ => {
                    return Err(format!(
                        "incompatible types for comparison: {} and {}",
                        a.type_name(),
                        b.type_name()
                    ))
                }
            }
        } else {
            match (a, b) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Int(x), Value::Int(y)) => x == y,
                (Value::Uint8(x), Value::Uint8(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::Str(x), Value::Str(y)) => x == y,
                (Value::Nil, Value::Nil) | (Value::Data, Value::Data) => true,
                _ => false,
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The `lt` builtin (and the basis of `le`, `gt`, `ge`).
fn go_lt(a: &Value, b: &Value) -> Result<bool, String> {
    const BAD: &str = "invalid type for comparison";
    let (k1, k2) = (basic_kind(a), basic_kind(b));
    if k1 == Kind::Invalid || k2 == Kind::Invalid {
        return Err(BAD.into());
    }
    Ok(match (a, b) {
        (Value::Int(x), Value::Uint8(y)) => *x < i64::from(*y),
        (Value::Uint8(x), Value::Int(y)) => i64::from(*x) < *y,
        _ if k1 != k2 => {
            return Err(format!(
                "incompatible types for comparison: {} and {}",
                a.type_name(),
                b.type_name()
            ))
        }
        (Value::Bool(_), _) => return Err(BAD.into()),
        (Value::Int(x), Value::Int(y)) => x < y,
        (Value::Uint8(x), Value::Uint8(y)) => x < y,
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::Str(x), Value::Str(y)) => x < y,
        _ => return Err(BAD.into()),
    })
}

/// `fmt.Sprint` of the arguments after Go's `printableValue` (text/template's `evalArgs`).
fn eval_args(data: &TemplateData, args: &[Value]) -> Vec<u8> {
    if let [Value::Str(s)] = args {
        return s.clone();
    }
    let printable: Vec<Value> = args
        .iter()
        .map(|v| match v {
            Value::Nil => Value::Str(b"<no value>".to_vec()),
            v => v.clone(),
        })
        .collect();
    let mut p = Printer::new(data);
    p.do_print(&printable);
    p.buf
}

/// `template.HTMLEscapeString`.
fn html_escape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        match c {
            0 => out.extend_from_slice("\u{FFFD}".as_bytes()),
            b'"' => out.extend_from_slice(b"&#34;"),
            b'\'' => out.extend_from_slice(b"&#39;"),
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `template.JSEscapeString`.
fn js_escape(s: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c < 0x80 {
            match c {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\'' => out.extend_from_slice(b"\\'"),
                b'"' => out.extend_from_slice(b"\\\""),
                b'<' => out.extend_from_slice(b"\\u003C"),
                b'>' => out.extend_from_slice(b"\\u003E"),
                b'&' => out.extend_from_slice(b"\\u0026"),
                b'=' => out.extend_from_slice(b"\\u003D"),
                c if c < b' ' => {
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[usize::from(c >> 4)]);
                    out.push(HEX[usize::from(c & 15)]);
                }
                c => out.push(c),
            }
            i += 1;
            continue;
        }
        let (r, w) = decode_rune(&s[i..]);
        let r = r.unwrap_or(char::REPLACEMENT_CHARACTER);
        if go_is_print(r) {
            out.extend_from_slice(&s[i..i + w]);
        } else {
            out.extend_from_slice(format!("\\u{:04X}", u32::from(r)).as_bytes());
        }
        i += w;
    }
    out
}

/// `url.QueryEscape`.
fn url_query_escape(s: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(s.len());
    for &c in s {
        match c {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(c),
            b' ' => out.push(b'+'),
            c => {
                out.push(b'%');
                out.push(HEX[usize::from(c >> 4)]);
                out.push(HEX[usize::from(c & 15)]);
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Go's fmt: print, println, printf and the printing of action results
// ---------------------------------------------------------------------------------------------

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

struct Printer<'d> {
    buf: Vec<u8>,
    f: Flags,
    data: &'d TemplateData,
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
    fn new(data: &'d TemplateData) -> Self {
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
    fn do_print(&mut self, args: &[Value]) {
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
    fn do_println(&mut self, args: &[Value]) {
        for (i, arg) in args.iter().enumerate() {
            if i > 0 {
                self.buf.push(b' ');
            }
            self.print_arg(arg, 'v');
        }
        self.buf.push(b'\n');
    }

    /// Go's `argNumber`: an explicit `[n]` argument index.
    fn arg_number(
        &mut self,
        arg_num: usize,
        format: &[u8],
        i: usize,
        num_args: usize,
        reordered: &mut bool,
        good_arg_num: &mut bool,
    ) -> (usize, usize, bool) {
        if format.get(i) != Some(&b'[') {
            return (arg_num, i, false);
        }
        *reordered = true;
        let s = &format[i..];
        let (index, wid, ok) = match s.iter().position(|&c| c == b']') {
            Some(close) if s.len() >= 3 => match parse_num(s, 1) {
                (Some(n), newi) if newi == close => (n.checked_sub(1), close + 1, true),
                _ => (None, close + 1, false),
            },
            _ => (None, 1, false),
        };
        match index {
            Some(index) if ok && index < num_args => (index, i + wid, true),
            _ => {
                *good_arg_num = false;
                (arg_num, i + wid, ok)
            }
        }
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

    /// `fmt.Sprintf`. Errors only when the result outgrows [`MAX_VALUE_LEN`].
    fn do_printf(&mut self, format: &[u8], args: &[Value]) -> Result<(), String> {
        let end = format.len();
        let mut arg_num = 0usize;
        let mut after_index;
        let mut reordered = false;
        let mut i = 0usize;
        'format: while i < end {
            too_long(self.buf.len())?;
            let mut good_arg_num = true;
            let last = i;
            while i < end && format[i] != b'%' {
                i += 1;
            }
            self.buf.extend_from_slice(&format[last..i]);
            if i >= end {
                break;
            }
            i += 1;
            self.f = Flags::default();
            while i < end {
                match format[i] {
                    b'#' => self.f.sharp = true,
                    b'0' => self.f.zero = true,
                    b'+' => self.f.plus = true,
                    b'-' => self.f.minus = true,
                    b' ' => self.f.space = true,
                    c => {
                        if c.is_ascii_lowercase() && arg_num < args.len() {
                            if c == b'v' || c == b'w' {
                                self.f.sharp_v = self.f.sharp;
                                self.f.sharp = false;
                                self.f.plus_v = self.f.plus;
                                self.f.plus = false;
                            }
                            self.print_arg(&args[arg_num], char::from(c));
                            arg_num += 1;
                            i += 1;
                            continue 'format;
                        }
                        break;
                    }
                }
                i += 1;
            }
            (arg_num, i, after_index) = self.arg_number(
                arg_num,
                format,
                i,
                args.len(),
                &mut reordered,
                &mut good_arg_num,
            );
            if i < end && format[i] == b'*' {
                i += 1;
                let (wid, ok, next) = Self::int_from_arg(args, arg_num);
                arg_num = next;
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
                let (wid, next) = parse_num(format, i);
                i = next;
                self.f.wid_present = wid.is_some();
                self.f.wid = wid.unwrap_or(0);
                if after_index && self.f.wid_present {
                    good_arg_num = false;
                }
            }
            if i + 1 < end && format[i] == b'.' {
                i += 1;
                if after_index {
                    good_arg_num = false;
                }
                (arg_num, i, after_index) = self.arg_number(
                    arg_num,
                    format,
                    i,
                    args.len(),
                    &mut reordered,
                    &mut good_arg_num,
                );
                if i < end && format[i] == b'*' {
                    i += 1;
                    let (prec, ok, next) = Self::int_from_arg(args, arg_num);
                    arg_num = next;
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
                    let (prec, next) = parse_num(format, i);
                    i = next;
                    self.f.prec = prec.unwrap_or(0);
                    self.f.prec_present = true;
                }
            }
            if !after_index {
                (arg_num, i, _) = self.arg_number(
                    arg_num,
                    format,
                    i,
                    args.len(),
                    &mut reordered,
                    &mut good_arg_num,
                );
            }
            if i >= end {
                self.buf.extend_from_slice(b"%!(NOVERB)");
                break;
            }
            let (verb, size) = decode_rune(&format[i..]);
            let verb = verb.unwrap_or(char::REPLACEMENT_CHARACTER);
            i += size;
            if verb == '%' {
                self.buf.push(b'%');
            } else if !good_arg_num {
                self.verb_error(verb, "(BADINDEX)");
            } else if arg_num >= args.len() {
                self.verb_error(verb, "(MISSING)");
            } else {
                if verb == 'v' || verb == 'w' {
                    self.f.sharp_v = self.f.sharp;
                    self.f.sharp = false;
                    self.f.plus_v = self.f.plus;
                    self.f.plus = false;
                }
                self.print_arg(&args[arg_num], verb);
                arg_num += 1;
            }
        }
        if !reordered && arg_num < args.len() {
            self.f = Flags::default();
            self.buf.extend_from_slice(b"%!(EXTRA ");
            for (k, arg) in args[arg_num..].iter().enumerate() {
                if k > 0 {
                    self.buf.extend_from_slice(b", ");
                }
                if *arg == Value::Nil {
                    self.buf.extend_from_slice(b"<nil>");
                } else {
                    self.buf.extend_from_slice(arg.type_name().as_bytes());
                    self.buf.push(b'=');
                    self.print_arg(arg, 'v');
                }
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
        if *arg == Value::Nil {
            self.buf.extend_from_slice(b"<nil>");
        } else {
            self.buf.extend_from_slice(arg.type_name().as_bytes());
            self.buf.push(b'=');
            self.print_arg(arg, 'v');
        }
        self.buf.push(b')');
    }

    fn print_arg(&mut self, arg: &Value, verb: char) {
        match (arg, verb) {
            (Value::Nil, 'T' | 'v') => return self.pad(b"<nil>"),
            (Value::Nil, _) => return self.bad_verb(arg, verb),
            (_, 'T') => return self.fmt_s(arg.type_name().as_bytes()),
            // `%w` only means something in `fmt.Errorf`; a struct gets no per-field treatment.
            (_, 'p') | (Value::Data, 'w') => return self.bad_verb(arg, verb),
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
            Value::Data => self.print_struct(verb),
            Value::Nil => {}
        }
    }

    /// A struct: `{a b c}`, `{Type:a …}` with `%+v`, Go syntax with `%#v`.
    fn print_struct(&mut self, verb: char) {
        let data = self.data;
        if self.f.sharp_v {
            self.buf.extend_from_slice(DATA_TYPE.as_bytes());
        }
        self.buf.push(b'{');
        let fields = [
            ("Type", data.kind.type_name()),
            ("DisplayName", data.display_name.as_str()),
            ("PolicyName", data.policy_name.as_str()),
        ];
        for (i, (name, value)) in fields.iter().enumerate() {
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
                let quoted = quote_with(&rune_bytes(rune_of(u)), b'\'', self.f.plus);
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
                if go_is_print(c) {
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
        let quoted = quote_with(s, b'"', self.f.plus);
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

/// Go's `strconv.FormatFloat(v, verb, prec, 64)` for `e E f F g G b x X`.
fn format_float(v: f64, verb: char, prec: i64) -> String {
    let neg = v.is_sign_negative();
    let sign = if neg { "-" } else { "" };
    let a = v.abs();
    match verb {
        'f' | 'F' => {
            let p = usize::try_from(prec.max(0)).unwrap_or(0);
            format!("{sign}{a:.p$}")
        }
        'b' => {
            let bits = a.to_bits();
            let mut exp = ((bits >> 52) & 0x7ff) as i64;
            let mut mant = bits & ((1 << 52) - 1);
            if exp == 0 {
                exp += 1;
            } else {
                mant |= 1 << 52;
            }
            exp += -1023 - 52;
            let esign = if exp >= 0 { "+" } else { "" };
            format!("{sign}{mant}p{esign}{exp}")
        }
        'x' | 'X' => format_float_hex(a, sign, verb, prec),
        _ => {
            let (digits, dp) = decimal_digits(a, verb, prec);
            let e = if verb == 'E' || verb == 'G' { 'E' } else { 'e' };
            let body = match verb {
                'e' | 'E' => fmt_e(&digits, dp, usize::try_from(prec.max(0)).unwrap_or(0), e),
                _ => {
                    let nd = digits.len() as i64;
                    let shortest = prec < 0;
                    let mut prec = if shortest {
                        nd
                    } else if prec == 0 {
                        1
                    } else {
                        prec
                    };
                    let mut eprec = prec;
                    if eprec > nd && nd >= dp {
                        eprec = nd;
                    }
                    if shortest {
                        eprec = 6;
                    }
                    let exp = dp - 1;
                    if exp < -4 || exp >= eprec {
                        if prec > nd {
                            prec = nd;
                        }
                        fmt_e(&digits, dp, usize::try_from(prec - 1).unwrap_or(0), e)
                    } else {
                        if prec > dp {
                            prec = nd;
                        }
                        fmt_f(
                            &digits,
                            dp,
                            usize::try_from((prec - dp).max(0)).unwrap_or(0),
                        )
                    }
                }
            };
            format!("{sign}{body}")
        }
    }
}

/// Significant decimal digits (no trailing zeros) and decimal-point position of `a >= 0`:
/// shortest round-trip when `prec < 0`, else rounded to the digits `%e`/`%g` need.
fn decimal_digits(a: f64, verb: char, prec: i64) -> (Vec<u8>, i64) {
    if a == 0.0 {
        return (Vec::new(), 0);
    }
    let s = if prec < 0 {
        format!("{a:e}")
    } else {
        let sig = match verb {
            'e' | 'E' => prec + 1,
            _ => prec.max(1),
        };
        let p = usize::try_from(sig - 1).unwrap_or(0);
        format!("{a:.p$e}")
    };
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    (digits, exp.parse::<i64>().unwrap_or(0) + 1)
}

fn fmt_e(digits: &[u8], dp: i64, prec: usize, e: char) -> String {
    let mut s = String::new();
    s.push(char::from(digits.first().copied().unwrap_or(b'0')));
    if prec > 0 {
        s.push('.');
        let mut i = 1;
        let m = digits.len().min(prec + 1);
        if i < m {
            s.extend(digits[i..m].iter().map(|&b| char::from(b)));
            i = m;
        }
        while i <= prec {
            s.push('0');
            i += 1;
        }
    }
    s.push(e);
    let exp = if digits.is_empty() { 0 } else { dp - 1 };
    s.push(if exp < 0 { '-' } else { '+' });
    let exp = exp.unsigned_abs();
    if exp < 10 {
        s.push('0');
    }
    s.push_str(&exp.to_string());
    s
}

fn fmt_f(digits: &[u8], dp: i64, prec: usize) -> String {
    let mut s = String::new();
    if dp > 0 {
        let dp = usize::try_from(dp).unwrap_or(0);
        let m = digits.len().min(dp);
        s.extend(digits[..m].iter().map(|&b| char::from(b)));
        s.extend(std::iter::repeat_n('0', dp - m));
    } else {
        s.push('0');
    }
    if prec > 0 {
        s.push('.');
        for i in 0..prec {
            let j = dp + i as i64;
            let ch = usize::try_from(j)
                .ok()
                .and_then(|j| digits.get(j))
                .copied()
                .unwrap_or(b'0');
            s.push(char::from(ch));
        }
    }
    s
}

/// `%x` of a float (Go's `fmtX`).
fn format_float_hex(a: f64, sign: &str, verb: char, prec: i64) -> String {
    let bits = a.to_bits();
    let mut exp = ((bits >> 52) & 0x7ff) as i64;
    let mut mant = bits & ((1 << 52) - 1);
    if exp == 0 {
        exp += 1;
    } else {
        mant |= 1 << 52;
    }
    exp -= 1023;
    if mant == 0 {
        exp = 0;
    }
    mant <<= 60 - 52;
    while mant != 0 && mant & (1 << 60) == 0 {
        mant <<= 1;
        exp -= 1;
    }
    if (0..15).contains(&prec) {
        let shift = (prec * 4) as u32;
        let extra = (mant << shift) & ((1 << 60) - 1);
        mant >>= 60 - shift;
        if extra | (mant & 1) > 1 << 59 {
            mant += 1;
        }
        mant <<= 60 - shift;
        if mant & (1 << 61) != 0 {
            mant >>= 1;
            exp += 1;
        }
    }
    let hex: &[u8; 17] = if verb == 'X' { UDIGITS } else { LDIGITS };
    let mut s = String::from(sign);
    s.push('0');
    s.push(verb);
    s.push(char::from(b'0' + ((mant >> 60) & 1) as u8));
    mant <<= 4;
    if prec < 0 && mant != 0 {
        s.push('.');
        while mant != 0 {
            s.push(char::from(hex[((mant >> 60) & 15) as usize]));
            mant <<= 4;
        }
    } else if prec > 0 {
        s.push('.');
        for _ in 0..prec {
            s.push(char::from(hex[((mant >> 60) & 15) as usize]));
            mant <<= 4;
        }
    }
    s.push(if verb == 'X' { 'P' } else { 'p' });
    s.push(if exp < 0 { '-' } else { '+' });
    let exp = exp.unsigned_abs();
    if exp < 10 {
        s.push('0');
    }
    s.push_str(&exp.to_string());
    s
}

// ---------------------------------------------------------------------------------------------
// Go's strconv quoting and unicode classes
// ---------------------------------------------------------------------------------------------

/// `unicode.IsPrint` as far as Rust's tables allow: graphic characters and the ASCII space.
fn go_is_print(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(u32::from(c),
            0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F
            | 0x202A..=0x202E | 0x2060..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB
            | 0xFFFE | 0xFFFF | 0xE000..=0xF8FF | 0xF0000..=0x10FFFF))
}

/// `%#U`: `U+0041 'A'`, or only the number for unprintable characters (`U+FFFFFFFFFFFFFFFF`
/// for Go's end-of-input rune).
fn sharp_u(c: Option<char>) -> String {
    match c {
        None => "U+FFFFFFFFFFFFFFFF".to_string(),
        Some(c) if go_is_print(c) => format!("U+{:04X} '{c}'", u32::from(c)),
        Some(c) => format!("U+{:04X}", u32::from(c)),
    }
}

/// `strconv.Quote` (or `QuoteToASCII`) of a string.
fn quote_str(s: &str) -> String {
    quote_with(s.as_bytes(), b'"', false)
}

/// Go's `appendQuotedWith`: bytes that are not UTF-8 become `\xNN`.
fn quote_with(s: &[u8], quote: u8, ascii_only: bool) -> String {
    let quote = char::from(quote);
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    let mut i = 0;
    while i < s.len() {
        let (c, w) = decode_rune(&s[i..]);
        match c {
            None => out.push_str(&format!("\\x{:02x}", s[i])),
            Some(c) if c == quote || c == '\\' => {
                out.push('\\');
                out.push(c);
            }
            Some(c) if go_is_print(c) && (!ascii_only || c.is_ascii()) => out.push(c),
            Some('\x07') => out.push_str("\\a"),
            Some('\x08') => out.push_str("\\b"),
            Some('\x0c') => out.push_str("\\f"),
            Some('\n') => out.push_str("\\n"),
            Some('\r') => out.push_str("\\r"),
            Some('\t') => out.push_str("\\t"),
            Some('\x0b') => out.push_str("\\v"),
            Some(c) if c < ' ' || c == '\x7f' => {
                out.push_str(&format!("\\x{:02x}", u32::from(c)));
            }
            Some(c) if u32::from(c) < 0x10000 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            Some(c) => out.push_str(&format!("\\U{:08x}", u32::from(c))),
        }
        i += w;
    }
    out.push(quote);
    out
}

/// `strconv.CanBackquote`.
fn can_backquote(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        let (c, w) = decode_rune(&s[i..]);
        i += w;
        match c {
            None => return false,
            Some('\u{FEFF}') => return false,
            Some(_) if w > 1 => {}
            Some(c) if (c < ' ' && c != '\t') || c == '`' || c == '\x7f' => return false,
            Some(_) => {}
        }
    }
    true
}

// ---------------------------------------------------------------------------------------------
// Go's time.Format, in UTC
// ---------------------------------------------------------------------------------------------

/// A layout element (Go's `std*` constants).
#[derive(Clone, Copy)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    Tz,
    /// `Z07…`: `Z` in UTC.
    IsoTz,
    /// `-07…`: `+00…` in UTC; the text after the sign.
    NumTz(&'static str),
    /// `.000`/`.999`: digits, separator, trailing zeros trimmed.
    Frac(usize, u8, bool),
}

/// Go's `nextStdChunk`: the text before the first layout element, the element, the rest.
fn next_std_chunk(layout: &[u8]) -> (&[u8], Option<Std>, &[u8]) {
    let at = |i: usize, s: &str| layout[i..].starts_with(s.as_bytes());
    let lower_after = |j: usize| layout.get(j).is_some_and(u8::is_ascii_lowercase);
    for i in 0..layout.len() {
        let found = match layout[i] {
            b'J' if at(i, "January") => Some((Std::LongMonth, 7)),
            b'J' if at(i, "Jan") && !lower_after(i + 3) => Some((Std::Month, 3)),
            b'M' if at(i, "Monday") => Some((Std::LongWeekDay, 6)),
            b'M' if at(i, "Mon") && !lower_after(i + 3) => Some((Std::WeekDay, 3)),
            b'M' if at(i, "MST") => Some((Std::Tz, 3)),
            b'0' if layout.get(i + 1).is_some_and(|c| (b'1'..=b'6').contains(c)) => Some((
                match layout[i + 1] {
                    b'1' => Std::ZeroMonth,
                    b'2' => Std::ZeroDay,
                    b'3' => Std::ZeroHour12,
                    b'4' => Std::ZeroMinute,
                    b'5' => Std::ZeroSecond,
                    _ => Std::Year,
                },
                2,
            )),
            b'0' if at(i, "002") => Some((Std::ZeroYearDay, 3)),
            b'1' if at(i, "15") => Some((Std::Hour, 2)),
            b'1' => Some((Std::NumMonth, 1)),
            b'2' if at(i, "2006") => Some((Std::LongYear, 4)),
            b'2' => Some((Std::Day, 1)),
            b'_' if at(i, "_2006") => {
                return (&layout[..=i], Some(Std::LongYear), &layout[i + 5..])
            }
            b'_' if at(i, "_2") => Some((Std::UnderDay, 2)),
            b'_' if at(i, "__2") => Some((Std::UnderYearDay, 3)),
            b'3' => Some((Std::Hour12, 1)),
            b'4' => Some((Std::Minute, 1)),
            b'5' => Some((Std::Second, 1)),
            b'P' if at(i, "PM") => Some((Std::PM, 2)),
            b'p' if at(i, "pm") => Some((Std::Pm, 2)),
            b'-' | b'Z' => {
                let iso = layout[i] == b'Z';
                let forms: [(&str, &'static str); 5] = [
                    ("070000", "000000"),
                    ("07:00:00", "00:00:00"),
                    ("0700", "0000"),
                    ("07:00", "00:00"),
                    ("07", "00"),
                ];
                forms
                    .iter()
                    .find(|(form, _)| at(i + 1, form))
                    .map(|(form, utc)| {
                        (
                            if iso { Std::IsoTz } else { Std::NumTz(utc) },
                            1 + form.len(),
                        )
                    })
            }
            c @ (b'.' | b',') if matches!(layout.get(i + 1), Some(b'0' | b'9')) => {
                let digit = layout[i + 1];
                let mut j = i + 1;
                while j < layout.len() && layout[j] == digit {
                    j += 1;
                }
                if layout.get(j).is_some_and(u8::is_ascii_digit) {
                    None
                } else {
                    Some((Std::Frac(j - (i + 1), c, digit == b'9'), j - i))
                }
            }
            _ => None,
        };
        if let Some((std, len)) = found {
            return (&layout[..i], Some(std), &layout[i + len..]);
        }
    }
    (layout, None, &[])
}

/// Go's `appendInt` with zero padding to `width`.
fn push_int(out: &mut Vec<u8>, x: i64, width: usize) {
    if x < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(format!("{:0width$}", x.unsigned_abs()).as_bytes());
}

/// `time.Time.Format(layout)` for a UTC time (zone name `UTC`, offset zero).
fn go_time_format(t: OffsetDateTime, layout: &[u8]) -> Vec<u8> {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = [
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
    ];
    let month = usize::from(u8::from(t.month()));
    let month_name = MONTHS.get(month.wrapping_sub(1)).copied().unwrap_or("");
    let day_name = DAYS
        .get(usize::from(t.weekday().number_days_from_sunday()))
        .copied()
        .unwrap_or("");
    let hour = i64::from(t.hour());
    let hour12 = if hour % 12 == 0 { 12 } else { hour % 12 };
    let mut out = Vec::new();
    let mut layout = layout;
    while !layout.is_empty() {
        let (prefix, std, suffix) = next_std_chunk(layout);
        out.extend_from_slice(prefix);
        let Some(std) = std else { break };
        layout = suffix;
        match std {
            Std::Year => push_int(&mut out, i64::from(t.year()).abs() % 100, 2),
            Std::LongYear => push_int(&mut out, i64::from(t.year()), 4),
            Std::Month => out.extend_from_slice(month_name.get(..3).unwrap_or("").as_bytes()),
            Std::LongMonth => out.extend_from_slice(month_name.as_bytes()),
            Std::NumMonth => push_int(&mut out, month as i64, 0),
            Std::ZeroMonth => push_int(&mut out, month as i64, 2),
            Std::WeekDay => out.extend_from_slice(day_name.get(..3).unwrap_or("").as_bytes()),
            Std::LongWeekDay => out.extend_from_slice(day_name.as_bytes()),
            Std::Day => push_int(&mut out, i64::from(t.day()), 0),
            Std::UnderDay => {
                if t.day() < 10 {
                    out.push(b' ');
                }
                push_int(&mut out, i64::from(t.day()), 0);
            }
            Std::ZeroDay => push_int(&mut out, i64::from(t.day()), 2),
            Std::UnderYearDay => {
                let yday = t.ordinal();
                if yday < 100 {
                    out.push(b' ');
                    if yday < 10 {
                        out.push(b' ');
                    }
                }
                push_int(&mut out, i64::from(yday), 0);
            }
            Std::ZeroYearDay => push_int(&mut out, i64::from(t.ordinal()), 3),
            Std::Hour => push_int(&mut out, hour, 2),
            Std::Hour12 => push_int(&mut out, hour12, 0),
            Std::ZeroHour12 => push_int(&mut out, hour12, 2),
            Std::Minute => push_int(&mut out, i64::from(t.minute()), 0),
            Std::ZeroMinute => push_int(&mut out, i64::from(t.minute()), 2),
            Std::Second => push_int(&mut out, i64::from(t.second()), 0),
            Std::ZeroSecond => push_int(&mut out, i64::from(t.second()), 2),
            Std::PM => out.extend_from_slice(if hour >= 12 { b"PM" } else { b"AM" }),
            Std::Pm => out.extend_from_slice(if hour >= 12 { b"pm" } else { b"am" }),
            Std::Tz => out.extend_from_slice(b"UTC"),
            Std::IsoTz => out.push(b'Z'),
            Std::NumTz(zero) => {
                out.push(b'+');
                out.extend_from_slice(zero.as_bytes());
            }
            Std::Frac(n, sep, trim) => {
                let nanos = t.nanosecond();
                if trim && (n == 0 || nanos == 0) {
                    continue;
                }
                let start = out.len();
                out.push(sep);
                let digits = format!("{nanos:09}");
                out.extend_from_slice(&digits.as_bytes()[..n.min(9)]);
                if trim {
                    while out.len() > start + 1 && out.last() == Some(&b'0') {
                        out.pop();
                    }
                    if out.len() == start + 1 {
                        out.pop();
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pinned clock (2024-02-29T13:04:05.123456789Z) and constant random bytes (23, which
    /// the base62 alphabet maps to `X`), so outputs can be compared exactly.
    struct Pinned;

    impl Effects for Pinned {
        fn now(&mut self) -> OffsetDateTime {
            time::macros::datetime!(2024-02-29 13:04:05.123456789 UTC)
        }

        fn fill_random(&mut self, buf: &mut [u8]) -> Result<(), String> {
            buf.fill(23);
            Ok(())
        }
    }

    fn iam() -> TemplateData {
        TemplateData {
            kind: NameKind::Iam,
            display_name: "token".into(),
            policy_name: "deploy".into(),
        }
    }

    /// Renders with the pinned clock and randomness.
    fn pinned(src: &str) -> Result<String, TemplateError> {
        UsernameTemplate::parse(src)?.render_with(&iam(), &mut Pinned)
    }

    fn ok(src: &str) -> String {
        match pinned(src) {
            Ok(s) => s,
            Err(e) => panic!("{src:?} failed: {e}"),
        }
    }

    fn err(src: &str) -> String {
        match pinned(src) {
            Ok(s) => panic!("{src:?} rendered {s:?}, expected an error"),
            Err(e) => e.to_string(),
        }
    }

    fn is_digits(s: &str, n: usize) -> bool {
        s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
    }

    fn is_base62(s: &str, n: usize) -> bool {
        s.len() == n && s.bytes().all(|b| b.is_ascii_alphanumeric())
    }

    fn unix_now() -> i64 {
        OffsetDateTime::now_utc().unix_timestamp()
    }

    #[test]
    fn default_template_iam_shape() {
        let name = generate_username("", NameKind::Iam, "token", "deploy").unwrap();
        assert_eq!(name.len(), 50, "{name}");
        let rest = name.strip_prefix("vault-token-deploy-").unwrap();
        let (unix, random) = rest.split_once('-').unwrap();
        assert!(is_digits(unix, 10), "{name}");
        assert!((unix.parse::<i64>().unwrap() - unix_now()).abs() < 10);
        assert!(is_base62(random, 20), "{name}");
        // The explicit default gives the same shape.
        let again =
            generate_username(DEFAULT_USERNAME_TEMPLATE, NameKind::Iam, "token", "deploy").unwrap();
        assert!(again.starts_with("vault-token-deploy-") && again.len() == 50);
    }

    #[test]
    fn default_template_cuts_long_names_to_42_then_64() {
        let (display, role) = ("d".repeat(30), "r".repeat(30));
        let name = generate_username("", NameKind::Iam, &display, &role).unwrap();
        assert_eq!(name.len(), 64, "{name}");
        let joined = format!("{display}-{role}");
        let head = format!("vault-{}-", &joined[..42]);
        let rest = name.strip_prefix(&head).unwrap();
        let (unix, random) = rest.split_once('-').unwrap();
        assert!(is_digits(unix, 10) && is_base62(random, 4), "{name}");
        // Pinned: exactly what Go gives for the same inputs.
        let data = TemplateData {
            kind: NameKind::Iam,
            display_name: display,
            policy_name: role,
        };
        let out = UsernameTemplate::parse(DEFAULT_USERNAME_TEMPLATE)
            .unwrap()
            .render_with(&data, &mut Pinned)
            .unwrap();
        assert_eq!(out, format!("{head}1709211845-XXXX"));
    }

    #[test]
    fn default_template_sts_is_exactly_32() {
        let name = generate_username("", NameKind::Sts, "token", "deploy").unwrap();
        assert_eq!(name.len(), 32, "{name}");
        let rest = name.strip_prefix("vault-").unwrap();
        let (unix, random) = rest.split_once('-').unwrap();
        assert!(is_digits(unix, 10) && is_base62(random, 15), "{name}");
    }

    #[test]
    fn names_are_normalised_for_iam_and_empty_for_sts() {
        let t = "{{ .DisplayName }}|{{ .PolicyName }}|{{ .Type }}";
        assert_eq!(
            generate_username(t, NameKind::Iam, "a b/c", "r:1").unwrap(),
            "a_b_c|r_1|IAM"
        );
        assert_eq!(
            generate_username(t, NameKind::Sts, "a", "b").unwrap(),
            "||STS"
        );
    }

    #[test]
    fn normalize_matches_the_go_engine() {
        assert_eq!(normalize("a b/c"), "a_b_c");
        assert_eq!(
            normalize("^#$test name\nshould be normalized)(*"),
            "___test_name_should_be_normalized___"
        );
        assert_eq!(normalize("héllo"), "h_llo");
        for valid in [
            "test_name_should_normalize_to_itself@example.com",
            "UPPERlower0123456789-_,.@example.com",
            "a+b=c",
        ] {
            assert_eq!(normalize(valid), valid);
        }
    }

    #[test]
    fn custom_templates() {
        let out = generate_username(
            r#"{{ printf "foo-%s" (random 5) }}"#,
            NameKind::Iam,
            "t",
            "r",
        )
        .unwrap();
        assert!(out.starts_with("foo-") && is_base62(&out[4..], 5), "{out}");
        assert_eq!(ok(r#"{{ printf "foo-%s" (random 5) }}"#), "foo-XXXXX");
        assert_eq!(ok("{{ .DisplayName | uppercase }}"), "TOKEN");
        // replace FIND WITH STRING: every "-" becomes "_".
        assert_eq!(
            generate_username(
                r#"{{ replace "-" "_" .PolicyName }}"#,
                NameKind::Iam,
                "t",
                "my-role-x"
            )
            .unwrap(),
            "my_role_x"
        );
        assert_eq!(ok(r#"{{ .PolicyName | replace "e" "E" }}"#), "dEploy");
        // truncate_sha256 N: keep N-8 bytes, then the first 8 hex digits of the SHA-256 of the rest.
        let expect = format!("ab{}", &sha256_hex(b"cdefghijklmnop")[..8]);
        assert_eq!(ok(r#"{{ truncate_sha256 10 "abcdefghijklmnop" }}"#), expect);
        assert_eq!(expect, "ab936d7cdc");
        assert_eq!(ok(r#"{{ truncate_sha256 20 "short" }}"#), "short");
        assert_eq!(
            err(r#"{{ truncate_sha256 8 "abc" }}"#),
            "unable to apply template: template: template:1:3: executing \"template\" at \
             <truncate_sha256 8 \"abc\">: error calling truncate_sha256: max length must be > 8 but was 8"
        );
        assert_eq!(ok(r#"{{ "abcdef" | truncate 3 }}"#), "abc");
        assert_eq!(
            ok(r#"{{ lowercase "ABC" }}-{{ sha256 "abc" | truncate 8 }}"#),
            "abc-ba7816bf"
        );
        assert_eq!(ok(r#"{{ base64 "hello" }}"#), "aGVsbG8=");
    }

    #[test]
    fn clock_and_random_functions() {
        let unix = UsernameTemplate::parse("{{ unix_time }}")
            .unwrap()
            .render(&iam())
            .unwrap();
        assert!(is_digits(&unix, 10) && (unix.parse::<i64>().unwrap() - unix_now()).abs() < 10);
        let millis = UsernameTemplate::parse("{{ unix_time_millis }}")
            .unwrap()
            .render(&iam())
            .unwrap();
        assert!(is_digits(&millis, 13), "{millis}");
        let id = UsernameTemplate::parse("{{ uuid }}")
            .unwrap()
            .render(&iam())
            .unwrap();
        let groups: Vec<&str> = id.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(id.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit()));
        let random = UsernameTemplate::parse("{{ random 2000 }}")
            .unwrap()
            .render(&iam())
            .unwrap();
        assert!(is_base62(&random, 2000));
        assert!(
            random.bytes().any(|b| b.is_ascii_digit())
                && random.bytes().any(|b| b.is_ascii_lowercase())
        );

        assert_eq!(ok("{{ unix_time }}"), "1709211845");
        assert_eq!(ok("{{ unix_time_millis }}"), "1709211845123");
        assert_eq!(ok("{{ uuid }}"), "17171717-1717-4717-9717-171717171717");
        assert_eq!(ok("[{{ random 0 }}]"), "[]");
        assert_eq!(
            err("{{ random -1 }}"),
            "unable to apply template: template: template:1:3: executing \"template\" at \
             <random -1>: error calling random: runtime error: makeslice: cap out of range"
        );
    }

    #[test]
    fn timestamp_uses_go_layouts() {
        assert_eq!(
            ok(r#"{{ timestamp "2006-01-02T15:04:05Z07:00" }}"#),
            "2024-02-29T13:04:05Z"
        );
        assert_eq!(
            ok(r#"{{ timestamp "Mon Jan _2 15:04:05 MST 2006" }}"#),
            "Thu Feb 29 13:04:05 UTC 2024"
        );
        assert_eq!(
            ok(r#"{{ timestamp "Monday, 02-Jan-06 03:04:05.000 PM -0700" }}"#),
            "Thursday, 29-Feb-24 01:04:05.123 PM +0000"
        );
        assert_eq!(
            ok(r#"{{ timestamp ".999999999 .000000 ,999 .9 20060102150405 002 __2 January" }}"#),
            ".123456789 .123456 ,123 .1 20240229130405 060  60 February"
        );
        assert_eq!(ok(r#"{{ timestamp "Month Jant" }}"#), "Month Jant");
    }

    #[test]
    fn language_features() {
        // Trim markers need a space; `{{-3}}` is the number -3.
        assert_eq!(ok("a  {{- .Type -}}  b"), "aIAMb");
        assert_eq!(ok("x\n\t {{- 1 }}|{{ 2 -}} \n y"), "x1|2y");
        assert_eq!(ok("{{-3}}"), "-3");
        assert_eq!(ok("a {{- /* comment */ -}} b{{/* x */}}"), "ab");
        // if / else if / else, with, and, or, not, comparisons.
        let t = r#"{{ if eq .Type "STS" }}s{{ else if ne .DisplayName "" }}d{{ else }}x{{ end }}"#;
        assert_eq!(ok(t), "d");
        assert_eq!(
            ok(r#"{{ if and .DisplayName (not "") }}y{{ else }}n{{ end }}"#),
            "y"
        );
        assert_eq!(
            ok(r#"{{ or "" .PolicyName }}|{{ and 1 0 2 }}|{{ eq 2 1 2 }}|{{ lt 1 2 }}"#),
            "deploy|0|true|true"
        );
        assert_eq!(
            ok(r#"{{ with .DisplayName }}[{{ . }}]{{ else }}-{{ end }}"#),
            "[token]"
        );
        assert_eq!(
            ok(r#"{{ with "" }}x{{ else with "z" }}{{ . }}{{ end }}"#),
            "z"
        );
        // Nested parentheses and pipelines; the piped value is the last argument.
        assert_eq!(
            ok(
                r#"{{ printf "%s-%s" (lowercase (uppercase (.DisplayName))) (truncate 3 (printf "%s" .PolicyName)) }}"#
            ),
            "token-dep"
        );
        assert_eq!(
            ok(r#"{{ .DisplayName | printf "%s-%s" .PolicyName }}"#),
            "deploy-token"
        );
        // Variables, scoped to their block.
        assert_eq!(
            ok("{{ $x := 3 }}{{ if true }}{{ $x := 4 }}{{ $x }}{{ end }}{{ $x }}"),
            "43"
        );
        assert_eq!(
            ok("{{ $x := 1 }}{{ with 2 }}{{ $x = 3 }}{{ end }}{{ $x }}"),
            "3"
        );
        assert_eq!(ok("{{ $.DisplayName }}"), "token");
        // Literals.
        assert_eq!(
            ok(r#"{{ "a\tb\x41\u00e9" }}|{{ `r\n` }}|{{ 'a' }}|{{ 0x1F }}|{{ 1.5 }}|{{ 1e8 }}"#),
            "a\tbAé|r\\n|97|31|1.5|1e+08"
        );
        assert_eq!(ok("{{ . }}"), "{IAM token deploy}");
        assert_eq!(ok("{{ and nil }}"), "<no value>");
        assert_eq!(
            ok(r#"{{ len "abc" }}{{ index "abc" 1 }}{{ slice "abcdef" 1 3 }}"#),
            "398bc"
        );
        assert_eq!(
            ok(r#"{{ html "<a&b>" }} {{ urlquery "a b/c" }} {{ js "a'b" }}"#),
            "&lt;a&amp;b&gt; a+b%2Fc a\\'b"
        );
        assert_eq!(
            ok(
                r#"{{ glob "to*" .DisplayName }} {{ hex "hi" }} {{ decode_hex "6869" }} {{ decode_base64 "aGk=" }}"#
            ),
            "true 6869 hi hi"
        );
    }

    #[test]
    fn go_fmt_output() {
        assert_eq!(
            ok(r#"{{ printf "%s|%d|%v|%q" "a" 5 true "b" }}"#),
            "a|5|true|\"b\""
        );
        assert_eq!(
            ok(
                r#"{{ printf "%5s|%-5s|%.2s|%05d|%+d|%x|%X|%o|%b|%#x|%c|%U" "ab" "ab" "abc" 42 42 255 255 8 5 255 65 65 }}"#
            ),
            "   ab|ab   |ab|00042|+42|ff|FF|10|101|0xff|A|U+0041"
        );
        assert_eq!(ok(r#"{{ printf "%d" "x" }}"#), "%!d(string=x)");
        assert_eq!(ok(r#"{{ printf "%s" 5 }}"#), "%!s(int=5)");
        assert_eq!(ok(r#"{{ printf "%s %s" "a" }}"#), "a %!s(MISSING)");
        assert_eq!(
            ok(r#"{{ printf "%s" "a" 1 "b" }}"#),
            "a%!(EXTRA int=1, string=b)"
        );
        // After `%[1]s` the next argument is the second: `%T` sees "b".
        assert_eq!(
            ok(r#"{{ printf "%[2]s %[1]s %T" "a" "b" 1.5 }}"#),
            "b a string"
        );
        assert_eq!(
            ok(r#"{{ print 1 2 "a" 3 }}{{ println "x" 1 }}"#),
            "1 2a3x 1\n"
        );
        assert_eq!(
            ok(r#"{{ printf "%v|%+v|%#v" . . . }}"#),
            "{IAM token deploy}|{Type:IAM DisplayName:token PolicyName:deploy}|\
             aws.UsernameMetadata{Type:\"IAM\", DisplayName:\"token\", PolicyName:\"deploy\"}"
        );
        assert_eq!(
            ok(
                r#"{{ printf "%.2f %e %g %.3g %v %.0f %.0f" 3.14159 1234.5678 0.000012345 3.14159 100000000.0 0.5 1.5 }}"#
            ),
            "3.14 1.234568e+03 1.2345e-05 3.14 1e+08 0 2"
        );
        assert_eq!(
            ok(r#"{{ printf "%q %+q %#q" "é\n" "é" "a" }}"#),
            "\"é\\n\" \"\\u00e9\" `a`"
        );
    }

    #[test]
    fn parse_errors_carry_line_and_column() {
        assert_eq!(
            UsernameTemplate::parse("").unwrap_err(),
            TemplateError::Missing
        );
        assert_eq!(
            UsernameTemplate::parse("{{ foo }}").unwrap_err(),
            TemplateError::Parse {
                line: 1,
                column: 3,
                message: "function \"foo\" not defined".into()
            }
        );
        assert_eq!(
            err("ok\n{{ .DisplayName | nope }}"),
            "unable to parse template: template: template:2:18: function \"nope\" not defined"
        );
        let cases = [
            ("{{ if true }}", "unexpected EOF"),
            ("{{ end }}", "unexpected {{end}}"),
            ("{{ \"unterminated }}", "unterminated quoted string"),
            ("{{ 1\n 2", "unclosed action started at template:1"),
            ("{{ (1 }}", "unclosed left paren"),
            ("{{ }}", "missing value for command"),
            (
                "{{ \"a\" | \"b\" }}",
                "non executable command in pipeline stage 2",
            ),
            ("{{ $y }}", "undefined variable \"$y\""),
            ("{{ = }}", "unexpected \"=\" in command"),
            ("{{ 3.X }}", "bad number syntax: \"3.X\""),
            ("{{ \"a\".X }}", "unexpected . after term \"\\\"a\\\"\""),
            ("{{/* c */ x }}", "comment ends before closing delimiter"),
            (
                "{{ if 1 }}{{ else }}{{ else }}{{ end }}",
                "expected end; found {{else}}",
            ),
            ("{{ break }}", "{{break}} outside {{range}}"),
            (
                "{{ range 3 }}{{ end }}",
                "{{range}} is not supported by this engine",
            ),
            (
                "{{ 1i }}",
                "complex number constants are not supported by this engine",
            ),
        ];
        for (src, message) in cases {
            match UsernameTemplate::parse(src) {
                Err(TemplateError::Parse { message: m, .. }) => assert_eq!(m, message, "{src:?}"),
                other => panic!("{src:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn execution_errors_match_go() {
        assert_eq!(
            err("{{ .Foo }}"),
            "unable to apply template: template: template:1:3: executing \"template\" at <.Foo>: \
             can't evaluate field Foo in type aws.UsernameMetadata"
        );
        assert_eq!(
            err("line1\n  {{ .DisplayName | truncate 0 }}"),
            "unable to apply template: template: template:2:20: executing \"template\" at \
             <truncate 0>: error calling truncate: max length must be > 0 but was 0"
        );
        assert_eq!(
            err(r#"{{ "x" | random }}"#),
            "unable to apply template: template: template:1:9: executing \"template\" at <random>: \
             wrong type for value; expected int; got string"
        );
        assert_eq!(
            err(r#"{{ truncate "x" 2 }}"#),
            "unable to apply template: template: template:1:12: executing \"template\" at <\"x\">: \
             expected integer; found \"x\""
        );
        assert_eq!(
            err("{{ truncate 2 }}"),
            "unable to apply template: template: template:1:3: executing \"template\" at <truncate>: \
             wrong number of args for truncate: want 2 got 1"
        );
        assert_eq!(
            err(r#"{{ eq 1 "a" }}"#),
            "unable to apply template: template: template:1:3: executing \"template\" at <eq 1 \"a\">: \
             error calling eq: incompatible types for comparison: int and string"
        );
        assert_eq!(
            err(r#"{{ decode_hex "6g" }}"#),
            "unable to apply template: template: template:1:3: executing \"template\" at \
             <decode_hex \"6g\">: error calling decode_hex: encoding/hex: invalid byte: U+0067 'g'"
        );
        assert_eq!(
            err(r#"{{ "a" "b" }}"#),
            "unable to apply template: template: template:1:3: executing \"template\" at <\"a\">: \
             can't give argument to non-function \"a\""
        );
    }

    #[test]
    fn generate_username_error_texts() {
        let too_long_iam = generate_username(
            r#"{{ printf "%s-%s-%s-%s" (.DisplayName) (.PolicyName) (unix_time) (random 20) }}"#,
            NameKind::Iam,
            "this---is---a---very---long---name",
            "long------policy------name",
        )
        .unwrap_err();
        assert_eq!(
            too_long_iam.to_string(),
            "the username generated by the template exceeds the IAM username length limits of 64 chars"
        );
        let too_long_sts = generate_username("{{ random 33 }}", NameKind::Sts, "", "").unwrap_err();
        assert_eq!(
            too_long_sts,
            UsernameError::TooLong {
                kind: NameKind::Sts,
                length: 33
            }
        );
        assert_eq!(
            too_long_sts.to_string(),
            "the username generated by the template exceeds the STS username length limits of 32 chars"
        );
        assert!(generate_username("{{ random 64 }}", NameKind::Iam, "", "").is_ok());
        assert!(generate_username("{{ random 32 }}", NameKind::Sts, "", "").is_ok());
        assert_eq!(
            generate_username("{{ nope }}", NameKind::Iam, "a", "b")
                .unwrap_err()
                .to_string(),
            "unable to initialize username template: unable to parse template: template: \
             template:1:3: function \"nope\" not defined"
        );
        assert_eq!(
            generate_username("{{ .Nope }}", NameKind::Iam, "a", "b")
                .unwrap_err()
                .to_string(),
            "failed to generate username: unable to apply template: template: template:1:3: \
             executing \"template\" at <.Nope>: can't evaluate field Nope in type aws.UsernameMetadata"
        );
    }

    #[test]
    fn hostile_templates_are_bounded() {
        let deep = |n: usize| format!("{{{{ {}1{} }}}}", "(".repeat(n), ")".repeat(n));
        assert_eq!(ok(&deep(MAX_PAREN_DEPTH)), "1");
        match UsernameTemplate::parse(&deep(MAX_PAREN_DEPTH + 1)) {
            Err(TemplateError::Parse { message, .. }) => {
                assert_eq!(message, "max expression depth exceeded")
            }
            other => panic!("{other:?}"),
        }
        let nest = |n: usize| format!("{}x{}", "{{ if 1 }}".repeat(n), "{{ end }}".repeat(n));
        assert_eq!(ok(&nest(MAX_CONTROL_DEPTH)), "x");
        assert!(UsernameTemplate::parse(&nest(MAX_CONTROL_DEPTH + 1)).is_err());
        // Both at their limit at once still fits a test thread's 2 MiB stack in debug builds.
        let both = format!(
            "{}{}{}",
            "{{ with 1 }}".repeat(MAX_CONTROL_DEPTH),
            deep(MAX_PAREN_DEPTH),
            "{{ end }}".repeat(MAX_CONTROL_DEPTH)
        );
        assert_eq!(ok(&both), "1");
        assert!(err("{{ random 2000000 }}").contains("exceeds this engine's limit"));
        let grow = r#"{{ $s := "aaaaaaaaaa" }}"#.to_string()
            + &r#"{{ $s = replace "a" "aaaaaaaaaa" $s }}"#.repeat(8)
            + "{{ $s }}";
        assert!(err(&grow).contains("exceeds this engine's limit"));
    }

    #[test]
    fn template_is_reusable_and_output_is_not_trimmed() {
        let t = UsernameTemplate::parse(" {{ .Type }} ").unwrap();
        let sts = TemplateData {
            kind: NameKind::Sts,
            display_name: String::new(),
            policy_name: String::new(),
        };
        assert_eq!(t.render(&iam()).unwrap(), " IAM ");
        assert_eq!(t.render(&sts).unwrap(), " STS ");
    }
}
