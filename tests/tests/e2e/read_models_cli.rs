//! The read models on the command line (`readnet availability`, `stats`, `monitor`,
//! `statement`, `close-period`): each command's `--json` answer is the gRPC service's answer to
//! the same question.

use chrono::Datelike as _;
use readnet_e2e::v1::{
    self, availability_service_client::AvailabilityServiceClient,
    settlement_service_client::SettlementServiceClient,
    statistics_service_client::StatisticsServiceClient,
};
use readnet_e2e::*;
use serde_json::Value;

/// `readnet ARGS --server host:port --data DIR --json`: the exit status and the JSON printed.
/// The server's address is given without a scheme, as a person types it.
fn cli(fixture: &Fixture, args: &[&str]) -> (bool, Value, String) {
    let data = fixture.server.data_dir().to_str().expect("a UTF-8 path");
    let address = fixture.server.addr().to_string();
    let output = std::process::Command::new(readnet_binary())
        .args(args)
        .args(["--server", &address, "--data", data, "--json"])
        .output()
        .expect("readnet runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let json = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "readnet {args:?}: {e}: {}\n{stderr}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    (output.status.success(), json, stderr)
}

fn ok(fixture: &Fixture, args: &[&str]) -> Value {
    let (success, json, stderr) = cli(fixture, args);
    assert!(success, "readnet {args:?} failed: {stderr}");
    json
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_model_commands_answer_what_the_services_answer() {
    let fixture = network_jinan_zibo().await;
    let net = &fixture.net;
    let zibo_reader = card(ZIBO, "370302199202023333");
    // A Zibo reader borrows two Jinan books in Jinan and returns one in Zibo: a cross-city
    // flow (jinan → zibo), loans at JN-CENTRAL.
    for item in [JN_BOOKS[0], JN_BOOKS[1]] {
        net.at(JN_CENTRAL)
            .checkout(item, zibo_reader.clone())
            .await
            .unwrap_or_else(|s| panic!("Checkout {item}: {s:?}"));
    }
    // The same reader did the same last month: a charge there, so last month can be closed.
    let today = chrono::Utc::now().with_timezone(&chrono_tz::Asia::Shanghai);
    let last_month_day =
        (today - chrono::Duration::days(i64::from(today.day()) + 10)).with_timezone(&chrono::Utc);
    net.at(JN_CENTRAL)
        .dated(last_month_day)
        .checkout(JN_BOOKS[2], zibo_reader.clone())
        .await
        .expect("Checkout last month");
    net.at(ZB_CENTRAL)
        .dated(last_month_day + chrono::Duration::hours(2))
        .return_item(JN_BOOKS[2])
        .await
        .expect("Return last month");
    let returned = net
        .at(ZB_CENTRAL)
        .return_item(JN_BOOKS[0])
        .await
        .expect("Return in Zibo");
    let at = returned.position.to_string();
    let day = today.format("%Y-%m-%d").to_string();
    let month = today.format("%Y-%m").to_string();
    let statistics = StatisticsServiceClient::new(net.channel.clone());
    let availability = AvailabilityServiceClient::new(net.channel.clone());
    let settlement = SettlementServiceClient::new(net.channel.clone());

    // Flows.
    let flows = ok(&fixture, &["stats", "flows", &month, "--min-position", &at]);
    let expected = statistics
        .clone()
        .flow_matrix(v1::FlowMatrixRequest {
            min_position: Some(returned.position),
            month: month.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let cells: Vec<(String, String, u64)> = flows["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .map(|c| {
            (
                c["owner_city"].as_str().unwrap().to_owned(),
                c["return_city"].as_str().unwrap().to_owned(),
                c["returns"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected_cells: Vec<(String, String, u64)> = expected
        .cells
        .iter()
        .map(|c| (c.owner_city.clone(), c.return_city.clone(), c.returns))
        .collect();
    assert_eq!(cells, expected_cells);
    assert!(
        cells.contains(&(JINAN.to_owned(), ZIBO.to_owned(), 1)),
        "the return in Zibo is a jinan → zibo flow: {cells:?}"
    );

    // A library's days.
    let days = ok(
        &fixture,
        &[
            "stats",
            "library-days",
            JN_CENTRAL,
            "--from",
            &day,
            "--to",
            &day,
            "--min-position",
            &at,
        ],
    );
    let expected = statistics
        .clone()
        .library_days(v1::LibraryDaysRequest {
            min_position: Some(returned.position),
            library: JN_CENTRAL.to_owned(),
            from_day: day.clone(),
            to_day: day.clone(),
            by: v1::StatisticsBy::TransactionLibrary.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let loans: Vec<u64> = days["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["loans"].as_u64().unwrap())
        .collect();
    assert_eq!(
        loans,
        expected.days.iter().map(|d| d.loans).collect::<Vec<_>>()
    );
    assert_eq!(
        loans.iter().sum::<u64>(),
        2,
        "two loans at JN-CENTRAL today"
    );
    assert_eq!(days["by"], "STATISTICS_BY_TRANSACTION_LIBRARY");

    // Top titles.
    let top = ok(
        &fixture,
        &["stats", "top-titles", JINAN, &month, "--min-position", &at],
    );
    let expected = statistics
        .clone()
        .top_titles(v1::TopTitlesRequest {
            min_position: Some(returned.position),
            city: JINAN.to_owned(),
            month: month.clone(),
            limit: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let titles: Vec<(String, u64)> = top["titles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["title_key"].as_str().unwrap().to_owned(),
                t["loans"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        titles,
        expected
            .titles
            .iter()
            .map(|t| (t.title_key.clone(), t.loans))
            .collect::<Vec<_>>()
    );
    assert_eq!(titles.iter().map(|t| t.1).sum::<u64>(), 2);

    // An item, and a shelf.
    let item = ok(
        &fixture,
        &["availability", "item", JN_BOOKS[1], "--min-position", &at],
    );
    let expected = availability
        .clone()
        .get_item(v1::AvailabilityServiceGetItemRequest {
            item: JN_BOOKS[1].to_owned(),
            min_position: Some(returned.position),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(item["title_key"], expected.title_key.as_str());
    assert_eq!(item["item"]["item"], JN_BOOKS[1]);
    let shelf = ok(
        &fixture,
        &["availability", "shelf", JN_CENTRAL, "--min-position", &at],
    );
    let expected = availability
        .clone()
        .library_shelf(v1::LibraryShelfRequest {
            library: JN_CENTRAL.to_owned(),
            min_position: Some(returned.position),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let totals = expected.totals.unwrap();
    assert_eq!(
        (
            shelf["totals"]["on_shelf"].as_u64(),
            shelf["totals"]["on_loan"].as_u64()
        ),
        (
            Some(u64::from(totals.on_shelf)),
            Some(u64::from(totals.on_loan))
        )
    );
    assert_eq!(totals.on_loan, 1, "one Jinan book is still out");

    // The monitor, once.
    let monitor = ok(&fixture, &["monitor", "--once", "--min-position", &at]);
    let expected = statistics
        .clone()
        .monitor(v1::MonitorRequest {
            min_position: Some(returned.position),
            library: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .snapshot
        .unwrap();
    let on_loan: Vec<(String, u64)> = monitor["libraries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["library"].as_str().unwrap().to_owned(),
                l["on_loan"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        on_loan,
        expected
            .libraries
            .iter()
            .map(|l| (l.library.clone(), l.on_loan))
            .collect::<Vec<_>>()
    );
    assert_eq!(on_loan.len(), 5, "every library of the network");

    // This month's statement, and closing last month.
    let statement = ok(&fixture, &["statement", &month, "--min-position", &at]);
    let expected = settlement
        .clone()
        .get_statement(v1::GetStatementRequest {
            period: month.clone(),
            min_position: Some(returned.position),
        })
        .await
        .unwrap()
        .into_inner()
        .statement
        .unwrap();
    assert_eq!(statement["period"], month.as_str());
    assert_eq!(statement["status"], "STATEMENT_STATUS_PROVISIONAL");
    let amounts: Vec<i64> = statement["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["amount_fen"].as_i64().unwrap())
        .collect();
    assert_eq!(
        amounts,
        expected
            .lines
            .iter()
            .map(|l| l.amount_fen)
            .collect::<Vec<_>>()
    );
    let last_month = last_month_day
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m")
        .to_string();
    let closed = ok(&fixture, &["close-period", &last_month]);
    assert_eq!(closed["close"]["period"], last_month.as_str());
    assert_eq!(closed["already_closed"], false);
    let after = ok(&fixture, &["statement", &last_month]);
    assert_eq!(after["status"], "STATEMENT_STATUS_FINAL");
    // This month is not over: closing it is refused, and --json prints the refusal.
    let (success, refusal, _) = cli(&fixture, &["close-period", &month]);
    assert!(!success, "closing the month in progress is refused");
    assert_eq!(refusal["error"]["code"], "FAILED_PRECONDITION", "{refusal}");

    // A checkout without --library: the error names the flag, not the request metadata.
    let data = fixture.server.data_dir().to_str().unwrap();
    let output = std::process::Command::new(readnet_binary())
        .args(["checkout", ZB_BOOKS[0], "--card", "zibo:370302199202023333"])
        .args([
            "--server",
            &fixture.server.addr().to_string(),
            "--data",
            data,
        ])
        .output()
        .expect("readnet runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("--library") && !stderr.contains("x-readnet-library"),
        "{stderr}"
    );
}
