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
//! The web console (`readnet-console`) is merged beside these routes. With `--tls-cert` the
//! listener serves TLS ([`serve_tls`]): the gRPC listener's certificate, HTTP/2 or HTTP/1.1 by
//! ALPN, no client certificate asked (browsers log in with a token).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use readnet_audit::{Entries, Tree};
use readnet_tlog::TileId;

/// How long a TLS handshake may take before the connection is closed.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Connections served at once over TLS; more wait in the listener's backlog.
const MAX_TLS_CONNECTIONS: usize = 1024;

/// Serves `routes` over TLS on `listener` until `shutdown`; connections still open then are
/// closed (a console's event stream would otherwise hold the server).
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    routes: Router,
    tls: std::sync::Arc<rustls::ServerConfig>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::service::TowerToHyperService;

    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_TLS_CONNECTIONS));
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = std::sync::Arc::clone(&slots).acquire_owned() => permit.expect("never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "HTTP accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(routes.clone());
        connections.spawn(async move {
            let _permit = permit;
            let stream =
                match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(error)) => {
                        tracing::debug!(%peer, %error, "HTTP TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "HTTP TLS handshake took too long");
                        return;
                    }
                };
            let served = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .await;
            if let Err(error) = served {
                tracing::debug!(%peer, %error, "HTTP connection ended");
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
