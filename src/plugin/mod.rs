//! TRANSPORT: how a Vault-family server launches, trusts and reaches the plugin
//! (hashicorp/go-plugin over gRPC with AutoMTLS). Knows nothing about AWS or
//! about the engine's paths.

pub mod broker;
pub mod controller;
pub mod handshake;
pub mod log;
pub mod serve;
pub mod shutdown;
pub mod tls;
