//! The console's HTTP listener under its bounds and its sessions across restarts (ADR 0026):
//! connections past the cap wait while those open are served; a signed session cookie works
//! after a restart, and a forged, logged-out or revoked one does not.

use std::net::SocketAddr;
use std::time::Duration;

use readnet_e2e::v1;
use readnet_e2e::*;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use uuid::Uuid;

/// A response read off a connection: status, headers (lower-case names), body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value a `set-cookie` header gives cookie `name`.
    fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .find_map(|(_, v)| v.strip_prefix(&format!("{name}=")))
            .map(|v| v.split(';').next().unwrap_or_default().to_owned())
    }

    /// The value of the page's hidden `csrf` field.
    fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a CSRF field")
            + 19;
        self.body[at..].split('"').next().unwrap().to_owned()
    }
}

/// Sends one HTTP/1.1 request on `stream` (kept open) and reads its answer.
async fn exchange(
    stream: &mut TcpStream,
    host: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
) -> Answer {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    if let Some(cookie) = cookie {
        request.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    if let Some(form) = form {
        request.push_str(&format!(
            "Origin: http://{host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        ));
    } else {
        request.push_str("\r\n");
    }
    stream.write_all(request.as_bytes()).await.unwrap();
    read_answer(stream).await
}

async fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 8192];
    let (head_end, length) = loop {
        let n = stream.read(&mut buffer).await.expect("an answer");
        assert!(n > 0, "the connection closed before an answer");
        bytes.extend_from_slice(&buffer[..n]);
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..end]).to_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse::<usize>().unwrap())
                .expect("answers in these tests have a length");
            break (end + 4, length);
        }
    };
    while bytes.len() < head_end + length {
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(n > 0, "the connection closed mid-body");
        bytes.extend_from_slice(&buffer[..n]);
    }
    let head = String::from_utf8_lossy(&bytes[..head_end - 4]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    let body = String::from_utf8_lossy(&bytes[head_end..head_end + length]).into_owned();
    Answer {
        status,
        headers,
        body,
    }
}

/// One request on a connection of its own.
async fn once(
    http: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: Option<&str>,
) -> Answer {
    let mut stream = TcpStream::connect(http).await.expect("the HTTP listener");
    exchange(&mut stream, http, method, path, cookie, form).await
}

/// Logs in with `token` through the login form; the session cookie (`name=value`).
async fn login(http: SocketAddr, token: &str) -> String {
    let form = once(http, "GET", "/console/login", None, None).await;
    let csrf = form
        .cookie("readnet_login")
        .expect("the login form's cookie");
    let answer = once(
        http,
        "POST",
        "/console/login",
        Some(&format!("readnet_login={csrf}")),
        Some(&format!("token={token}&csrf={csrf}")),
    )
    .await;
    assert_eq!(answer.status, 303, "logged in: {}", answer.body);
    let session = answer.cookie("readnet_session").expect("a session cookie");
    format!("readnet_session={session}")
}

/// The monitoring centre's status for `cookie`: 200, or 303 to the login form. A server just
/// started answers 503 until its services and projections are up: asked again meanwhile.
async fn centre(http: SocketAddr, cookie: &str) -> (u16, Answer) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let answer = once(http, "GET", "/console/", Some(cookie), None).await;
        if answer.status == 503 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        if answer.status == 303 {
            // `?expired=1` when the cookie was good and its principal no longer is.
            let location = answer.header("location").unwrap_or_default();
            assert!(location.starts_with("/console/login"), "{location}");
        }
        return (answer.status, answer);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_outlives_a_restart_and_forged_logged_out_or_revoked_ones_do_not() {
    let mut fixture = network_jinan_zibo_with(&["--http-listen", "127.0.0.1:0"]).await;
    let http = fixture.server.http_addr();
    let admin = login(http, &fixture.server.admin_token()).await;
    let grant = v1::Grant {
        role: v1::Role::Desk as i32,
        city: String::new(),
        libraries: vec![JN_CENTRAL.to_owned()],
    };
    let desk_token = fixture
        .net
        .add_principal("desk-jn", grant)
        .await
        .expect("a desk principal");
    let desk = login(http, &desk_token).await;
    let to_log_out = login(http, &fixture.server.admin_token()).await;
    for cookie in [&admin, &desk, &to_log_out] {
        assert_eq!(centre(http, cookie).await.0, 200);
    }

    // A cookie changed anywhere is refused: its payload (another principal) or its MAC.
    let value = admin.strip_prefix("readnet_session=").unwrap();
    let (signed, mac) = value.rsplit_once('.').unwrap();
    let payload = signed.strip_prefix("v1.").unwrap();
    let claims = String::from_utf8(hex::decode(payload).unwrap()).unwrap();
    assert!(claims.contains("\"principal\":\"admin\""), "{claims}");
    let forged_payload = hex::encode(claims.replace("\"admin\"", "\"desk-jn\""));
    let forged = format!("readnet_session=v1.{forged_payload}.{mac}");
    assert_eq!(centre(http, &forged).await.0, 303, "another principal");
    let mut flipped = value.to_owned().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
    let flipped = format!("readnet_session={}", String::from_utf8(flipped).unwrap());
    assert_eq!(centre(http, &flipped).await.0, 303, "a MAC bit flipped");

    // A logout ends that session only.
    let (_, page) = centre(http, &to_log_out).await;
    let logout = once(
        http,
        "POST",
        "/console/logout",
        Some(&to_log_out),
        Some(&format!("csrf={}", page.csrf())),
    )
    .await;
    assert_eq!(logout.status, 303);
    assert_eq!(centre(http, &to_log_out).await.0, 303, "logged out");
    assert_eq!(centre(http, &admin).await.0, 200);

    // The server restarts (killed hard): the sessions signed before still work; the logout
    // holds.
    fixture
        .server
        .restart_with(&["--http-listen", "127.0.0.1:0"]);
    let http = fixture.server.http_addr();
    assert_eq!(
        centre(http, &admin).await.0,
        200,
        "a session outlives the restart"
    );
    assert_eq!(centre(http, &desk).await.0, 200);
    assert_eq!(
        centre(http, &to_log_out).await.0,
        303,
        "a logout outlives it too"
    );
    assert_eq!(centre(http, &forged).await.0, 303);

    // Revoking the desk's principal ends its session at once, as it ends its token.
    let admin_net = Net::connect(&fixture.server.url(), Some(&fixture.server.admin_token())).await;
    admin_net
        .access
        .clone()
        .revoke_principal(admin_net.system().request(v1::RevokePrincipalRequest {
            command_id: Uuid::new_v4().to_string(),
            principal: "desk-jn".to_owned(),
            ..Default::default()
        }))
        .await
        .expect("RevokePrincipal");
    let mut refused = false;
    for _ in 0..50 {
        if centre(http, &desk).await.0 == 303 {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "the revoked principal's session is refused");
    assert_eq!(centre(http, &admin).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_http_cap_wait_while_those_open_are_served() {
    let fixture = Fixture::start_with_args(&[
        "--http-listen",
        "127.0.0.1:0",
        "--http-max-connections",
        "2",
    ])
    .await;
    let http = fixture.server.http_addr();
    let path = "/console/login";
    // Two keep-alive connections take the cap.
    let mut first = TcpStream::connect(http).await.unwrap();
    let mut second = TcpStream::connect(http).await.unwrap();
    assert_eq!(
        exchange(&mut first, http, "GET", path, None, None)
            .await
            .status,
        200
    );
    assert_eq!(
        exchange(&mut second, http, "GET", path, None, None)
            .await
            .status,
        200
    );

    // A third is not served while they are open (it waits in the listener's backlog).
    let mut third = TcpStream::connect(http)
        .await
        .expect("the kernel's backlog takes it");
    third
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: {http}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut byte = [0u8; 1];
    let waited = tokio::time::timeout(Duration::from_millis(1500), third.read(&mut byte)).await;
    assert!(waited.is_err(), "a connection past the cap got an answer");

    // The open ones go on being served.
    assert_eq!(
        exchange(&mut first, http, "GET", path, None, None)
            .await
            .status,
        200
    );
    assert_eq!(
        exchange(&mut second, http, "GET", path, None, None)
            .await
            .status,
        200
    );

    // One closes: the waiting one is accepted and answered.
    drop(first);
    let answer = tokio::time::timeout(Duration::from_secs(10), read_answer(&mut third))
        .await
        .expect("served once a connection closed");
    assert_eq!(answer.status, 200);
}
