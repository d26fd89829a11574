//! Compiles `proto/readnet/v1/*.proto` with protox (pure Rust: no system protoc) and generates
//! prost messages, plus a file descriptor set for gRPC reflection. With the `grpc` feature it also
//! generates tonic stubs and compiles the vendored KurrentDB protocol (`proto/kurrentdb/`) that
//! readnet's server speaks too.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = [
        "readnet/v1/events.proto",
        "readnet/v1/commands.proto",
        "readnet/v1/network.proto",
        "readnet/v1/access.proto",
        "readnet/v1/circulation.proto",
        "readnet/v1/holds.proto",
        "readnet/v1/ledger.proto",
        "readnet/v1/availability.proto",
        "readnet/v1/statistics.proto",
        "readnet/v1/notices.proto",
        "readnet/v1/settlement.proto",
        "readnet/v1/backup.proto",
        "readnet/v1/account.proto",
        "readnet/v1/audit.proto",
    ];
    for file in &files {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }
    let descriptors = protox::compile(files, [&root])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("readnet_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    #[cfg(feature = "grpc")]
    {
        tonic_build::configure()
            .build_client(true)
            .build_server(true)
            .compile_fds(descriptors)?;
        compile_kurrentdb(&root.join("kurrentdb"))?;
    }
    #[cfg(not(feature = "grpc"))]
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}

/// KurrentDB's services readnet serves (Streams, ServerFeatures, Gossip) with the messages they
/// import (`event_store.client`, `google.rpc`). The other vendored files (persistent
/// subscriptions, projections, users, operations, monitoring) stay uncompiled: readnet answers
/// their paths with UNIMPLEMENTED by name, without their messages.
#[cfg(feature = "grpc")]
fn compile_kurrentdb(root: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let files = ["streams.proto", "serverfeatures.proto", "gossip.proto"];
    for file in ["shared.proto", "status.proto", "code.proto"]
        .iter()
        .chain(&files)
    {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }
    let descriptors = protox::compile(files, [root])?;
    tonic_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
