//! Operations' view of the gRPC edge (ADR 0021): every call counted by method and status code
//! and timed, inside a tracing span that carries its method and, for a command, its command id
//! (recorded by the command path once the id is read).
//!
//! The status is read where gRPC puts it: in a trailers-only response's headers (every refusal
//! tonic answers at once), else in the trailers that end the body. A call whose body is dropped
//! before its trailers (the client went away) counts as CANCELLED. Its time runs from the request
//! to the end of its response body: for a subscription, the subscription's life.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::HeaderMap;
use http_body_util::BodyExt as _;
use tonic::Code;
use tracing::Instrument as _;

/// The longest method path counted under its own name; longer ones count as `unknown`.
const MAX_METHOD_CHARS: usize = 128;

/// The layer: see the [module docs](self).
#[derive(Debug, Clone, Copy, Default)]
pub struct CallMetricsLayer;

impl<S> tower::Layer<S> for CallMetricsLayer {
    type Service = CallMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CallMetrics { inner }
    }
}

/// The service of [`CallMetricsLayer`].
#[derive(Debug, Clone)]
pub struct CallMetrics<S> {
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for CallMetrics<S>
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
        let path = request.uri().path();
        let method = if path.len() <= MAX_METHOD_CHARS && path.starts_with('/') {
            path.to_owned()
        } else {
            "unknown".to_owned()
        };
        let span = tracing::info_span!(
            "grpc",
            method = %method,
            command_id = tracing::field::Empty
        );
        let response = span.in_scope(|| self.inner.call(request));
        let mut call = Call {
            method,
            started: Instant::now(),
            code: None,
        };
        Box::pin(
            async move {
                let response = response.await?;
                let (parts, body) = response.into_parts();
                call.ended(status_code(&parts.headers));
                // The closure owns the whole call (a method, not a field, is used in it): the call
                // is counted when the body is dropped.
                let body = body.map_frame(move |frame| {
                    if let Some(trailers) = frame.trailers_ref() {
                        call.ended(status_code(trailers).or(Some(Code::Unknown)));
                    }
                    frame
                });
                Ok(http::Response::from_parts(
                    parts,
                    tonic::body::Body::new(body),
                ))
            }
            .instrument(span),
        )
    }
}

/// One call being measured; counted when its response body is done with (or never came).
struct Call {
    method: String,
    started: Instant,
    code: Option<Code>,
}

impl Call {
    fn ended(&mut self, code: Option<Code>) {
        if code.is_some() {
            self.code = code;
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        let code = self.code.unwrap_or(Code::Cancelled);
        // A path no service serves says UNIMPLEMENTED: counted under one name, so that clients
        // cannot make up labels.
        let method = if code == Code::Unimplemented {
            "unknown".to_owned()
        } else {
            std::mem::take(&mut self.method)
        };
        metrics::histogram!("readnet_grpc_request_seconds", "method" => method.clone())
            .record(self.started.elapsed().as_secs_f64());
        metrics::counter!(
            "readnet_grpc_requests_total",
            "method" => method,
            "code" => code_name(code)
        )
        .increment(1);
    }
}

fn status_code(headers: &HeaderMap) -> Option<Code> {
    let value = headers.get("grpc-status")?;
    let number = value.to_str().ok()?.parse::<i32>().ok()?;
    Some(Code::from_i32(number))
}

/// A status code's name as gRPC spells it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
