//! The read services as the listener serves them, handed to an in-process edge (the binary's
//! web console): the same handlers, called with the caller the same authenticator proves, so
//! a page is refused exactly where its gRPC twin would be.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::HeaderMap;
use readnet_availability::AvailabilityService;
use readnet_domain::Clock;
use readnet_ledger::CommandBus;
use readnet_projection::access::Authenticated;
use readnet_settlement::SettlementService;
use readnet_statistics::service::StatisticsService;
use tonic::Status;

use crate::access::Authenticator;
use crate::{AccountService, LedgerService};

/// Whether a library is open now by its calendar (ADR 0017).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// Registered as closed for good.
    ClosedForGood,
    /// A day its calendar closes it, or a temporary closure.
    Closed,
    Open,
}

/// The services a listener serves reads with, for an edge in the same process.
#[derive(Clone)]
pub struct ReadServices {
    pub statistics: StatisticsService,
    pub availability: AvailabilityService,
    pub settlement: SettlementService,
    pub account: AccountService,
    pub ledger: LedgerService,
    pub clock: Arc<dyn Clock>,
    pub(crate) authenticator: Authenticator,
    pub(crate) bus: CommandBus,
}

impl ReadServices {
    /// The caller a token proves, as the listener's authentication layer proves it: a revoked,
    /// replaced or expired token is UNAUTHENTICATED.
    pub fn authenticate(&self, token: &str) -> Result<Authenticated, Status> {
        let mut headers = HeaderMap::new();
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| Status::unauthenticated("the token is not ASCII text"))?;
        headers.insert(http::header::AUTHORIZATION, value);
        self.authenticator.authenticate(&headers)
    }

    /// The caller a token proves and the token's id, for a session that keeps the id.
    pub fn authenticate_token(
        &self,
        token: &str,
    ) -> Result<(Authenticated, readnet_domain::TokenId), Status> {
        self.authenticator.authenticate_token(token)
    }

    /// The caller of a session: `principal`, if `token_id` is still its current, unexpired
    /// token and it is not revoked, checked against the log now as every call's token is.
    pub fn authenticate_session(
        &self,
        principal: &str,
        token_id: &str,
    ) -> Result<Authenticated, Status> {
        self.authenticator.authenticate_session(
            &readnet_domain::PrincipalName::from(principal.to_owned()),
            &readnet_domain::TokenId::from(token_id.to_owned()),
        )
    }

    /// Every registered library's opening now, read from the decider's calendars.
    pub async fn openings(&self) -> Result<BTreeMap<String, Opening>, Status> {
        let now = self.clock.now();
        self.bus
            .read(move |ledger| {
                let network = &ledger.network;
                network
                    .libraries
                    .iter()
                    .map(|(code, library)| {
                        let opening = if library.closed {
                            Opening::ClosedForGood
                        } else if network
                            .calendar(code.as_str())
                            .is_some_and(|c| c.closed_at(now).is_some())
                        {
                            Opening::Closed
                        } else {
                            Opening::Open
                        };
                        (code.as_str().to_owned(), opening)
                    })
                    .collect()
            })
            .await
            .map_err(|e| Status::unavailable(e.to_string()))
    }
}

/// Where `serve_on_with` hands the read services once they are running.
pub type ReadServicesHook = Box<dyn FnOnce(ReadServices) + Send>;
