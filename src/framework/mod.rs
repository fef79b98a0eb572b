//! PLUGIN MODEL: what every Vault secrets engine needs (paths, fields, storage,
//! WAL, leases, help), none of it AWS-specific.
//!
//! An engine describes itself as a [`Framework`] (its path table, secret types and hooks);
//! [`BackendService`] serves it over the server's `pb.Backend` protocol. Request routing
//! (`router.rs`) sees only plain Rust types; `codec.rs` is the only place that knows the wire.

mod codec;
mod error;
pub(crate) mod fields;
mod help;
pub mod identity;
mod path;
mod request;
mod router;
mod run;
mod service;
pub mod storage;
pub mod wal;

pub use error::Error;
pub use fields::FieldType;
pub use path::{
    existence, handler, name_segment, BoxFut, Ctx, ExistenceCheck, Field, FieldData, Handler,
    HandlerResult, Path,
};
pub use request::{obj, Operation, Request, Response, SecretResponse};
pub use router::{
    Cleanup, Factory, Framework, Invalidate, MountConfig, MountHook, SecretType, SpecialPaths,
    WalRollback, SECRET_TYPE_KEY,
};
pub use run::run;
pub use service::BackendService;
