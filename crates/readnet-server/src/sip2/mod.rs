//! SIP2 (3M's Standard Interchange Protocol 2.00) for self-check kiosks: an edge beside gRPC,
//! not a second domain. A session is one TCP connection; after a login (93) with a kiosk's or
//! desk's principal name and token, each message becomes the request its gRPC twin takes
//! (`CheckoutRequest`, `ReturnRequest`, …), carried through the same service handlers with the
//! caller the token proves, the session's library and the `kiosk` channel. The answer (a receipt
//! or a refusal's status) becomes the SIP2 response. Reads (patron status and information, item
//! information) go through the same access checks as their gRPC twins.
//!
//! Resends (ADR 0015): a request whose text (everything but the `AY`/`AZ` trailer) and sequence
//! number equal the last request of the same principal, within [`RESEND_WINDOW`], gets the
//! command id that request got, so the ledger answers it with the original outcome instead of
//! deciding it again.
//!
//! Bounds: [`Sip2Limits`]: sessions at once, idle time, and [`codec::MAX_FRAME_BYTES`] a frame.
//! A malformed frame closes its session only, with the reason logged.
//!
//! TLS: with the listener's certificate (the gRPC listener's, `--tls-cert`/`--tls-key`, and its
//! client CA for mutual TLS), every session is TLS from its first byte, as SIP2 over TLS is run
//! by Koha's and Evergreen's servers; a handshake that fails or takes longer than
//! [`TLS_HANDSHAKE_TIMEOUT`] closes the connection, logged.

pub mod codec;
mod handlers;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use readnet_domain::{Clock, PatronKey, PrincipalName};
use readnet_ledger::CommandBus;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::AccountService;
use crate::access::Authenticator;
use crate::services::Commands;
use codec::FrameError;

/// How long a repeated request still counts as a resend of the last one (a kiosk resends
/// within seconds of a lost answer; minutes allow for a reconnect and a new login).
pub const RESEND_WINDOW: TimeDelta = TimeDelta::minutes(10);

/// The SIP2 listener's bounds.
#[derive(Debug, Clone, Copy)]
pub struct Sip2Limits {
    /// Sessions served at once; a connection beyond them is closed at once (logged).
    pub max_sessions: usize,
    /// A session with no request for this long is closed.
    pub idle_timeout: Duration,
}

impl Default for Sip2Limits {
    fn default() -> Self {
        Self {
            max_sessions: 256,
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// How long a TLS client may take to finish its handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound SIP2 listener, its bounds and its TLS, for [`crate::serve_on`].
pub struct Sip2Listener {
    pub listener: TcpListener,
    pub limits: Sip2Limits,
    /// `None`: plain TCP.
    pub tls: Option<Arc<ServerConfig>>,
}

/// What the SIP2 edge serves from: the same services the gRPC listener has.
pub struct Sip2 {
    commands: Commands,
    account: AccountService,
    authenticator: Authenticator,
    bus: CommandBus,
    key: PatronKey,
    clock: Arc<dyn Clock>,
    limits: Sip2Limits,
    /// Each principal's last request (its keyed digest), the command id it got and when.
    last_requests: Mutex<HashMap<PrincipalName, LastRequest>>,
}

#[derive(Debug, Clone, Copy)]
struct LastRequest {
    digest: [u8; 32],
    command_id: Uuid,
    at: DateTime<Utc>,
}

impl Sip2 {
    pub(crate) fn new(
        commands: Commands,
        account: AccountService,
        authenticator: Authenticator,
        limits: Sip2Limits,
    ) -> Self {
        Self {
            bus: commands.bus.clone(),
            key: commands.key.clone(),
            clock: Arc::clone(&commands.clock),
            commands,
            account,
            authenticator,
            limits,
            last_requests: Mutex::new(HashMap::new()),
        }
    }

    /// The command id of a request from `principal`: the one its last request got if this is
    /// that request again (same text, same sequence number, within [`RESEND_WINDOW`]), else a
    /// new one.
    fn command_id(&self, principal: &PrincipalName, frame: &codec::Frame) -> (Uuid, bool) {
        let sequence = frame.sequence.map(String::from).unwrap_or_default();
        let digest = self
            .key
            .mac(&[b"sip2-request", frame.body.as_bytes(), sequence.as_bytes()]);
        let now = self.clock.now();
        let mut last = self
            .last_requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(previous) = last.get(principal)
            && previous.digest == digest
            && now - previous.at <= RESEND_WINDOW
        {
            return (previous.command_id, true);
        }
        let command_id = Uuid::new_v4();
        last.insert(
            principal.clone(),
            LastRequest {
                digest,
                command_id,
                at: now,
            },
        );
        (command_id, false)
    }
}

/// Accepts SIP2 sessions (over TLS with `tls`) until the task is dropped.
pub async fn serve(listener: TcpListener, tls: Option<Arc<ServerConfig>>, sip2: Arc<Sip2>) {
    let acceptor = tls.map(TlsAcceptor::from);
    let sessions = Arc::new(Semaphore::new(sip2.limits.max_sessions));
    let mut backoff = Duration::from_millis(10);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => {
                backoff = Duration::from_millis(10);
                accepted
            }
            Err(error) => {
                tracing::warn!(%error, "SIP2 accept failed; backing off");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&sessions).try_acquire_owned() else {
            tracing::warn!(
                %peer,
                max_sessions = sip2.limits.max_sessions,
                "SIP2 connection closed: the server has as many sessions as it serves"
            );
            drop(stream);
            continue;
        };
        let sip2 = Arc::clone(&sip2);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let _open = OpenSession::count();
            if let Err(error) = stream.set_nodelay(true) {
                tracing::warn!(%peer, %error, "SIP2 connection closed");
                return;
            }
            let ended = match acceptor {
                None => session(&sip2, stream, peer).await,
                Some(acceptor) => {
                    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        Ok(Ok(stream)) => session(&sip2, stream, peer).await,
                        Ok(Err(error)) => {
                            tracing::warn!(%peer, %error, "SIP2 TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::warn!(%peer, "SIP2 TLS handshake took too long");
                            return;
                        }
                    }
                }
            };
            match ended {
                Ok(end) => tracing::info!(%peer, "SIP2 session ended: {end}"),
                Err(reason) => tracing::warn!(%peer, %reason, "SIP2 session closed"),
            }
        });
    }
}

/// SIP2 sessions open in this process, for operations (ADR 0021).
static OPEN_SESSIONS: AtomicU64 = AtomicU64::new(0);

/// How many SIP2 sessions (connections) are open.
pub fn open_sessions() -> u64 {
    OPEN_SESSIONS.load(Ordering::Relaxed)
}

/// One open session in [`OPEN_SESSIONS`], for as long as it lives.
struct OpenSession;

impl OpenSession {
    fn count() -> Self {
        OPEN_SESSIONS.fetch_add(1, Ordering::Relaxed);
        OpenSession
    }
}

impl Drop for OpenSession {
    fn drop(&mut self) {
        OPEN_SESSIONS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a session ended without a fault.
enum End {
    ClientClosed,
    Idle(Duration),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::ClientClosed => f.write_str("the client closed the connection"),
            End::Idle(idle) => write!(f, "no request for {} s", idle.as_secs()),
        }
    }
}

/// Why a session was closed by the server.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Fault {
    #[error("malformed frame: {0}")]
    Frame(#[from] FrameError),
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Protocol(String),
}

async fn session(
    sip2: &Sip2,
    stream: impl AsyncRead + AsyncWrite + Unpin,
    peer: SocketAddr,
) -> Result<End, Fault> {
    let (reader, mut writer) = tokio::io::split(stream);
    let mut reader = BufReader::new(reader);
    let mut state = handlers::Session::default();
    let mut frame = Vec::new();
    loop {
        frame.clear();
        let read = tokio::time::timeout(
            sip2.limits.idle_timeout,
            read_frame(&mut reader, &mut frame),
        )
        .await;
        match read {
            Err(_) => return Ok(End::Idle(sip2.limits.idle_timeout)),
            Ok(Ok(false)) => return Ok(End::ClientClosed),
            Ok(Ok(true)) => {}
            Ok(Err(fault)) => return Err(fault),
        }
        let answer = match codec::parse(&frame) {
            Ok(request) => {
                let code = request.message.spec().code;
                let span =
                    tracing::info_span!("sip2", message = code, command_id = tracing::field::Empty);
                let answered = state.answer(sip2, request, peer).instrument(span).await;
                // Counted by message and outcome (ADR 0021): answered, or the session closed
                // for a fault.
                let outcome = if answered.is_ok() {
                    "answered"
                } else {
                    "fault"
                };
                metrics::counter!(
                    "readnet_sip2_requests_total",
                    "message" => code,
                    "outcome" => outcome
                )
                .increment(1);
                match answered? {
                    Some(answer) => answer,
                    None => return Ok(End::ClientClosed),
                }
            }
            // SIP2's error detection: a damaged frame is asked for again, not answered.
            Err(error @ FrameError::Checksum { .. }) => {
                tracing::info!(%peer, %error, "SIP2 frame asked for again");
                codec::request_resend()
            }
            Err(error) => return Err(error.into()),
        };
        let mut bytes = answer.into_bytes();
        bytes.push(codec::TERMINATOR);
        writer.write_all(&bytes).await?;
        // Over TLS the record leaves when flushed; over TCP this does nothing.
        writer.flush().await?;
    }
}

/// Reads one frame (without its terminator) into `frame`; `false` at a clean end of the
/// connection. A frame longer than [`codec::MAX_FRAME_BYTES`] is a fault, found before it is
/// all read.
async fn read_frame(
    reader: &mut (impl AsyncBufRead + Unpin),
    frame: &mut Vec<u8>,
) -> Result<bool, Fault> {
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return if frame.is_empty() {
                Ok(false)
            } else {
                Err(Fault::Protocol(format!(
                    "the connection ended in the middle of a frame ({} bytes)",
                    frame.len()
                )))
            };
        }
        match available.iter().position(|&b| b == codec::TERMINATOR) {
            Some(end) => {
                frame.extend_from_slice(&available[..end]);
                reader.consume(end + 1);
                if frame.len() > codec::MAX_FRAME_BYTES {
                    return Err(FrameError::TooLong.into());
                }
                return Ok(true);
            }
            None => {
                let taken = available.len();
                frame.extend_from_slice(available);
                reader.consume(taken);
                if frame.len() > codec::MAX_FRAME_BYTES {
                    return Err(FrameError::TooLong.into());
                }
            }
        }
    }
}
