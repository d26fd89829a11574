//! readnet's web console (`readnet serve --http-listen`): the monitoring centre with live
//! updates (SSE from the statistics projection's WatchMonitor), charts, settlement with its
//! charge lines, and the desk pages (an item, a patron account, the work lists).
//!
//! Pages are rendered on the server (maud) with a little plain JavaScript for the live updates
//! and the charts (ECharts, vendored). Every page calls the read services gRPC serves, in
//! process, with the caller the session's token proves: the same access checks, so a page is
//! refused (403) exactly where its RPC would be. Sessions and CSRF: ADR 0020.
//!
//! Must not know: the store, the ledger's writes (the console only reads), the gRPC transport.

// tonic's `Status` is the error of the service calls the handlers make.
#![allow(clippy::result_large_err)]

pub mod i18n;
pub mod monitor;
mod pages;
pub mod session;

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use futures::StreamExt as _;
use readnet_domain::access::{Authenticated, Scope};
use readnet_server::reads::ReadServices;
use serde::Deserialize;
use tonic::{Code, Status};

use crate::i18n::Lang;
use crate::session::{LANG_COOKIE, LOGIN_COOKIE, SESSION_COOKIE, Session, Sessions};

/// Where the read services arrive once the server runs them (before that, pages answer 503).
pub type ServicesSlot = Arc<OnceLock<ReadServices>>;

/// The console's shared state.
pub struct Console {
    services: ServicesSlot,
    sessions: Sessions,
    /// Cookies are marked Secure (the listener is TLS, or behind a TLS proxy).
    secure: bool,
}

type Shared = Arc<Console>;

/// The console's routes under `/console/`, over the services `slot` will hold, with the
/// sessions `sessions` signs (`Sessions::open` on the data directory).
pub fn router(slot: ServicesSlot, secure: bool, sessions: Sessions) -> Router {
    let console = Arc::new(Console {
        services: slot,
        sessions,
        secure,
    });
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(pages::centre))
        .route("/console/stream", get(stream))
        .route("/console/login", get(login_form).post(login))
        .route("/console/logout", axum::routing::post(logout))
        .route("/console/lang", get(switch_language))
        .route("/console/charts", get(pages::charts))
        .route("/console/settlement", get(pages::settlement))
        .route("/console/settlement/charges", get(pages::charges))
        .route("/console/item", get(pages::item))
        .route(
            "/console/account",
            get(pages::account_form).post(pages::account),
        )
        .route("/console/worklists", get(pages::worklists))
        .route("/console/static/{file}", get(static_file))
        .with_state(console)
}

/// A request's cookie of `name`.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn lang(headers: &HeaderMap) -> Lang {
    Lang::from_cookie(cookie(headers, LANG_COOKIE))
}

impl Console {
    fn set_cookie(&self, name: &str, value: &str, http_only: bool, max_age_s: u64) -> String {
        format!(
            "{name}={value}; Path=/console; SameSite=Strict; Max-Age={max_age_s}{}{}",
            if http_only { "; HttpOnly" } else { "" },
            if self.secure { "; Secure" } else { "" }
        )
    }
}

/// What every page handler works with: the services, the proven caller, its session, the
/// language.
pub(crate) struct Ctx {
    pub services: ReadServices,
    pub caller: Authenticated,
    pub session: Session,
    pub lang: Lang,
}

impl Ctx {
    /// `message` as a request from the caller, as the listener's authentication layer passes
    /// requests on; a desk, kiosk or booth over one library acts at it.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.extensions_mut().insert(self.caller.clone());
        request
    }

    /// The libraries a principal's scope names, if it is scoped to libraries.
    pub fn scoped_libraries(&self) -> Option<Vec<String>> {
        match &self.caller.authority.grant.scope {
            Scope::Libraries(libraries) => {
                Some(libraries.iter().map(|l| l.as_str().to_owned()).collect())
            }
            _ => None,
        }
    }

    pub fn principal(&self) -> String {
        self.caller.authority.principal.to_string()
    }

    pub fn role(&self) -> String {
        self.caller.role().as_str().to_owned()
    }
}

/// The page a failed service call shows: 403 with the refusal for a denied right, the login
/// form for a credential that no longer works.
pub(crate) fn failure(lang: Lang, status: &Status) -> Response {
    let (code, title) = match status.code() {
        Code::Unauthenticated => return Redirect::to("/console/login?expired=1").into_response(),
        Code::PermissionDenied => (StatusCode::FORBIDDEN, "forbidden"),
        Code::NotFound => (StatusCode::NOT_FOUND, "not_found"),
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            (StatusCode::BAD_REQUEST, "bad_request")
        }
        _ => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    };
    (code, pages::message_page(lang, title, status.message())).into_response()
}

/// The caller of a request with a live session; the login form otherwise.
pub(crate) async fn ctx(console: &Console, headers: &HeaderMap) -> Result<Ctx, Response> {
    let lang = lang(headers);
    let Some(services) = console.services.get().cloned() else {
        return Err((
            StatusCode::SERVICE_UNAVAILABLE,
            pages::message_page(lang, "unavailable", "the server is starting"),
        )
            .into_response());
    };
    let now_s = services.clock.now().timestamp();
    let Some(session) =
        cookie(headers, SESSION_COOKIE).and_then(|value| console.sessions.get(value, now_s))
    else {
        return Err(Redirect::to("/console/login").into_response());
    };
    // A principal revoked since the login, or whose token was replaced or has expired, is
    // refused here as its token would be over gRPC.
    match services.authenticate_session(&session.principal, &session.token_id) {
        Ok(caller) => Ok(Ctx {
            services,
            caller,
            session,
            lang,
        }),
        Err(status) => Err(failure(lang, &status)),
    }
}

/// A state-changing request must come from a page of this console: its Origin (or Referer)
/// names the host it was sent to. SameSite=Strict cookies and the form's token do the rest.
/// The host a request was sent to: its `Host` header (HTTP/1.1) or its URI's authority
/// (HTTP/2's `:authority`).
fn host(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|a| a.as_str().to_owned()))
}

fn same_origin(headers: &HeaderMap, uri: &Uri) -> bool {
    let Some(host) = host(headers, uri) else {
        return false;
    };
    let origin = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|h| h.to_str().ok());
    match origin {
        Some(origin) => {
            let rest = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                .unwrap_or("");
            rest.split('/').next() == Some(host.as_str())
        }
        // Browsers send Origin on every POST; a client without one is not a browser page.
        None => false,
    }
}

fn csrf_refused(lang: Lang) -> Response {
    (
        StatusCode::FORBIDDEN,
        pages::message_page(
            lang,
            "forbidden",
            "the form did not come from this console (origin or CSRF token)",
        ),
    )
        .into_response()
}

#[derive(Deserialize)]
struct LoginQuery {
    expired: Option<String>,
}

async fn login_form(
    State(console): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let csrf = session::random_id();
    let lang = lang(&headers);
    (
        [(
            header::SET_COOKIE,
            console.set_cookie(LOGIN_COOKIE, &csrf, true, 600),
        )],
        pages::login_page(lang, &csrf, q.expired.is_some(), None),
    )
        .into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
    csrf: String,
}

async fn login(
    State(console): State<Shared>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<LoginForm>,
) -> Response {
    let lang = lang(&headers);
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if !same_origin(&headers, &uri)
        || expected.is_empty()
        || !session::same_secret(expected, &form.csrf)
    {
        return csrf_refused(lang);
    }
    let Some(services) = console.services.get() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            pages::message_page(lang, "unavailable", "the server is starting"),
        )
            .into_response();
    };
    match services.authenticate_token(form.token.trim()) {
        Ok((caller, token_id)) => {
            let principal = caller.authority.principal.to_string();
            tracing::info!(%principal, "console login");
            let now_s = services.clock.now().timestamp();
            let value = console.sessions.start(&principal, token_id.as_str(), now_s);
            (
                [(
                    header::SET_COOKIE,
                    console.set_cookie(
                        SESSION_COOKIE,
                        &value,
                        true,
                        session::SESSION_LIFETIME.as_secs(),
                    ),
                )],
                Redirect::to("/console/"),
            )
                .into_response()
        }
        Err(status) => {
            let csrf = session::random_id();
            (
                StatusCode::UNAUTHORIZED,
                [(
                    header::SET_COOKIE,
                    console.set_cookie(LOGIN_COOKIE, &csrf, true, 600),
                )],
                pages::login_page(lang, &csrf, false, Some(status.message())),
            )
                .into_response()
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    csrf: String,
}

async fn logout(
    State(console): State<Shared>,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<CsrfForm>,
) -> Response {
    let lang = lang(&headers);
    // Before the services run no session can be proven: nothing to log out of.
    let Some(services) = console.services.get() else {
        return Redirect::to("/console/login").into_response();
    };
    let now_s = services.clock.now().timestamp();
    let session =
        cookie(&headers, SESSION_COOKIE).and_then(|value| console.sessions.get(value, now_s));
    match session {
        Some(s) if same_origin(&headers, &uri) && session::same_secret(&s.csrf, &form.csrf) => {
            if let Err(error) = console.sessions.end(&s, now_s) {
                // Ended in memory: refused until the server restarts, and expired after.
                tracing::error!(%error, "a logout could not be recorded on disk");
            }
            (
                [(
                    header::SET_COOKIE,
                    console.set_cookie(SESSION_COOKIE, "", true, 0),
                )],
                Redirect::to("/console/login"),
            )
                .into_response()
        }
        Some(_) => csrf_refused(lang),
        None => Redirect::to("/console/login").into_response(),
    }
}

/// Checks a logged-in form's origin and CSRF token.
pub(crate) fn check_form(
    ctx: &Ctx,
    headers: &HeaderMap,
    uri: &Uri,
    csrf: &str,
) -> Result<(), Response> {
    if same_origin(headers, uri) && session::same_secret(&ctx.session.csrf, csrf) {
        Ok(())
    } else {
        Err(csrf_refused(ctx.lang))
    }
}

#[derive(Deserialize)]
struct LangQuery {
    to: String,
    back: Option<String>,
}

/// Sets the language cookie (a display preference, not server state) and goes back.
async fn switch_language(State(console): State<Shared>, Query(q): Query<LangQuery>) -> Response {
    let lang = if q.to == "en" { "en" } else { "zh" };
    // Only back to a page of the console: never an open redirect.
    let back = q
        .back
        .filter(|b| b.starts_with("/console/") && !b.starts_with("//"))
        .unwrap_or_else(|| "/console/".to_owned());
    (
        [(
            header::SET_COOKIE,
            console.set_cookie(LANG_COOKIE, lang, false, 365 * 86400),
        )],
        Redirect::to(&back),
    )
        .into_response()
}

/// The monitoring centre's live updates: one SSE stream per page, fed by WatchMonitor (one
/// per library for a principal scoped to libraries), each snapshot as the page's cells.
async fn stream(State(console): State<Shared>, headers: HeaderMap) -> Response {
    let ctx = match ctx(&console, &headers).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let watches = match pages::watch(&ctx).await {
        Ok(watches) => watches,
        Err(status) => return failure(ctx.lang, &status),
    };
    let services = ctx.services.clone();
    let count = watches.len();
    let updates = futures::stream::select_all(
        watches
            .into_iter()
            .enumerate()
            .map(|(i, s)| s.map(move |r| (i, r))),
    )
    .scan(
        vec![None; count],
        |latest: &mut Vec<Option<readnet_proto::v1::MonitorSnapshot>>, (i, next)| {
            let out = match next {
                Ok(response) => {
                    latest[i] = response.snapshot;
                    Some(latest.iter().flatten().cloned().collect::<Vec<_>>())
                }
                Err(status) => {
                    tracing::info!(%status, "a console's monitor stream ended");
                    None
                }
            };
            futures::future::ready(out)
        },
    )
    .then(move |snapshots| {
        let services = services.clone();
        async move {
            let openings = services.openings().await.unwrap_or_default();
            let centre = monitor::centre(&snapshots, &openings);
            let data = serde_json::to_string(&centre).unwrap_or_else(|_| "{}".into());
            Ok::<_, std::convert::Infallible>(Event::default().event("centre").data(data))
        }
    });
    Sse::new(updates)
        .keep_alive(KeepAlive::default())
        .into_response()
}

const ECHARTS: &[u8] = include_bytes!("../static/echarts.min.js");
const ECHARTS_LICENSE: &[u8] = include_bytes!("../static/LICENSE");
const CONSOLE_JS: &[u8] = include_bytes!("../static/console.js");
const CONSOLE_CSS: &[u8] = include_bytes!("../static/console.css");

/// The vendored files: ECharts and its licence never change under a name (the version is
/// pinned), so they are cached for a year; the console's own script and style for an hour.
async fn static_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, kind, cache) = match file.as_str() {
        "echarts.min.js" => (
            ECHARTS,
            "text/javascript; charset=utf-8",
            "public, max-age=31536000, immutable",
        ),
        "echarts.LICENSE" => (
            ECHARTS_LICENSE,
            "text/plain; charset=utf-8",
            "public, max-age=31536000",
        ),
        "console.js" => (
            CONSOLE_JS,
            "text/javascript; charset=utf-8",
            "public, max-age=3600",
        ),
        "console.css" => (
            CONSOLE_CSS,
            "text/css; charset=utf-8",
            "public, max-age=3600",
        ),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, cache)],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    use super::*;

    /// The console before the server has handed it the services.
    fn console(secure: bool) -> Router {
        router(ServicesSlot::default(), secure, Sessions::ephemeral())
    }

    async fn send(router: &Router, request: Request<Body>) -> (StatusCode, HeaderMap, String) {
        let response = router.clone().oneshot(request).await.expect("an answer");
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("the body").to_bytes();
        (
            parts.status,
            parts.headers,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    fn login_post(cookie: Option<&str>, origin: Option<&str>, csrf: &str) -> Request<Body> {
        let mut request = Request::post("/console/login")
            .header(header::HOST, "console.example:8080")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, format!("{LOGIN_COOKIE}={cookie}"));
        }
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        request
            .body(Body::from(format!("token=t&csrf={csrf}")))
            .expect("a request")
    }

    #[tokio::test]
    async fn the_login_form_carries_the_value_of_its_strict_http_only_cookie() {
        for secure in [false, true] {
            let (status, headers, body) = send(
                &console(secure),
                Request::get("/console/login").body(Body::empty()).unwrap(),
            )
            .await;
            assert_eq!(status, StatusCode::OK);
            let cookie = headers[header::SET_COOKIE].to_str().unwrap();
            assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
            assert_eq!(cookie.contains("; Secure"), secure);
            let value = cookie
                .strip_prefix(&format!("{LOGIN_COOKIE}="))
                .and_then(|rest| rest.split(';').next())
                .expect("the cookie's value");
            assert_eq!(value.len(), 64);
            assert!(body.contains(&format!("name=\"csrf\" value=\"{value}\"")));
        }
    }

    #[tokio::test]
    async fn a_login_without_the_forms_token_or_from_another_origin_is_refused() {
        let console = console(false);
        let own = Some("http://console.example:8080");
        let token = "a".repeat(64);
        for (cookie, origin, csrf) in [
            (None, own, token.as_str()),
            (Some(token.as_str()), own, "b"),
            (
                Some(token.as_str()),
                Some("http://evil.example"),
                token.as_str(),
            ),
            (Some(token.as_str()), None, token.as_str()),
        ] {
            let (status, _, body) = send(&console, login_post(cookie, origin, csrf)).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{cookie:?} {origin:?} {csrf}"
            );
            assert!(body.contains("CSRF"), "{body}");
        }
        // The same form from the console itself passes the check (and finds the server still
        // starting).
        let (status, _, _) = send(&console, login_post(Some(&token), own, &token)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        // Over HTTP/2 the host is the URI's authority, not a Host header.
        let h2 = Request::post("http://console.example:8080/console/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, format!("{LOGIN_COOKIE}={token}"))
            .header(header::ORIGIN, "https://console.example:8080")
            .body(Body::from(format!("token=t&csrf={token}")))
            .unwrap();
        let (status, _, _) = send(&console, h2).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn pages_without_a_session_go_to_the_login_and_echarts_is_cached_for_a_year() {
        let console = console(false);
        let (status, headers, _) = send(
            &console,
            Request::get("/console/lang?to=en&back=//evil.example/")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert!(status.is_redirection());
        assert_eq!(
            headers[header::LOCATION],
            "/console/",
            "never an open redirect"
        );
        let (status, headers, body) = send(
            &console,
            Request::get("/console/static/echarts.min.js")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            headers[header::CACHE_CONTROL]
                .to_str()
                .unwrap()
                .contains("max-age=31536000")
        );
        assert!(body.len() > 500_000, "the vendored release file");
    }
}
