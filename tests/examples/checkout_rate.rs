//! A rough checkout rate: starts `readnet serve` on a fresh data directory, catalogues items,
//! then checks them all out over gRPC from concurrent clients and prints checkouts/s and latency
//! percentiles. Not a benchmark harness (that is `readnet-bench`); a quick loop.
//!
//! `cargo run --release -p readnet-e2e --example checkout_rate -- [ITEMS] [CLIENTS]`

use std::time::{Duration, Instant};

use readnet_e2e::{JN_CENTRAL, Net, card, network_jinan_zibo};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let items: usize = args
        .next()
        .map_or(20_000, |a| a.parse().expect("ITEMS is a number"));
    let clients: usize = args
        .next()
        .map_or(64, |a| a.parse().expect("CLIENTS is a number"));
    let fixture = network_jinan_zibo().await;
    let url = fixture.server.url();
    let token = fixture.server.admin_token();

    let codes: Vec<String> = (0..items).map(|i| format!("RATE-{i:07}")).collect();
    run(&url, &token, clients, &codes, |net, code, _| async move {
        net.system().catalogue(&code, JN_CENTRAL).await.map(|_| ())
    })
    .await;

    let started = Instant::now();
    let mut latencies = run(&url, &token, clients, &codes, |net, code, i| async move {
        // Five loans per patron keeps everyone under the standard limit of 10.
        let number = format!("{:08}", i / 5);
        net.at(JN_CENTRAL)
            .checkout(&code, card("jinan", &number))
            .await
            .map(|_| ())
    })
    .await;
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "{items} checkouts with {clients} clients in {:.2} s: {:.0} checkouts/s, p50 {:.2} ms, p99 {:.2} ms",
        elapsed.as_secs_f64(),
        items as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
    );
}

/// Runs `call` for every code from `clients` concurrent tasks; returns each call's latency.
async fn run<F, Fut>(
    url: &str,
    token: &str,
    clients: usize,
    codes: &[String],
    call: F,
) -> Vec<Duration>
where
    F: Fn(Net, String, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<(), tonic::Status>> + Send,
{
    let mut tasks = Vec::new();
    for client in 0..clients {
        let net = Net::connect(url, Some(token)).await;
        let mine: Vec<(usize, String)> = codes
            .iter()
            .enumerate()
            .skip(client)
            .step_by(clients)
            .map(|(i, c)| (i, c.clone()))
            .collect();
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(mine.len());
            for (i, code) in mine {
                let started = Instant::now();
                call(net.clone(), code, i).await.expect("the call succeeds");
                latencies.push(started.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.expect("the client task ends"));
    }
    all
}
