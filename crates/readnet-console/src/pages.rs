//! The pages, rendered on the server. Each calls the read services with the session's caller.

use std::collections::BTreeMap;
use std::pin::Pin;

use axum::extract::{Form, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, Duration, Utc};
use futures::Stream;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use readnet_proto::v1 as pb;
use readnet_proto::v1::account_service_server::AccountService as _;
use readnet_proto::v1::availability_service_server::AvailabilityService as _;
use readnet_proto::v1::ledger_service_server::LedgerService as _;
use readnet_proto::v1::settlement_service_server::SettlementService as _;
use readnet_proto::v1::statistics_service_server::StatisticsService as _;
use serde::Deserialize;
use tonic::Status;

use crate::i18n::Lang;
use crate::monitor::{self, Status as LibStatus};
use crate::{Ctx, Shared, ctx, failure};

type Watch = Pin<Box<dyn Stream<Item = Result<pb::WatchMonitorResponse, Status>> + Send>>;

fn page(ctx: Option<&Ctx>, lang: Lang, title: &'static str, back: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(if lang == Lang::Zh { "zh-CN" } else { "en" }) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (lang.t(title)) " · " (lang.t("title")) }
                link rel="stylesheet" href="/console/static/console.css";
            }
            body {
                header {
                    strong { (lang.t("title")) }
                    @if ctx.is_some() {
                        nav {
                            a href="/console/" { (lang.t("monitor")) }
                            a href="/console/charts" { (lang.t("charts")) }
                            a href="/console/settlement" { (lang.t("settlement")) }
                            a href="/console/item" { (lang.t("item")) }
                            a href="/console/account" { (lang.t("account")) }
                            a href="/console/worklists" { (lang.t("worklists")) }
                        }
                    }
                    span.right {
                        a id="lang" href={ "/console/lang?to=" (lang.other().code()) "&back=" (back) } { (lang.t("language")) }
                        @if let Some(ctx) = ctx {
                            " " span.who { (ctx.principal()) " (" (ctx.role()) ")" } " "
                            form.inline method="post" action="/console/logout" {
                                input type="hidden" name="csrf" value=(ctx.session.csrf);
                                button id="logout" type="submit" { (lang.t("logout")) }
                            }
                        }
                    }
                }
                main { (body) }
                script src="/console/static/echarts.min.js" {}
                script src="/console/static/console.js" {}
            }
        }
    }
}

pub(crate) fn message_page(lang: Lang, title: &'static str, message: &str) -> Markup {
    page(
        None,
        lang,
        title,
        "/console/",
        html! {
            h1 id="message-title" { (lang.t(title)) }
            p id="message" { (message) }
            p { a href="/console/" { (lang.t("monitor")) } " · " a href="/console/login" { (lang.t("login")) } }
        },
    )
}

pub(crate) fn login_page(lang: Lang, csrf: &str, expired: bool, error: Option<&str>) -> Markup {
    page(
        None,
        lang,
        "login",
        "/console/login",
        html! {
            h1 { (lang.t("login")) }
            @if expired { p.error { "session ended: log in again" } }
            @if let Some(error) = error { p.error id="login-error" { (error) } }
            form method="post" action="/console/login" {
                input type="hidden" name="csrf" value=(csrf);
                label { (lang.t("token")) " " input id="token" type="password" name="token" autocomplete="off" required; }
                " " button id="login" type="submit" { (lang.t("login")) }
            }
        },
    )
}

fn yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!(
        "{sign}{}.{:02}",
        fen.unsigned_abs() / 100,
        fen.unsigned_abs() % 100
    )
}

fn local(at: Option<chrono::DateTime<Utc>>) -> String {
    at.map(|t| {
        t.with_timezone(&chrono_tz::Asia::Shanghai)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    })
    .unwrap_or_else(|| "—".into())
}

fn local_us(us: i64) -> String {
    local(chrono::DateTime::from_timestamp_micros(us))
}

/// The WatchMonitor streams the caller's scope needs: the network's, or one per library.
pub(crate) async fn watch(ctx: &Ctx) -> Result<Vec<Watch>, Status> {
    let libraries = ctx
        .scoped_libraries()
        .unwrap_or_else(|| vec![String::new()]);
    let mut watches = Vec::with_capacity(libraries.len());
    for library in libraries {
        let stream = ctx
            .services
            .statistics
            .watch_monitor(ctx.request(pb::WatchMonitorRequest {
                min_position: None,
                library,
            }))
            .await?
            .into_inner();
        watches.push(Box::pin(stream) as Watch);
    }
    Ok(watches)
}

async fn snapshots(ctx: &Ctx) -> Result<Vec<pb::MonitorSnapshot>, Status> {
    let libraries = ctx
        .scoped_libraries()
        .unwrap_or_else(|| vec![String::new()]);
    let mut out = Vec::with_capacity(libraries.len());
    for library in libraries {
        let response = ctx
            .services
            .statistics
            .monitor(ctx.request(pb::MonitorRequest {
                min_position: None,
                library,
            }))
            .await?
            .into_inner();
        out.extend(response.snapshot);
    }
    Ok(out)
}

fn status_label(lang: Lang, status: LibStatus) -> &'static str {
    match status {
        LibStatus::Open => lang.t("open"),
        LibStatus::Closed => lang.t("closed"),
        LibStatus::Silent => lang.t("silent"),
    }
}

fn tier_name(tier: i32) -> &'static str {
    pb::LibraryTier::try_from(tier)
        .map(|t| t.as_str_name().trim_start_matches("LIBRARY_TIER_"))
        .unwrap_or("")
}

fn figure_cells(id: &str, figures: &monitor::Figures) -> Markup {
    html! {
        @for (key, value) in figures.named() {
            td.num data-cell={ (id) ":" (key) } { (value) }
        }
    }
}

fn figure_headers(lang: Lang) -> Markup {
    html! {
        @for (key, _) in monitor::Figures::default().named() { th { (lang.t(key)) } }
    }
}

/// The monitoring centre.
pub(crate) async fn centre(State(console): State<Shared>, headers: HeaderMap) -> Response {
    let ctx = match ctx(&console, &headers).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let lang = ctx.lang;
    let snapshots = match snapshots(&ctx).await {
        Ok(s) => s,
        Err(status) => return failure(lang, &status),
    };
    let openings = ctx.services.openings().await.unwrap_or_default();
    let centre = monitor::centre(&snapshots, &openings);
    let body = html! {
        h1 { (lang.t("monitor")) }
        p.meta {
            (lang.t("as_of")) " " span id="as-of" { (local(Some(centre.as_of))) }
            " · " span id="live" data-live="0" { (lang.t("live")) }
            " · " span id="library-count" { (centre.libraries) } " " (lang.t("library"))
        }
        div.scroll {
            table id="centre" {
                thead { tr {
                    th { (lang.t("library")) } th { (lang.t("status")) } th { (lang.t("last_activity")) }
                    (figure_headers(lang))
                } }
                @for city in &centre.cities {
                    tbody.city data-city=(city.city) {
                        tr.cityhead { th colspan="11" { (lang.t("city")) " " (city.city) } }
                        @for subtree in &city.subtrees {
                            @for row in &subtree.rows {
                                tr.library data-library=(row.library) {
                                    td style={ "padding-left:" (0.4 + row.depth as f32 * 1.2) "em" } {
                                        (row.name) " " small { (row.library) " · " (tier_name(row.tier)) }
                                    }
                                    td data-cell={ "lib:" (row.library) ":status" } class={ "status " (format!("{:?}", row.status).to_lowercase()) } {
                                        (status_label(lang, row.status))
                                    }
                                    td data-cell={ "lib:" (row.library) ":last_activity" } { (local(row.last_activity)) }
                                    (figure_cells(&format!("lib:{}", row.library), &row.figures))
                                }
                            }
                            @if subtree.rows.len() > 1 {
                                tr.subtotal {
                                    td colspan="3" { (lang.t("subtree_total")) " " (subtree.root) }
                                    (figure_cells(&format!("tree:{}", subtree.root), &subtree.totals))
                                }
                            }
                        }
                        tr.citytotal {
                            td colspan="3" { (lang.t("city_total")) " " (city.city) }
                            (figure_cells(&format!("city:{}", city.city), &city.totals))
                        }
                    }
                }
                tfoot { tr.total {
                    td colspan="3" { (lang.t("network_total")) }
                    (figure_cells("net", &centre.totals))
                } }
            }
        }
        h2 { (lang.t("alerts")) }
        ul id="alerts" data-silent=(lang.t("alert_silent")) data-overdue=(lang.t("alert_overdue")) data-none=(lang.t("no_alerts")) {
            @if centre.alerts.is_empty() { li { (lang.t("no_alerts")) } }
            @for alert in &centre.alerts {
                li {
                    time { (local(Some(alert.at))) } " " (alert.name) " (" (alert.library) "): "
                    @if alert.kind == "silent" { (lang.t("alert_silent")) " " (local(Some(alert.at))) }
                    @else { (alert.count) " " (lang.t("alert_overdue")) }
                }
            }
        }
        script { (PreEscaped("window.readnetLive = true;")) }
    };
    page(Some(&ctx), lang, "monitor", "/console/", body).into_response()
}

#[derive(Deserialize)]
pub(crate) struct MonthQuery {
    month: Option<String>,
}

fn this_month(ctx: &Ctx) -> String {
    ctx.services
        .clock
        .now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m")
        .to_string()
}

/// Charts: loans per hour, flows, top titles, hold fill times.
pub(crate) async fn charts(
    State(console): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<MonthQuery>,
) -> Response {
    let ctx = match ctx(&console, &headers).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    match chart_data(&ctx, q.month).await {
        Ok((month, data)) => {
            let lang = ctx.lang;
            let body = html! {
                h1 { (lang.t("charts")) }
                form method="get" action="/console/charts" {
                    label { (lang.t("month")) " " input name="month" value=(month) pattern="[0-9]{4}-[0-9]{2}"; }
                    " " button type="submit" { (lang.t("show")) }
                }
                h2 { (lang.t("loans_by_hour")) }
                div.chart id="chart-hours" data-today=(lang.t("today")) data-before=(lang.t("last_month_same_weekday")) {}
                h2 { (lang.t("flows")) }
                div.chart id="chart-flows" {}
                h2 { (lang.t("top_titles")) " " (month) }
                div.chart id="chart-titles" {}
                h2 { (lang.t("hold_fill")) }
                div.chart id="chart-holds" data-median=(lang.t("median")) data-p90=(lang.t("p90")) {}
                script id="chart-data" type="application/json" { (PreEscaped(data.replace("</", "<\\/"))) }
            };
            page(Some(&ctx), lang, "charts", "/console/charts", body).into_response()
        }
        Err(status) => failure(ctx.lang, &status),
    }
}

async fn chart_data(ctx: &Ctx, month: Option<String>) -> Result<(String, String), Status> {
    let month = month.unwrap_or_else(|| this_month(ctx));
    let stats = &ctx.services.statistics;
    let today = ctx
        .services
        .clock
        .now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive();
    let before = today - Duration::days(28);
    let hours = |day: chrono::NaiveDate| {
        let request = ctx.request(pb::NetworkDaysRequest {
            min_position: None,
            from_day: day.to_string(),
            to_day: day.to_string(),
            by: pb::StatisticsBy::TransactionLibrary as i32,
        });
        async move {
            let days = stats.network_days(request).await?.into_inner().days;
            let mut hours = vec![0u64; 24];
            for d in days {
                for (h, n) in d.loans_by_hour.iter().enumerate().take(24) {
                    hours[h] += n;
                }
            }
            Ok::<_, Status>(hours)
        }
    };
    let hours_today = hours(today).await?;
    let hours_before = hours(before).await?;
    let flows = stats
        .flow_matrix(ctx.request(pb::FlowMatrixRequest {
            min_position: None,
            month: month.clone(),
        }))
        .await?
        .into_inner()
        .cells;
    let snapshot = snapshots(ctx).await?;
    let cities: std::collections::BTreeSet<String> = snapshot
        .iter()
        .flat_map(|s| s.libraries.iter().map(|l| l.city.clone()))
        .collect();
    let (year, mon) = month
        .split_once('-')
        .and_then(|(y, m)| Some((y.parse::<i32>().ok()?, m.parse::<u32>().ok()?)))
        .ok_or_else(|| Status::invalid_argument(format!("month: {month:?} is not YYYY-MM")))?;
    let first = chrono::NaiveDate::from_ymd_opt(year, mon, 1)
        .ok_or_else(|| Status::invalid_argument(format!("month: {month:?} is not YYYY-MM")))?;
    let last = first
        .checked_add_months(chrono::Months::new(1))
        .and_then(|d| d.pred_opt())
        .unwrap_or(first);
    let mut titles = BTreeMap::new();
    let mut holds = BTreeMap::new();
    for city in &cities {
        let top = stats
            .top_titles(ctx.request(pb::TopTitlesRequest {
                min_position: None,
                city: city.clone(),
                month: month.clone(),
                limit: 10,
            }))
            .await?
            .into_inner()
            .titles;
        titles.insert(
            city.clone(),
            top.into_iter()
                .map(|t| (t.title, t.loans))
                .collect::<Vec<_>>(),
        );
        let h = stats
            .hold_statistics(ctx.request(pb::HoldStatisticsRequest {
                min_position: None,
                library: String::new(),
                city: city.clone(),
                from_day: first.to_string(),
                to_day: last.to_string(),
            }))
            .await?
            .into_inner();
        holds.insert(
            city.clone(),
            (h.filled, h.fill_minutes_median, h.fill_minutes_p90),
        );
    }
    let data = serde_json::json!({
        "month": month,
        "today": today.to_string(),
        "before": before.to_string(),
        "weekday": today.weekday().to_string(),
        "hours_today": hours_today,
        "hours_before": hours_before,
        "flows": flows.iter().map(|c| (c.owner_city.clone(), c.return_city.clone(), c.returns)).collect::<Vec<_>>(),
        "cities": cities,
        "titles": titles,
        "holds": holds,
    });
    Ok((month, data.to_string()))
}

#[derive(Deserialize)]
pub(crate) struct PeriodQuery {
    period: Option<String>,
}

/// A period's statement: who owes whom, the nets, a link from each line to its charges.
pub(crate) async fn settlement(
    State(console): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<PeriodQuery>,
) -> Response {
    let ctx = match ctx(&console, &headers).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let lang = ctx.lang;
    let period = q.period.unwrap_or_else(|| this_month(&ctx));
    let statement = match ctx
        .services
        .settlement
        .get_statement(ctx.request(pb::GetStatementRequest {
            period: period.clone(),
            min_position: None,
        }))
        .await
    {
        Ok(r) => r.into_inner().statement.unwrap_or_default(),
        Err(status) => return failure(lang, &status),
    };
    let nets: Vec<(String, i64)> = statement
        .nets
        .iter()
        .map(|n| (n.city.clone(), n.net_fen))
        .collect();
    let body = html! {
        h1 { (lang.t("settlement")) " " (period) }
        form method="get" action="/console/settlement" {
            label { (lang.t("period")) " " input name="period" value=(period); }
            " " button type="submit" { (lang.t("show")) }
        }
        p { (lang.t("statement_status")) ": "
            span id="statement-status" { (pb::StatementStatus::try_from(statement.status).map(|s| s.as_str_name()).unwrap_or("")) } }
        div.chart id="chart-nets" {}
        div.scroll { table id="statement-lines" {
            thead { tr { th { (lang.t("debtor")) } th { (lang.t("creditor")) } th { (lang.t("kind")) } th { (lang.t("count")) } th { (lang.t("amount")) } th {} } }
            tbody {
                @for line in &statement.lines {
                    @let kind = pb::ChargeKind::try_from(line.kind).map(|k| k.as_str_name()).unwrap_or("");
                    @let original = if line.adjustment_of.is_empty() { period.clone() } else { line.adjustment_of.clone() };
                    tr {
                        td { (line.debtor_city) } td { (line.creditor_city) } td { (kind) }
                        td.num { (line.count) } td.num { (yuan(line.amount_fen)) }
                        td { a.drill href={ "/console/settlement/charges?period=" (period) "&debtor=" (line.debtor_city) "&creditor=" (line.creditor_city) "&kind=" (line.kind) "&original=" (original) } { (lang.t("charges")) } }
                    }
                }
            }
        } }
        h2 { (lang.t("net")) }
        table id="statement-nets" { tbody {
            @for (city, net) in &nets { tr { td { (city) } td.num { (yuan(*net)) } } }
        } }
        script id="chart-data" type="application/json" { (PreEscaped(serde_json::json!({ "nets": nets }).to_string().replace("</", "<\\/"))) }
    };
    page(Some(&ctx), lang, "settlement", "/console/settlement", body).into_response()
}

#[derive(Deserialize)]
pub(crate) struct ChargesQuery {
    period: String,
    debtor: String,
    creditor: String,
    kind: i32,
    original: String,
}

/// A statement line's charge lines.
pub(crate) async fn charges(
    State(console): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<ChargesQuery>,
) -> Response {
    let ctx = match ctx(&console, &headers).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let lang = ctx.lang;
    let charges = match ctx
        .services
        .settlement
        .list_charges(ctx.request(pb::ListChargesRequest {
            period: q.period.clone(),
            debtor_city: q.debtor.clone(),
            creditor_city: q.creditor.clone(),
            kind: q.kind,
            original_period: q.original.clone(),
            min_position: None,
            after_position: 0,
            page_size: 1000,
        }))
        .await
    {
        Ok(r) => r.into_inner().charges,
        Err(status) => return failure(lang, &status),
    };
    let total: i64 = charges.iter().map(|c| c.amount_fen).sum();
    let body = html! {
        h1 { (lang.t("charges")) " " (q.period) ": " (q.debtor) " → " (q.creditor) }
        div.scroll { table id="charges" {
            thead { tr { th { (lang.t("position")) } th { (lang.t("item_code")) } th { (lang.t("kind")) } th { (lang.t("occurred_at")) } th { (lang.t("amount")) } } }
            tbody {
                @for c in &charges {
                    tr {
                        td.num { (c.position) }
                        td { a href={ "/console/item?code=" (c.item) } { (c.item) } }
                        td { (pb::ChargeKind::try_from(c.kind).map(|k| k.as_str_name()).unwrap_or("")) }
                        td { (local(monitor::instant(&c.occurred_at))) }
                        td.num { (yuan(c.amount_fen)) }
                    }
                }
            }
            tfoot { tr { td colspan="4" { (lang.t("total")) " (" span id="charge-count" { (charges.len()) } ")" } td.num id="charge-total" { (yuan(total)) } } }
        } }
        p { a href={ "/console/settlement?period=" (q.period) } { "← " (lang.t("settlement")) } }
    };
    page(Some(&ctx), lang, "charges", "/console/settlement", body).into_response()
}

#[derive(Deserialize)]
pub(crate) struct ItemQuery {
    code: Option<String>,
}

/// An item: where it is, and its history where the caller may read the log.
pub(crate) async fn item(
    State(console): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<ItemQuery>,
) -> Response {
    let ctx = match ctx(&console, &headers).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let lang = ctx.lang;
    let code = q.code.unwrap_or_default();
    let form = html! {
        form method="get" action="/console/item" {
            label { (lang.t("item_code")) " " input id="item-code" name="code" value=(code) required; }
            " " button id="item-lookup" type="submit" { (lang.t("lookup")) }
        }
    };
    if code.is_empty() {
        return page(
            Some(&ctx),
            lang,
            "item",
            "/console/item",
            html! { h1 { (lang.t("item")) } (form) },
        )
        .into_response();
    }
    let item = match ctx
        .services
        .availability
        .get_item(ctx.request(pb::AvailabilityServiceGetItemRequest {
            item: code.clone(),
            min_position: None,
        }))
        .await
    {
        Ok(r) => r.into_inner().item.unwrap_or_default(),
        Err(status) => return failure(lang, &status),
    };
    let history = ctx
        .services
        .ledger
        .read_stream(ctx.request(pb::ReadStreamRequest {
            stream: format!("item-{code}"),
            from_revision: None,
            direction: pb::ReadDirection::Forwards as i32,
            max_count: 200,
        }))
        .await;
    let status = pb::ItemStatus::try_from(item.status)
        .map(|s| s.as_str_name().trim_start_matches("ITEM_STATUS_"))
        .unwrap_or("");
    let body = html! {
        h1 { (lang.t("item")) " " (code) }
        (form)
        table id="item" { tbody {
            tr { th { (lang.t("title_col")) } td { (item.title) " / " (item.author) } }
            tr { th { (lang.t("status")) } td id="item-status" { (status) } }
            tr { th { (lang.t("where")) } td id="item-where" { (item.library) } }
            tr { th { "owner" } td { (item.owner_library) } }
            @if !item.from_library.is_empty() { tr { th { "from" } td { (item.from_library) } } }
            @if let Some(due) = monitor::instant(&item.due_at) { tr { th { (lang.t("due")) } td { (local(Some(due))) } } }
        } }
        h2 { (lang.t("history")) }
        @match &history {
            Ok(r) => {
                div.scroll { table id="item-history" {
                    thead { tr { th { (lang.t("position")) } th { (lang.t("occurred_at")) } th { (lang.t("library")) } th { "event" } } }
                    tbody { @for e in &r.get_ref().events { tr {
                        td.num { (e.position) } td { (local(monitor::instant(&e.occurred_at))) }
                        td { (e.acting_library) } td { (e.event_type) }
                    } } }
                } }
            }
            Err(status) => p id="item-history-denied" { (lang.t("history_denied")) " (" (status.message()) ")" }
        }
    };
    page(Some(&ctx), lang, "item", "/console/item", body).into_response()
}

fn account_page(
    ctx: &Ctx,
    city: &str,
    result: Option<Result<pb::GetAccountResponse, Status>>,
) -> Response {
    let lang = ctx.lang;
    if let Some(Err(status)) = &result {
        return failure(lang, status);
    }
    let body = html! {
        h1 { (lang.t("account")) }
        form method="post" action="/console/account" {
            input type="hidden" name="csrf" value=(ctx.session.csrf);
            label { (lang.t("city")) " " input id="card-city" name="city" value=(city) required; }
            " " label { (lang.t("card")) " " input id="card-number" name="number" autocomplete="off" required; }
            " " button id="account-lookup" type="submit" { (lang.t("lookup")) }
        }
        @if let Some(Ok(a)) = &result {
            p id="account-card" { (a.masked_card) " · " (lang.t("loans")) " " (a.loans.len()) "/" (a.loan_limit)
                " · " (lang.t("overdue")) " " (a.overdue_count) " · " (lang.t("debts")) " " (yuan(a.owed_fen))
                @if a.blocked { " · " strong { (lang.t("blocked")) } ": " (a.block_message) } }
            h2 { (lang.t("loans")) }
            table id="account-loans" { tbody { @for l in &a.loans { tr {
                td { (l.item) } td { (l.title) } td { (l.library) } td { (l.due_date) } td.num { (l.days_overdue) }
            } } } }
            h2 { (lang.t("holds")) }
            table id="account-holds" { tbody { @for h in &a.holds { tr {
                td { (h.hold) } td { (h.title) } td { (h.pickup_library) } td { (h.queue_position) "/" (h.queue_length) }
            } } } }
        }
    };
    page(Some(ctx), lang, "account", "/console/account", body).into_response()
}

/// The patron account form. The card number is posted, never put in a URL.
pub(crate) async fn account_form(State(console): State<Shared>, headers: HeaderMap) -> Response {
    match ctx(&console, &headers).await {
        Ok(ctx) => account_page(&ctx, "", None),
        Err(response) => response,
    }
}

#[derive(Deserialize)]
pub(crate) struct AccountForm {
    csrf: String,
    city: String,
    number: String,
}

pub(crate) async fn account(
    State(console): State<Shared>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Form(form): Form<AccountForm>,
) -> Response {
    let ctx = match ctx(&console, &headers).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    if let Err(response) = crate::check_form(&ctx, &headers, &uri, &form.csrf) {
        return response;
    }
    let result = ctx
        .services
        .account
        .get_account(ctx.request(pb::GetAccountRequest {
            card: Some(pb::Card {
                city: form.city.clone(),
                number: form.number,
            }),
        }))
        .await
        .map(|r| r.into_inner());
    account_page(&ctx, &form.city, Some(result))
}

#[derive(Deserialize)]
pub(crate) struct LibraryQuery {
    library: Option<String>,
}

/// A library's work lists: pick list, homebound, in transit both ways, hold shelf, overdue.
pub(crate) async fn worklists(
    State(console): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<LibraryQuery>,
) -> Response {
    let ctx = match ctx(&console, &headers).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    let lang = ctx.lang;
    let library = q
        .library
        .or_else(|| ctx.scoped_libraries().and_then(|l| l.into_iter().next()))
        .unwrap_or_default();
    let form = html! {
        form method="get" action="/console/worklists" {
            label { (lang.t("library")) " " input id="worklist-library" name="library" value=(library) required; }
            " " button type="submit" { (lang.t("show")) }
        }
    };
    if library.is_empty() {
        return page(
            Some(&ctx),
            lang,
            "worklists",
            "/console/worklists",
            html! { h1 { (lang.t("worklists")) } (form) },
        )
        .into_response();
    }
    let a = &ctx.services.availability;
    let lists = async {
        let pick = a
            .pick_list(ctx.request(pb::PickListRequest {
                library: library.clone(),
                min_position: None,
            }))
            .await?
            .into_inner()
            .entries;
        let homebound = a
            .homebound_list(ctx.request(pb::HomeboundListRequest {
                library: library.clone(),
                min_position: None,
                max_items: 1000,
                after_item: String::new(),
            }))
            .await?
            .into_inner()
            .entries;
        let transit = |direction: pb::TransitDirection| {
            a.transit_list(ctx.request(pb::TransitListRequest {
                library: library.clone(),
                direction: direction as i32,
                min_position: None,
                max_items: 1000,
                after_item: String::new(),
            }))
        };
        let transit_in = transit(pb::TransitDirection::To)
            .await?
            .into_inner()
            .entries;
        let transit_out = transit(pb::TransitDirection::From)
            .await?
            .into_inner()
            .entries;
        let shelf = a
            .hold_shelf(ctx.request(pb::HoldShelfRequest {
                library: library.clone(),
                min_position: None,
            }))
            .await?
            .into_inner()
            .ready;
        let overdue = a
            .overdue_loans(ctx.request(pb::OverdueLoansRequest {
                library: library.clone(),
                min_position: None,
                max_items: 1000,
                page_token: String::new(),
            }))
            .await?
            .into_inner()
            .loans;
        Ok::<_, Status>((pick, homebound, transit_in, transit_out, shelf, overdue))
    };
    let (pick, homebound, transit_in, transit_out, shelf, overdue) = match lists.await {
        Ok(lists) => lists,
        Err(status) => return failure(lang, &status),
    };
    let copy = |c: &Option<pb::WorkListCopy>| {
        let c = c.clone().unwrap_or_default();
        html! { td { (c.item) } td { (c.title) } td { (c.owner_library) } }
    };
    let body = html! {
        h1 { (lang.t("worklists")) " " (library) }
        (form)
        h2 { (lang.t("pick_list")) " (" span id="count-pick" { (pick.len()) } ")" }
        table { tbody { @for e in &pick { tr { td { (e.hold) } td { (e.item) } td { (e.title) } td { (e.pickup_library) } } } } }
        h2 { (lang.t("homebound")) " (" span id="count-homebound" { (homebound.len()) } ")" }
        table { tbody { @for e in &homebound { tr { (copy(&e.copy)) td { (e.next_library) } } } } }
        h2 { (lang.t("transit_in")) " (" span id="count-transit-in" { (transit_in.len()) } ")" }
        table { tbody { @for e in &transit_in { tr { (copy(&e.copy)) td { (e.from_library) } } } } }
        h2 { (lang.t("transit_out")) " (" span id="count-transit-out" { (transit_out.len()) } ")" }
        table { tbody { @for e in &transit_out { tr { (copy(&e.copy)) td { (e.to_library) } } } } }
        h2 { (lang.t("hold_shelf")) " (" span id="count-shelf" { (shelf.len()) } ")" }
        table { tbody { @for e in &shelf { tr { td { (e.hold) } (copy(&e.copy)) td { (local_us(e.pickup_by_us)) } } } } }
        h2 { (lang.t("overdue")) " (" span id="count-overdue" { (overdue.len()) } ")" }
        table { tbody { @for e in &overdue { tr { (copy(&e.copy)) td { (local_us(e.due_at_us)) } td.num { (e.days_overdue) } } } } }
    };
    page(Some(&ctx), lang, "worklists", "/console/worklists", body).into_response()
}
