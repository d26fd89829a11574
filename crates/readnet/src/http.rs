//! The HTTP listener beside gRPC (`readnet serve --http-listen ADDR`): the log's tree as static
//! files, in the C2SP tlog-tiles layout, for any HTTP client, mirror or archive.
//!
//! - `GET /tlog/checkpoint`: the latest signed checkpoint.
//! - `GET /tlog/tile/<L>/<N>[.p/<W>]`: a tile of hashes (full tiles never change and are cached
//!   for ever; a partial one exists while the tree has reached it).
//! - `GET /tlog/tile/entries/<N>[.p/<W>]`: an entry bundle, the leaves (records' canonical
//!   bytes) of level-0 tile `N`, each preceded by its length as a big-endian `u16`. A bundle
//!   holding a leaf longer than 65,535 bytes is not served (404, saying why; ADR 0014).
//! - `GET /tlog/periods/<YYYY-MM>`: the checkpoint of a closed settlement period.
//!
//! Everything here is public by design, as Certificate Transparency logs are: hashes, signed
//! tree heads and the records as stored, whose patron ids are sealed under per-patron keys
//! (ADR 0018) and so link no loan to a reader. What a client fetches is checked by it, against the log's public
//! key and the hashes, not trusted because of where it came from.
//!
//! The web console (`readnet-console`) is merged beside these routes. [`serve`] accepts
//! connections under the gRPC listener's bounds (a cap, handshake and idle deadlines; ADR 0011).
//! With `--tls-cert` the listener serves TLS: the gRPC listener's certificate, HTTP/2 or
//! HTTP/1.1 by ALPN, no client certificate asked (browsers log in with a token).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use readnet_audit::{Entries, Tree};
use readnet_tlog::TileId;

/// Serves `routes` on `listener` (over TLS with `tls`) until `shutdown`; connections still
/// open then are closed (a console's event stream would otherwise hold the server).
///
/// Connections are accepted as the gRPC listener accepts them (ADR 0011,
/// `readnet_server::limits`): at most `limits.max_connections` at once (at the cap the
/// listener stops accepting and new connections wait in the kernel's backlog), each closed when
/// it has not finished its TLS handshake and sent its first request within
/// `limits.handshake_timeout`, or has had no request open for `limits.idle_timeout`. A request
/// is open until its response body is dropped, so a live event stream keeps its connection.
pub async fn serve(
    listener: tokio::net::TcpListener,
    routes: Router,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    limits: readnet_server::Limits,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    use futures::StreamExt as _;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::service::TowerToHyperService;
    use tonic::transport::server::Connected as _;

    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let incoming = readnet_server::limits::incoming_http(listener, limits);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(incoming);
    tokio::pin!(shutdown);
    loop {
        let connection = tokio::select! {
            next = incoming.next() => match next {
                Some(Ok(connection)) => connection,
                // The accept loop logs and backs off its own errors; it never ends.
                Some(Err(_)) => continue,
                None => break,
            },
            () = &mut shutdown => break,
        };
        let info = connection.connect_info();
        let routes = routes.clone();
        let service = TowerToHyperService::new(tower::service_fn(
            move |request: axum::http::Request<hyper::body::Incoming>| {
                let open = info.open_call();
                let routes = routes.clone();
                async move {
                    use http_body_util::BodyExt as _;
                    use tower::ServiceExt as _;
                    let response = routes.oneshot(request.map(axum::body::Body::new)).await?;
                    // Open until the body is done with: an event stream stays open.
                    Ok::<_, std::convert::Infallible>(response.map(|body| {
                        axum::body::Body::new(body.map_frame(move |frame| {
                            let _open = &open;
                            frame
                        }))
                    }))
                }
            },
        ));
        let acceptor = acceptor.clone();
        connections.spawn(async move {
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let served = match acceptor {
                // The connection's handshake deadline bounds the TLS handshake too.
                Some(acceptor) => match acceptor.accept(connection).await {
                    Ok(stream) => {
                        builder
                            .serve_connection_with_upgrades(TokioIo::new(stream), service)
                            .await
                    }
                    Err(error) => {
                        tracing::debug!(%error, "HTTP TLS handshake failed");
                        return;
                    }
                },
                None => {
                    builder
                        .serve_connection_with_upgrades(TokioIo::new(connection), service)
                        .await
                }
            };
            if let Err(error) = served {
                tracing::debug!(%error, "HTTP connection ended");
            }
        });
        // Reap the finished ones so the set stays as large as the open connections.
        while connections.try_join_next().is_some() {}
    }
    connections.shutdown().await;
}

/// The routes, over the tree the server keeps.
pub fn router(tree: Tree) -> Router {
    Router::new()
        .route("/tlog/checkpoint", get(checkpoint))
        .route("/tlog/periods/{period}", get(period))
        .route("/tlog/tile/entries/{*path}", get(entries))
        .route("/tlog/{*path}", get(tile))
        .with_state(tree)
}

fn note(text: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        text,
    )
        .into_response()
}

fn missing(what: String) -> Response {
    (StatusCode::NOT_FOUND, what).into_response()
}

async fn checkpoint(State(tree): State<Tree>) -> Response {
    match tree.latest() {
        Some(signed) => note(signed.note),
        None => missing("no checkpoint has been signed yet\n".to_owned()),
    }
}

async fn period(State(tree): State<Tree>, Path(period): Path<String>) -> Response {
    let valid = period.len() == 7
        && period.as_bytes()[4] == b'-'
        && period
            .bytes()
            .enumerate()
            .all(|(i, b)| i == 4 || b.is_ascii_digit());
    if !valid {
        return missing(format!("{period:?} is not a period (YYYY-MM)\n"));
    }
    match tree.period(&period) {
        Ok(Some(signed)) => note(signed.note),
        Ok(None) => missing(format!("period {period} has no checkpoint\n")),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

async fn tile(State(tree): State<Tree>, Path(path): Path<String>) -> Response {
    let Some(tile) = TileId::from_path(&path) else {
        return missing(format!("/tlog/{path} is not a tile path\n"));
    };
    match tree.tile(&tile) {
        Ok(Some(bytes)) => {
            // A full tile never changes; a partial one is a prefix of what it will be, also
            // unchanging at its width.
            (
                [
                    (header::CONTENT_TYPE, "application/octet-stream"),
                    (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
                ],
                bytes,
            )
                .into_response()
        }
        Ok(None) => missing(format!("the tree has not reached /tlog/{path}\n")),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

async fn entries(State(tree): State<Tree>, Path(path): Path<String>) -> Response {
    let Some(tile) = TileId::from_entries_path(&format!("tile/entries/{path}")) else {
        return missing(format!(
            "/tlog/tile/entries/{path} is not an entry bundle path\n"
        ));
    };
    match tree.entries(&tile) {
        Ok(Entries::Bundle(bytes)) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream"),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            bytes,
        )
            .into_response(),
        Ok(Entries::NotReached) => missing(format!(
            "the tree has not reached /tlog/tile/entries/{path}\n"
        )),
        Ok(Entries::TooLong(why)) => missing(why),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}
