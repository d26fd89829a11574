//! SIP2 checkouts beside gRPC checkouts, on one server process: `readnet serve --sip2-listen` on
//! a fresh data directory; CLIENTS kiosks each lend and take back their own book REPEAT times,
//! first through the real `sip2-client-cli` (crates.io `sip2` 0.3.4; one process per kiosk,
//! `--parallel 1 --repeat REPEAT`, since the client's `--parallel` threads would all lend the
//! same book to the same reader), then over gRPC with the same kiosk principal. Prints
//! checkouts/s and checkout latency percentiles for both; the SIP2 latencies are the client's
//! own per-message timings.
//!
//! `cargo run -p readnet-e2e --example sip2_rate -- [CLIENTS] [REPEAT]`
//! (the client at `$READNET_SIP2_CLIENT`, else `target/tools/bin/sip2-client-cli`)

use std::path::PathBuf;
use std::time::{Duration, Instant};

use readnet_e2e::v1;
use readnet_e2e::*;

const JN_24H: &str = "JN-24H";
const KIOSK: &str = "kiosk-rate";

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let clients: usize = args.next().map_or(8, |a| a.parse().expect("CLIENTS"));
    let repeat: usize = args.next().map_or(200, |a| a.parse().expect("REPEAT"));
    let client = std::env::var_os("READNET_SIP2_CLIENT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/tools/bin/sip2-client-cli")
        });
    assert!(
        client.is_file(),
        "no sip2-client-cli at {}",
        client.display()
    );

    let fixture = network_jinan_zibo_with(&["--sip2-listen", "127.0.0.1:0"]).await;
    let net = fixture.net.clone();
    net.system()
        .register_library(JN_24H, JINAN, v1::LibraryTier::SelfService, JN_CENTRAL)
        .await
        .expect("RegisterLibrary");
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
        .expect("AddPrincipal");
    let desk = net.at(JN_24H);
    for i in 0..clients {
        for prefix in ["SIP", "RPC"] {
            desk.catalogue(&format!("{prefix}-{i:04}"), JN_24H)
                .await
                .expect("CatalogueItem");
        }
    }

    // SIP2: one client process per kiosk, checkout then checkin, REPEAT times.
    let addr = fixture.server.sip2_addr().to_string();
    let started = Instant::now();
    let children: Vec<_> = (0..clients)
        .map(|i| {
            std::process::Command::new(&client)
                .args([
                    "--sip-host",
                    &addr,
                    "--sip-user",
                    KIOSK,
                    "--sip-pass",
                    &token,
                ])
                .args(["--patron-barcode", &format!("3701020000{i:08}")])
                .args(["--item-barcode", &format!("SIP-{i:04}")])
                .args([
                    "--parallel",
                    "1",
                    "--repeat",
                    &repeat.to_string(),
                    "--quiet",
                ])
                .args(["--message-type", "checkout", "--message-type", "checkin"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("sip2-client-cli starts")
        })
        .collect();
    let outputs: Vec<String> = children
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().expect("sip2-client-cli ends");
            assert!(output.status.success(), "sip2-client-cli failed");
            String::from_utf8_lossy(&output.stdout).into_owned()
        })
        .collect();
    let sip2_elapsed = started.elapsed();
    let mut sip2_checkouts: Vec<Duration> = outputs
        .iter()
        .flat_map(|out| out.lines())
        .filter(|line| line.starts_with("Checkout Response"))
        .map(|line| {
            let ms: f64 = line
                .split_whitespace()
                .rev()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .expect("a latency in ms");
            Duration::from_secs_f64(ms / 1e3)
        })
        .collect();
    assert_eq!(
        sip2_checkouts.len(),
        clients * repeat,
        "every checkout answered"
    );
    // Every SIP2 checkout lent the book: one loan per checkout in the log.
    for i in 0..clients {
        let loans = net
            .read_stream(&format!("item-SIP-{i:04}"))
            .await
            .iter()
            .filter(|e| e.event_type == "ItemLoaned")
            .count();
        assert_eq!(loans, repeat, "SIP-{i:04}: a loan per checkout");
    }

    // gRPC: the same kiosk principal, the same loop.
    let kiosk = net.as_token(Some(&token));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let desk = kiosk.acting(None, None);
            tokio::spawn(async move {
                let item = format!("RPC-{i:04}");
                let reader = card(JINAN, &format!("3701020001{i:08}"));
                let mut latencies = Vec::with_capacity(repeat);
                for _ in 0..repeat {
                    let at = Instant::now();
                    desk.checkout(&item, reader.clone())
                        .await
                        .expect("checkout");
                    latencies.push(at.elapsed());
                    desk.return_item(&item).await.expect("return");
                }
                latencies
            })
        })
        .collect();
    let mut grpc_checkouts = Vec::new();
    for task in tasks {
        grpc_checkouts.extend(task.await.expect("a client task"));
    }
    let grpc_elapsed = started.elapsed();

    for (name, elapsed, latencies) in [
        ("SIP2 (sip2-client-cli)", sip2_elapsed, &mut sip2_checkouts),
        ("gRPC (tonic client)", grpc_elapsed, &mut grpc_checkouts),
    ] {
        latencies.sort();
        let pct = |p: f64| {
            latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)]
                .as_secs_f64()
                * 1e3
        };
        println!(
            "{name}: {clients} kiosks x {repeat} checkout+checkin in {:.2} s: {:.0} checkouts/s; \
             checkout p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            elapsed.as_secs_f64(),
            (clients * repeat) as f64 / elapsed.as_secs_f64(),
            pct(0.50),
            pct(0.99),
            pct(1.0),
        );
    }
}
