//! Connections: how many, how they are accepted, and how long one may do nothing.
//!
//! [`incoming`] is the listener's accept loop. It holds one permit of [`Limits::max_connections`]
//! per open connection and stops accepting at the cap, so excess clients wait in the kernel's
//! backlog instead of costing memory. An accept error that concerns the listener rather than one
//! connection (no file descriptors left, no memory) is logged and backed off, 10 ms doubling to
//! 1 s, instead of being retried at once in a loop that spins a core without a word.
//!
//! Each [`Connection`] has a deadline: [`Limits::handshake_timeout`] for its TLS and HTTP/2
//! handshakes and first call, then [`Limits::idle_timeout`] after its last call ended. The
//! [`OpenCallsLayer`] counts the calls open on each connection (a call is open until its response
//! body is dropped, so a quiet subscription keeps its connection); a connection past its deadline
//! with none open fails its next read and is closed.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use http_body_util::BodyExt as _;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tonic::transport::server::{Connected, TlsConnectInfo};

use super::Limits;

/// The first pause after an accept error, doubled after each further one.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// The longest pause after an accept error.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// The connections `listener` accepts, at most `limits.max_connections` open at once, each with
/// its deadlines.
pub fn incoming(
    listener: TcpListener,
    limits: Limits,
) -> impl Stream<Item = Result<Connection, io::Error>> + Send + 'static {
    accepted(listener, limits, &OPEN_CONNECTIONS)
}

/// [`incoming`] for the HTTP listener beside gRPC (the web console, the tree's tiles,
/// `/metrics`): the same cap and deadlines, counted apart. Its server marks each request open
/// with [`ConnectionInfo::open_call`] for the idle deadline.
pub fn incoming_http(
    listener: TcpListener,
    limits: Limits,
) -> impl Stream<Item = Result<Connection, io::Error>> + Send + 'static {
    accepted(listener, limits, &OPEN_HTTP_CONNECTIONS)
}

fn accepted(
    listener: TcpListener,
    limits: Limits,
    gauge: &'static AtomicU64,
) -> impl Stream<Item = Result<Connection, io::Error>> + Send + 'static {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let accept = Accept {
        listener,
        permits,
        limits,
        backoff: ACCEPT_BACKOFF_MIN,
        gauge,
    };
    futures::stream::unfold(accept, |mut accept| async move {
        let connection = accept.next().await;
        Some((Ok(connection), accept))
    })
}

struct Accept {
    listener: TcpListener,
    permits: Arc<Semaphore>,
    limits: Limits,
    backoff: Duration,
    /// The open connections' gauge this listener counts in.
    gauge: &'static AtomicU64,
}

impl Accept {
    async fn next(&mut self) -> Connection {
        let permit = match Arc::clone(&self.permits).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                tracing::warn!(
                    max_connections = self.limits.max_connections,
                    "the connection cap is reached: new connections wait until one closes"
                );
                Arc::clone(&self.permits)
                    .acquire_owned()
                    .await
                    .expect("the connection semaphore is never closed")
            }
        };
        loop {
            match self.listener.accept().await {
                Ok((stream, _)) => {
                    self.backoff = ACCEPT_BACKOFF_MIN;
                    // Small answers must leave at once: without TCP_NODELAY a response waits
                    // for the client's delayed ACK (~40 ms on Linux).
                    if let Err(error) = stream.set_nodelay(true) {
                        tracing::debug!(%error, "TCP_NODELAY could not be set");
                    }
                    return Connection::new(stream, permit, &self.limits, self.gauge);
                }
                // The client gave up before the accept: nothing wrong with the listener.
                Err(error) if concerns_one_connection(&error) => {
                    tracing::debug!(%error, "a connection was lost before it was accepted");
                }
                Err(error) => {
                    tracing::error!(
                        %error,
                        backoff_ms = self.backoff.as_millis() as u64,
                        "accepting a connection failed (at the file descriptor limit, raise \
                         `ulimit -n` or lower the connection cap); accepting again after a pause"
                    );
                    tokio::time::sleep(self.backoff).await;
                    self.backoff = (self.backoff * 2).min(ACCEPT_BACKOFF_MAX);
                }
            }
        }
    }
}

fn concerns_one_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// What a connection and the calls on it share.
#[derive(Debug)]
struct Activity {
    open_calls: AtomicUsize,
    /// Whether a call has come: until then the handshake deadline applies.
    called: AtomicBool,
    /// When the last call ended (or the connection was accepted).
    quiet_since: Mutex<Instant>,
}

/// What the [`OpenCallsLayer`] finds in a request's extensions (tonic puts a connection's
/// [`Connected::connect_info`] there).
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    activity: Arc<Activity>,
}

impl ConnectionInfo {
    /// Marks a request open on the connection until the returned guard is dropped: a server
    /// other than tonic's keeps it with the response body, as [`OpenCallsLayer`] does.
    pub fn open_call(&self) -> OpenCall {
        OpenCall::start(&self.activity)
    }
}

/// An accepted connection: the TCP stream, its permit under the connection cap, and its
/// deadline.
pub struct Connection {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    gauge: &'static AtomicU64,
    activity: Arc<Activity>,
    handshake_timeout: Duration,
    idle_timeout: Duration,
    deadline: Pin<Box<Sleep>>,
}

/// gRPC connections open in this process, for operations (ADR 0021).
static OPEN_CONNECTIONS: AtomicU64 = AtomicU64::new(0);
/// HTTP listener connections open in this process.
static OPEN_HTTP_CONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// How many connections the gRPC listener has open.
pub fn open_connections() -> u64 {
    OPEN_CONNECTIONS.load(Ordering::Relaxed)
}

/// How many connections the HTTP listener has open.
pub fn open_http_connections() -> u64 {
    OPEN_HTTP_CONNECTIONS.load(Ordering::Relaxed)
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.gauge.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Connection {
    fn new(
        stream: TcpStream,
        permit: OwnedSemaphorePermit,
        limits: &Limits,
        gauge: &'static AtomicU64,
    ) -> Self {
        gauge.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        Self {
            stream,
            _permit: permit,
            gauge,
            activity: Arc::new(Activity {
                open_calls: AtomicUsize::new(0),
                called: AtomicBool::new(false),
                quiet_since: Mutex::new(now),
            }),
            handshake_timeout: limits.handshake_timeout,
            idle_timeout: limits.idle_timeout,
            deadline: Box::pin(tokio::time::sleep_until(now + limits.handshake_timeout)),
        }
    }

    /// `Err` once the connection is past its deadline with no call open; otherwise registers
    /// the deadline's wake-up.
    fn check_deadline(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        while self.deadline.as_mut().poll(cx).is_ready() {
            let now = Instant::now();
            let activity = &self.activity;
            let next = if activity.open_calls.load(Ordering::Acquire) > 0 {
                now + self.idle_timeout
            } else {
                let quiet_since = *activity.quiet_since.lock().expect("not poisoned");
                let (allowed, what) = if activity.called.load(Ordering::Acquire) {
                    (self.idle_timeout, "idle")
                } else {
                    (self.handshake_timeout, "handshake")
                };
                let due = quiet_since + allowed;
                if now >= due {
                    tracing::debug!(
                        timeout_ms = allowed.as_millis() as u64,
                        "closing a connection past its {what} timeout"
                    );
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("{what} timeout of {} ms", allowed.as_millis()),
                    ));
                }
                due
            };
            self.deadline.as_mut().reset(next);
        }
        Ok(())
    }
}

impl Connected for Connection {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        ConnectionInfo {
            activity: Arc::clone(&self.activity),
        }
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Pending => match this.check_deadline(cx) {
                Ok(()) => Poll::Pending,
                Err(error) => Poll::Ready(Err(error)),
            },
            ready => ready,
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// Counts each connection's open calls for its idle deadline: see the [module docs](self).
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenCallsLayer;

impl<S> tower::Layer<S> for OpenCallsLayer {
    type Service = OpenCalls<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OpenCalls { inner }
    }
}

/// The service of [`OpenCallsLayer`].
#[derive(Debug, Clone)]
pub struct OpenCalls<S> {
    inner: S,
}

/// A call open on a connection, until dropped.
pub struct OpenCall(Arc<Activity>);

impl OpenCall {
    fn start(activity: &Arc<Activity>) -> Self {
        activity.called.store(true, Ordering::Release);
        activity.open_calls.fetch_add(1, Ordering::AcqRel);
        Self(Arc::clone(activity))
    }
}

impl Drop for OpenCall {
    fn drop(&mut self) {
        *self.0.quiet_since.lock().expect("not poisoned") = Instant::now();
        self.0.open_calls.fetch_sub(1, Ordering::AcqRel);
    }
}

impl<S, B> tower::Service<http::Request<B>> for OpenCalls<S>
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
        let extensions = request.extensions();
        let call = extensions
            .get::<ConnectionInfo>()
            .or_else(|| {
                extensions
                    .get::<TlsConnectInfo<ConnectionInfo>>()
                    .map(TlsConnectInfo::get_ref)
            })
            .map(|info| OpenCall::start(&info.activity));
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            let Some(call) = call else {
                return Ok(response);
            };
            // The call stays open until its response body is done with (a subscription's
            // body lives as long as the subscription).
            Ok(response.map(|body| {
                tonic::body::Body::new(body.map_frame(move |frame| {
                    let _open = &call;
                    frame
                }))
            }))
        })
    }
}
