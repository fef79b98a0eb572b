//! PLUGIN MODEL: what every Vault secrets engine needs (paths, fields, storage,
//! WAL, leases, help), none of it AWS-specific.

pub mod backend;
pub mod error;
pub mod fields;
pub mod help;
pub mod path;
pub mod request;
pub mod storage;
pub mod wal;

pub use backend::{Framework, SecretType, SpecialPaths};
pub use error::Error;
pub use path::{existence, handler, name_segment, Ctx, Field, HandlerResult, Path};
pub use request::{obj, Operation, Request, Response, SecretResponse};
