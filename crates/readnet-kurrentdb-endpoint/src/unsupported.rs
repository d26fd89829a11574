//! Answers for gRPC paths no service on the listener serves: KurrentDB services readnet does
//! not offer get UNIMPLEMENTED with a message naming the feature (tonic's own fallback sends an
//! empty message, which tells a KurrentDB user nothing).

use tonic::body::Body;
use tonic::codegen::http::{Response, Uri};
use tonic::service::Routes;

/// Empty routes whose fallback names the unsupported feature; add the served services to them.
pub fn unsupported_routes() -> Routes {
    Routes::from(Routes::default().into_axum_router().fallback(unsupported))
}

async fn unsupported(uri: Uri) -> Response<Body> {
    let (parts, ()) = tonic::Status::unimplemented(message(uri.path()))
        .into_http::<()>()
        .into_parts();
    Response::from_parts(parts, Body::empty())
}

/// KurrentDB service packages readnet does not serve, and what they are.
const FEATURES: &[(&str, &str)] = &[
    (
        "/event_store.client.persistent_subscriptions.",
        "persistent subscriptions (use a catch-up subscription: Streams.Read with subscription)",
    ),
    ("/event_store.client.projections.", "projections"),
    ("/event_store.client.users.", "user management (ACLs)"),
    (
        "/event_store.client.operations.",
        "operations (scavenge, shutdown, resign, …)",
    ),
    ("/event_store.client.monitoring.", "monitoring statistics"),
    ("/event_store.client.streams.", "this Streams method"),
    (
        "/kurrentdb.protocol.v2.",
        "the v2 protocol (multi-stream appends, AppendSession); use Streams.Append per stream",
    ),
    ("/kurrentdb.", "this KurrentDB service"),
    ("/event_store.", "this KurrentDB service"),
];

fn message(path: &str) -> String {
    match FEATURES.iter().find(|(prefix, _)| path.starts_with(prefix)) {
        Some((_, feature)) => format!(
            "readnet's KurrentDB endpoint does not support {feature} ({path}); it serves \
             Streams.Read, Streams.Append, Streams.BatchAppend, ServerFeatures and Gossip"
        ),
        None => format!("readnet serves no gRPC method {path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_persistent_subscription_call_is_answered_naming_the_feature() {
        let text =
            message("/event_store.client.persistent_subscriptions.PersistentSubscriptions/Read");
        assert!(
            text.contains("does not support persistent subscriptions"),
            "{text}"
        );
    }

    #[test]
    fn the_v2_multi_stream_append_is_answered_naming_the_protocol() {
        let text = message("/kurrentdb.protocol.v2.streams.StreamsService/MultiStreamAppend");
        assert!(text.contains("v2 protocol"), "{text}");
    }
}
