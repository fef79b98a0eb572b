//! TRANSPORT: how a Vault-family server launches, trusts and reaches the plugin
//! (hashicorp/go-plugin over gRPC with AutoMTLS). Knows nothing about AWS or
//! about the engine's paths.
//!
//! `main.rs` uses [`handshake`], [`log`], [`serve`] and [`version`]; the protocol tests use [`tls`] to
//! play the server's side of mutual TLS. The rest is internal.

mod broker;
mod controller;
pub mod handshake;
pub mod log;
pub mod serve;
mod shutdown;
pub mod tls;
pub mod version;
