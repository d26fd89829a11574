//! The fold: every item's place, and the counts per title and library kept as items move.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet};

use readnet_domain::{Fen, ItemCode, LibraryCode, StreamId};
use readnet_projection::canonical::{FastMap, sorted_map};
use readnet_projection::pb::{self, ItemStatus};
use readnet_projection::title::{text_key, title_key};
use readnet_projection::{NetworkView, Payload, Position, ProjectedEvent, Projection, Revision};
use serde::{Deserialize, Serialize};

/// Where an item is: the domain's `ItemStatus`, as the projection keeps it. Who holds a loan is
/// left out on purpose (see the crate docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Place {
    OnShelf {
        library: LibraryCode,
        /// Returned away from its owner: not lent again before it is home.
        homebound: bool,
        /// Set aside for a hold: on the library's pick list, or on its hold shelf.
        held: bool,
    },
    OnLoan {
        /// The lending library.
        library: LibraryCode,
        due_at_us: i64,
        renewals: u32,
    },
    InTransit {
        from: LibraryCode,
        to: LibraryCode,
        /// `TransferReason` as its protobuf number.
        reason: i32,
    },
    InBooth {
        booth: LibraryCode,
    },
    Lost,
    Withdrawn,
    ExchangedOut,
}

/// Which count of a library an item in a place adds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Shelf { homebound: bool, held: bool },
    Loan,
    TransitTo,
    Booth,
}

impl Place {
    /// The protobuf status of the place.
    pub fn status(&self) -> ItemStatus {
        match self {
            Place::OnShelf { .. } => ItemStatus::OnShelf,
            Place::OnLoan { .. } => ItemStatus::OnLoan,
            Place::InTransit { .. } => ItemStatus::InTransit,
            Place::InBooth { .. } => ItemStatus::InBooth,
            Place::Lost => ItemStatus::Lost,
            Place::Withdrawn => ItemStatus::Withdrawn,
            Place::ExchangedOut => ItemStatus::ExchangedOut,
        }
    }

    /// When a copy on loan is due back; `None` for a copy not on loan.
    pub fn due_at_us(&self) -> Option<i64> {
        match self {
            Place::OnLoan { due_at_us, .. } => Some(*due_at_us),
            _ => None,
        }
    }

    /// The library whose counts the item is in, and which count; none for items that are
    /// nowhere to be had (lost, withdrawn, exchanged out).
    fn slot(&self) -> Option<(&str, Slot)> {
        match self {
            Place::OnShelf {
                library,
                homebound,
                held,
            } => Some((
                library.as_str(),
                Slot::Shelf {
                    homebound: *homebound,
                    held: *held,
                },
            )),
            Place::OnLoan { library, .. } => Some((library.as_str(), Slot::Loan)),
            Place::InTransit { to, .. } => Some((to.as_str(), Slot::TransitTo)),
            Place::InBooth { booth } => Some((booth.as_str(), Slot::Booth)),
            Place::Lost | Place::Withdrawn | Place::ExchangedOut => None,
        }
    }
}

/// Copies of a title (or of every title) at one library. Each copy is in at most one count, but
/// `homebound` is a part of `on_shelf`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// On the shelf, homebound copies included.
    pub on_shelf: u32,
    /// Of `on_shelf`: waiting to travel home, not lent here.
    pub homebound: u32,
    /// Of `on_shelf`: set aside for a hold (to pull, or on the hold shelf), not lent to others.
    pub held: u32,
    /// On loan from the library.
    pub on_loan: u32,
    /// In transit towards the library.
    pub in_transit_to: u32,
    /// In the library's booth.
    pub in_booth: u32,
}

impl Counts {
    /// Copies on the shelf that can be lent now.
    pub fn lendable(&self) -> u32 {
        self.on_shelf
            .saturating_sub(self.homebound)
            .saturating_sub(self.held)
    }

    pub fn is_zero(&self) -> bool {
        *self == Counts::default()
    }

    /// Every copy counted.
    pub fn copies(&self) -> u32 {
        self.on_shelf + self.on_loan + self.in_transit_to + self.in_booth
    }

    fn adjust(&mut self, slot: Slot, delta: Delta) {
        let step = |count: &mut u32| match delta {
            Delta::Add => *count += 1,
            Delta::Remove => {
                debug_assert!(*count > 0, "a count never goes below zero");
                *count = count.saturating_sub(1);
            }
        };
        match slot {
            Slot::Shelf { homebound, held } => {
                step(&mut self.on_shelf);
                if homebound {
                    step(&mut self.homebound);
                }
                if held {
                    step(&mut self.held);
                }
            }
            Slot::Loan => step(&mut self.on_loan),
            Slot::TransitTo => step(&mut self.in_transit_to),
            Slot::Booth => step(&mut self.in_booth),
        }
        debug_assert!(
            self.homebound + self.held <= self.on_shelf,
            "homebound and held copies are on the shelf, and none is both"
        );
    }

    fn at_least(&self, part: &Counts) -> bool {
        self.on_shelf >= part.on_shelf
            && self.homebound >= part.homebound
            && self.held >= part.held
            && self.on_loan >= part.on_loan
            && self.in_transit_to >= part.in_transit_to
            && self.in_booth >= part.in_booth
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delta {
    Add,
    Remove,
}

/// How many items are in each status, network-wide.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    pub on_shelf: u64,
    pub on_loan: u64,
    pub in_transit: u64,
    pub in_booth: u64,
    pub lost: u64,
    pub withdrawn: u64,
    pub exchanged_out: u64,
}

impl StatusCounts {
    /// Every item catalogued.
    pub fn total(&self) -> u64 {
        self.on_shelf
            + self.on_loan
            + self.in_transit
            + self.in_booth
            + self.lost
            + self.withdrawn
            + self.exchanged_out
    }

    fn adjust(&mut self, place: &Place, delta: Delta) {
        let count = match place {
            Place::OnShelf { .. } => &mut self.on_shelf,
            Place::OnLoan { .. } => &mut self.on_loan,
            Place::InTransit { .. } => &mut self.in_transit,
            Place::InBooth { .. } => &mut self.in_booth,
            Place::Lost => &mut self.lost,
            Place::Withdrawn => &mut self.withdrawn,
            Place::ExchangedOut => &mut self.exchanged_out,
        };
        match delta {
            Delta::Add => *count += 1,
            Delta::Remove => {
                debug_assert!(*count > 0, "a status count never goes below zero");
                *count = count.saturating_sub(1);
            }
        }
    }
}

/// One item as catalogued, and where it is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRecord {
    pub isbn: String,
    pub title: String,
    pub author: String,
    pub owner_library: LibraryCode,
    pub price_fen: Option<Fen>,
    /// `Acquisition` as its protobuf number.
    pub acquisition: i32,
    /// See [`crate::title`].
    pub title_key: String,
    pub place: Place,
    /// The hold the copy is set aside for, if any.
    pub hold: Option<u64>,
    /// The item stream's revision and the `$all` position of its last event.
    pub revision: Revision,
    pub position: Position,
}

/// A title: how its first copy was catalogued, and its copies per library.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TitleRecord {
    pub isbn: String,
    pub title: String,
    pub author: String,
    /// Summed over every library.
    pub network: Counts,
    /// Libraries with at least one copy counted; no all-zero entries.
    pub libraries: BTreeMap<LibraryCode, Counts>,
    /// Due instant (µs since the epoch) → copies on loan due then: when copies come back, for
    /// a title's expected wait (the ETA). No zero entries.
    pub loans_due_us: BTreeMap<i64, u32>,
}

impl TitleRecord {
    fn loan_due(&mut self, due_us: i64, delta: Delta) {
        match delta {
            Delta::Add => *self.loans_due_us.entry(due_us).or_default() += 1,
            Delta::Remove => {
                if let Some(n) = self.loans_due_us.get_mut(&due_us) {
                    *n -= 1;
                    if *n == 0 {
                        self.loans_due_us.remove(&due_us);
                    }
                } else {
                    debug_assert!(
                        false,
                        "a loan comes back with the due date it went out with"
                    );
                }
            }
        }
    }

    /// The `n`th earliest due instant of the copies on loan (1: the first back), if so many
    /// are on loan.
    pub fn nth_due_us(&self, n: usize) -> Option<i64> {
        let mut seen = 0usize;
        self.loans_due_us.iter().find_map(|(due, count)| {
            seen += *count as usize;
            (n >= 1 && seen >= n).then_some(*due)
        })
    }
}

/// One library's copies of every title.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LibraryRecord {
    pub totals: Counts,
    /// The titles with a copy counted here (the keys of their `libraries` that name this one).
    pub titles: BTreeSet<String>,
}

/// The availability projection. See the crate docs.
///
/// The maps with an entry per item or per title are hash maps (one look-up per event each);
/// they are written in key order (see [`readnet_projection::canonical`]), so the encoding is
/// that of ordered maps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Availability {
    position: Position,
    network: NetworkView,
    #[serde(serialize_with = "sorted_map")]
    items: FastMap<ItemCode, ItemRecord>,
    #[serde(serialize_with = "sorted_map")]
    titles: FastMap<String, TitleRecord>,
    /// Libraries with at least one copy counted; no all-zero entries.
    libraries: BTreeMap<LibraryCode, LibraryRecord>,
    /// The items in each booth; no empty sets.
    booths: BTreeMap<LibraryCode, BTreeSet<ItemCode>>,
    /// Text key (title and author) → the title keys of every copy catalogued under it.
    #[serde(serialize_with = "sorted_map")]
    by_text: FastMap<String, BTreeSet<String>>,
    statuses: StatusCounts,
    /// Open holds by number (ADR 0013).
    holds: BTreeMap<u64, HoldRecord>,
    /// Title key → the numbers of the holds waiting for a copy of it: the queue, in order.
    queues: BTreeMap<String, BTreeSet<u64>>,
    /// Pickup library → the holds that ended while their copy was on its hold shelf, by
    /// number, for the shelf's work list; kept [`CLEARED_KEPT_DAYS`] after the latest one
    /// there.
    shelf_cleared: BTreeMap<LibraryCode, BTreeMap<u64, ClearedHold>>,
}

/// How long a hold that ended on the hold shelf stays on the shelf's work list, counted back
/// from the latest one to end at that library: enough to cover "today" in any time zone.
pub const CLEARED_KEPT_DAYS: i64 = 2;

/// A hold that ended (not picked up, or cancelled) while its copy was ready on the hold shelf:
/// the copy must come off the shelf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearedHold {
    pub item: ItemCode,
    /// `HoldEndReason` as its protobuf number (0 until the hold's `HoldEnded` is folded).
    pub reason: i32,
    /// When the copy was released (the hold's end, in the same append).
    pub ended_at_us: i64,
}

/// Where an open hold stands, as availability tells it (who placed it is the ledger's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldPhase {
    /// In its title's queue, waiting for a copy.
    Waiting,
    /// A copy is set aside for it: on a pick list, or on its way; `trapped` at a return.
    Assigned { item: ItemCode, trapped: bool },
    /// On the hold shelf at the pickup library until `pickup_by_us`.
    Ready { item: ItemCode, pickup_by_us: i64 },
}

/// An open hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldRecord {
    pub title_key: String,
    /// The one item asked for, for an item hold.
    pub item: Option<ItemCode>,
    pub pickup_library: LibraryCode,
    pub expires_at_us: i64,
    pub phase: HoldPhase,
}

/// What an item's record remembers of the last event in its stream. An event usually moves
/// the item of its own stream: the record found for the move is marked then, saving a second
/// look-up among millions of items.
struct Stamp<'a> {
    /// The item whose stream the event is in, if it is in an item's stream.
    item: Option<&'a str>,
    revision: Revision,
    position: Position,
}

impl Stamp<'_> {
    /// Marks `record` if it is the stream's item; whether it was.
    fn mark(&self, item: &str, record: &mut ItemRecord) -> bool {
        let mine = self.item == Some(item);
        if mine {
            record.revision = self.revision;
            record.position = self.position;
        }
        mine
    }
}

/// The counts an item's place is part of: the fields of [`Availability`] that
/// [`Tallies::tally`] changes, borrowed apart from the items so an item's record can be read
/// while its counts move.
struct Tallies<'a> {
    statuses: &'a mut StatusCounts,
    titles: &'a mut FastMap<String, TitleRecord>,
    libraries: &'a mut BTreeMap<LibraryCode, LibraryRecord>,
    booths: &'a mut BTreeMap<LibraryCode, BTreeSet<ItemCode>>,
}

impl Projection for Availability {
    const NAME: &'static str = "availability";
    /// 2: each title keeps the due dates of its copies on loan (for the ETA of a hold); a
    /// state of version 1 has none, so it is rebuilt.
    const VERSION: u32 = 2;

    fn apply(&mut self, event: &ProjectedEvent) {
        self.network.apply(&event.payload);
        let stamp = Stamp {
            item: event.stream.strip_prefix(StreamId::ITEM_PREFIX),
            revision: event.revision,
            position: event.position,
        };
        let stamped = match &event.payload {
            Payload::ItemCatalogued(e) => self.catalogue(e, &stamp),
            Payload::ItemLoaned(e) => self.move_item(
                &e.item,
                Place::OnLoan {
                    library: LibraryCode::from(e.library.clone()),
                    due_at_us: e.due_at_us,
                    renewals: 0,
                },
                &stamp,
            ),
            Payload::LoanExtended(e) => match self.items.get_mut(e.item.as_str()) {
                Some(record) => {
                    if let Place::OnLoan { due_at_us, .. } = &mut record.place {
                        *due_at_us = e.due_at_us;
                    }
                    stamp.mark(&e.item, record)
                }
                None => false,
            },
            Payload::ItemRenewed(e) => match self.items.get_mut(e.item.as_str()) {
                Some(record) => {
                    if let Place::OnLoan {
                        due_at_us,
                        renewals,
                        ..
                    } = &mut record.place
                    {
                        if let Some(title) = self.titles.get_mut(&record.title_key) {
                            title.loan_due(*due_at_us, Delta::Remove);
                            title.loan_due(e.due_at_us, Delta::Add);
                        }
                        *due_at_us = e.due_at_us;
                        *renewals = e.renewal_count;
                    }
                    stamp.mark(&e.item, record)
                }
                None => false,
            },
            Payload::ItemReturned(e) => self.move_item(
                &e.item,
                Place::OnShelf {
                    library: LibraryCode::from(e.library.clone()),
                    homebound: e.homebound,
                    held: false,
                },
                &stamp,
            ),
            Payload::TransferDispatched(e) => self.move_item(
                &e.item,
                Place::InTransit {
                    from: LibraryCode::from(e.from_library.clone()),
                    to: LibraryCode::from(e.to_library.clone()),
                    reason: e.reason,
                },
                &stamp,
            ),
            Payload::TransferReceived(e) => {
                let held = self
                    .items
                    .get(e.item.as_str())
                    .is_some_and(|r| r.hold.is_some());
                let place = if e.in_booth {
                    Place::InBooth {
                        booth: LibraryCode::from(e.to_library.clone()),
                    }
                } else {
                    Place::OnShelf {
                        library: LibraryCode::from(e.to_library.clone()),
                        homebound: e.homebound,
                        held,
                    }
                };
                self.move_item(&e.item, place, &stamp)
            }
            Payload::HoldPlaced(e) => {
                self.holds.insert(
                    e.hold,
                    HoldRecord {
                        title_key: e.title_key.clone(),
                        item: (!e.item.is_empty()).then(|| ItemCode::from(e.item.as_str())),
                        pickup_library: LibraryCode::from(e.pickup_library.as_str()),
                        expires_at_us: e.expires_at_us,
                        phase: HoldPhase::Waiting,
                    },
                );
                self.queues
                    .entry(e.title_key.clone())
                    .or_default()
                    .insert(e.hold);
                false
            }
            Payload::HoldAssigned(e) => {
                self.set_phase(
                    e.hold,
                    HoldPhase::Assigned {
                        item: ItemCode::from(e.item.as_str()),
                        trapped: e.trapped,
                    },
                );
                self.set_held(&e.item, Some(e.hold), None, &stamp)
            }
            Payload::HoldReady(e) => {
                self.set_phase(
                    e.hold,
                    HoldPhase::Ready {
                        item: ItemCode::from(e.item.as_str()),
                        pickup_by_us: e.pickup_by_us,
                    },
                );
                false
            }
            Payload::HoldFilled(e) => {
                self.end_hold(e.hold);
                self.set_held(&e.item, None, None, &stamp)
            }
            Payload::HoldReleased(e) => {
                if !e.requeued {
                    self.clear_from_shelf(e.hold, event.occurred_at.timestamp_micros());
                }
                self.set_phase(e.hold, HoldPhase::Waiting);
                self.set_held(&e.item, None, Some(e.homebound), &stamp)
            }
            Payload::HoldEnded(e) => {
                if let Some(cleared) = self
                    .holds
                    .get(&e.hold)
                    .and_then(|h| self.shelf_cleared.get_mut(&h.pickup_library))
                    .and_then(|at| at.get_mut(&e.hold))
                {
                    cleared.reason = e.reason;
                }
                self.end_hold(e.hold);
                false
            }
            // The deposited book arrives by its own ItemCatalogued, in the same append.
            Payload::BoothSwapped(e) => self.move_item(&e.item_taken, Place::ExchangedOut, &stamp),
            Payload::ItemDeclaredLost(e) => self.move_item(&e.item, Place::Lost, &stamp),
            Payload::ItemWithdrawn(e) => self.move_item(&e.item, Place::Withdrawn, &stamp),
            // Debts, patrons, the network (folded above) and settlement move no book.
            _ => false,
        };
        // Any other event in an item's stream still marks the item's record.
        if !stamped
            && let Some(item) = stamp.item
            && let Some(record) = self.items.get_mut(item)
        {
            stamp.mark(item, record);
        }
        self.position = event.position;
        debug_assert_eq!(
            self.statuses.total(),
            self.items.len() as u64,
            "every item is in exactly one status"
        );
    }

    fn position(&self) -> Position {
        self.position
    }
}

impl Availability {
    /// The network as of the events folded.
    pub fn network(&self) -> &NetworkView {
        &self.network
    }

    /// One item.
    pub fn item(&self, item: &str) -> Option<&ItemRecord> {
        self.items.get(item)
    }

    /// Every item, by id, in no particular order.
    pub fn items(&self) -> impl Iterator<Item = (&str, &ItemRecord)> {
        self.items.iter().map(|(id, r)| (id.as_str(), r))
    }

    /// One title.
    pub fn title(&self, title_key: &str) -> Option<&TitleRecord> {
        self.titles.get(title_key)
    }

    /// One title, with its key borrowed from the state.
    pub fn title_entry(&self, title_key: &str) -> Option<(&str, &TitleRecord)> {
        self.titles
            .get_key_value(title_key)
            .map(|(key, r)| (key.as_str(), r))
    }

    /// Every title, by key, in no particular order.
    pub fn titles(&self) -> impl Iterator<Item = (&str, &TitleRecord)> {
        self.titles.iter().map(|(key, r)| (key.as_str(), r))
    }

    /// The title keys catalogued under a text key (see [`crate::title::text_key`]).
    pub fn titles_under_text(&self, text_key: &str) -> impl Iterator<Item = &str> {
        self.by_text
            .get(text_key)
            .into_iter()
            .flatten()
            .map(String::as_str)
    }

    /// A title's copies at a library (zero when it has none there).
    pub fn counts(&self, title_key: &str, library: &str) -> Counts {
        self.titles
            .get(title_key)
            .and_then(|t| t.libraries.get(library))
            .copied()
            .unwrap_or_default()
    }

    /// A library's copies of every title (zero when it has none).
    pub fn library_totals(&self, library: &str) -> Counts {
        self.libraries
            .get(library)
            .map(|l| l.totals)
            .unwrap_or_default()
    }

    /// One library's record, if any copy is counted there.
    pub fn library(&self, library: &str) -> Option<&LibraryRecord> {
        self.libraries.get(library)
    }

    /// The items in a booth, by id.
    pub fn booth_items(&self, booth: &str) -> impl Iterator<Item = &str> {
        self.booths
            .get(booth)
            .into_iter()
            .flatten()
            .map(ItemCode::as_str)
    }

    /// Items per status, network-wide.
    pub fn statuses(&self) -> StatusCounts {
        self.statuses
    }

    /// One open hold.
    pub fn hold(&self, hold: u64) -> Option<&HoldRecord> {
        self.holds.get(&hold)
    }

    /// Every open hold, by number.
    pub fn holds(&self) -> impl Iterator<Item = (u64, &HoldRecord)> {
        self.holds.iter().map(|(n, r)| (*n, r))
    }

    /// A waiting hold's place in its title's queue (1: next to be served); `None` for a hold
    /// that is not waiting.
    pub fn queue_position(&self, hold: u64) -> Option<usize> {
        let record = self.holds.get(&hold)?;
        let queue = self.queues.get(&record.title_key)?;
        queue
            .contains(&hold)
            .then(|| queue.range(..hold).count() + 1)
    }

    /// How many holds wait for a copy of a title.
    pub fn queue_length(&self, title_key: &str) -> usize {
        self.queues.get(title_key).map_or(0, BTreeSet::len)
    }

    /// The holds that ended on a library's hold shelf lately (see [`CLEARED_KEPT_DAYS`]), by
    /// number.
    pub fn shelf_cleared(&self, library: &str) -> impl Iterator<Item = (u64, &ClearedHold)> {
        self.shelf_cleared
            .get(library)
            .into_iter()
            .flatten()
            .map(|(n, c)| (*n, c))
    }

    /// Puts a ready hold's copy on its pickup library's list of copies to take off the hold
    /// shelf, as the hold ends at `at_us`, and forgets that library's entries older than
    /// [`CLEARED_KEPT_DAYS`] before it. A hold that was not ready is not on a hold shelf.
    fn clear_from_shelf(&mut self, hold: u64, at_us: i64) {
        let Some(HoldRecord {
            pickup_library,
            phase: HoldPhase::Ready { item, .. },
            ..
        }) = self.holds.get(&hold)
        else {
            return;
        };
        let cleared = self
            .shelf_cleared
            .entry(pickup_library.clone())
            .or_default();
        let horizon = at_us.saturating_sub(CLEARED_KEPT_DAYS * 86_400_000_000);
        cleared.retain(|_, c| c.ended_at_us >= horizon);
        cleared.insert(
            hold,
            ClearedHold {
                item: item.clone(),
                reason: 0,
                ended_at_us: at_us,
            },
        );
    }

    pub(crate) fn booth_set(&self, booth: &str) -> Option<&BTreeSet<ItemCode>> {
        self.booths.get(booth)
    }

    /// Catalogues a new item; whether the stream's item record was marked (see [`Stamp`]).
    fn catalogue(&mut self, e: &pb::ItemCatalogued, stamp: &Stamp<'_>) -> bool {
        // decide never catalogues an id twice; a hand-made repeat keeps the first copy. One
        // look-up finds the item's slot: the id is copied anyway for a new item.
        let slot = match self.items.entry(ItemCode::from(e.item.clone())) {
            Entry::Vacant(slot) => slot,
            Entry::Occupied(mut record) => return stamp.mark(&e.item, record.get_mut()),
        };
        let key = title_key(&e.isbn, &e.title, &e.author);
        let place = if e.in_booth {
            Place::InBooth {
                booth: LibraryCode::from(e.placed_at.clone()),
            }
        } else {
            Place::OnShelf {
                library: LibraryCode::from(e.placed_at.clone()),
                homebound: false,
                held: false,
            }
        };
        // A copy written exactly as the title's first copy has that copy's text key, which is
        // indexed already: the text key (a JSON encoding) is only worked out for new spellings.
        let indexed = match self.titles.get(&key) {
            Some(title) => title.title == e.title && title.author == e.author,
            None => {
                self.titles.insert(
                    key.clone(),
                    TitleRecord {
                        isbn: e.isbn.clone(),
                        title: e.title.clone(),
                        author: e.author.clone(),
                        ..TitleRecord::default()
                    },
                );
                false
            }
        };
        if !indexed {
            let titles = self
                .by_text
                .entry(text_key(&e.title, &e.author))
                .or_default();
            if !titles.contains(&key) {
                titles.insert(key.clone());
            }
        }
        Tallies {
            statuses: &mut self.statuses,
            titles: &mut self.titles,
            libraries: &mut self.libraries,
            booths: &mut self.booths,
        }
        .tally(&key, &e.item, &place, Delta::Add);
        let record = slot.insert(ItemRecord {
            isbn: e.isbn.clone(),
            title: e.title.clone(),
            author: e.author.clone(),
            owner_library: LibraryCode::from(e.owner_library.clone()),
            price_fen: e.price_fen.map(Fen),
            acquisition: e.acquisition,
            title_key: key,
            place,
            hold: None,
            revision: Revision::FIRST,
            position: Position::START,
        });
        stamp.mark(&e.item, record)
    }

    /// Moves an open hold to `phase`, in or out of its title's queue.
    fn set_phase(&mut self, hold: u64, phase: HoldPhase) {
        let Some(record) = self.holds.get_mut(&hold) else {
            return;
        };
        let queue = self.queues.entry(record.title_key.clone()).or_default();
        if phase == HoldPhase::Waiting {
            queue.insert(hold);
        } else {
            queue.remove(&hold);
        }
        if queue.is_empty() {
            self.queues.remove(&record.title_key);
        }
        record.phase = phase;
    }

    /// Forgets a hold that was filled or ended.
    fn end_hold(&mut self, hold: u64) {
        if let Some(record) = self.holds.remove(&hold)
            && let Some(queue) = self.queues.get_mut(&record.title_key)
        {
            queue.remove(&hold);
            if queue.is_empty() {
                self.queues.remove(&record.title_key);
            }
        }
    }

    /// Sets (or clears) the hold a copy is set aside for, moving its shelf count between held
    /// and lendable; `homebound`, if given, is the copy's homebound flag from now on.
    fn set_held(
        &mut self,
        item: &str,
        hold: Option<u64>,
        homebound: Option<bool>,
        stamp: &Stamp<'_>,
    ) -> bool {
        let Some(record) = self.items.get_mut(item) else {
            return false;
        };
        record.hold = hold;
        let to = match &record.place {
            Place::OnShelf {
                library,
                homebound: was,
                ..
            } => Place::OnShelf {
                library: library.clone(),
                // A copy set aside travels to its holder, not home.
                homebound: if hold.is_some() {
                    false
                } else {
                    homebound.unwrap_or(*was)
                },
                held: hold.is_some(),
            },
            _ => return stamp.mark(item, record),
        };
        self.move_item(item, to, stamp)
    }

    /// Moves a known item to a new place, moving its count with it; whether the stream's item
    /// record was marked (see [`Stamp`]).
    fn move_item(&mut self, item: &str, to: Place, stamp: &Stamp<'_>) -> bool {
        // An event for an unknown item cannot come from decide; stay total on a hand-made log.
        let Some(record) = self.items.get_mut(item) else {
            return false;
        };
        let stamped = stamp.mark(item, record);
        let from = std::mem::replace(&mut record.place, to);
        let mut tallies = Tallies {
            statuses: &mut self.statuses,
            titles: &mut self.titles,
            libraries: &mut self.libraries,
            booths: &mut self.booths,
        };
        tallies.shift(&record.title_key, item, &from, &record.place);
        let (was_due, is_due) = (from.due_at_us(), record.place.due_at_us());
        if was_due.is_some() || is_due.is_some() {
            let title = self
                .titles
                .get_mut(&record.title_key)
                .expect("an item's title is recorded when it is catalogued");
            if let Some(due) = was_due {
                title.loan_due(due, Delta::Remove);
            }
            if let Some(due) = is_due {
                title.loan_due(due, Delta::Add);
            }
        }
        stamped
    }
}

impl Tallies<'_> {
    /// Moves an item's counts from one place to another.
    fn shift(&mut self, title_key: &str, item: &str, from: &Place, to: &Place) {
        match (from.slot(), to.slot()) {
            (Some((library, from_slot)), Some((to_library, to_slot))) if library == to_library => {
                self.shift_within(title_key, item, library, (from, from_slot), (to, to_slot));
            }
            _ => {
                self.tally(title_key, item, from, Delta::Remove);
                self.tally(title_key, item, to, Delta::Add);
            }
        }
    }

    /// A move between two counts of one library (a loan, a return where it was lent): the
    /// title stays at the library, so its cell and the library's title list stay put, where a
    /// removal and an addition would take them out and put them back.
    fn shift_within(
        &mut self,
        title_key: &str,
        item: &str,
        library: &str,
        (from, from_slot): (&Place, Slot),
        (to, to_slot): (&Place, Slot),
    ) {
        self.statuses.adjust(from, Delta::Remove);
        self.statuses.adjust(to, Delta::Add);
        let title = self
            .titles
            .get_mut(title_key)
            .expect("an item's title is recorded when it is catalogued");
        title.network.adjust(from_slot, Delta::Remove);
        title.network.adjust(to_slot, Delta::Add);
        let cell = title
            .libraries
            .get_mut(library)
            .expect("an item's place is counted at its library");
        cell.adjust(from_slot, Delta::Remove);
        cell.adjust(to_slot, Delta::Add);
        let cell = *cell;
        debug_assert!(title.network.at_least(&cell), "the network has the cell");
        let record = self
            .libraries
            .get_mut(library)
            .expect("a library with a copy counted has a record");
        record.totals.adjust(from_slot, Delta::Remove);
        record.totals.adjust(to_slot, Delta::Add);
        debug_assert!(record.titles.contains(title_key), "the title is still here");
        debug_assert!(record.totals.at_least(&cell), "the library has the cell");
        let in_booth = record.totals.in_booth;
        if from_slot == Slot::Booth || to_slot == Slot::Booth {
            let booth = self.booths.entry(LibraryCode::from(library)).or_default();
            if from_slot == Slot::Booth {
                let removed = booth.remove(item);
                debug_assert!(removed, "an item leaves a booth it is in");
            }
            if to_slot == Slot::Booth {
                let added = booth.insert(ItemCode::from(item));
                debug_assert!(added, "an item enters a booth once");
            }
            debug_assert_eq!(
                booth.len() as u64,
                u64::from(in_booth),
                "the booth's items are its in_booth count"
            );
            if booth.is_empty() {
                self.booths.remove(library);
            }
        }
    }

    /// Adds an item in `place` to, or removes it from, every count it is part of.
    fn tally(&mut self, title_key: &str, item: &str, place: &Place, delta: Delta) {
        self.statuses.adjust(place, delta);
        let Some((library, slot)) = place.slot() else {
            return;
        };
        let title = self
            .titles
            .get_mut(title_key)
            .expect("an item's title is recorded when it is catalogued");
        title.network.adjust(slot, delta);
        // Look up before inserting: the library code is only copied for a new entry.
        let (cell, was_zero) = match title.libraries.get_mut(library) {
            Some(cell) => {
                let before = *cell;
                cell.adjust(slot, delta);
                (*cell, before.is_zero())
            }
            None => {
                let mut cell = Counts::default();
                cell.adjust(slot, delta);
                title.libraries.insert(LibraryCode::from(library), cell);
                (cell, true)
            }
        };
        if cell.is_zero() {
            title.libraries.remove(library);
        }
        debug_assert!(title.network.at_least(&cell), "the network has the cell");

        if !self.libraries.contains_key(library) {
            self.libraries
                .insert(LibraryCode::from(library), LibraryRecord::default());
        }
        let record = self
            .libraries
            .get_mut(library)
            .expect("the library's record was just made");
        record.totals.adjust(slot, delta);
        // A library's titles are those with a non-zero cell there: only a cell that became
        // zero, or stopped being zero, changes the set.
        match (was_zero, cell.is_zero()) {
            (false, true) => {
                record.titles.remove(title_key);
            }
            (true, false) => {
                record.titles.insert(title_key.to_owned());
            }
            _ => {}
        }
        debug_assert_eq!(
            record.titles.contains(title_key),
            !cell.is_zero(),
            "a library lists the titles it has copies of"
        );
        debug_assert!(record.totals.at_least(&cell), "the library has the cell");
        let totals = record.totals;
        if totals.is_zero() {
            debug_assert!(record.titles.is_empty(), "no copies, no titles");
            self.libraries.remove(library);
        }

        if slot == Slot::Booth {
            if !self.booths.contains_key(library) {
                self.booths
                    .insert(LibraryCode::from(library), BTreeSet::new());
            }
            let booth = self
                .booths
                .get_mut(library)
                .expect("the booth's set was just made");
            let changed = match delta {
                Delta::Add => booth.insert(ItemCode::from(item)),
                Delta::Remove => booth.remove(item),
            };
            debug_assert!(changed, "an item enters a booth once and leaves it once");
            debug_assert_eq!(
                booth.len() as u64,
                u64::from(totals.in_booth),
                "the booth's items are its in_booth count"
            );
            if booth.is_empty() {
                self.booths.remove(library);
            }
        }
    }
}
