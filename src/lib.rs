//! AWS secrets engine for HashiCorp Vault and OpenBao, as an external plugin.
//!
//! Three layers, dependencies pointing one way:
//! - [`aws`]: the engine (paths, credentials, AWS calls);
//! - [`framework`]: what any secrets engine needs (path table, fields, storage, WAL, leases);
//! - [`plugin`]: how the server launches and reaches us (go-plugin, AutoMTLS, broker);
//!
//! with [`proto`] holding the generated wire types. Two private modules serve the layers above:
//! `gocompat` (one copy of each Go standard-library behaviour the plugin reproduces: quoting,
//! number parsing, base64/hex, `time.Format`, `json.Compact`, durations) and `gotemplate`
//! (Go's `text/template` with the SDK's functions, for username templates).

#![warn(unreachable_pub)]

pub mod aws;
pub mod framework;
mod gocompat;
mod gotemplate;
pub mod plugin;
pub mod proto;
