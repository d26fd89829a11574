//! The gRPC `AvailabilityService`: thin handlers that check fields, wait for `min_position`
//! and ask the state.

use readnet_domain::access::{Act, Target};
use readnet_domain::{Clock, LibraryCode};
use readnet_projection::access;
use std::sync::Arc;
use std::time::Duration;

use readnet_projection::{Handle, Position, wait_budget};
use readnet_proto::v1::{self as pb, availability_service_server};
use tonic::{Request, Response, Status};

use crate::error::AvailabilityError;
use crate::query::{ShelfListing, TitleQuery, page_size};
use crate::state::Availability;

/// Answers availability queries from the projection's shared state.
#[derive(Clone)]
pub struct AvailabilityService {
    handle: Handle<Availability>,
    clock: Arc<dyn Clock>,
}

impl AvailabilityService {
    /// Serves `handle`'s state; "now" for the work lists that depend on it (the hold shelf's
    /// day, overdue loans) comes from `clock`.
    pub fn new(handle: Handle<Availability>, clock: Arc<dyn Clock>) -> Self {
        Self { handle, clock }
    }

    /// Runs `query` on the state once it has applied `min_position` (the request's number).
    /// The answer's `applied_position` is the position it reflects: past the state's own when
    /// the last events read were passed over (refusals, other writers' streams), so that it is
    /// never below a `min_position` the wait reached.
    async fn answer<R: Reflects>(
        &self,
        min_position: Option<u64>,
        wait: Duration,
        query: impl FnOnce(&Availability) -> Result<R, AvailabilityError>,
    ) -> Result<Response<R>, Status> {
        let min_position = min_position.map(Position::new);
        let (answer, position) = self.handle.read(min_position, wait, query).await?;
        let mut answer = answer?;
        answer.reflects(position);
        Ok(Response::new(answer))
    }
}

/// An answer that names the log position it reflects.
trait Reflects {
    fn reflects(&mut self, position: Position);
}

macro_rules! reflects {
    ($($response:ty),* $(,)?) => {
        $(impl Reflects for $response {
            fn reflects(&mut self, position: Position) {
                self.applied_position = position.get();
            }
        })*
    };
}

reflects!(
    pb::AvailabilityServiceGetItemResponse,
    pb::FindTitleResponse,
    pb::LibraryShelfResponse,
    pb::BoothStockResponse,
    pb::PickListResponse,
    pb::GetHoldResponse,
    pb::HomeboundListResponse,
    pb::TransitListResponse,
    pb::HoldShelfResponse,
    pb::OverdueLoansResponse,
);

/// The library a work list is asked for, checked to be in the caller's scope.
// tonic's `Status` is what the access check answers with, as every handler does.
#[allow(clippy::result_large_err)]
fn work_list_library<T>(request: &Request<T>, library: &str) -> Result<String, Status> {
    let library = required(library, "library", "a library code")?.to_owned();
    access::authorize(
        request,
        Act::ReadWorkLists,
        &[Target::Library(LibraryCode::from(library.as_str()))],
    )?;
    Ok(library)
}

/// A field that must not be empty; `what` says what it holds, for the message.
fn required<'a>(value: &'a str, field: &str, what: &str) -> Result<&'a str, AvailabilityError> {
    if value.trim().is_empty() {
        return Err(AvailabilityError::invalid(format!(
            "{field}: {what} is required"
        )));
    }
    Ok(value)
}

#[tonic::async_trait]
impl availability_service_server::AvailabilityService for AvailabilityService {
    async fn get_item(
        &self,
        request: Request<pb::AvailabilityServiceGetItemRequest>,
    ) -> Result<Response<pb::AvailabilityServiceGetItemResponse>, Status> {
        access::authorize(&request, Act::ReadCatalogue, &[])?;
        let wait = wait_budget(request.metadata());
        let r = request.into_inner();
        let item = required(&r.item, "item", "an item id")?;
        self.answer(r.min_position, wait, |s| s.get_item(item))
            .await
    }

    async fn find_title(
        &self,
        request: Request<pb::FindTitleRequest>,
    ) -> Result<Response<pb::FindTitleResponse>, Status> {
        access::authorize(&request, Act::ReadCatalogue, &[])?;
        let wait = wait_budget(request.metadata());
        let r = request.into_inner();
        let title = TitleQuery::from_proto(r.title.as_ref(), "title")?;
        let from = required(&r.from_library, "from_library", "a library code")?;
        let max = page_size(r.max_libraries);
        self.answer(r.min_position, wait, |s| s.find_title(&title, from, max))
            .await
    }

    async fn library_shelf(
        &self,
        request: Request<pb::LibraryShelfRequest>,
    ) -> Result<Response<pb::LibraryShelfResponse>, Status> {
        access::authorize(&request, Act::ReadCatalogue, &[])?;
        let wait = wait_budget(request.metadata());
        let r = request.into_inner();
        let library = required(&r.library, "library", "a library code")?;
        let title = match &r.title {
            Some(t) => Some(TitleQuery::from_proto(Some(t), "title")?),
            None => None,
        };
        let listing = match (&title, r.per_title) {
            (Some(_), true) => {
                return Err(AvailabilityError::invalid(
                    "per_title: list every title or ask for one title, not both",
                )
                .into());
            }
            (Some(t), false) => ShelfListing::Title(t),
            (None, true) => ShelfListing::PerTitle {
                after: &r.after_title_key,
                max: page_size(r.max_titles),
            },
            (None, false) => ShelfListing::Totals,
        };
        self.answer(r.min_position, wait, |s| s.library_shelf(library, listing))
            .await
    }

    async fn booth_stock(
        &self,
        request: Request<pb::BoothStockRequest>,
    ) -> Result<Response<pb::BoothStockResponse>, Status> {
        access::authorize(&request, Act::ReadCatalogue, &[])?;
        let wait = wait_budget(request.metadata());
        let r = request.into_inner();
        let booth = required(&r.booth, "booth", "a booth's library code")?;
        let max = page_size(r.max_items);
        self.answer(r.min_position, wait, |s| {
            s.booth_stock(booth, &r.after_item, max)
        })
        .await
    }

    async fn pick_list(
        &self,
        request: Request<pb::PickListRequest>,
    ) -> Result<Response<pb::PickListResponse>, Status> {
        let library = required(&request.get_ref().library, "library", "a library code")?.to_owned();
        access::authorize(
            &request,
            Act::ReadHolds,
            &[Target::Library(LibraryCode::from(library.as_str()))],
        )?;
        let wait = wait_budget(request.metadata());
        let r = request.into_inner();
        self.answer(r.min_position, wait, |s| s.pick_list(&library))
            .await
    }

    async fn get_hold(
        &self,
        request: Request<pb::GetHoldRequest>,
    ) -> Result<Response<pb::GetHoldResponse>, Status> {
        access::authorize(&request, Act::ReadHolds, &[])?;
        let wait = wait_budget(request.metadata());
        let r = request.into_inner();
        if r.hold == 0 {
            return Err(AvailabilityError::invalid("hold: a hold number is required").into());
        }
        self.answer(r.min_position, wait, |s| s.get_hold(r.hold))
            .await
    }

    async fn homebound_list(
        &self,
        request: Request<pb::HomeboundListRequest>,
    ) -> Result<Response<pb::HomeboundListResponse>, Status> {
        let library = work_list_library(&request, &request.get_ref().library)?;
        let wait = wait_budget(request.metadata());
        let r = request.into_inner();
        let max = page_size(r.max_items);
        self.answer(r.min_position, wait, |s| {
            s.homebound_list(&library, &r.after_item, max)
        })
        .await
    }

    async fn transit_list(
        &self,
        request: Request<pb::TransitListRequest>,
    ) -> Result<Response<pb::TransitListResponse>, Status> {
        let library = work_list_library(&request, &request.get_ref().library)?;
        let wait = wait_budget(request.metadata());
        let r = request.into_inner();
        let direction = match pb::TransitDirection::try_from(r.direction) {
            Ok(d) if d != pb::TransitDirection::Unspecified => d,
            _ => {
                return Err(AvailabilityError::invalid(format!(
                    "direction: {} is not TRANSIT_DIRECTION_TO or TRANSIT_DIRECTION_FROM",
                    r.direction
                ))
                .into());
            }
        };
        let max = page_size(r.max_items);
        self.answer(r.min_position, wait, |s| {
            s.transit_list(&library, direction, &r.after_item, max)
        })
        .await
    }

    async fn hold_shelf(
        &self,
        request: Request<pb::HoldShelfRequest>,
    ) -> Result<Response<pb::HoldShelfResponse>, Status> {
        let library = work_list_library(&request, &request.get_ref().library)?;
        let wait = wait_budget(request.metadata());
        let r = request.into_inner();
        let now = self.clock.now();
        self.answer(r.min_position, wait, |s| s.hold_shelf(&library, now))
            .await
    }

    async fn overdue_loans(
        &self,
        request: Request<pb::OverdueLoansRequest>,
    ) -> Result<Response<pb::OverdueLoansResponse>, Status> {
        let library = work_list_library(&request, &request.get_ref().library)?;
        let wait = wait_budget(request.metadata());
        let r = request.into_inner();
        let max = page_size(r.max_items);
        let now = self.clock.now();
        self.answer(r.min_position, wait, |s| {
            s.overdue_loans(&library, now, &r.page_token, max)
        })
        .await
    }
}
