//! GO BEHAVIOUR the engine must reproduce, one copy each.
//!
//! A Vault plugin written in Go answers with texts its standard library makes: `%q` quoting in
//! error messages, `strconv` parse errors, `time.ParseDuration` texts, `json.Compact` output,
//! and — inside username templates — Go's base64/hex decoding and `time.Format` layouts. Clients
//! and operators compare against those texts, so this plugin reproduces them. Each module here
//! mirrors one Go package (or the part of it the engine needs); the request field parser
//! (`framework::fields`), the template engine (`gotemplate`) and the engine itself all use these
//! functions, so each behaviour is written once and tested once.
//!
//! Where a crate already gives Go's result (the `base64` crate for decoding, the `time` crate for
//! calendar arithmetic), it is used and only what it cannot do is written by hand, with the
//! reason next to it.

pub(crate) mod base64;
pub(crate) mod duration;
pub(crate) mod hex;
pub(crate) mod json;
pub(crate) mod quote;
pub(crate) mod strconv;
pub(crate) mod time;
pub(crate) mod utf8;
