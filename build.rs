//! Generates the gRPC/protobuf code from `proto/` at build time.
//!
//! `protox` parses the `.proto` files in pure Rust (no `protoc` needed) and
//! `tonic-prost-build` turns the descriptor set into prost messages plus tonic
//! clients and servers. The encoded descriptor set is also written to
//! `$OUT_DIR/proto_descriptor.bin` so tests can check field numbers.

use std::io;
use std::path::{Path, PathBuf};

fn collect_protos(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            out.push(path);
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=build.rs");

    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("proto");
    let mut files = Vec::new();
    collect_protos(&root, &mut files)?;
    files.sort();

    // Import paths inside the files are relative to `proto/`.
    let fds = protox::compile(&files, [&root])?;

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("proto_descriptor.bin"),
        protox::prost::Message::encode_to_vec(&fds),
    )?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)?;
    Ok(())
}
