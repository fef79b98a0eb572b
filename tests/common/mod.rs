//! Shared helpers for the Rust tests.
pub mod host;
pub mod moto;
