//! Generated protobuf messages and tonic gRPC clients/servers.
//!
//! The code is produced by `build.rs` from the `.proto` files under `proto/`,
//! which mirror the wire contract of the Vault/OpenBao plugin protocol
//! (go-plugin transport, gRPC health, multiplexing, plugin version and the
//! logical backend services). Module paths follow the protobuf packages so
//! cross-package references in the generated code (`super::logical::...`)
//! resolve. `google.protobuf` types map to `prost_types` (`Timestamp`) and
//! `()` (`Empty`).

#![allow(
    missing_docs,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    clippy::nursery,
    rustdoc::all
)]

/// go-plugin transport services: broker, controller and stdio (package `plugin`).
pub mod plugin {
    tonic::include_proto!("plugin");
}

/// Logical backend protocol: `Backend`, `Storage`, `SystemView` (package `pb`).
pub mod pb {
    tonic::include_proto!("pb");
}

/// Identity, plugin environment and version types (package `logical`).
pub mod logical {
    tonic::include_proto!("logical");
}

/// Multiplexing negotiation (package `pluginutil.multiplexing`).
pub mod pluginutil {
    /// Package `pluginutil.multiplexing`.
    pub mod multiplexing {
        tonic::include_proto!("pluginutil.multiplexing");
    }
}

/// Standard gRPC health checking (package `grpc.health.v1`).
pub mod grpc {
    /// Package `grpc.health`.
    pub mod health {
        /// Package `grpc.health.v1`.
        pub mod v1 {
            tonic::include_proto!("grpc.health.v1");
        }
    }
}

/// Encoded `google.protobuf.FileDescriptorSet` of every file under `proto/`
/// (imports included), for tests that check names and field numbers.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/proto_descriptor.bin"));
