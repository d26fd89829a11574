//! The `readnet.v1.StatisticsService` gRPC service: thin handlers over [`crate::query`].
//!
//! Each handler checks its fields, waits for `min_position` (within the caller's deadline), runs
//! the query on the shared state and says which position the answer reflects.

use readnet_domain::access::{Act, Target};
use readnet_projection::access;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::Stream;
use readnet_domain::Clock;
use readnet_projection::{Handle, Position, wait_budget};
use readnet_proto::v1 as pb;
use readnet_proto::v1::statistics_service_server;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::query::{self, DayFigures, DayRange, MonitorSnapshot};
use crate::{By, Statistics, StatisticsError};

/// WatchMonitor sends a snapshot at least this often, changed or not, so that "events in the
/// last hour" and "overdue" roll forward while no event arrives.
pub const MONITOR_REFRESH: Duration = Duration::from_secs(60);
/// WatchMonitor computes a snapshot at most this often per subscriber: once caught up the runner
/// applies events one at a time, and a snapshot per event would cost a full monitoring-centre
/// query per event per watcher. Changes applied in between are merged into the next snapshot.
pub const WATCH_MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Snapshots queued for one WatchMonitor subscriber. While they wait, new changes are not
/// queued: the next snapshot is computed from the latest state when there is room.
pub const WATCH_BUFFER: usize = 4;

/// The statistics queries and the monitoring centre over gRPC.
#[derive(Clone)]
pub struct StatisticsService {
    handle: Handle<Statistics>,
    clock: Arc<dyn Clock>,
}

impl StatisticsService {
    /// Serves `handle`'s state; "now" for the monitoring centre comes from `clock`.
    pub fn new(handle: Handle<Statistics>, clock: Arc<dyn Clock>) -> Self {
        Self { handle, clock }
    }

    /// Runs `query` once the state has applied `min_position`; the answer and the position it
    /// reflects, in the messages' numbers.
    async fn read<R>(
        &self,
        min_position: Option<u64>,
        wait: Duration,
        query: impl FnOnce(&Statistics) -> Result<R, StatisticsError>,
    ) -> Result<(R, u64), Status> {
        let min_position = min_position.map(Position::new);
        let (answer, position) = self.handle.read(min_position, wait, query).await?;
        Ok((answer?, position.get()))
    }
}

/// The monitoring centre of one library is that library's statistics; of every library, the
/// network's.
#[allow(clippy::result_large_err)] // tonic's Status, as every handler returns
fn authorize_monitor<T>(request: &Request<T>, library: &str) -> Result<(), Status> {
    match library.trim() {
        "" => access::authorize(request, Act::ReadNetworkStatistics, &[]),
        library => access::authorize(
            request,
            Act::ReadLibraryStatistics,
            &[Target::Library(library.into())],
        ),
    }
    .map(drop)
}

fn by(value: i32) -> Result<By, StatisticsError> {
    match pb::StatisticsBy::try_from(value) {
        Ok(pb::StatisticsBy::TransactionLibrary) => Ok(By::TransactionLibrary),
        Ok(pb::StatisticsBy::OwningLibrary) => Ok(By::OwningLibrary),
        Ok(pb::StatisticsBy::Unspecified) => Err(StatisticsError::invalid(
            "by: STATISTICS_BY_TRANSACTION_LIBRARY or STATISTICS_BY_OWNING_LIBRARY is required",
        )),
        Err(_) => Err(StatisticsError::invalid(format!(
            "by: {value} is not a known value"
        ))),
    }
}

fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

fn day(figures: DayFigures) -> pb::StatisticsDay {
    let c = figures.counters;
    pb::StatisticsDay {
        day: figures.day,
        loans: c.loans,
        returns: c.returns,
        renewals: c.renewals,
        returns_of_other_libraries_items: c.returns_of_other_libraries_items,
        cross_city_loans: c.cross_city_loans,
        cross_city_returns: c.cross_city_returns,
        transfers_in: c.transfers_in,
        transfers_out: c.transfers_out,
        booth_swaps: c.booth_swaps,
        patron_driven_acquisitions: c.patron_driven_acquisitions,
        enrolments: c.enrolments,
        active_patrons: figures.active_patrons,
        on_loan_at_day_end: figures.on_loan_at_day_end,
        overdue_at_day_end: figures.overdue_at_day_end,
        visits: c.visits,
        loans_by_hour: if c.loans == 0 {
            Vec::new()
        } else {
            c.loans_by_hour.0.to_vec()
        },
        digital_loans: c.digital_loans,
        cross_city_digital_loans: c.cross_city_digital_loans,
        patron_driven_spent_fen: c.patron_driven_spent_fen,
    }
}

fn budget(figures: &query::BudgetFigures) -> pb::AcquisitionBudget {
    pb::AcquisitionBudget {
        library: figures.library.clone(),
        city: figures.city.clone(),
        budget_set: figures.budget_set,
        budget_fen: figures.budget_fen,
        patron_driven_share_bp: figures.patron_driven_share_bp,
        patron_driven_share_fen: figures.patron_driven_share_fen,
        patron_driven_spent_fen: figures.patron_driven_spent_fen,
        patron_driven_remaining_fen: figures.patron_driven_remaining_fen(),
        patron_driven_books: figures.patron_driven_books,
        purchases_spent_fen: figures.purchases_spent_fen,
        purchased_books: figures.purchased_books,
        spent_fen: figures.spent_fen(),
        remaining_fen: figures.remaining_fen(),
    }
}

fn days(figures: Vec<DayFigures>) -> Vec<pb::StatisticsDay> {
    figures.into_iter().map(day).collect()
}

fn snapshot(snapshot: MonitorSnapshot, applied_position: u64) -> pb::MonitorSnapshot {
    pb::MonitorSnapshot {
        applied_position,
        as_of: Some(timestamp(snapshot.as_of)),
        libraries: snapshot
            .libraries
            .into_iter()
            .map(|l| pb::MonitoredLibrary {
                library: l.library,
                name: l.name,
                city: l.city,
                closed: l.closed,
                last_occurred_at: l.last_occurred_at.map(timestamp),
                last_recorded_at: l.last_recorded_at.map(timestamp),
                events_last_hour: l.events_last_hour,
                on_loan: l.on_loan,
                overdue: l.overdue,
                owned_on_loan: l.owned_on_loan,
                owned_overdue: l.owned_overdue,
                tier: l.tier,
                parent: l.parent,
                today: l.today,
                loans_today: l.loans_today,
                returns_today: l.returns_today,
                visits_today: l.visits_today,
                in_transit: l.in_transit,
                holds_waiting: l.holds_waiting,
                usual_gap_seconds: l.usual_gap_seconds,
            })
            .collect(),
    }
}

/// The monitoring centre now, once the state has applied `min_position`.
async fn monitor_now(
    handle: &Handle<Statistics>,
    clock: &Arc<dyn Clock>,
    min_position: Option<u64>,
    wait: Duration,
    library: Option<&str>,
) -> Result<pb::MonitorSnapshot, Status> {
    let (answer, position) = handle
        .read(min_position.map(Position::new), wait, |s| {
            query::monitor(s, library, clock.now())
        })
        .await?;
    Ok(snapshot(answer?, position.get()))
}

/// A snapshot as WatchMonitor pushes it.
fn watched(snapshot: pb::MonitorSnapshot) -> pb::WatchMonitorResponse {
    pb::WatchMonitorResponse {
        snapshot: Some(snapshot),
    }
}

/// An empty library field asks for every library.
fn library_filter(library: &str) -> Option<String> {
    (!library.is_empty()).then(|| library.to_owned())
}

type MonitorStream = Pin<Box<dyn Stream<Item = Result<pb::WatchMonitorResponse, Status>> + Send>>;

#[tonic::async_trait]
impl statistics_service_server::StatisticsService for StatisticsService {
    async fn library_days(
        &self,
        request: Request<pb::LibraryDaysRequest>,
    ) -> Result<Response<pb::LibraryDaysResponse>, Status> {
        let library = Target::Library(request.get_ref().library.as_str().into());
        access::authorize(&request, Act::ReadLibraryStatistics, &[library])?;
        let wait = wait_budget(request.metadata());
        let r = request.into_inner();
        let range = DayRange::parse(&r.from_day, &r.to_day)?;
        let view = by(r.by)?;
        let (figures, applied_position) = self
            .read(r.min_position, wait, |s| {
                query::library_days(s, &r.library, &range, view)
            })
            .await?;
        Ok(Response::new(pb::LibraryDaysResponse {
            applied_position,
            library: r.library,
            by: r.by,
            days: days(figures),
        }))
    }

    async fn city_days(
        &self,
        request: Request<pb::CityDaysRequest>,
    ) -> Result<Response<pb::CityDaysResponse>, Status> {
        let city = Target::City(request.get_ref().city.as_str().into());
        access::authorize(&request, Act::ReadCityStatistics, &[city])?;
        let wait = wait_budget(request.metadata());
        let r = request.into_inner();
        let range = DayRange::parse(&r.from_day, &r.to_day)?;
        let view = by(r.by)?;
        let (figures, applied_position) = self
            .read(r.min_position, wait, |s| {
                query::city_days(s, &r.city, &range, view)
            })
            .await?;
        Ok(Response::new(pb::CityDaysResponse {
            applied_position,
            city: r.city,
            by: r.by,
            days: days(figures),
        }))
    }

    async fn subtree_days(
        &self,
        request: Request<pb::SubtreeDaysRequest>,
    ) -> Result<Response<pb::SubtreeDaysResponse>, Status> {
        // A subtree is a part of its city's network: the city's statistics, aimed at its root.
        let root = Target::Library(request.get_ref().library.as_str().into());
        access::authorize(&request, Act::ReadCityStatistics, &[root])?;
        let wait = wait_budget(request.metadata());
        let r = request.into_inner();
        let range = DayRange::parse(&r.from_day, &r.to_day)?;
        let view = by(r.by)?;
        let ((libraries, figures), applied_position) = self
            .read(r.min_position, wait, |s| {
                query::subtree_days(s, &r.library, &range, view)
            })
            .await?;
        Ok(Response::new(pb::SubtreeDaysResponse {
            applied_position,
            library: r.library,
            by: r.by,
            libraries: libraries
                .into_iter()
                .map(|l| pb::SubtreeLibrary {
                    library: l.library,
                    name: l.name,
                    tier: l.tier,
                    parent: l.parent.unwrap_or_default(),
                    depth: l.depth,
                    closed: l.closed,
                })
                .collect(),
            days: days(figures),
        }))
    }

    async fn network_days(
        &self,
        request: Request<pb::NetworkDaysRequest>,
    ) -> Result<Response<pb::NetworkDaysResponse>, Status> {
        access::authorize(&request, Act::ReadNetworkStatistics, &[])?;
        let wait = wait_budget(request.metadata());
        let r = request.into_inner();
        let range = DayRange::parse(&r.from_day, &r.to_day)?;
        let view = by(r.by)?;
        let (figures, applied_position) = self
            .read(r.min_position, wait, |s| {
                Ok(query::network_days(s, &range, view))
            })
            .await?;
        Ok(Response::new(pb::NetworkDaysResponse {
            applied_position,
            by: r.by,
            days: days(figures),
        }))
    }

    async fn flow_matrix(
        &self,
        request: Request<pb::FlowMatrixRequest>,
    ) -> Result<Response<pb::FlowMatrixResponse>, Status> {
        access::authorize(&request, Act::ReadNetworkStatistics, &[])?;
        let wait = wait_budget(request.metadata());
        let r = request.into_inner();
        let month = query::parse_month(&r.month, "month")?;
        let (cells, applied_position) = self
            .read(r.min_position, wait, |s| Ok(query::flow_matrix(s, &month)))
            .await?;
        Ok(Response::new(pb::FlowMatrixResponse {
            applied_position,
            month,
            cells: cells
                .into_iter()
                .map(|c| pb::FlowMatrixCell {
                    owner_city: c.owner_city,
                    return_city: c.return_city,
                    returns: c.returns,
                })
                .collect(),
        }))
    }

    async fn top_titles(
        &self,
        request: Request<pb::TopTitlesRequest>,
    ) -> Result<Response<pb::TopTitlesResponse>, Status> {
        let city = Target::City(request.get_ref().city.as_str().into());
        access::authorize(&request, Act::ReadCityStatistics, &[city])?;
        let wait = wait_budget(request.metadata());
        let r = request.into_inner();
        let month = query::parse_month(&r.month, "month")?;
        let limit = usize::try_from(r.limit).unwrap_or(usize::MAX);
        let (titles, applied_position) = self
            .read(r.min_position, wait, |s| {
                query::top_titles(s, &r.city, &month, limit)
            })
            .await?;
        Ok(Response::new(pb::TopTitlesResponse {
            applied_position,
            city: r.city,
            month,
            titles: titles
                .into_iter()
                .zip(1..)
                .map(|(t, rank)| pb::TopTitle {
                    rank,
                    title_key: t.title_key,
                    isbn: t.isbn,
                    title: t.title,
                    author: t.author,
                    loans: t.loans,
                })
                .collect(),
        }))
    }

    async fn monitor(
        &self,
        request: Request<pb::MonitorRequest>,
    ) -> Result<Response<pb::MonitorResponse>, Status> {
        authorize_monitor(&request, &request.get_ref().library)?;
        let wait = wait_budget(request.metadata());
        let r = request.into_inner();
        let library = library_filter(&r.library);
        let snapshot = monitor_now(
            &self.handle,
            &self.clock,
            r.min_position,
            wait,
            library.as_deref(),
        )
        .await?;
        Ok(Response::new(pb::MonitorResponse {
            snapshot: Some(snapshot),
        }))
    }

    type WatchMonitorStream = MonitorStream;

    async fn watch_monitor(
        &self,
        request: Request<pb::WatchMonitorRequest>,
    ) -> Result<Response<Self::WatchMonitorStream>, Status> {
        authorize_monitor(&request, &request.get_ref().library)?;
        let wait = wait_budget(request.metadata());
        let r = request.into_inner();
        let library = library_filter(&r.library);
        // The first snapshot is taken here so that a bad library or a min_position not reached
        // in time fails the call itself.
        let first = monitor_now(
            &self.handle,
            &self.clock,
            r.min_position,
            wait,
            library.as_deref(),
        )
        .await?;
        let (sender, receiver) = mpsc::channel(WATCH_BUFFER);
        let handle = self.handle.clone();
        let clock = Arc::clone(&self.clock);
        tokio::spawn(async move {
            let mut seen = first.applied_position;
            let mut last_libraries = first.libraries.clone();
            if sender.send(Ok(watched(first))).await.is_err() {
                return;
            }
            let mut computed_at = Instant::now();
            let mut refresh_at = computed_at + MONITOR_REFRESH;
            loop {
                let applied = tokio::select! {
                    changed = handle.changed(Position::new(seen)) => match changed {
                        Some(_) => true,
                        None => {
                            let stopped = Status::unavailable("statistics is not running");
                            let _ = sender.send(Err(stopped)).await;
                            break;
                        }
                    },
                    () = tokio::time::sleep_until(refresh_at) => false,
                    // A client that leaves while nothing changes must still end the task.
                    () = sender.closed() => break,
                };
                // At most one snapshot a WATCH_MIN_INTERVAL: events applied meanwhile are in the
                // state the next one is computed from.
                tokio::select! {
                    () = tokio::time::sleep_until(computed_at + WATCH_MIN_INTERVAL) => {}
                    () = sender.closed() => break,
                }
                let next =
                    monitor_now(&handle, &clock, None, Duration::ZERO, library.as_deref()).await;
                computed_at = Instant::now();
                let next = match next {
                    Ok(next) => next,
                    Err(status) => {
                        let _ = sender.send(Err(status)).await;
                        break;
                    }
                };
                // Whatever was applied up to the snapshot's position is in it.
                seen = next.applied_position;
                if applied && next.libraries == last_libraries {
                    // Applied events that leave the monitoring centre as it was.
                    continue;
                }
                last_libraries = next.libraries.clone();
                // A full buffer holds this task here: changes that arrive meanwhile are folded
                // into the next snapshot instead of queueing up.
                if sender.send(Ok(watched(next))).await.is_err() {
                    break;
                }
                refresh_at = Instant::now() + MONITOR_REFRESH;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn hold_statistics(
        &self,
        request: Request<pb::HoldStatisticsRequest>,
    ) -> Result<Response<pb::HoldStatisticsResponse>, Status> {
        let r = request.get_ref();
        let (act, target) = match (r.library.trim().is_empty(), r.city.trim().is_empty()) {
            (false, true) => (
                Act::ReadLibraryStatistics,
                Target::Library(r.library.as_str().into()),
            ),
            (true, false) => (
                Act::ReadCityStatistics,
                Target::City(r.city.as_str().into()),
            ),
            (false, false) => {
                return Err(
                    StatisticsError::invalid("city: give a library or a city, not both").into(),
                );
            }
            (true, true) => {
                return Err(
                    StatisticsError::invalid("library: a library or a city is required").into(),
                );
            }
        };
        access::authorize(&request, act, &[target])?;
        let wait = wait_budget(request.metadata());
        let r = request.into_inner();
        let range = DayRange::parse(&r.from_day, &r.to_day)?;
        let scope = if r.library.trim().is_empty() {
            query::HoldScope::City(&r.city)
        } else {
            query::HoldScope::Library(&r.library)
        };
        let (figures, applied_position) = self
            .read(r.min_position, wait, |s| {
                query::hold_statistics(s, scope, &range)
            })
            .await?;
        Ok(Response::new(pb::HoldStatisticsResponse {
            applied_position,
            library: r.library.clone(),
            city: r.city.clone(),
            placed: figures.placed,
            filled: figures.filled,
            expired_unfilled: figures.expired_unfilled,
            not_picked_up: figures.not_picked_up,
            cancelled: figures.cancelled,
            fill_minutes_median: figures.fill_minutes_median.unwrap_or(0),
            fill_minutes_p90: figures.fill_minutes_p90.unwrap_or(0),
        }))
    }

    async fn acquisition_budgets(
        &self,
        request: Request<pb::AcquisitionBudgetsRequest>,
    ) -> Result<Response<pb::AcquisitionBudgetsResponse>, Status> {
        let r = request.get_ref();
        let (library, city) = (r.library.trim(), r.city.trim());
        match (library.is_empty(), city.is_empty()) {
            (false, true) => {
                access::authorize(
                    &request,
                    Act::ReadLibraryStatistics,
                    &[Target::Library(library.into())],
                )?;
            }
            (true, false) => {
                access::authorize(
                    &request,
                    Act::ReadCityStatistics,
                    &[Target::City(city.into())],
                )?;
            }
            (true, true) => {
                access::authorize(&request, Act::ReadNetworkStatistics, &[])?;
            }
            (false, false) => {
                return Err(
                    StatisticsError::invalid("city: give a library or a city, not both").into(),
                );
            }
        }
        if !(2000..=2100).contains(&r.year) {
            return Err(StatisticsError::invalid(format!(
                "year: {} is not a budget year (2000 to 2100)",
                r.year
            ))
            .into());
        }
        let wait = wait_budget(request.metadata());
        let r = request.into_inner();
        let scope = match (r.library.trim(), r.city.trim()) {
            ("", "") => query::BudgetScope::Network,
            ("", city) => query::BudgetScope::City(city),
            (library, _) => query::BudgetScope::Library(library),
        };
        let ((libraries, cities, total), applied_position) = self
            .read(r.min_position, wait, |s| {
                query::acquisition_budgets(s, r.year, scope)
            })
            .await?;
        Ok(Response::new(pb::AcquisitionBudgetsResponse {
            applied_position,
            year: r.year,
            libraries: libraries.iter().map(budget).collect(),
            cities: cities.iter().map(budget).collect(),
            total: Some(budget(&total)),
        }))
    }
}
