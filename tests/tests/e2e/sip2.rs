//! SIP2 end to end: `readnet serve --sip2-listen`, driven by the real, unmodified
//! `sip2-client-cli` of crates.io `sip2` 0.3.4 (login, SC status, patron status and information,
//! item information, checkout, checkin, fee paid), and by a raw TCP client for what that client
//! cannot send: every message with `AY`/`AZ`, a resend after a lost answer, a kiosk out of its
//! library, malformed frames.
//!
//! The client is found at `$READNET_SIP2_CLIENT`, else `target/tools/bin/sip2-client-cli`
//! (`.ci/run` installs it there). Without it these tests fail when
//! `READNET_REQUIRE_SIP2_CLIENT=1` (CI) and are skipped, saying so, otherwise.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use readnet_e2e::v1;
use readnet_e2e::*;

const JN_24H: &str = "JN-24H";
const KIOSK: &str = "kiosk-24h";
const KIOSK_BOOKS: [&str; 3] = ["K-000001", "K-000002", "K-000003"];
const READER: &str = "370102199001011234";

/// The client binary, or why the test cannot run.
fn sip2_client() -> Option<PathBuf> {
    let path = std::env::var_os("READNET_SIP2_CLIENT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/tools/bin/sip2-client-cli")
        });
    if path.is_file() {
        return Some(path);
    }
    let why = format!(
        "sip2-client-cli is not at {}: install it with `cargo install sip2 --version 0.3.4 \
         --locked --root target/tools` (as .ci/run does) or set READNET_SIP2_CLIENT",
        path.display()
    );
    if std::env::var("READNET_REQUIRE_SIP2_CLIENT").as_deref() == Ok("1") {
        panic!("{why}");
    }
    eprintln!("SKIPPED: {why}");
    None
}

/// The Jinan–Zibo network with a 24-hour self-service library, its kiosk principal and three
/// books of its own; the server serves SIP2. Returns the kiosk's token.
async fn kiosk_network() -> (Fixture, String) {
    kiosk_network_with(&[]).await
}

/// [`kiosk_network`] with more `readnet serve` flags.
async fn kiosk_network_with(flags: &[&str]) -> (Fixture, String) {
    let mut args = vec!["--sip2-listen", "127.0.0.1:0"];
    args.extend_from_slice(flags);
    let fixture = network_jinan_zibo_with(&args).await;
    let net = fixture.net.clone();
    net.system()
        .register_library(JN_24H, JINAN, v1::LibraryTier::SelfService, JN_CENTRAL)
        .await
        .expect("RegisterLibrary JN-24H");
    net.system()
        .set_library_roles(JN_24H, true, false)
        .await
        .expect("JN-24H is a pickup point");
    let token = net
        .add_principal(
            KIOSK,
            v1::Grant {
                role: v1::Role::Kiosk as i32,
                libraries: vec![JN_24H.to_owned()],
                ..Default::default()
            },
        )
        .await
        .expect("AddPrincipal kiosk-24h");
    let desk = net.at(JN_24H);
    for item in KIOSK_BOOKS {
        desk.catalogue(item, JN_24H)
            .await
            .unwrap_or_else(|s| panic!("CatalogueItem {item}: {s:?}"));
    }
    (fixture, token)
}

/// The SIP2 checksum of everything up to and including `AZ`.
fn checksum(text: &str) -> String {
    let sum = text.bytes().fold(0u16, |s, b| s.wrapping_add(u16::from(b)));
    format!("{:04X}", sum.wrapping_neg())
}

/// A raw SIP2 connection: frames with a sequence number and checksum, answers checked.
pub(crate) struct Raw {
    stream: TcpStream,
    sequence: u8,
}

impl Raw {
    pub(crate) fn connect(addr: SocketAddr) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect to the SIP2 listener");
        stream.set_read_timeout(Some(WAIT)).expect("a read timeout");
        Raw {
            stream,
            sequence: 0,
        }
    }

    /// `body` framed as SIP2's error detection frames it: `AY<n>AZ<checksum>\r`.
    fn frame(body: &str, sequence: u8) -> String {
        let head = format!("{body}AY{sequence}AZ");
        format!("{head}{}", checksum(&head))
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Sends `body` with the next sequence number; returns the answer, its trailer checked.
    pub(crate) fn call(&mut self, body: &str) -> String {
        self.sequence = (self.sequence + 1) % 10;
        let frame = Raw::frame(body, self.sequence);
        self.send_framed(&frame)
    }

    /// Sends a framed request exactly as given; returns the answer, its trailer checked.
    fn send_framed(&mut self, frame: &str) -> String {
        self.send_raw(format!("{frame}\r").as_bytes());
        let answer = self.read_answer().expect("an answer");
        let at = answer.rfind("AZ").expect("the answer ends with AZ");
        assert_eq!(
            &answer[at + 2..],
            checksum(&answer[..at + 2]),
            "the answer's checksum: {answer}"
        );
        answer
    }

    /// One answer, without its terminator; `None` when the server closed the connection.
    fn read_answer(&mut self) -> Option<String> {
        let mut answer = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            match self.stream.read(&mut byte) {
                Ok(0) => return None,
                Ok(_) if byte[0] == b'\r' => break,
                Ok(_) => answer.push(byte[0]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("reading a SIP2 answer: {e}"),
            }
        }
        Some(String::from_utf8(answer).expect("UTF-8 answers"))
    }

    fn login(&mut self, token: &str, location: &str) -> String {
        let location = if location.is_empty() {
            String::new()
        } else {
            format!("CP{location}|")
        };
        self.call(&format!("9300CN{KIOSK}|CO{token}|{location}"))
    }
}

/// A field's value in an answer (`|XXvalue|`), the first of its code.
fn field<'a>(answer: &'a str, code: &str) -> Option<&'a str> {
    answer
        .split('|')
        .skip(1)
        .chain(std::iter::once(answer))
        .find_map(|part| part.strip_prefix(code))
        .map(|v| v.split('|').next().unwrap_or(v))
}

/// A SIP2 date now (the server takes its own time; the field is the kiosk's).
fn now() -> String {
    chrono::Utc::now().format("%Y%m%d    %H%M%S").to_string()
}

fn run_client(client: &PathBuf, addr: SocketAddr, token: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(client)
        .args([
            "--sip-host",
            &addr.to_string(),
            "--sip-user",
            KIOSK,
            "--sip-pass",
            token,
            "--print-raw-messages",
        ])
        .args(args)
        .output()
        .expect("sip2-client-cli runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "sip2-client-cli failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The raw answer the client printed for response code `code`.
fn raw_answer<'a>(stdout: &'a str, code: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.starts_with(code) && l.contains("AY") && l.contains("AZ"))
        .unwrap_or_else(|| panic!("no raw {code} answer in:\n{stdout}"))
}

#[tokio::test]
async fn the_sip2_client_logs_in_reads_a_patron_and_an_item_checks_out_checks_in_and_pays() {
    let Some(client) = sip2_client() else { return };
    let (fixture, token) = kiosk_network().await;
    let addr = fixture.server.sip2_addr();
    let item = KIOSK_BOOKS[0];
    let out = run_client(
        &client,
        addr,
        &token,
        &[
            "--patron-barcode",
            READER,
            "--item-barcode",
            item,
            "--patron-summary-index",
            "2",
            "--message-type",
            "item-information",
            "--message-type",
            "checkout",
            "--message-type",
            "patron-status",
            "--message-type",
            "patron-information",
            "--message-type",
            "checkin",
        ],
    );
    assert!(out.contains("Login OK"), "{out}");
    assert!(out.contains("SC Status OK"), "{out}");
    let info = raw_answer(&out, "18");
    assert!(info.starts_with("1803"), "available: {info}");
    assert_eq!(field(info, "AJ"), Some(format!("Title of {item}").as_str()));
    let checkout = raw_answer(&out, "12");
    assert!(checkout.starts_with("121NU"), "accepted: {checkout}");
    let due = field(checkout, "AH").expect("a due date");
    assert_eq!(due.len(), 18, "YYYYMMDDZZZZHHMMSS: {due:?}");
    assert_eq!(&due[8..12], "    ", "local time of the library: {due:?}");
    assert_eq!(&due[12..], "235959", "the end of the due day: {due:?}");
    let status = raw_answer(&out, "24");
    assert_eq!(field(status, "BL"), Some("Y"), "{status}");
    assert_eq!(field(status, "AE"), Some("jinan:****1234"), "{status}");
    let information = raw_answer(&out, "64");
    // One charged item, listed because the summary asked for charged items.
    assert_eq!(
        &information[45..49],
        "0001",
        "charged items count: {information}"
    );
    assert_eq!(field(information, "AU"), Some(item), "{information}");
    let checkin = raw_answer(&out, "10");
    assert!(checkin.starts_with("101"), "accepted: {checkin}");

    // The same commands as gRPC's, on the kiosk channel, as the kiosk's principal.
    let events = fixture.net.read_stream(&format!("item-{item}")).await;
    let loaned = events
        .iter()
        .find(|e| e.event_type == "ItemLoaned")
        .expect("a loan");
    assert_eq!(loaned.channel, v1::Channel::Kiosk as i32);
    assert_eq!(loaned.principal, KIOSK);
    assert_eq!(loaned.acting_library, JN_24H);
    assert!(events.iter().any(|e| e.event_type == "ItemReturned"));
    assert_eq!(
        fixture.net.item(item).await.status(),
        v1::ItemStatus::OnShelf
    );
    let log = fixture.server.stderr_text();
    assert!(!log.contains(READER), "the card number reached the logs");

    // A lost book, paid in part at the kiosk with the client's fee paid.
    let lost = KIOSK_BOOKS[1];
    let desk = fixture.net.at(JN_24H);
    accepted(desk.checkout(lost, card(JINAN, READER)).await, "checkout");
    accepted(desk.declare_lost(lost).await, "declare lost");
    let out = run_client(
        &client,
        addr,
        &token,
        &[
            "--patron-barcode",
            READER,
            "--pay-amount",
            "10.00",
            "--fee-id",
            lost,
            "--message-type",
            "fee-paid",
        ],
    );
    let paid = raw_answer(&out, "38");
    assert!(paid.starts_with("38Y"), "payment accepted: {paid}");
    let payments: Vec<_> = fixture
        .net
        .read_stream(&format!("item-{lost}"))
        .await
        .into_iter()
        .filter(|e| e.event_type == "LostItemPaid")
        .collect();
    assert_eq!(payments.len(), 1);
    match payload_of(&payments[0]) {
        v1::event::Payload::LostItemPaid(p) => assert_eq!(p.amount_fen, 1000),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn every_message_is_answered_with_a_checksum_and_a_resent_checkout_writes_one_loan() {
    let (fixture, token) = kiosk_network().await;
    let addr = fixture.server.sip2_addr();
    let mut kiosk = Raw::connect(addr);
    let status = kiosk.call("9900302.00");
    assert!(status.starts_with("98Y"), "{status}");
    assert_eq!(
        kiosk.login(&token, ""),
        format!("941AY2AZ{}", checksum("941AY2AZ"))
    );
    let status = kiosk.call("9900302.00");
    assert_eq!(field(&status, "AO"), Some(JN_24H));
    assert_eq!(field(&status, "BX"), Some("YYYNYYYYYYYNNYYY"));

    let item = KIOSK_BOOKS[0];
    let date = now();
    // Checkout, and its resend after a lost answer: the same frame, sequence number included,
    // on a new connection.
    let checkout = Raw::frame(
        &format!("11YN{date}{date}AOJN-24H|AA{READER}|AB{item}|AC|"),
        7,
    );
    let first = kiosk.send_framed(&checkout);
    assert!(first.starts_with("121"), "{first}");
    let mut again = Raw::connect(addr);
    again.login(&token, "");
    let second = again.send_framed(&checkout);
    assert_eq!(
        field(&second, "BK"),
        field(&first, "BK"),
        "the same command"
    );
    assert!(second.starts_with("121"), "the original outcome: {second}");
    let loans = fixture
        .net
        .read_stream(&format!("item-{item}"))
        .await
        .into_iter()
        .filter(|e| e.event_type == "ItemLoaned")
        .count();
    assert_eq!(loans, 1, "a resend writes one loan");
    // The same content sent anew (another sequence number) is a new transaction: refused,
    // since the book is out.
    let anew = kiosk.call(&format!("11YN{date}{date}AOJN-24H|AA{READER}|AB{item}|AC|"));
    assert!(anew.starts_with("120"), "{anew}");
    assert!(
        field(&anew, "AF").unwrap().contains("not on the shelf"),
        "{anew}"
    );
    // 97: the last answer again.
    assert_eq!(kiosk.call("97"), anew);

    let patron = kiosk.call(&format!("23000{date}AOJN-24H|AA{READER}|AC|AD|"));
    assert!(patron.starts_with("24"), "{patron}");
    assert_eq!(field(&patron, "BL"), Some("Y"));
    let information = kiosk.call(&format!("63000{date}  Y       AOJN-24H|AA{READER}|"));
    assert_eq!(
        field(&information, "AT"),
        None,
        "nothing overdue: {information}"
    );
    assert_eq!(
        &information[45..49],
        "0001",
        "charged items count: {information}"
    );
    // A renewal the day of the loan would not move the due date: refused, nothing recorded.
    let renewed = kiosk.call(&format!("29NN{date}{date}AOJN-24H|AA{READER}|AB{item}|"));
    assert!(renewed.starts_with("300N"), "{renewed}");
    assert!(
        field(&renewed, "AF")
            .unwrap()
            .contains("would not move its due date"),
        "{renewed}"
    );
    let all = kiosk.call(&format!("65{date}AOJN-24H|AA{READER}|"));
    assert!(
        all.starts_with("66100000001"),
        "one loan, not renewed: {all}"
    );
    let info = kiosk.call(&format!("17{date}AOJN-24H|AB{item}|"));
    assert!(info.starts_with("1804"), "charged: {info}");
    assert!(field(&info, "AH").is_some(), "{info}");

    // Another patron holds the book on loan; its return fills the hold here (alert 01).
    let other = "370102199001015678";
    let placed = kiosk.call(&format!("15+{date}AOJN-24H|AA{other}|AB{item}|BSJN-24H|"));
    assert!(placed.starts_with("161N"), "{placed}");
    assert_eq!(field(&placed, "BR"), Some("1"), "{placed}");
    let returned = kiosk.call(&format!("09N{date}{date}APJN-24H|AOJN-24H|AB{item}|AC|"));
    assert!(returned.starts_with("101NUY"), "an alert: {returned}");
    assert_eq!(field(&returned, "CV"), Some("01"), "{returned}");
    let cancelled = kiosk.call(&format!("15-{date}AOJN-24H|AA{other}|AB{item}|"));
    assert!(cancelled.starts_with("161"), "{cancelled}");

    // A book of JN-CENTRAL returned at the kiosk goes home: alert 04, destination JN-CENTRAL.
    accepted(
        fixture
            .net
            .at(JN_CENTRAL)
            .checkout(JN_BOOKS[0], card(JINAN, READER))
            .await,
        "checkout at JN-CENTRAL",
    );
    let home = kiosk.call(&format!(
        "09N{date}{date}APJN-24H|AOJN-24H|AB{}|AC|",
        JN_BOOKS[0]
    ));
    assert_eq!(field(&home, "CV"), Some("04"), "{home}");
    assert_eq!(field(&home, "CT"), Some(JN_CENTRAL), "{home}");

    // Fee paid with nothing owed is refused in plain words.
    let fee = kiosk.call(&format!("37{date}0100CNYBV5.00|AOJN-24H|AA{READER}|"));
    assert!(fee.starts_with("38N"), "{fee}");
    let end = kiosk.call(&format!("35{date}AOJN-24H|AA{READER}|"));
    assert!(end.starts_with("36Y"), "{end}");

    // A damaged frame is asked for again (96), and the session goes on.
    let mut bad = Raw::frame("9900302.00", 1);
    let good = bad.split_off(bad.len() - 4);
    bad.push_str(if good == "0000" { "0001" } else { "0000" });
    kiosk.send_raw(format!("{bad}\r").as_bytes());
    assert!(kiosk.read_answer().expect("an answer").starts_with("96"));
    assert!(kiosk.call("9900302.00").starts_with("98Y"));
}

#[tokio::test]
async fn a_kiosk_acts_only_at_its_library_and_a_malformed_frame_closes_only_its_session() {
    let (fixture, token) = kiosk_network().await;
    let addr = fixture.server.sip2_addr();
    let date = now();

    // A login naming another library than the kiosk's is refused.
    let mut away = Raw::connect(addr);
    assert!(away.login(&token, JN_CENTRAL).starts_with("940"));
    // Logged in at its own library, it cannot lend a book on JN-CENTRAL's shelf, nor return
    // one "at" JN-CENTRAL.
    let mut kiosk = Raw::connect(addr);
    assert!(kiosk.login(&token, "").starts_with("941"));
    let refused = kiosk.call(&format!(
        "11YN{date}{date}AOJN-24H|AA{READER}|AB{}|AC|",
        JN_BOOKS[0]
    ));
    assert!(refused.starts_with("120"), "{refused}");
    assert!(
        field(&refused, "AF").unwrap().contains("JN-24H"),
        "{refused}"
    );
    let elsewhere = kiosk.call(&format!(
        "09N{date}{date}APJN-CENTRAL|AOJN-24H|AB{}|AC|",
        KIOSK_BOOKS[0]
    ));
    assert!(elsewhere.starts_with("100"), "{elsewhere}");
    assert_eq!(
        fixture.net.item(JN_BOOKS[0]).await.status(),
        v1::ItemStatus::OnShelf
    );
    // A wrong token: refused, and the third failure closes the session.
    let mut guesser = Raw::connect(addr);
    for _ in 0..2 {
        assert!(guesser.login("rnt1.0000.wrong", "").starts_with("940"));
    }
    guesser.send_raw(format!("{}\r", Raw::frame(&format!("9300CN{KIOSK}|COwrong|"), 3)).as_bytes());
    assert!(
        guesser.read_answer().is_none(),
        "closed after three failed logins"
    );
    // Before a login, nothing but status and login.
    let mut anonymous = Raw::connect(addr);
    anonymous.send_raw(
        format!(
            "{}\r",
            Raw::frame(&format!("17{date}AB{}|", KIOSK_BOOKS[0]), 1)
        )
        .as_bytes(),
    );
    assert!(anonymous.read_answer().is_none());

    // Binary, overlong and unknown frames each close their own session only.
    let mut binary = Raw::connect(addr);
    binary.send_raw(b"11\x00\xff\xfe garbage\r");
    assert!(
        binary.read_answer().is_none(),
        "binary input closes the session"
    );
    let mut overlong = Raw::connect(addr);
    overlong.send_raw(&vec![b'A'; 5000]);
    assert!(
        overlong.read_answer().is_none(),
        "an overlong frame closes the session"
    );
    let mut unknown = Raw::connect(addr);
    unknown.send_raw(b"ZZnonsense\r");
    assert!(unknown.read_answer().is_none());
    let mut split = Raw::connect(addr);
    // A multi-byte character where a fixed field should be: refused, not a panic.
    split.send_raw("23€€€€€€€€€€€€€€€€€€€€\r".as_bytes());
    assert!(split.read_answer().is_none());
    // The logged-in session goes on.
    let still = kiosk.call("9900302.00");
    assert!(still.starts_with("98Y"), "{still}");
    let log = fixture
        .server
        .stderr_text_with("malformed frame", std::time::Duration::from_secs(10));
    assert!(
        log.contains("malformed frame"),
        "the reason is logged:\n{log}"
    );
    assert!(!log.contains(&token), "the token never reaches the logs");
    // The listener keeps serving new sessions.
    let mut later = Raw::connect(addr);
    assert!(later.call("9900302.00").starts_with("98Y"));
}

#[tokio::test]
async fn sessions_are_bounded_and_an_idle_session_is_closed() {
    let (fixture, token) =
        kiosk_network_with(&["--sip2-max-sessions", "2", "--sip2-idle-timeout-ms", "1500"]).await;
    let addr = fixture.server.sip2_addr();
    let mut first = Raw::connect(addr);
    assert!(first.login(&token, "").starts_with("941"));
    let mut second = Raw::connect(addr);
    assert!(second.call("9900302.00").starts_with("98Y"));
    // A third connection while two sessions are open is closed at once.
    let mut third = Raw::connect(addr);
    third.send_raw(format!("{}\r", Raw::frame("9900302.00", 1)).as_bytes());
    assert!(third.read_answer().is_none(), "beyond --sip2-max-sessions");
    // Idle past the timeout, both sessions end; then new ones are served.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(first.read_answer().is_none(), "an idle session is closed");
    assert!(second.read_answer().is_none());
    let mut fresh = Raw::connect(addr);
    assert!(fresh.call("9900302.00").starts_with("98Y"));
    let log = fixture.server.stderr_text_with(
        "as many sessions as it serves",
        std::time::Duration::from_secs(10),
    );
    assert!(log.contains("as many sessions as it serves"), "{log}");
}
