//! The fold: open loans and ready holds watched against the clock, and the notices derived.

use std::collections::BTreeMap;

use readnet_domain::{ItemCode, LibraryCode, PatronId};
use readnet_projection::canonical::{FastMap, sorted_map};
use readnet_projection::pb::{self, NoticeKind};
use readnet_projection::{Payload, Position, ProjectedEvent, Projection};
use serde::{Deserialize, Serialize};

/// "Due soon": a loan due within this many days of a tick.
pub const DUE_SOON_DAYS: i64 = 3;
/// "Block coming": a loan this many days overdue (the block comes at 30).
pub const BLOCK_COMING_DAYS: i64 = 25;
/// "Hold expiring": a ready hold whose pickup deadline is within this many hours of a tick.
pub const HOLD_EXPIRING_HOURS: i64 = 24;
/// Notices kept for gateways to take: the newest ones.
pub const MAX_RETAINED_NOTICES: usize = 100_000;

const HOUR_US: i64 = 3_600_000_000;
const DAY_US: i64 = 24 * HOUR_US;

/// One notice, as derived. See `notices.proto` for the fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub id: String,
    /// `NoticeKind` as its protobuf number.
    pub kind: i32,
    pub patron_id: PatronId,
    pub item: String,
    pub title: String,
    pub hold: u64,
    pub library: String,
    pub deadline_us: i64,
    pub hold_end_reason: i32,
    pub at_us: i64,
    pub position: Position,
}

impl Notice {
    /// The API's message, with its sequence number.
    pub fn to_proto(&self, sequence: u64) -> pb::Notice {
        pb::Notice {
            sequence,
            id: self.id.clone(),
            kind: self.kind,
            patron_id: self.patron_id.as_str().to_owned(),
            item: self.item.clone(),
            title: self.title.clone(),
            hold: self.hold,
            library: self.library.clone(),
            deadline_us: self.deadline_us,
            hold_end_reason: self.hold_end_reason,
            at_us: self.at_us,
            position: self.position.get(),
        }
    }
}

/// An open loan and the time-based notices already derived for its due date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LoanWatch {
    patron_id: PatronId,
    library: LibraryCode,
    due_us: i64,
    due_soon_sent: bool,
    overdue_sent: bool,
    block_sent: bool,
}

/// A hold on the hold shelf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ReadyWatch {
    patron_id: PatronId,
    item: ItemCode,
    pickup: LibraryCode,
    pickup_by_us: i64,
    expiring_sent: bool,
}

/// The notices projection's state. See the crate docs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notices {
    position: Position,
    /// Every item's title, for the notices' text.
    #[serde(serialize_with = "sorted_map")]
    titles: FastMap<ItemCode, String>,
    #[serde(serialize_with = "sorted_map")]
    loans: FastMap<ItemCode, LoanWatch>,
    /// Open holds' pickup libraries.
    pickups: BTreeMap<u64, LibraryCode>,
    ready: BTreeMap<u64, ReadyWatch>,
    /// The last `ClockTicked` folded (µs since the epoch).
    last_tick_us: i64,
    /// Notices derived so far: the next one's sequence is this plus one.
    derived: u64,
    /// The newest notices by sequence, at most [`MAX_RETAINED_NOTICES`].
    retained: BTreeMap<u64, Notice>,
    /// Gateway → the sequence it acknowledged through.
    acks: BTreeMap<String, u64>,
}

impl Notices {
    /// Notices derived so far (the last sequence number; 0: none).
    pub fn derived(&self) -> u64 {
        self.derived
    }

    /// The sequence a gateway acknowledged through (0: none yet).
    pub fn acknowledged(&self, gateway: &str) -> u64 {
        self.acks.get(gateway).copied().unwrap_or(0)
    }

    /// The retained notices after `sequence`, oldest first, at most `max`.
    pub fn after(&self, sequence: u64, max: usize) -> Vec<(u64, &Notice)> {
        self.retained
            .range(sequence.saturating_add(1)..)
            .take(max)
            .map(|(s, n)| (*s, n))
            .collect()
    }

    fn emit(&mut self, notice: Notice) {
        self.derived += 1;
        self.retained.insert(self.derived, notice);
        while self.retained.len() > MAX_RETAINED_NOTICES {
            self.retained.pop_first();
        }
    }

    fn title(&self, item: &str) -> String {
        self.titles.get(item).cloned().unwrap_or_default()
    }

    /// The time-based notices due at a tick, for every open loan (in item order) and every
    /// ready hold (in hold order).
    fn tick(&mut self, at_us: i64, position: Position) {
        if at_us <= self.last_tick_us {
            return;
        }
        self.last_tick_us = at_us;
        let mut due: Vec<Notice> = Vec::new();
        let mut items: Vec<&ItemCode> = self.loans.keys().collect();
        items.sort_unstable();
        let mut marks: Vec<(ItemCode, [bool; 3])> = Vec::new();
        for item in items {
            let loan = &self.loans[item];
            let mut sent = [loan.due_soon_sent, loan.overdue_sent, loan.block_sent];
            let overdue = at_us > loan.due_us;
            let mut kinds = Vec::new();
            if !overdue && !sent[0] && loan.due_us - at_us <= DUE_SOON_DAYS * DAY_US {
                kinds.push((NoticeKind::DueSoon, "due-soon"));
                sent[0] = true;
            }
            if overdue && !sent[1] {
                kinds.push((NoticeKind::Overdue, "overdue"));
                sent[1] = true;
                // Past its due date: "due soon" would be news from the past.
                sent[0] = true;
            }
            if overdue && !sent[2] && at_us - loan.due_us >= BLOCK_COMING_DAYS * DAY_US {
                kinds.push((NoticeKind::BlockComing, "block-coming"));
                sent[2] = true;
            }
            if kinds.is_empty() {
                continue;
            }
            let title = self.titles.get(item).cloned().unwrap_or_default();
            for (kind, word) in kinds {
                due.push(Notice {
                    id: format!("{word}/{item}/{}", loan.due_us),
                    kind: kind as i32,
                    patron_id: loan.patron_id.clone(),
                    item: item.as_str().to_owned(),
                    title: title.clone(),
                    hold: 0,
                    library: loan.library.as_str().to_owned(),
                    deadline_us: loan.due_us,
                    hold_end_reason: 0,
                    at_us,
                    position,
                });
            }
            marks.push((item.clone(), sent));
        }
        for (item, [soon, overdue, block]) in marks {
            if let Some(loan) = self.loans.get_mut(&item) {
                loan.due_soon_sent = soon;
                loan.overdue_sent = overdue;
                loan.block_sent = block;
            }
        }
        for (hold, ready) in &mut self.ready {
            if ready.expiring_sent
                || at_us >= ready.pickup_by_us
                || ready.pickup_by_us - at_us > HOLD_EXPIRING_HOURS * HOUR_US
            {
                continue;
            }
            ready.expiring_sent = true;
            due.push(Notice {
                id: format!("hold-expiring/{hold}/{}", ready.item),
                kind: NoticeKind::HoldExpiring as i32,
                patron_id: ready.patron_id.clone(),
                item: ready.item.as_str().to_owned(),
                title: self.titles.get(&ready.item).cloned().unwrap_or_default(),
                hold: *hold,
                library: ready.pickup.as_str().to_owned(),
                deadline_us: ready.pickup_by_us,
                hold_end_reason: 0,
                at_us,
                position,
            });
        }
        for notice in due {
            self.emit(notice);
        }
    }

    fn open_loan(&mut self, item: &str, patron_id: &str, library: &str, due_us: i64) {
        self.loans.insert(
            ItemCode::from(item),
            LoanWatch {
                patron_id: PatronId::from(patron_id),
                library: LibraryCode::from(library),
                due_us,
                due_soon_sent: false,
                overdue_sent: false,
                block_sent: false,
            },
        );
    }
}

impl Projection for Notices {
    const NAME: &'static str = "notices";
    const VERSION: u32 = 1;

    fn apply(&mut self, event: &ProjectedEvent) {
        let at_us = event.occurred_at.timestamp_micros();
        let position = event.position;
        match &event.payload {
            Payload::ItemCatalogued(e) => {
                self.titles
                    .insert(ItemCode::from(e.item.as_str()), e.title.clone());
            }
            Payload::ItemLoaned(e) => {
                self.open_loan(&e.item, &e.patron_id, &e.library, e.due_at_us)
            }
            Payload::ItemRenewed(e) => {
                // A new loan period: its notices start afresh.
                if let Some(loan) = self.loans.get(e.item.as_str()).cloned() {
                    self.open_loan(
                        &e.item,
                        loan.patron_id.as_str(),
                        loan.library.as_str(),
                        e.due_at_us,
                    );
                }
            }
            Payload::ItemReturned(e) => {
                self.loans.remove(e.item.as_str());
            }
            Payload::ItemDeclaredLost(e) => {
                self.loans.remove(e.item.as_str());
            }
            Payload::ItemWithdrawn(e) => {
                self.loans.remove(e.item.as_str());
            }
            Payload::HoldPlaced(e) => {
                self.pickups
                    .insert(e.hold, LibraryCode::from(e.pickup_library.as_str()));
            }
            Payload::HoldReady(e) => {
                self.ready.insert(
                    e.hold,
                    ReadyWatch {
                        patron_id: PatronId::from(e.patron_id.as_str()),
                        item: ItemCode::from(e.item.as_str()),
                        pickup: LibraryCode::from(e.pickup_library.as_str()),
                        pickup_by_us: e.pickup_by_us,
                        expiring_sent: false,
                    },
                );
                let title = self.title(&e.item);
                self.emit(Notice {
                    id: format!("hold-ready/{}/{}", e.hold, e.item),
                    kind: NoticeKind::HoldReady as i32,
                    patron_id: PatronId::from(e.patron_id.as_str()),
                    item: e.item.clone(),
                    title,
                    hold: e.hold,
                    library: e.pickup_library.clone(),
                    deadline_us: e.pickup_by_us,
                    hold_end_reason: 0,
                    at_us,
                    position,
                });
            }
            Payload::HoldFilled(e) => {
                self.ready.remove(&e.hold);
                self.pickups.remove(&e.hold);
            }
            Payload::HoldReleased(e) => {
                self.ready.remove(&e.hold);
            }
            Payload::HoldEnded(e) => {
                self.ready.remove(&e.hold);
                let library = self
                    .pickups
                    .remove(&e.hold)
                    .map(|l| l.as_str().to_owned())
                    .unwrap_or_default();
                self.emit(Notice {
                    id: format!("hold-ended/{}", e.hold),
                    kind: NoticeKind::HoldCancelled as i32,
                    patron_id: PatronId::from(e.patron_id.as_str()),
                    item: String::new(),
                    title: String::new(),
                    hold: e.hold,
                    library,
                    deadline_us: 0,
                    hold_end_reason: e.reason,
                    at_us,
                    position,
                });
            }
            Payload::ClockTicked(e) => self.tick(e.at_us, position),
            Payload::NoticesAcknowledged(e) => {
                let acked = self.acks.entry(e.gateway.clone()).or_default();
                *acked = (*acked).max(e.through_sequence);
            }
            _ => {}
        }
        self.position = position;
    }

    fn position(&self) -> Position {
        self.position
    }
}
