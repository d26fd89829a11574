//! readnet's protobuf messages and gRPC services, generated at build time from `proto/`.

//!
//! Without the `grpc` feature only the messages are generated (no tonic in the tree): what the
//! domain needs. With it, the tonic service stubs too, and KurrentDB's protocol.

/// Package `readnet.v1`: events, commands and the services.
pub mod v1 {
    #![allow(clippy::large_enum_variant, clippy::doc_lazy_continuation)]
    include!(concat!(env!("OUT_DIR"), "/readnet.v1.rs"));
}

/// KurrentDB's gRPC protocol (vendored from the official client, `proto/kurrentdb/`), nested as
/// its packages are so that the generated cross-package paths resolve.
#[cfg(feature = "grpc")]
pub mod kurrentdb {
    /// Package `event_store.client` and its sub-packages.
    pub mod event_store {
        /// Package `event_store.client`: UUIDs, stream identifiers, shared error details.
        pub mod client {
            tonic::include_proto!("event_store.client");

            /// Package `event_store.client.streams`: the Streams service.
            pub mod streams {
                #![allow(clippy::large_enum_variant, clippy::doc_lazy_continuation)]
                tonic::include_proto!("event_store.client.streams");
            }

            /// Package `event_store.client.server_features`: what a server supports.
            pub mod server_features {
                tonic::include_proto!("event_store.client.server_features");
            }

            /// Package `event_store.client.gossip`: cluster membership.
            pub mod gossip {
                tonic::include_proto!("event_store.client.gossip");
            }
        }
    }

    /// Package `google.rpc`: the status message batch appends carry errors in.
    pub mod google {
        pub mod rpc {
            #![allow(clippy::doc_lazy_continuation, clippy::doc_overindented_list_items)]
            tonic::include_proto!("google.rpc");
        }
    }

    pub use event_store::client as shared;
    pub use event_store::client::{gossip, server_features, streams};
}

/// The encoded file descriptor set of every readnet proto, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/readnet_descriptor.bin"));

pub use prost_types::Timestamp;
