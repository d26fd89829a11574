//! The web console in a real headless Chromium (Debian's `chromium` and `chromium-driver`,
//! driven over WebDriver): log in, the monitoring centre against the gRPC Monitor answer, a
//! checkout seen live without a reload, a chart and a settlement drill-down, and the pages a
//! desk may and may not open. Screenshots go to `target/console-screenshots/`.
//!
//! Without chromium and chromedriver the tests print why and pass, unless
//! `READNET_REQUIRE_BROWSER` is set (`.ci/run` sets it), when they fail.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use readnet_e2e::client::card;
use readnet_e2e::network::*;
use readnet_proto::v1;
use readnet_proto::v1::settlement_service_client::SettlementServiceClient;
use readnet_proto::v1::statistics_service_client::StatisticsServiceClient;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver and a headless Chromium session; dropping it ends both.
struct Browser {
    client: Option<Client>,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The browser, or `None` (with the reason printed) when this machine has none and the run
/// does not require one.
async fn browser() -> Option<Browser> {
    browser_with(&[]).await
}

/// [`browser`] with more Chromium flags.
async fn browser_with(flags: &[&str]) -> Option<Browser> {
    let found = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !found {
        if std::env::var_os("READNET_REQUIRE_BROWSER").is_some() {
            panic!("READNET_REQUIRE_BROWSER is set but {CHROMIUM} or {CHROMEDRIVER} is missing");
        }
        eprintln!(
            "skipped: no {CHROMIUM} and {CHROMEDRIVER} (apt-get install chromium chromium-driver; \
             .ci/run installs them and sets READNET_REQUIRE_BROWSER=1)"
        );
        return None;
    }
    let port = {
        let probe = TcpListener::bind("127.0.0.1:0").expect("a free port");
        probe.local_addr().expect("an address").port()
    };
    let driver = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let profile = tempfile::tempdir().expect("a profile directory");
    let mut args: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
    ]
    .into_iter()
    .chain(flags.iter().copied())
    .map(str::to_owned)
    .collect();
    args.push(format!("--user-data-dir={}", profile.path().display()));
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "binary": CHROMIUM, "args": args }),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => break client,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("cannot start a Chromium session through chromedriver: {e}"),
        }
    };
    Some(Browser {
        client: Some(client),
        driver,
        _profile: profile,
    })
}

impl Browser {
    fn client(&self) -> &Client {
        self.client.as_ref().expect("a session")
    }

    async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
    }

    async fn login(&self, http: SocketAddr, token: &str) {
        self.login_at(&format!("http://{http}"), token).await;
    }

    async fn login_at(&self, origin: &str, token: &str) {
        let c = self.client();
        c.goto(&format!("{origin}/console/login"))
            .await
            .expect("the login page");
        c.find(Locator::Id("token"))
            .await
            .expect("the token field")
            .send_keys(token)
            .await
            .expect("typing the token");
        c.find(Locator::Id("login"))
            .await
            .expect("the login button")
            .click()
            .await
            .expect("logging in");
    }

    async fn text(&self, css: &str) -> String {
        self.client()
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} on the page: {e}"))
            .text()
            .await
            .expect("its text")
    }

    /// Waits (at most 20 s) until the element `css` has text `want`.
    async fn wait_text(&self, css: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let now = self
                .client()
                .find(Locator::Css(css))
                .await
                .ok()
                .map(|e| async move { e.text().await.unwrap_or_default() });
            let text = match now {
                Some(f) => f.await,
                None => String::new(),
            };
            if text == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{css} shows {text:?}, not {want:?}, after 20 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn screenshot(&self, name: &str) {
        let png = self.client().screenshot().await.expect("a screenshot");
        let dir = screenshots();
        std::fs::create_dir_all(&dir).expect("the screenshot directory");
        std::fs::write(dir.join(name), png).expect("the screenshot");
    }
}

fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/console-screenshots")
        .to_path_buf()
}

fn timestamp(at: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: 0,
    }
}

/// The demo's 24-hour library, where the test's gate counter stands.
const QUANCHENG_24H: &str = "JN-QUANCHENG-24H";

#[tokio::test]
async fn the_monitoring_centre_shows_the_demos_network_and_a_checkout_live() {
    let Some(browser) = browser().await else {
        return;
    };
    let fixture =
        readnet_e2e::network::Fixture::start_with_args(&["--http-listen", "127.0.0.1:0"]).await;
    let http = fixture.server.http_addr();
    let (played, stdout, stderr) = crate::service::play_demo(&fixture.server).await;
    assert!(played, "readnet demo failed:\n{stdout}\n{stderr}");
    // A book of the central library for the live checkout, and the 24-hour library's second
    // gate reporting a quarter of an hour of visits.
    let desk = fixture.net.at(JN_CENTRAL);
    desk.catalogue("JN-CONSOLE-1", JN_CENTRAL)
        .await
        .expect("CatalogueItem");
    let now = chrono::Utc::now();
    let footfall = fixture
        .net
        .circulation
        .clone()
        .report_footfall(
            fixture
                .net
                .at(QUANCHENG_24H)
                .request(v1::ReportFootfallRequest {
                    gate: "side-door".into(),
                    interval_start: Some(timestamp(now - chrono::Duration::minutes(20))),
                    interval_end: Some(timestamp(now - chrono::Duration::minutes(5))),
                    visits: 37,
                    ..Default::default()
                }),
        )
        .await
        .expect("ReportFootfall")
        .into_inner();
    let position = footfall.receipt.expect("a receipt").position;
    let monitor = StatisticsServiceClient::new(fixture.net.channel.clone())
        .monitor(v1::MonitorRequest {
            min_position: Some(position),
            library: String::new(),
        })
        .await
        .expect("Monitor")
        .into_inner()
        .snapshot
        .expect("a snapshot");
    assert_eq!(monitor.libraries.len(), 6, "the demo's libraries");

    browser.login(http, &fixture.server.admin_token()).await;
    let c = browser.client();
    c.wait()
        .for_element(Locator::Id("centre"))
        .await
        .expect("the monitoring centre after logging in");
    let session = session_cookie(&browser).await;
    assert_eq!(
        (session.0, session.1, session.2.as_str()),
        (true, false, "Some(Strict)"),
        "the session cookie over plain HTTP: HttpOnly, not Secure, SameSite=Strict"
    );
    // The page is live (its EventSource has delivered a snapshot): from here on the cells show
    // the pushed snapshots, at or after the footfall's position.
    browser.wait_text("#live[data-live=\"1\"]", "实时").await;
    let rows = c
        .find_all(Locator::Css("tr.library"))
        .await
        .expect("library rows");
    assert_eq!(rows.len(), monitor.libraries.len(), "one row per library");
    let mut lent_today = 0;
    for l in &monitor.libraries {
        lent_today += l.loans_today;
        for (key, value) in [
            ("loans_today", l.loans_today),
            ("returns_today", l.returns_today),
            ("on_loan", l.on_loan),
            ("overdue", l.overdue),
            ("in_transit", l.in_transit),
            ("holds_waiting", l.holds_waiting),
            ("visits_today", l.visits_today),
        ] {
            let cell = format!("[data-cell=\"lib:{}:{key}\"]", l.library);
            assert_eq!(
                browser.text(&cell).await,
                value.to_string(),
                "{} {key} as Monitor says",
                l.library
            );
        }
    }
    assert!(lent_today > 0, "the demo lent books today");
    assert_eq!(
        browser.text("[data-cell=\"net:loans_today\"]").await,
        lent_today.to_string(),
        "the network's total"
    );
    let gate = monitor
        .libraries
        .iter()
        .find(|l| l.library == QUANCHENG_24H)
        .expect("the 24-hour library");
    // The demo's gate reported 128 (its story says so); the side door 37.
    assert_eq!(gate.visits_today, 128 + 37);
    assert_eq!(gate.parent, JN_CENTRAL, "grouped under the central library");
    browser.screenshot("monitoring-centre.png").await;

    // A checkout over gRPC shows without a reload: the marker set now survives.
    let central = monitor
        .libraries
        .iter()
        .find(|l| l.library == JN_CENTRAL)
        .expect("JN-CENTRAL");
    c.execute("window.readnetMarker = 42;", vec![])
        .await
        .expect("a marker");
    desk.checkout("JN-CONSOLE-1", card(JINAN, "370102000001"))
        .await
        .expect("Checkout");
    browser
        .wait_text(
            &format!("[data-cell=\"lib:{JN_CENTRAL}:loans_today\"]"),
            &(central.loans_today + 1).to_string(),
        )
        .await;
    browser
        .wait_text(
            "[data-cell=\"net:loans_today\"]",
            &(lent_today + 1).to_string(),
        )
        .await;
    let marker = c
        .execute("return window.readnetMarker;", vec![])
        .await
        .expect("the marker");
    assert_eq!(marker, serde_json::json!(42), "the page was not reloaded");
    browser.screenshot("monitoring-centre-live.png").await;

    // A chart.
    c.goto(&format!("http://{http}/console/charts"))
        .await
        .expect("the charts");
    c.wait()
        .for_element(Locator::Css("#chart-hours[data-drawn=\"1\"] canvas"))
        .await
        .expect("the loans-per-hour chart drawn");
    browser.screenshot("charts.png").await;

    // The settlement overview and a line's charges: the demo's cross-city loans and returns.
    let period = now
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m")
        .to_string();
    let statement = SettlementServiceClient::new(fixture.net.channel.clone())
        .get_statement(v1::GetStatementRequest {
            period: period.clone(),
            min_position: Some(position),
        })
        .await
        .expect("GetStatement")
        .into_inner()
        .statement
        .expect("a statement");
    let line = statement.lines.first().expect("a statement line");
    c.goto(&format!("http://{http}/console/settlement?period={period}"))
        .await
        .expect("the settlement page");
    c.wait()
        .for_element(Locator::Css("#chart-nets[data-drawn=\"1\"] canvas"))
        .await
        .expect("the nets chart drawn");
    browser.screenshot("settlement.png").await;
    c.find(Locator::Css("a.drill"))
        .await
        .expect("a drill-down link")
        .click()
        .await
        .expect("opening the charges");
    c.wait()
        .for_element(Locator::Id("charges"))
        .await
        .expect("the charge lines");
    assert_eq!(
        browser.text("#charge-count").await,
        line.count.to_string(),
        "as many charge lines as the statement's first line counts"
    );
    let yuan = format!("{}.{:02}", line.amount_fen / 100, line.amount_fen % 100);
    assert_eq!(browser.text("#charge-total").await, yuan);
    browser.screenshot("settlement-charges.png").await;
    browser.close().await;
}

#[tokio::test]
async fn a_desk_opens_its_pages_and_a_principal_without_rights_gets_403() {
    let Some(browser) = browser().await else {
        return;
    };
    let fixture = network_jinan_zibo_with(&["--http-listen", "127.0.0.1:0"]).await;
    let http = fixture.server.http_addr();
    let grant = |role: v1::Role, libraries: &[&str]| v1::Grant {
        role: role as i32,
        city: String::new(),
        libraries: libraries.iter().map(|l| (*l).to_owned()).collect(),
    };
    let desk_token = fixture
        .net
        .add_principal("desk-jn", grant(v1::Role::Desk, &[JN_CENTRAL]))
        .await
        .expect("a desk principal");
    let booth_token = fixture
        .net
        .add_principal("booth-jn", grant(v1::Role::Booth, &[JN_BOOTH]))
        .await
        .expect("a booth principal");
    fixture
        .net
        .at(JN_CENTRAL)
        .checkout(JN_BOOKS[0], card(JINAN, "370102000009"))
        .await
        .expect("Checkout");

    browser.login(http, &desk_token).await;
    let c = browser.client();
    c.wait()
        .for_element(Locator::Id("centre"))
        .await
        .expect("the desk's monitoring centre");
    let rows = c.find_all(Locator::Css("tr.library")).await.expect("rows");
    assert_eq!(rows.len(), 1, "a desk sees its own library");
    // On a phone, in English: the switch keeps the page, the labels change.
    c.set_window_size(390, 844).await.expect("a phone's window");
    c.find(Locator::Id("lang"))
        .await
        .expect("the language switch")
        .click()
        .await
        .expect("switching");
    browser.wait_text("main h1", "Monitoring centre").await;
    browser.screenshot("desk-phone-english.png").await;
    c.find(Locator::Id("lang"))
        .await
        .expect("the language switch")
        .click()
        .await
        .expect("switching back");
    browser.wait_text("main h1", "监测中心").await;
    c.set_window_size(1280, 900)
        .await
        .expect("a desktop window");
    for (page, element) in [
        (format!("/console/item?code={}", JN_BOOKS[0]), "item-status"),
        ("/console/account".to_owned(), "account-lookup"),
        (
            format!("/console/worklists?library={JN_CENTRAL}"),
            "count-overdue",
        ),
    ] {
        c.goto(&format!("http://{http}{page}")).await.expect(&page);
        let shown = c
            .find(Locator::Id(element))
            .await
            .unwrap_or_else(|e| panic!("{page} shows #{element} to a desk: {e}"))
            .text()
            .await
            .expect("its text");
        if element == "item-status" {
            assert_eq!(shown, "ON_LOAN", "the item lent above");
        }
    }
    // Network-wide pages are not a desk's: a clear 403 page naming the act.
    for page in ["/console/charts", "/console/settlement"] {
        c.goto(&format!("http://{http}{page}")).await.expect(page);
        assert_eq!(browser.text("#message-title").await, "无权访问", "{page}");
        assert!(
            browser.text("#message").await.contains("desk-jn"),
            "the refusal names the principal"
        );
    }
    browser.screenshot("desk-403.png").await;
    // Another library's work lists are refused too.
    c.goto(&format!(
        "http://{http}/console/worklists?library={ZB_CENTRAL}"
    ))
    .await
    .expect("worklists");
    assert_eq!(browser.text("#message-title").await, "无权访问");

    // A booth may read none of the monitoring centre.
    c.find(Locator::Id("logout")).await.ok();
    c.delete_all_cookies().await.expect("cookies cleared");
    browser.login(http, &booth_token).await;
    c.wait()
        .for_element(Locator::Id("message-title"))
        .await
        .expect("a refusal");
    assert_eq!(browser.text("#message-title").await, "无权访问");
    browser.close().await;
}

/// The session cookie's HttpOnly, Secure and SameSite attributes, as the browser keeps it.
async fn session_cookie(browser: &Browser) -> (bool, bool, String) {
    let cookies = browser
        .client()
        .get_all_cookies()
        .await
        .expect("the page's cookies");
    let session = cookies
        .iter()
        .find(|c| c.name() == "readnet_session")
        .unwrap_or_else(|| panic!("a session cookie among {cookies:?}"));
    (
        session.http_only().unwrap_or(false),
        session.secure().unwrap_or(false),
        format!("{:?}", session.same_site()),
    )
}

#[tokio::test]
async fn over_tls_the_console_is_served_with_a_secure_session_cookie() {
    let Some(browser) = browser_with(&["--ignore-certificate-errors"]).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("a directory");
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("a certificate");
    let (cert, key) = (dir.path().join("server.pem"), dir.path().join("server.key"));
    std::fs::write(&cert, certified.cert.pem()).expect("the certificate");
    std::fs::write(&key, certified.signing_key.serialize_pem()).expect("the key");
    let server = readnet_e2e::server::TestServer::start_tls_with_args(
        &dir.path().join("data"),
        readnet_e2e::server::ServeTls {
            cert,
            key,
            client_ca: None,
        },
        &["--http-listen", "127.0.0.1:0"],
    );
    let http = server.http_addr();
    browser
        .login_at(&format!("https://{http}"), &server.admin_token())
        .await;
    browser
        .client()
        .wait()
        .for_element(Locator::Id("centre"))
        .await
        .expect("the monitoring centre over https");
    browser.wait_text("#live[data-live=\"1\"]", "实时").await;
    let (http_only, secure, same_site) = session_cookie(&browser).await;
    assert!(http_only && secure, "HttpOnly and Secure over TLS");
    assert_eq!(same_site, "Some(Strict)");
    browser.close().await;
}
