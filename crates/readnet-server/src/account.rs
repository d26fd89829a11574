//! `AccountService`: a patron's account by card, read from the command bus's state (the state
//! commands are decided on), so that it shows every acknowledged command and the very block a
//! checkout would be refused for. The card is hashed here and goes no further.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use readnet_domain::access::{Act, Target};
use readnet_domain::pb::{self, account_service_server};
use readnet_domain::{
    Account, AccountHoldPhase, BLOCK_AFTER_OVERDUE_DAYS, Block, Clock, PatronKey, PatronRef,
    Rejection,
};
use readnet_ledger::CommandBus;
use readnet_projection::access;
use tonic::{Request, Response, Status};

use crate::edge::{self, Actor};
use crate::error::ServerError;

/// The account service: the bus to read from, the key cards are hashed with, the clock that
/// says which loans are overdue.
#[derive(Clone)]
pub struct AccountService {
    pub bus: CommandBus,
    pub key: PatronKey,
    pub clock: Arc<dyn Clock>,
}

impl AccountService {
    /// The account of the card in `request`, once its caller may read it where it acts (the
    /// acting library, else the card's city).
    pub(crate) async fn account(
        &self,
        request: &Request<pb::GetAccountRequest>,
    ) -> Result<pb::GetAccountResponse, Status> {
        let caller = access::caller(request)?;
        let actor = Actor::resolve(caller, request.metadata())?;
        let patron = edge::patron(request.get_ref().card.as_ref(), "card", &self.key)?;
        let target = match actor.library {
            Some(library) => Target::Library(library),
            None => Target::City(patron.city.clone()),
        };
        access::authorize(request, Act::ReadAccount, &[target])?;
        let now = self.clock.now();
        let masked = patron.masked_card.clone();
        let answer = self
            .bus
            .read(move |ledger| {
                ledger
                    .account(patron.patron_id.as_str(), now)
                    .map(|account| response(&patron, &account))
            })
            .await
            .map_err(ServerError::from)?;
        answer.ok_or_else(|| {
            ServerError::NotFound(format!(
                "card: card {masked} has not been used yet (a patron is enrolled by their first \
                 checkout or hold)"
            ))
            .into()
        })
    }
}

#[tonic::async_trait]
impl account_service_server::AccountService for AccountService {
    async fn get_account(
        &self,
        request: Request<pb::GetAccountRequest>,
    ) -> Result<Response<pb::GetAccountResponse>, Status> {
        self.account(&request).await.map(Response::new)
    }
}

fn us(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// The account as the API shows it: the card masked, the block in the words of the rule.
fn response(patron: &PatronRef, account: &Account) -> pb::GetAccountResponse {
    let loans = account
        .loans
        .iter()
        .map(|l| pb::AccountLoan {
            item: l.item.to_string(),
            title: l.title.clone(),
            author: l.author.clone(),
            library: l.library.to_string(),
            due_at_us: us(l.due_at),
            due_date: l.due_date.to_string(),
            renewals_left: l.renewals_left,
            days_overdue: l.days_overdue,
        })
        .collect();
    let holds = account
        .holds
        .iter()
        .map(|h| {
            let mut hold = pb::AccountHold {
                hold: h.hold,
                title_key: h.title_key.clone(),
                title: h.title.clone(),
                item_asked: h
                    .item_asked
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                pickup_library: h.pickup_library.to_string(),
                ..Default::default()
            };
            let phase = match &h.phase {
                AccountHoldPhase::Waiting {
                    position,
                    queue_length,
                    expires_at,
                } => {
                    hold.queue_position = u32::try_from(*position).unwrap_or(u32::MAX);
                    hold.queue_length = u32::try_from(*queue_length).unwrap_or(u32::MAX);
                    hold.expires_at_us = us(*expires_at);
                    pb::HoldPhase::Waiting
                }
                AccountHoldPhase::ToPull { item, library } => {
                    hold.item = item.to_string();
                    hold.item_library = library.to_string();
                    pb::HoldPhase::ToPull
                }
                AccountHoldPhase::InTransit { item, to } => {
                    hold.item = item.to_string();
                    hold.item_library = to.to_string();
                    pb::HoldPhase::InTransit
                }
                AccountHoldPhase::Ready { item, pickup_by } => {
                    hold.item = item.to_string();
                    hold.item_library = h.pickup_library.to_string();
                    hold.pickup_by_us = us(*pickup_by);
                    pb::HoldPhase::Ready
                }
            };
            hold.phase = phase as i32;
            hold
        })
        .collect();
    let debts = account
        .debts
        .iter()
        .map(|d| pb::AccountDebt {
            item: d.item.to_string(),
            title: d.title.clone(),
            owed_fen: d.owed_fen.0,
        })
        .collect();
    let (block_reason, block_item, block_message) = match &account.block {
        None => (pb::BlockReason::Unspecified, String::new(), String::new()),
        Some(Block::LostUnpaid { item, owed_fen }) => (
            pb::BlockReason::LostItemUnpaid,
            item.to_string(),
            Rejection::PatronBlockedLost {
                card: patron.masked_card.clone(),
                item: item.clone(),
                owed_fen: *owed_fen,
            }
            .to_string(),
        ),
        Some(Block::Overdue { item, due_date }) => (
            pb::BlockReason::Overdue,
            item.to_string(),
            Rejection::PatronBlockedOverdue {
                card: patron.masked_card.clone(),
                item: item.clone(),
                due_date: *due_date,
                days: BLOCK_AFTER_OVERDUE_DAYS,
            }
            .to_string(),
        ),
    };
    pb::GetAccountResponse {
        masked_card: patron.masked_card.clone(),
        tier: account.tier as i32,
        loan_limit: u32::try_from(account.loan_limit).unwrap_or(u32::MAX),
        overdue_count: u32::try_from(account.overdue().count()).unwrap_or(u32::MAX),
        loans,
        holds,
        debts,
        owed_fen: account.owed_fen.0,
        blocked: account.block.is_some(),
        block_reason: block_reason as i32,
        block_item,
        block_message,
    }
}
