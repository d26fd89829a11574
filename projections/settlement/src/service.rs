//! The gRPC `SettlementService`: statements and their charges from the projection, and
//! closing a period through the store.

use readnet_domain::access::Act;
use readnet_projection::access;
use std::sync::Arc;
use std::time::Duration;

use readnet_domain::{Clock, StreamId};
use readnet_ledger::{CommandBus, Decided, Failure};
use readnet_projection::{Handle, Payload, Position, wait_budget};
use readnet_proto::Timestamp;
use readnet_proto::v1 as pb;
use readnet_proto::v1::settlement_service_server::SettlementServiceServer;
use readnet_store::{EventStore, StreamState};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{
    Charge, ChargeKind, CloseDecision, Period, PeriodClose, Settlement, SettlementError, Statement,
    StatementLine, StatementStatus,
};

/// The namespace of close event ids: the event closing period P has id
/// `Uuid::new_v5(&CLOSE_EVENT_NAMESPACE, P.as_bytes())`, so two servers closing the same period
/// write the same event and the store takes the second append as a retry of the first.
pub const CLOSE_EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x5e7d_1e6e_2c1a_4b0e_9a57_c105_e0ff_1ced);

/// How often a close is decided again after losing a race for the `settlement` stream.
const MAX_CLOSE_ATTEMPTS: usize = 3;
/// Charges per ListCharges page when the request says nothing.
const DEFAULT_PAGE_SIZE: usize = 100;
/// The most charges one ListCharges page holds.
const MAX_PAGE_SIZE: usize = 1000;

/// The id of the event that closes `period`.
pub fn close_event_id(period: Period) -> Uuid {
    Uuid::new_v5(&CLOSE_EVENT_NAMESPACE, period.to_string().as_bytes())
}

/// Implements `readnet.v1.SettlementService` over the settlement projection; closes are
/// recorded through the ledger's command bus.
#[derive(Clone)]
pub struct SettlementService {
    handle: Handle<Settlement>,
    /// Read only for the head of the log: a close is decided on a state that has applied it.
    store: Arc<dyn EventStore>,
    bus: CommandBus,
    clock: Arc<dyn Clock>,
}

impl SettlementService {
    pub fn new(
        handle: Handle<Settlement>,
        store: Arc<dyn EventStore>,
        bus: CommandBus,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            handle,
            store,
            bus,
            clock,
        }
    }

    /// The tonic server for this service.
    pub fn into_server(self) -> SettlementServiceServer<Self> {
        SettlementServiceServer::new(self)
    }

    /// Decides the close on a state that has applied the head of the log, appends it, and
    /// answers from the state once the projection has applied the close. A lost race for the
    /// `settlement` stream is decided again on the new head (usually: the period is now closed).
    async fn close(
        &self,
        period: &str,
        command_id: Uuid,
        correlation_id: Option<Uuid>,
        principal: &str,
        wait: Duration,
    ) -> Result<pb::ClosePeriodResponse, Status> {
        let now = self.clock.now();
        // One budget for the whole call, however many waits it takes.
        let deadline = std::time::Instant::now() + wait;
        let left = || deadline.saturating_duration_since(std::time::Instant::now());
        for _ in 0..MAX_CLOSE_ATTEMPTS {
            let head = self.store.head_position();
            let ((decision, closed_by_this_id), applied) = self
                .handle
                .read(Some(head), left(), |s| {
                    let closed_by_this_id = s
                        .closes()
                        .find(|c| c.command_id == Some(command_id))
                        .map(|c| c.period);
                    (s.check_close(period, now), closed_by_this_id)
                })
                .await?;
            // A command id names one close: a retry gets the original outcome, a reuse for
            // another period is refused.
            if let Some(closed) = closed_by_this_id
                && closed.to_string() != period
            {
                return Err(Status::already_exists(format!(
                    "command_id: {command_id} already closed period {closed}; a retry must repeat the request"
                )));
            }
            let planned = match decision.map_err(SettlementError::from)? {
                CloseDecision::AlreadyClosed(close) => {
                    let retry_of_the_close = close.command_id == Some(command_id);
                    return Ok(close_response(&close, !retry_of_the_close, applied.get()));
                }
                CloseDecision::Close(planned) => planned,
            };
            let expected = planned
                .expected_revision
                .map_or(StreamState::NoStream, StreamState::Revision);
            let decided = Decided {
                command_id,
                correlation_id,
                occurred_at: now,
                principal: principal.to_owned(),
                stream: StreamId::Settlement,
                expected,
                event_id: close_event_id(planned.period),
                payload: Payload::SettlementPeriodClosed(planned.event()),
            };
            match self.bus.record(decided).await {
                Ok(receipt) => {
                    let position = receipt
                        .events
                        .last()
                        .expect("a receipt holds the events recorded")
                        .position;
                    let (close, applied) = self
                        .handle
                        .read(Some(position), left(), |s| {
                            s.close_of(planned.period).cloned()
                        })
                        .await?;
                    let close = close.expect("a close the projection has applied is in its state");
                    // The store answers an append of an event id already there (another
                    // server's close of the same period) with that event: then this request
                    // wrote nothing.
                    let written = !receipt.duplicate
                        && close.close_position == position
                        && close.command_id == Some(command_id);
                    return Ok(close_response(&close, !written, applied.get()));
                }
                // The stream changed since the decision (the bus saw it), or under the append
                // (another server on the same KurrentDB cluster): decide again on the new head.
                Err(error) if error.failure() == Failure::Aborted => continue,
                Err(error) => return Err(SettlementError::from(error).into()),
            }
        }
        Err(SettlementError::Aborted(format!(
            "period: closing {period} lost {MAX_CLOSE_ATTEMPTS} races with other writers of stream {}; retry",
            StreamId::SETTLEMENT
        ))
        .into())
    }
}

fn close_response(
    close: &PeriodClose,
    already_closed: bool,
    applied: u64,
) -> pb::ClosePeriodResponse {
    pb::ClosePeriodResponse {
        close: Some(pb::PeriodClose {
            period: close.period.to_string(),
            through_position: close.through_position.get(),
            close_position: close.close_position.get(),
        }),
        already_closed,
        applied_position: applied,
    }
}

fn period_field(value: &str, field: &str) -> Result<Period, SettlementError> {
    value
        .parse()
        .map_err(|e| SettlementError::InvalidArgument(format!("{field}: {e}")))
}

fn uuid_field(value: &str, field: &str) -> Result<Uuid, SettlementError> {
    if value.is_empty() {
        return Err(SettlementError::InvalidArgument(format!(
            "{field}: a UUID is required"
        )));
    }
    Uuid::parse_str(value)
        .map_err(|_| SettlementError::InvalidArgument(format!("{field}: {value:?} is not a UUID")))
}

fn timestamp(us: i64) -> Timestamp {
    Timestamp {
        seconds: us.div_euclid(1_000_000),
        nanos: (us.rem_euclid(1_000_000) * 1000) as i32,
    }
}

/// A statement as the API hands it out.
pub fn statement_to_pb(statement: &Statement, applied_position: u64) -> pb::Statement {
    pb::Statement {
        period: statement.period.to_string(),
        status: match statement.status {
            StatementStatus::Provisional => pb::StatementStatus::Provisional,
            StatementStatus::Final => pb::StatementStatus::Final,
        } as i32,
        lines: statement.lines.iter().map(line_to_pb).collect(),
        nets: statement
            .nets
            .iter()
            .map(|n| pb::StatementCityNet {
                city: n.city.as_str().to_owned(),
                net_fen: n.net_fen.get(),
            })
            .collect(),
        first_position: statement.first_position.map(Position::get),
        last_position: statement.last_position.map(Position::get),
        through_position: statement.through_position.map(Position::get),
        close_position: statement.close_position.map(Position::get),
        digest: statement.digest(),
        applied_position,
    }
}

/// A statement line as the API hands it out.
pub fn line_to_pb(line: &StatementLine) -> pb::StatementLine {
    pb::StatementLine {
        debtor_city: line.debtor.as_str().to_owned(),
        creditor_city: line.creditor.as_str().to_owned(),
        kind: line.kind.to_pb() as i32,
        count: line.count,
        amount_fen: line.amount_fen.get(),
        adjustment_of: line
            .adjustment_of
            .map(|p| p.to_string())
            .unwrap_or_default(),
    }
}

/// A charge as the API hands it out.
pub fn charge_to_pb(charge: &Charge) -> pb::SettlementCharge {
    pb::SettlementCharge {
        position: charge.position.get(),
        event_id: charge.event_id.to_string(),
        item: charge.item.as_str().to_owned(),
        kind: charge.kind.to_pb() as i32,
        debtor_city: charge.debtor.as_str().to_owned(),
        creditor_city: charge.creditor.as_str().to_owned(),
        amount_fen: charge.amount_fen.get(),
        occurred_at: Some(timestamp(charge.occurred_at_us)),
        original_period: charge.original_period.to_string(),
        adjustment: charge.adjustment,
    }
}

/// One page of a closed period's statement line, for auditors: the close, the line as the final
/// statement has it, the line's charges after `request.after_position`, and whether more follow.
pub fn line_page(
    state: &Settlement,
    request: &pb::ProveStatementLineRequest,
) -> Result<
    (
        PeriodClose,
        pb::StatementLine,
        Vec<pb::SettlementCharge>,
        bool,
    ),
    SettlementError,
> {
    let period = period_field(&request.period, "period")?;
    for (value, field) in [
        (&request.debtor_city, "debtor_city"),
        (&request.creditor_city, "creditor_city"),
        (&request.original_period, "original_period"),
    ] {
        if value.is_empty() {
            return Err(SettlementError::InvalidArgument(format!(
                "{field}: a statement line names it"
            )));
        }
    }
    if request.kind == pb::ChargeKind::Unspecified as i32 {
        return Err(SettlementError::InvalidArgument(
            "kind: a statement line names it (loan, return, shipping, lost)".to_owned(),
        ));
    }
    let filter = ChargeFilter::from_request(&pb::ListChargesRequest {
        period: request.period.clone(),
        debtor_city: request.debtor_city.clone(),
        creditor_city: request.creditor_city.clone(),
        kind: request.kind,
        original_period: request.original_period.clone(),
        min_position: None,
        after_position: request.after_position,
        page_size: request.page_size,
    })?;
    let close = state
        .closes()
        .find(|c| c.period == period)
        .cloned()
        .ok_or_else(|| {
            SettlementError::FailedPrecondition(format!(
                "period: {period} is not closed; an open period's statement may still change"
            ))
        })?;
    let adjustment_of = filter.original_period.filter(|&p| p != period);
    let statement = state.statement(period)?;
    let line = statement
        .lines
        .iter()
        .find(|l| {
            l.debtor.as_str() == request.debtor_city
                && l.creditor.as_str() == request.creditor_city
                && Some(l.kind) == filter.kind
                && l.adjustment_of == adjustment_of
        })
        .ok_or_else(|| {
            SettlementError::NotFound(format!(
                "the {period} statement has no line of {} owing {} for {:?} charges{}",
                request.debtor_city,
                request.creditor_city,
                filter.kind.expect("checked above"),
                adjustment_of.map_or(String::new(), |p| format!(" of {p}"))
            ))
        })?;
    let line = line_to_pb(line);
    let (charges, next) = filter.page(state)?;
    Ok((close, line, charges, next != 0))
}

/// ListCharges' filters, checked.
struct ChargeFilter {
    period: Period,
    debtor: Option<String>,
    creditor: Option<String>,
    kind: Option<ChargeKind>,
    original_period: Option<Period>,
    after_position: Position,
    page_size: usize,
}

impl ChargeFilter {
    fn from_request(r: &pb::ListChargesRequest) -> Result<Self, SettlementError> {
        let kind = pb::ChargeKind::try_from(r.kind).map_err(|_| {
            SettlementError::InvalidArgument(format!(
                "kind: {} is not a charge kind (loan, return, shipping, lost)",
                r.kind
            ))
        })?;
        Ok(Self {
            period: period_field(&r.period, "period")?,
            debtor: (!r.debtor_city.is_empty()).then(|| r.debtor_city.clone()),
            creditor: (!r.creditor_city.is_empty()).then(|| r.creditor_city.clone()),
            kind: ChargeKind::from_pb(kind),
            original_period: (!r.original_period.is_empty())
                .then(|| period_field(&r.original_period, "original_period"))
                .transpose()?,
            after_position: Position::new(r.after_position),
            page_size: match r.page_size as usize {
                0 => DEFAULT_PAGE_SIZE,
                n => n.min(MAX_PAGE_SIZE),
            },
        })
    }

    /// One page of matching charges and the cursor for the next (0: none).
    fn page(
        &self,
        state: &Settlement,
    ) -> Result<(Vec<pb::SettlementCharge>, u64), SettlementError> {
        for (city, field) in [
            (&self.debtor, "debtor_city"),
            (&self.creditor, "creditor_city"),
        ] {
            if let Some(city) = city
                && !state.network().cities.contains_key(city.as_str())
            {
                return Err(SettlementError::NotFound(format!(
                    "{field}: city {city} has not joined the network"
                )));
            }
        }
        let charges = state.charges(self.period);
        let start = charges.partition_point(|c| c.position <= self.after_position);
        let mut matching = charges[start..].iter().filter(|c| {
            self.debtor.as_ref().is_none_or(|d| &c.debtor == d)
                && self.creditor.as_ref().is_none_or(|d| &c.creditor == d)
                && self.kind.is_none_or(|k| c.kind == k)
                && self.original_period.is_none_or(|p| c.original_period == p)
        });
        let page: Vec<_> = matching.by_ref().take(self.page_size).collect();
        let next = match (page.last(), matching.next()) {
            (Some(last), Some(_)) => last.position.get(),
            _ => 0,
        };
        Ok((page.into_iter().map(charge_to_pb).collect(), next))
    }
}

#[tonic::async_trait]
impl pb::settlement_service_server::SettlementService for SettlementService {
    async fn close_period(
        &self,
        request: Request<pb::ClosePeriodRequest>,
    ) -> Result<Response<pb::ClosePeriodResponse>, Status> {
        let principal = access::authorize(&request, Act::ClosePeriod, &[])?
            .authority
            .principal
            .to_string();
        let wait = wait_budget(request.metadata());
        let r = request.into_inner();
        let command_id = uuid_field(&r.command_id, "command_id")?;
        let correlation_id = (!r.correlation_id.is_empty())
            .then(|| uuid_field(&r.correlation_id, "correlation_id"))
            .transpose()?;
        period_field(&r.period, "period")?;
        self.close(&r.period, command_id, correlation_id, &principal, wait)
            .await
            .map(Response::new)
    }

    async fn get_statement(
        &self,
        request: Request<pb::GetStatementRequest>,
    ) -> Result<Response<pb::GetStatementResponse>, Status> {
        access::authorize(&request, Act::ReadStatements, &[])?;
        let wait = wait_budget(request.metadata());
        let r = request.into_inner();
        let period = period_field(&r.period, "period")?;
        let (statement, applied) = self
            .handle
            .read(r.min_position.map(Position::new), wait, |s| {
                s.statement(period)
            })
            .await?;
        let statement = statement.map_err(SettlementError::from)?;
        Ok(Response::new(pb::GetStatementResponse {
            statement: Some(statement_to_pb(&statement, applied.get())),
        }))
    }

    async fn list_charges(
        &self,
        request: Request<pb::ListChargesRequest>,
    ) -> Result<Response<pb::ListChargesResponse>, Status> {
        access::authorize(&request, Act::ReadStatements, &[])?;
        let wait = wait_budget(request.metadata());
        let r = request.into_inner();
        let filter = ChargeFilter::from_request(&r)?;
        let (page, applied) = self
            .handle
            .read(r.min_position.map(Position::new), wait, |s| filter.page(s))
            .await?;
        let (charges, next_after_position) = page?;
        Ok(Response::new(pb::ListChargesResponse {
            charges,
            next_after_position,
            applied_position: applied.get(),
        }))
    }
}
