//! TLS on the listener (`--tls-cert`, `--tls-key`) and mutual TLS (`--client-ca`), with
//! certificates made here: a CA, a server certificate for `localhost` and 127.0.0.1, and client
//! certificates. Reached by tonic clients, the official KurrentDB client and the `readnet` CLI.

use std::path::{Path, PathBuf};
use std::process::Command;

use kurrentdb::{AppendToStreamOptions, EventData, ReadStreamOptions, StreamState};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use readnet_e2e::*;
use serde_json::json;
use tempfile::TempDir;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use uuid::Uuid;

/// A certificate and its private key, as PEM.
struct Pem {
    cert: String,
    key: String,
}

/// A test CA and what it signed, written as PEM files into a directory of their own.
struct Pki {
    dir: TempDir,
    ca: String,
    server: Pem,
    client: Pem,
}

impl Pki {
    fn new() -> Pki {
        let ca_key = KeyPair::generate().expect("a CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "readnet test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).expect("the CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);

        let signed = |names: Vec<String>, usage: ExtendedKeyUsagePurpose| {
            let key = KeyPair::generate().expect("a key");
            let mut params = CertificateParams::new(names.clone()).expect("parameters");
            params
                .distinguished_name
                .push(DnType::CommonName, names[0].clone());
            params.extended_key_usages = vec![usage];
            let cert = params
                .signed_by(&key, &issuer)
                .expect("a signed certificate");
            Pem {
                cert: cert.pem(),
                key: key.serialize_pem(),
            }
        };
        let server = signed(
            vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let client = signed(
            vec!["desk-1.jinan.example".to_owned()],
            ExtendedKeyUsagePurpose::ClientAuth,
        );

        let dir = tempfile::Builder::new()
            .prefix("readnet-pki-")
            .tempdir()
            .expect("a temporary directory");
        let pki = Pki {
            dir,
            ca: ca.pem(),
            server,
            client,
        };
        for (name, pem) in [
            ("ca.pem", &pki.ca),
            ("server.pem", &pki.server.cert),
            ("server.key", &pki.server.key),
            ("client.pem", &pki.client.cert),
            ("client.key", &pki.client.key),
        ] {
            std::fs::write(pki.file(name), pem).expect("a PEM file");
        }
        pki
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `readnet serve`'s flags: this CA's server certificate, and with `mutual`, this CA for
    /// the clients' certificates.
    fn serve(&self, mutual: bool) -> ServeTls {
        ServeTls {
            cert: self.file("server.pem"),
            key: self.file("server.key"),
            client_ca: mutual.then(|| self.file("ca.pem")),
        }
    }

    /// A client that trusts this CA and shows no certificate.
    fn trusting(&self) -> ClientTlsConfig {
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&self.ca))
    }

    /// A client that trusts `self`'s CA and shows `client`'s certificate.
    fn showing(&self, client: &Pem) -> ClientTlsConfig {
        self.trusting()
            .identity(Identity::from_pem(&client.cert, &client.key))
    }
}

/// A server over TLS on a new data directory (kept in `TempDir`).
fn start(pki: &Pki, mutual: bool) -> (TestServer, TempDir) {
    let dir = tempfile::Builder::new()
        .prefix("readnet-e2e-")
        .tempdir()
        .expect("a temporary directory");
    let server = TestServer::start_tls(&dir.path().join("data"), pki.serve(mutual));
    (server, dir)
}

async fn connect(
    url: &str,
    tls: Option<ClientTlsConfig>,
) -> Result<Channel, tonic::transport::Error> {
    let mut endpoint = Endpoint::from_shared(url.to_owned())
        .expect("a URL")
        .connect_timeout(WAIT)
        .timeout(WAIT);
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls).expect("TLS settings");
    }
    endpoint.connect().await
}

/// The admin over `tls`; panics if the connection fails.
async fn admin(server: &TestServer, tls: ClientTlsConfig) -> Net {
    let channel = connect(&server.url(), Some(tls))
        .await
        .unwrap_or_else(|e| panic!("connecting to {}: {e:?}", server.url()));
    Net::over(channel, Some(&server.admin_token()))
}

/// What happens when the admin tries to join a city over a connection made with `tls`: the
/// connection's or the call's error, if either fails.
async fn join_city_over(
    url: &str,
    tls: Option<ClientTlsConfig>,
    token: &str,
) -> Result<(), String> {
    let channel = connect(url, tls).await.map_err(|e| format!("{e:?}"))?;
    Net::over(channel, Some(token))
        .system()
        .join_city(ZIBO, "淄博")
        .await
        .map(drop)
        .map_err(|status| format!("{status:?}"))
}

#[tokio::test]
async fn over_tls_a_token_holder_is_served_and_a_plaintext_connection_is_not() {
    let pki = Pki::new();
    let (server, _dir) = start(&pki, false);
    let net = admin(&server, pki.trusting()).await;
    let head = net.head_position().await;
    net.system()
        .join_city(JINAN, "济南")
        .await
        .expect("JoinCity over TLS");
    assert_eq!(net.head_position().await, head + 1);
    assert!(
        server.stderr_text().contains("TLS is on"),
        "the server says it serves TLS:\n{}",
        server.stderr_text()
    );

    let plaintext = format!("http://{}", server.addr());
    let refused = join_city_over(&plaintext, None, &server.admin_token()).await;
    assert!(
        refused.is_err(),
        "a plaintext HTTP/2 connection to the TLS port is not served"
    );
    assert_eq!(
        net.head_position().await,
        head + 1,
        "nothing written over plaintext"
    );
}

#[tokio::test]
async fn with_a_client_ca_only_clients_with_a_certificate_it_signed_are_served() {
    let pki = Pki::new();
    let (server, _dir) = start(&pki, true);
    let net = admin(&server, pki.showing(&pki.client)).await;
    net.system()
        .join_city(JINAN, "济南")
        .await
        .expect("JoinCity with a client certificate");
    let head = net.head_position().await;
    assert!(
        server.stderr_text().contains("mutual TLS is on"),
        "{}",
        server.stderr_text()
    );

    let token = server.admin_token();
    let without = join_city_over(&server.url(), Some(pki.trusting()), &token).await;
    assert!(
        without.is_err(),
        "a client without a certificate is refused at the handshake, token or not"
    );
    let stranger = Pki::new();
    let foreign = join_city_over(
        &server.url(),
        Some(pki.trusting().identity(Identity::from_pem(
            &stranger.client.cert,
            &stranger.client.key,
        ))),
        &token,
    )
    .await;
    assert!(
        foreign.is_err(),
        "a certificate another CA signed is refused"
    );
    assert_eq!(
        net.head_position().await,
        head,
        "the refused connections wrote nothing"
    );
    assert!(
        net.system().join_city(ZIBO, "淄博").await.is_ok(),
        "the good client still is served"
    );
}

fn readnet(args: &[&str]) -> std::process::Output {
    Command::new(readnet_binary())
        .args(args)
        .output()
        .expect("readnet runs")
}

fn path_text(path: &Path) -> String {
    path.to_str().expect("a UTF-8 path").to_owned()
}

#[tokio::test]
async fn the_readnet_cli_reaches_an_https_server_with_its_ca_and_a_token() {
    let pki = Pki::new();
    let (server, _dir) = start(&pki, false);
    server.admin_token();
    let (url, data) = (server.url(), path_text(server.data_dir()));
    let ca = path_text(&pki.file("ca.pem"));

    let whoami = readnet(&[
        "principal",
        "whoami",
        "--server",
        &url,
        "--tls-ca",
        &ca,
        "--data",
        &data,
    ]);
    let stdout = String::from_utf8_lossy(&whoami.stdout);
    assert!(
        whoami.status.success() && stdout.starts_with("admin network-admin"),
        "{whoami:?}"
    );

    let untrusted = readnet(&["principal", "whoami", "--server", &url, "--data", &data]);
    assert!(
        !untrusted.status.success(),
        "without --tls-ca the test CA is not trusted: {untrusted:?}"
    );
}

#[tokio::test]
async fn the_readnet_cli_shows_its_client_certificate_to_a_mutual_tls_server() {
    let pki = Pki::new();
    let (server, _dir) = start(&pki, true);
    server.admin_token();
    let (url, data) = (server.url(), path_text(server.data_dir()));
    let [ca, cert, key] = ["ca.pem", "client.pem", "client.key"].map(|f| path_text(&pki.file(f)));
    let whoami = [
        "principal",
        "whoami",
        "--server",
        &url,
        "--data",
        &data,
        "--tls-ca",
        &ca,
    ];

    let shown = readnet(&[&whoami[..], &["--tls-cert", &cert, "--tls-key", &key]].concat());
    assert!(shown.status.success(), "{shown:?}");
    let not_shown = readnet(&whoami);
    assert!(
        !not_shown.status.success(),
        "without a client certificate the server refuses: {not_shown:?}"
    );
}

fn kurrent_url(server: &TestServer, credentials: Option<&str>, ca: &Path) -> String {
    format!(
        "kurrentdb://{}localhost:{}?tls=true&tlsCAFile={}",
        credentials.map(|c| format!("{c}@")).unwrap_or_default(),
        server.addr().port(),
        ca.display()
    )
}

fn kurrent(url: &str) -> kurrentdb::Client {
    kurrentdb::Client::new(url.parse().expect("a connection string")).expect("a KurrentDB client")
}

#[tokio::test]
async fn the_official_kurrentdb_client_connects_over_tls_with_credentials_and_is_refused_without() {
    let pki = Pki::new();
    let (server, _dir) = start(&pki, false);
    let ca = pki.file("ca.pem");
    let credentials = format!("admin:{}", server.admin_token());
    let client = kurrent(&kurrent_url(&server, Some(&credentials), &ca));
    let stream = format!("orders-{}", Uuid::new_v4());
    let event = EventData::json("OrderPlaced", &json!({ "n": 1 }))
        .expect("json")
        .id(Uuid::new_v4());
    client
        .append_to_stream(
            stream.as_str(),
            &AppendToStreamOptions::default().stream_state(StreamState::NoStream),
            event,
        )
        .await
        .expect("an append over TLS with credentials");
    let mut read = client
        .read_stream(stream.as_str(), &ReadStreamOptions::default())
        .await
        .expect("ReadStream over TLS");
    let first = read
        .next()
        .await
        .expect("a read event")
        .expect("the appended event");
    assert_eq!(first.get_original_event().event_type, "OrderPlaced");

    let anonymous = kurrent(&kurrent_url(&server, None, &ca));
    let refused = anonymous
        .append_to_stream(
            stream.as_str(),
            &AppendToStreamOptions::default(),
            EventData::json("OrderPaid", &json!({ "n": 2 }))
                .expect("json")
                .id(Uuid::new_v4()),
        )
        .await;
    assert!(
        matches!(refused, Err(kurrentdb::Error::AccessDenied)),
        "UNAUTHENTICATED reaches the client as its AccessDenied: {refused:?}"
    );
    let mut events = client
        .read_stream(stream.as_str(), &ReadStreamOptions::default())
        .await
        .expect("ReadStream");
    let mut count = 0;
    while events.next().await.expect("a read event").is_some() {
        count += 1;
    }
    assert_eq!(count, 1, "the refused append wrote nothing");
}

/// One SIP2 answer read from `stream` (up to its `\r`), or why there is none.
fn sip2_answer(stream: &mut impl std::io::Read) -> Result<String, String> {
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match stream.read(&mut byte) {
            Ok(0) => return Err("the server closed the connection".to_owned()),
            Ok(_) if byte[0] == b'\r' => return Ok(String::from_utf8_lossy(&answer).into_owned()),
            Ok(_) => answer.push(byte[0]),
            Err(e) => return Err(e.to_string()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_speaks_sip2_over_tls_with_the_listeners_certificate_and_plain_tcp_gets_nothing() {
    use std::io::Write as _;
    use std::sync::Arc;

    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_tls_with_args(
        &dir.path().join("data"),
        pki.serve(false),
        &["--sip2-listen", "127.0.0.1:0"],
    );
    let net = admin(&server, pki.trusting()).await;
    let system = net.system();
    system.join_city(JINAN, "济南").await.unwrap();
    system
        .register_library(
            JN_CENTRAL,
            JINAN,
            readnet_proto::v1::LibraryTier::Central,
            "",
        )
        .await
        .unwrap();
    net.at(JN_CENTRAL)
        .catalogue("JN-TLS-0001", JN_CENTRAL)
        .await
        .unwrap();
    let token = net
        .add_principal(
            "kiosk-tls",
            readnet_proto::v1::Grant {
                role: readnet_proto::v1::Role::Kiosk as i32,
                libraries: vec![JN_CENTRAL.to_owned()],
                ..Default::default()
            },
        )
        .await
        .unwrap();

    // A kiosk that trusts the network's CA, over TLS from the first byte.
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject as _;
    for ca in rustls::pki_types::CertificateDer::pem_slice_iter(pki.ca.as_bytes()) {
        roots.add(ca.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connection =
        rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap();
    let tcp = std::net::TcpStream::connect(server.sip2_addr()).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let mut kiosk = rustls::StreamOwned::new(connection, tcp);
    let date = chrono::Utc::now().format("%Y%m%d    %H%M%S").to_string();
    let card = "370102199001011234";
    let answers = tokio::task::spawn_blocking(move || {
        let mut call = |request: String| {
            kiosk.write_all(format!("{request}\r").as_bytes()).unwrap();
            kiosk.flush().unwrap();
            sip2_answer(&mut kiosk).unwrap()
        };
        let login = call(format!("9300CNkiosk-tls|CO{token}|CPJN-CENTRAL|"));
        let checkout = call(format!(
            "11YN{date}{date}AOJN-CENTRAL|AA{card}|ABJN-TLS-0001|AC|"
        ));
        (login, checkout)
    })
    .await
    .unwrap();
    assert!(answers.0.starts_with("941"), "login: {}", answers.0);
    assert!(answers.1.starts_with("121"), "checkout: {}", answers.1);
    // The loan is the ledger's, made through the kiosk.
    let item = net.item("JN-TLS-0001").await;
    assert_eq!(
        item.status(),
        readnet_proto::v1::ItemStatus::OnLoan,
        "{item:?}"
    );
    assert!(item.due_at.is_some(), "{item:?}");

    // A kiosk speaking plain SIP2 to the TLS port gets no SIP2 answer, and the server goes on.
    let mut plain = std::net::TcpStream::connect(server.sip2_addr()).unwrap();
    plain.set_read_timeout(Some(WAIT)).unwrap();
    plain
        .write_all(b"9300CNkiosk-tls|COwhatever|CPJN-CENTRAL|\r")
        .unwrap();
    let answer = sip2_answer(&mut plain);
    assert!(
        answer.as_ref().is_err() || !answer.as_ref().unwrap().starts_with("94"),
        "{answer:?}"
    );
    net.at(JN_CENTRAL)
        .catalogue("JN-TLS-0002", JN_CENTRAL)
        .await
        .expect("the server still serves");
}
