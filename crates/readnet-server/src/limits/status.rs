//! A tower layer that answers a request tonic could not decode as the client's mistake.
//!
//! tonic refuses a request message over a service's decoding limit with OUT_OF_RANGE (other
//! stacks say RESOURCE_EXHAUSTED) and one that is not valid protobuf with INTERNAL, so a client
//! reads its own malformed request as the server's failure. This layer rewrites those statuses,
//! in a trailers-only response's headers and in a streaming response's trailers alike, to
//! INVALID_ARGUMENT with a message that names the limit or the field. It also shortens any
//! status message over [`MAX_STATUS_MESSAGE_BYTES`], so that an error quoting a huge value never
//! becomes a header the client refuses (gRPC clients read an oversized trailer as
//! RESOURCE_EXHAUSTED).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::HeaderMap;
use http_body::Frame;
use http_body_util::BodyExt as _;
use tonic::{Code, Status};

/// The longest status message sent, in bytes (before percent-encoding). gRPC clients accept
/// 8 KiB of metadata by default; a message may be percent-encoded to three times its length.
pub const MAX_STATUS_MESSAGE_BYTES: usize = 2048;

/// tonic's message when a request message is over the decoding limit.
const TOO_LARGE_PREFIX: &str = "Error, decoded message length too large: ";
/// prost's message when a request message is not valid protobuf.
const UNDECODABLE_PREFIX: &str = "failed to decode Protobuf message: ";
/// tonic's message when the request body ends inside a message.
const TRUNCATED: &str = "Unexpected EOF decoding stream.";

/// The layer: see the [module docs](self).
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestStatusLayer;

impl<S> tower::Layer<S> for RequestStatusLayer {
    type Service = RequestStatus<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestStatus { inner }
    }
}

/// A service whose request-decoding statuses say INVALID_ARGUMENT.
#[derive(Debug, Clone)]
pub struct RequestStatus<S> {
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for RequestStatus<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let response = self.inner.call(request);
        Box::pin(async move { response.await.map(rewrite_response) })
    }
}

fn rewrite_response(
    response: http::Response<tonic::body::Body>,
) -> http::Response<tonic::body::Body> {
    let (mut parts, body) = response.into_parts();
    rewrite_headers(&mut parts.headers);
    let body = body.map_frame(|frame| match frame.into_trailers() {
        Ok(mut trailers) => {
            rewrite_headers(&mut trailers);
            Frame::trailers(trailers)
        }
        Err(frame) => frame,
    });
    http::Response::from_parts(parts, tonic::body::Body::new(body))
}

/// Rewrites the gRPC status in `headers` (a trailers-only response's headers, or trailers), if
/// there is one to rewrite.
fn rewrite_headers(headers: &mut HeaderMap) {
    if !headers.contains_key("grpc-status") {
        return;
    }
    let Some(status) = Status::from_header_map(headers) else {
        return;
    };
    let Some((code, message)) = rewritten(status.code(), status.message()) else {
        return;
    };
    let rewritten = Status::with_details(code, message, status.details().to_vec().into());
    for name in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
        headers.remove(name);
    }
    if rewritten.add_header(headers).is_err() {
        // Percent-encoding makes any message a valid header value; keep the code at least.
        headers.insert("grpc-status", http::HeaderValue::from(code as i32));
    }
}

/// The code and message a status becomes, or `None` to leave it as it is.
fn rewritten(code: Code, message: &str) -> Option<(Code, String)> {
    let decoding = matches!(
        code,
        Code::OutOfRange | Code::ResourceExhausted | Code::Internal
    );
    let (code, message) = if decoding && let Some(rest) = message.strip_prefix(TOO_LARGE_PREFIX) {
        (
            Code::InvalidArgument,
            format!("request message too large: {rest}; shorten the longest fields"),
        )
    } else if decoding && let Some(rest) = message.strip_prefix(UNDECODABLE_PREFIX) {
        (
            Code::InvalidArgument,
            format!("request message is not valid protobuf for this method: {rest}"),
        )
    } else if decoding && message == TRUNCATED {
        (
            Code::InvalidArgument,
            "request message truncated: the body ended inside a message".to_owned(),
        )
    } else if message.len() > MAX_STATUS_MESSAGE_BYTES {
        (code, message.to_owned())
    } else {
        return None;
    };
    Some((code, shorten(message)))
}

/// `message` cut to [`MAX_STATUS_MESSAGE_BYTES`] on a character boundary, marked as cut.
fn shorten(mut message: String) -> String {
    if message.len() <= MAX_STATUS_MESSAGE_BYTES {
        return message;
    }
    let mut end = MAX_STATUS_MESSAGE_BYTES - "… (cut)".len();
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message.truncate(end);
    message.push_str("… (cut)");
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::{Layer as _, Service as _, ServiceExt as _};

    /// A service that answers every request with `status`, trailers-only.
    fn answering(
        status: Status,
    ) -> impl tower::Service<
        http::Request<()>,
        Response = http::Response<tonic::body::Body>,
        Error = std::convert::Infallible,
        Future = std::future::Ready<
            Result<http::Response<tonic::body::Body>, std::convert::Infallible>,
        >,
    > + Clone {
        tower::service_fn(move |_: http::Request<()>| {
            std::future::ready(Ok(status.clone().into_http()))
        })
    }

    async fn call(status: Status) -> Status {
        let mut service = RequestStatusLayer.layer(answering(status));
        let response = service
            .ready()
            .await
            .unwrap()
            .call(http::Request::new(()))
            .await
            .unwrap();
        Status::from_header_map(response.headers()).expect("a status")
    }

    #[tokio::test]
    async fn an_oversized_request_is_invalid_argument_naming_the_limit() {
        let status = call(Status::out_of_range(
            "Error, decoded message length too large: found 5242885 bytes, the limit is: 4194304 bytes",
        ))
        .await;
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            status.message(),
            "request message too large: found 5242885 bytes, the limit is: 4194304 bytes; \
             shorten the longest fields"
        );
    }

    #[tokio::test]
    async fn an_undecodable_request_is_invalid_argument_naming_the_field() {
        let status = call(Status::internal(
            "failed to decode Protobuf message: CheckOutRequest.card_number: invalid string value: data is not UTF-8 encoded",
        ))
        .await;
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status.message().contains("CheckOutRequest.card_number"),
            "{}",
            status.message()
        );
    }

    #[tokio::test]
    async fn other_statuses_pass_unchanged() {
        let status = call(Status::internal("token file writer: disk full")).await;
        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "token file writer: disk full");
        let status = call(Status::out_of_range("revision 9 is past the end")).await;
        assert_eq!(status.code(), Code::OutOfRange);
    }

    #[tokio::test]
    async fn a_huge_status_message_is_cut_and_keeps_its_code() {
        let status = call(Status::invalid_argument("é".repeat(1_000_000))).await;
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().len() <= MAX_STATUS_MESSAGE_BYTES);
        assert!(
            status.message().ends_with("… (cut)"),
            "{}",
            status.message()
        );
    }

    #[tokio::test]
    async fn a_status_in_a_streaming_responses_trailers_is_rewritten() {
        let mut trailers = HeaderMap::new();
        Status::internal("failed to decode Protobuf message: AppendReq.content: invalid wire type")
            .add_header(&mut trailers)
            .unwrap();
        let body = http_body_util::StreamBody::new(futures::stream::iter([
            Ok::<_, std::convert::Infallible>(Frame::data(bytes::Bytes::from_static(b"x"))),
            Ok(Frame::trailers(trailers)),
        ]));
        let response = http::Response::new(tonic::body::Body::new(body));
        let collected = rewrite_response(response)
            .into_body()
            .collect()
            .await
            .unwrap();
        let trailers = collected.trailers().expect("trailers").clone();
        let status = Status::from_header_map(&trailers).unwrap();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status.message().contains("AppendReq.content"),
            "{}",
            status.message()
        );
    }
}
