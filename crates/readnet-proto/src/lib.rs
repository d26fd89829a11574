//! readnet's protobuf messages and gRPC services, generated at build time from `proto/`.

/// Package `readnet.v1`: events, commands and the services.
pub mod v1 {
    #![allow(clippy::large_enum_variant, clippy::doc_lazy_continuation)]
    tonic::include_proto!("readnet.v1");
}

/// The encoded file descriptor set of every readnet proto, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/readnet_descriptor.bin"));

pub use prost_types::Timestamp;
