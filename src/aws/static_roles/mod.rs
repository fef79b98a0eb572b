//! Static roles: existing IAM users whose access keys the engine rotates on a schedule.
//!
//! The model (`model.rs`) is what is stored; `paths.rs` is the HTTP surface; `rotation.rs`
//! makes a new key and undoes a rotation cut short; `retire.rs` makes room for it when the user
//! already holds two keys; `schedule.rs` decides when. Dependencies run one way:
//! paths → schedule → rotation → retire → model.

mod model;
mod paths;
mod retire;
mod rotation;
mod schedule;

pub(crate) use paths::{creds_path, list_path, path, rotate_path};
pub(crate) use rotation::{rollback_static_key, WAL_KIND_STATIC_KEY};
pub(crate) use schedule::{run_due, start, Schedule};
