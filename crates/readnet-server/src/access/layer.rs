//! Authentication: a tower layer in front of every service on the listener. It proves the
//! request's credential and leaves the [`Authenticated`] caller in the request's extensions,
//! for the services to check their acts against; a request without a working credential is
//! answered UNAUTHENTICATED here and reaches no service. Health, reflection and KurrentDB's
//! discovery services stay open (`OPEN_PREFIXES`).
//!
//! Credentials: `authorization: Bearer <token>` (readnet's clients), or `authorization: Basic
//! base64(name:token)` (KurrentDB's clients: `kurrentdb://name:token@host:port`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use base64::Engine as _;
use http::HeaderMap;
use readnet_domain::access::AccessView;
use readnet_domain::{Clock, PrincipalName, Role, TokenId};
use readnet_projection::access::Authenticated;
use tokio::sync::watch;
use tonic::Status;
use tonic::metadata::MetadataValue;

use super::tokens::TokenStore;

/// Paths served without a credential: health checks and reflection, and the two KurrentDB
/// services its clients call before they send credentials (as KurrentDB serves them): which
/// methods the server supports, and the cluster's members. None of them hands out data.
const OPEN_PREFIXES: [&str; 5] = [
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/event_store.client.server_features.ServerFeatures/",
    "/event_store.client.gossip.Gossip/",
];

/// KurrentDB's services: their refusals carry the `exception` trailer KurrentDB's clients read.
const KURRENTDB_PREFIX: &str = "/event_store.client.";

/// How requests are authenticated.
#[derive(Clone)]
pub enum Authentication {
    /// Every request proves a principal with a token.
    Tokens(Arc<TokenStore>),
    /// Every request acts as a network-admin named `anonymous`, without a credential. For
    /// benchmarks that measure what authentication costs; the binary never serves this way.
    Off,
}

/// Proves credentials against the token hashes and the grants in the log.
#[derive(Clone)]
pub struct Authenticator {
    authentication: Authentication,
    view: watch::Receiver<Arc<AccessView>>,
    clock: Arc<dyn Clock>,
}

impl Authenticator {
    pub fn new(
        authentication: Authentication,
        view: watch::Receiver<Arc<AccessView>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            authentication,
            view,
            clock,
        }
    }

    /// The caller a request's headers prove, or why not.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Authenticated, Status> {
        let view = Arc::clone(&self.view.borrow());
        let tokens = match &self.authentication {
            Authentication::Off => {
                let mut anonymous = Authenticated::network_wide("anonymous", Role::NetworkAdmin);
                anonymous.view = view;
                return Ok(anonymous);
            }
            Authentication::Tokens(tokens) => tokens,
        };
        let unauthenticated = |why: String| Status::unauthenticated(why);
        let Some(value) = headers.get(http::header::AUTHORIZATION) else {
            return Err(unauthenticated(
                "no credential: send `authorization: Bearer <token>` (readnet) or HTTP basic \
                 credentials `name:token` (KurrentDB clients)"
                    .into(),
            ));
        };
        let value = value
            .to_str()
            .map_err(|_| unauthenticated("authorization: not ASCII text".into()))?;
        let (claimed, token) = credential(value).ok_or_else(|| {
            unauthenticated("authorization: expected `Bearer <token>` or `Basic <base64>`".into())
        })?;
        let Some((token_id, name)) = tokens.verify(&token) else {
            return Err(unauthenticated(
                "the token is not one this server issued".into(),
            ));
        };
        if claimed
            .as_ref()
            .is_some_and(|c| c.as_str() != name.as_str())
        {
            return Err(unauthenticated(format!(
                "the token is not {}'s",
                claimed.unwrap_or_default()
            )));
        }
        self.current(view, &name, &token_id)
    }

    /// The caller `token` proves and the id of that token (a console login keeps the id, not
    /// the token, in its signed session cookie).
    pub fn authenticate_token(&self, token: &str) -> Result<(Authenticated, TokenId), Status> {
        let mut headers = HeaderMap::new();
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| Status::unauthenticated("the token is not ASCII text"))?;
        headers.insert(http::header::AUTHORIZATION, value);
        let caller = self.authenticate(&headers)?;
        let token_id = match &self.authentication {
            Authentication::Tokens(tokens) => {
                tokens.verify(token).map(|(id, _)| id).ok_or_else(|| {
                    Status::unauthenticated("the token is not one this server issued")
                })?
            }
            Authentication::Off => TokenId::from(String::new()),
        };
        Ok((caller, token_id))
    }

    /// The caller whose token `token_id` was proven before (a console session): the log's
    /// checks of [`Authenticator::authenticate`] again, now. A principal revoked since, or whose
    /// token was replaced or has expired, is UNAUTHENTICATED, as its token would be.
    pub fn authenticate_session(
        &self,
        name: &PrincipalName,
        token_id: &TokenId,
    ) -> Result<Authenticated, Status> {
        let view = Arc::clone(&self.view.borrow());
        if let Authentication::Off = self.authentication {
            let mut anonymous = Authenticated::network_wide("anonymous", Role::NetworkAdmin);
            anonymous.view = view;
            return Ok(anonymous);
        }
        self.current(view, name, token_id)
    }

    /// `name` as a caller, if `token_id` is its current token and it is live in the log.
    fn current(
        &self,
        view: Arc<AccessView>,
        name: &PrincipalName,
        token_id: &TokenId,
    ) -> Result<Authenticated, Status> {
        let unauthenticated = |why: String| Status::unauthenticated(why);
        let principal = view.principals.get(name).ok_or_else(|| {
            unauthenticated(format!("principal {name} is not recorded in the log"))
        })?;
        if principal.revoked {
            return Err(unauthenticated(format!("principal {name} is revoked")));
        }
        let current = principal
            .token
            .as_ref()
            .filter(|t| t.id == *token_id)
            .ok_or_else(|| {
                unauthenticated(format!(
                    "token {token_id} of principal {name} was replaced by a newer token"
                ))
            })?;
        if let Some(expires_at) = current.expires_at
            && expires_at <= self.clock.now()
        {
            return Err(unauthenticated(format!(
                "token {token_id} of principal {name} expired at {}",
                expires_at.to_rfc3339()
            )));
        }
        let authority = view
            .authorities
            .get(name)
            .cloned()
            .unwrap_or_else(|| Arc::new(principal.authority()));
        Ok(Authenticated { authority, view })
    }
}

/// The claimed principal (basic credentials only) and the token of an `authorization` value.
fn credential(value: &str) -> Option<(Option<String>, String)> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some((None, rest.to_owned()));
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (name, token) = decoded.split_once(':')?;
        return Some((Some(name.to_owned()), token.to_owned()));
    }
    None
}

/// The tower layer that puts an [`Authenticator`] in front of a service.
#[derive(Clone)]
pub struct AuthLayer(pub Authenticator);

impl<S> tower::Layer<S> for AuthLayer {
    type Service = Authenticate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticate {
            inner,
            authenticator: self.0.clone(),
        }
    }
}

/// A service behind authentication.
#[derive(Clone)]
pub struct Authenticate<S> {
    inner: S,
    authenticator: Authenticator,
}

impl<S, B> tower::Service<http::Request<B>> for Authenticate<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        if OPEN_PREFIXES.iter().any(|p| path.starts_with(p)) {
            return Box::pin(self.inner.call(request));
        }
        match self.authenticator.authenticate(request.headers()) {
            Ok(caller) => {
                request.extensions_mut().insert(caller);
                Box::pin(self.inner.call(request))
            }
            Err(mut status) => {
                if path.starts_with(KURRENTDB_PREFIX) {
                    status
                        .metadata_mut()
                        .insert("exception", MetadataValue::from_static("not-authenticated"));
                }
                tracing::debug!(
                    path,
                    message = status.message(),
                    "request refused: unauthenticated"
                );
                Box::pin(std::future::ready(Ok(status.into_http())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::tokens::NewToken;
    use chrono::{Duration, TimeZone, Utc};
    use readnet_domain::access::{AccessView, Principal};
    use readnet_domain::{Grant, ManualClock, TokenGrant};

    /// An authenticator over one principal `desk-a` whose current token is `current`.
    fn authenticator(
        dir: &std::path::Path,
        tokens: &[&NewToken],
        current: &NewToken,
        expires_at: Option<chrono::DateTime<Utc>>,
        revoked: bool,
        clock: Arc<ManualClock>,
    ) -> Authenticator {
        let store = TokenStore::open(dir.join("tokens.json")).unwrap();
        for token in tokens {
            store.insert(&"desk-a".into(), token).unwrap();
        }
        let principal = Principal {
            name: "desk-a".into(),
            grant: Grant::network(Role::Auditor),
            granted_by: None,
            revoked,
            token: (!revoked).then(|| TokenGrant {
                id: current.id.clone(),
                expires_at,
            }),
        };
        let mut view = AccessView::default();
        view.principals.insert("desk-a".into(), principal);
        let (_, receiver) = watch::channel(Arc::new(view));
        Authenticator::new(Authentication::Tokens(Arc::new(store)), receiver, clock)
    }

    fn bearer(token: &NewToken) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            format!("Bearer {}", token.token).parse().unwrap(),
        );
        headers
    }

    #[test]
    fn a_token_works_until_it_expires_by_the_injected_clock() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap();
        let clock = Arc::new(ManualClock::new(now));
        let token = NewToken::generate();
        let auth = authenticator(
            dir.path(),
            &[&token],
            &token,
            Some(now + Duration::hours(1)),
            false,
            Arc::clone(&clock) as Arc<ManualClock>,
        );
        let caller = auth.authenticate(&bearer(&token)).unwrap();
        assert_eq!(caller.authority.principal.as_str(), "desk-a");
        clock.advance(Duration::hours(1));
        let status = auth.authenticate(&bearer(&token)).unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
        assert!(
            status.message().contains("expired at 2026-12-07T10:00:00"),
            "{}",
            status.message()
        );
    }

    #[test]
    fn a_replaced_token_and_a_revoked_principal_are_refused_saying_why() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let (old, new) = (NewToken::generate(), NewToken::generate());
        let auth = authenticator(
            dir.path(),
            &[&old, &new],
            &new,
            None,
            false,
            Arc::clone(&clock),
        );
        assert!(auth.authenticate(&bearer(&new)).is_ok());
        let status = auth.authenticate(&bearer(&old)).unwrap_err();
        assert!(
            status.message().contains("replaced by a newer token"),
            "{}",
            status.message()
        );
        let dir = tempfile::tempdir().unwrap();
        let auth = authenticator(dir.path(), &[&new], &new, None, true, clock);
        let status = auth.authenticate(&bearer(&new)).unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
        assert!(
            status.message().contains("desk-a is revoked"),
            "{}",
            status.message()
        );
    }

    #[test]
    fn basic_credentials_must_name_the_tokens_own_principal() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let token = NewToken::generate();
        let auth = authenticator(dir.path(), &[&token], &token, None, false, clock);
        let basic = |name: &str| {
            let mut headers = HeaderMap::new();
            let value =
                base64::engine::general_purpose::STANDARD.encode(format!("{name}:{}", token.token));
            headers.insert(
                http::header::AUTHORIZATION,
                format!("Basic {value}").parse().unwrap(),
            );
            headers
        };
        assert!(auth.authenticate(&basic("desk-a")).is_ok());
        let status = auth.authenticate(&basic("admin")).unwrap_err();
        assert!(
            status.message().contains("not admin's"),
            "{}",
            status.message()
        );
        let status = auth.authenticate(&HeaderMap::new()).unwrap_err();
        assert!(
            status.message().starts_with("no credential"),
            "{}",
            status.message()
        );
    }

    #[test]
    fn bearer_and_basic_credentials_are_read() {
        assert_eq!(
            credential("Bearer rnt1.abc.def"),
            Some((None, "rnt1.abc.def".to_owned()))
        );
        let basic = base64::engine::general_purpose::STANDARD.encode("desk-a:rnt1.abc.def");
        assert_eq!(
            credential(&format!("Basic {basic}")),
            Some((Some("desk-a".to_owned()), "rnt1.abc.def".to_owned()))
        );
        assert_eq!(credential("Digest x"), None);
        assert_eq!(credential("Bearer"), None);
    }
}
