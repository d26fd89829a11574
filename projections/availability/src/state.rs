//! The fold: every item's place, and the counts per title and library kept as items move.
//!
//! The state is compact (issue 17): item codes, library codes, title keys, text keys and the
//! catalogue's spellings are interned once ([`Interner`]); everything else names them by dense
//! id. An item is a fixed-size [`ItemState`] in a vector indexed by its id, a library's counts
//! and booth sit in a vector indexed by the library's id, a title's counts per library in a
//! small vector sorted by library id. The public records ([`ItemRecord`], [`TitleRecord`],
//! [`HoldRecord`]...) are views built when a query asks, off the fold's hot path.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use readnet_domain::{Fen, ItemCode, LibraryCode, StreamId};
use readnet_projection::canonical::{FastSet, sorted_set};
use readnet_projection::intern::{Code, Interner};
use readnet_projection::pb::{self, ItemStatus};
use readnet_projection::rows::{ColdError, ColdState, RowStore, Rows};
use readnet_projection::title::{text_key, title_key};
use readnet_projection::{NetworkView, Payload, Position, ProjectedEvent, Projection, Revision};
use serde::{Deserialize, Serialize};

/// What each interner keeps; markers for [`Code`], so one kind's id cannot index another's table.
#[derive(Debug)]
pub(crate) enum ItemKind {}
#[derive(Debug)]
pub(crate) enum LibraryKind {}
#[derive(Debug)]
pub(crate) enum TitleKind {}
#[derive(Debug)]
pub(crate) enum TextKind {}
/// A copy's catalogue text (ISBN, title, author), as [`spelling_key`] writes it.
#[derive(Debug)]
pub(crate) enum SpellingKind {}

pub(crate) type ItemId = Code<ItemKind>;
pub(crate) type LibraryId = Code<LibraryKind>;
pub(crate) type TitleId = Code<TitleKind>;
type TextId = Code<TextKind>;
type SpellingId = Code<SpellingKind>;

/// Where an item is: the domain's `ItemStatus`, as a query shows it. Who holds a loan is left
/// out on purpose (see the crate docs).
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

/// Where an item is, as the fold keeps it: [`Place`] with libraries by id (24 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Spot {
    OnShelf {
        library: LibraryId,
        homebound: bool,
        held: bool,
    },
    OnLoan {
        library: LibraryId,
        renewals: u32,
        due_at_us: i64,
    },
    InTransit {
        from: LibraryId,
        to: LibraryId,
        reason: i32,
    },
    InBooth {
        booth: LibraryId,
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

impl Spot {
    fn status(self) -> ItemStatus {
        match self {
            Spot::OnShelf { .. } => ItemStatus::OnShelf,
            Spot::OnLoan { .. } => ItemStatus::OnLoan,
            Spot::InTransit { .. } => ItemStatus::InTransit,
            Spot::InBooth { .. } => ItemStatus::InBooth,
            Spot::Lost => ItemStatus::Lost,
            Spot::Withdrawn => ItemStatus::Withdrawn,
            Spot::ExchangedOut => ItemStatus::ExchangedOut,
        }
    }

    fn due_at_us(self) -> Option<i64> {
        match self {
            Spot::OnLoan { due_at_us, .. } => Some(due_at_us),
            _ => None,
        }
    }

    /// The library whose counts the item is in, and which count; none for items that are
    /// nowhere to be had (lost, withdrawn, exchanged out).
    fn slot(self) -> Option<(LibraryId, Slot)> {
        match self {
            Spot::OnShelf {
                library,
                homebound,
                held,
            } => Some((library, Slot::Shelf { homebound, held })),
            Spot::OnLoan { library, .. } => Some((library, Slot::Loan)),
            Spot::InTransit { to, .. } => Some((to, Slot::TransitTo)),
            Spot::InBooth { booth } => Some((booth, Slot::Booth)),
            Spot::Lost | Spot::Withdrawn | Spot::ExchangedOut => None,
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

    fn adjust(&mut self, status: ItemStatus, delta: Delta) {
        let count = match status {
            ItemStatus::OnShelf => &mut self.on_shelf,
            ItemStatus::OnLoan => &mut self.on_loan,
            ItemStatus::InTransit => &mut self.in_transit,
            ItemStatus::InBooth => &mut self.in_booth,
            ItemStatus::Lost => &mut self.lost,
            ItemStatus::Withdrawn => &mut self.withdrawn,
            ItemStatus::ExchangedOut => &mut self.exchanged_out,
            ItemStatus::Unspecified => {
                debug_assert!(false, "every place has a status");
                return;
            }
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

/// One item as catalogued, and where it is now: a view of the state, built for a query.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// One item as the fold keeps it (64 bytes): its catalogue text by spelling id (the title
/// follows from the spelling), its owner by library id, its place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ItemState {
    pub(crate) spelling: SpellingId,
    pub(crate) owner: LibraryId,
    pub(crate) acquisition: i32,
    /// Whether `price_fen` is a price (kept apart from it so the struct packs to 64 bytes).
    pub(crate) priced: bool,
    pub(crate) price_fen: i64,
    pub(crate) spot: Spot,
    pub(crate) revision: Revision,
    pub(crate) position: Position,
}

/// A title: how its first copy was catalogued, and its copies per library: a view of the
/// state, built for a query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    /// The `n`th earliest due instant of the copies on loan (1: the first back), if so many
    /// are on loan.
    pub fn nth_due_us(&self, n: usize) -> Option<i64> {
        nth_due_us(
            self.loans_due_us.iter().map(|(due, count)| (*due, *count)),
            n,
        )
    }
}

fn nth_due_us(dues: impl Iterator<Item = (i64, u32)>, n: usize) -> Option<i64> {
    let mut seen = 0usize;
    let mut dues = dues;
    dues.find_map(|(due, count)| {
        seen += count as usize;
        (n >= 1 && seen >= n).then_some(due)
    })
}

/// A title as the fold keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TitleState {
    /// How its first copy was catalogued; `None` for a title only a hold has named.
    pub(crate) first: Option<SpellingId>,
    pub(crate) network: Counts,
    /// Libraries with at least one copy counted, by library id; no all-zero entries.
    pub(crate) libraries: Vec<(LibraryId, Counts)>,
    /// (due instant in µs, copies on loan due then), by instant; no zero entries.
    pub(crate) loans_due_us: Vec<(i64, u32)>,
}

impl TitleState {
    pub(crate) fn cell(&self, library: LibraryId) -> Counts {
        self.libraries
            .binary_search_by_key(&library, |(l, _)| *l)
            .map_or_else(|_| Counts::default(), |at| self.libraries[at].1)
    }

    fn loan_due(&mut self, due_us: i64, delta: Delta) {
        let found = self.loans_due_us.binary_search_by_key(&due_us, |(d, _)| *d);
        match (delta, found) {
            (Delta::Add, Ok(at)) => self.loans_due_us[at].1 += 1,
            (Delta::Add, Err(at)) => self.loans_due_us.insert(at, (due_us, 1)),
            (Delta::Remove, Ok(at)) => {
                self.loans_due_us[at].1 -= 1;
                if self.loans_due_us[at].1 == 0 {
                    self.loans_due_us.remove(at);
                }
            }
            (Delta::Remove, Err(_)) => debug_assert!(
                false,
                "a loan comes back with the due date it went out with"
            ),
        }
    }

    /// See [`TitleRecord::nth_due_us`].
    pub(crate) fn nth_due_us(&self, n: usize) -> Option<i64> {
        nth_due_us(self.loans_due_us.iter().copied(), n)
    }
}

/// One library's copies of every title: a view of the state, built for a query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LibraryRecord {
    pub totals: Counts,
    /// The titles with a copy counted here (the keys of their `libraries` that name this one).
    pub titles: BTreeSet<String>,
}

/// A library as the fold keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LibraryState {
    pub(crate) totals: Counts,
    /// The titles with a copy counted here.
    #[serde(serialize_with = "sorted_set")]
    pub(crate) titles: FastSet<TitleId>,
    /// The items in its booth.
    pub(crate) booth: BTreeSet<ItemId>,
}

/// How long a hold that ended on the hold shelf stays on the shelf's work list, counted back
/// from the latest one to end at that library: enough to cover "today" in any time zone.
pub const CLEARED_KEPT_DAYS: i64 = 2;

/// A hold that ended (not picked up, or cancelled) while its copy was ready on the hold shelf:
/// the copy must come off the shelf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearedHold {
    pub item: ItemCode,
    /// `HoldEndReason` as its protobuf number (0 until the hold's `HoldEnded` is folded).
    pub reason: i32,
    /// When the copy was released (the hold's end, in the same append).
    pub ended_at_us: i64,
}

/// [`ClearedHold`] as the fold keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Cleared {
    item: ItemId,
    reason: i32,
    ended_at_us: i64,
}

/// Where an open hold stands, as availability tells it (who placed it is the ledger's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldPhase {
    /// In its title's queue, waiting for a copy.
    Waiting,
    /// A copy is set aside for it: on a pick list, or on its way; `trapped` at a return.
    Assigned { item: ItemCode, trapped: bool },
    /// On the hold shelf at the pickup library until `pickup_by_us`.
    Ready { item: ItemCode, pickup_by_us: i64 },
}

/// [`HoldPhase`] as the fold keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Phase {
    Waiting,
    Assigned { item: ItemId, trapped: bool },
    Ready { item: ItemId, pickup_by_us: i64 },
}

/// An open hold: a view of the state, built for a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRecord {
    pub title_key: String,
    /// The one item asked for, for an item hold.
    pub item: Option<ItemCode>,
    pub pickup_library: LibraryCode,
    pub expires_at_us: i64,
    pub phase: HoldPhase,
}

/// An open hold as the fold keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Hold {
    title: TitleId,
    item: Option<ItemId>,
    pickup: LibraryId,
    expires_at_us: i64,
    phase: Phase,
}

/// A buffer reused to write spelling keys, so that cataloguing allocates no `String` per event.
/// Not part of the state: equal, and encoded as nothing.
#[derive(Debug, Clone, Default)]
struct Scratch(String);

impl PartialEq for Scratch {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Scratch {}

/// A copy's catalogue text as one interned code: the ISBN's and the title's lengths in bytes
/// make it unambiguous whatever the text holds.
fn spelling_key(buf: &mut String, isbn: &str, title: &str, author: &str) {
    buf.clear();
    // Writing to a String cannot fail.
    let _ = write!(buf, "{}:{isbn}{}:{title}{author}", isbn.len(), title.len());
}

/// The (ISBN, title, author) of a spelling key written by [`spelling_key`].
fn spelling_parts(key: &str) -> (&str, &str, &str) {
    fn split_counted(s: &str) -> (&str, &str) {
        let (len, rest) = s.split_once(':').expect("a spelling key holds its lengths");
        let len: usize = len.parse().expect("a spelling key's length is a number");
        rest.split_at(len)
    }
    let (isbn, rest) = split_counted(key);
    let (title, author) = split_counted(rest);
    (isbn, title, author)
}

/// The availability projection. See the crate docs and the module's.
///
/// Every vector indexed by an id has one entry per code of its interner (checked when a state is
/// decoded). The encoding is canonical: interners and vectors in id order (the order codes were
/// first seen, which a fold in position order makes the same everywhere), hash sets sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Encoded")]
pub struct Availability {
    position: Position,
    network: NetworkView,
    item_codes: Interner<ItemKind>,
    /// By item id; `None` for a code a hold named before (or without) its cataloguing. In
    /// memory, or on disk with a bounded hot set ([`Availability::with_cold_items`], ADR 0027).
    items: Rows<Option<ItemState>>,
    library_codes: Interner<LibraryKind>,
    /// By library id; all-zero for a library with no copy counted.
    libraries: Vec<LibraryState>,
    title_keys: Interner<TitleKind>,
    /// By title id.
    titles: Vec<TitleState>,
    spellings: Interner<SpellingKind>,
    /// By spelling id: the title its copies are of.
    spelling_titles: Vec<TitleId>,
    text_keys: Interner<TextKind>,
    /// By text id: the first title catalogued under the text key (title and author).
    text_first: Vec<TitleId>,
    /// The other titles catalogued under a text key: few (an ISBN title written as another).
    text_more: BTreeSet<(TextId, TitleId)>,
    statuses: StatusCounts,
    /// Open holds by number (ADR 0013).
    holds: BTreeMap<u64, Hold>,
    /// The hold each copy set aside is for.
    held: BTreeMap<ItemId, u64>,
    /// Title → the numbers of the holds waiting for a copy of it: the queue, in order.
    queues: BTreeMap<TitleId, BTreeSet<u64>>,
    /// Pickup library → the holds that ended while their copy was on its hold shelf, by
    /// number, for the shelf's work list; kept [`CLEARED_KEPT_DAYS`] after the latest one
    /// there.
    shelf_cleared: BTreeMap<LibraryId, BTreeMap<u64, Cleared>>,
    #[serde(skip)]
    scratch: Scratch,
}

/// [`Availability`] as decoded, before its ids are checked against its interners.
#[derive(Deserialize)]
struct Encoded {
    position: Position,
    network: NetworkView,
    item_codes: Interner<ItemKind>,
    items: Vec<Option<ItemState>>,
    library_codes: Interner<LibraryKind>,
    libraries: Vec<LibraryState>,
    title_keys: Interner<TitleKind>,
    titles: Vec<TitleState>,
    spellings: Interner<SpellingKind>,
    spelling_titles: Vec<TitleId>,
    text_keys: Interner<TextKind>,
    text_first: Vec<TitleId>,
    text_more: BTreeSet<(TextId, TitleId)>,
    statuses: StatusCounts,
    holds: BTreeMap<u64, Hold>,
    held: BTreeMap<ItemId, u64>,
    queues: BTreeMap<TitleId, BTreeSet<u64>>,
    shelf_cleared: BTreeMap<LibraryId, BTreeMap<u64, Cleared>>,
}

impl TryFrom<Encoded> for Availability {
    type Error = String;

    /// Refuses a state whose tables do not match their interners, or whose ids point past
    /// them: such a state would be read as data it does not hold.
    fn try_from(e: Encoded) -> Result<Self, String> {
        let lengths = [
            ("items", e.items.len(), e.item_codes.len()),
            ("libraries", e.libraries.len(), e.library_codes.len()),
            ("titles", e.titles.len(), e.title_keys.len()),
            (
                "spelling_titles",
                e.spelling_titles.len(),
                e.spellings.len(),
            ),
            ("text_first", e.text_first.len(), e.text_keys.len()),
        ];
        for (table, rows, codes) in lengths {
            if rows != codes {
                return Err(format!(
                    "availability state: {table} has {rows} rows for {codes} codes"
                ));
            }
        }
        let (items, libraries, titles) = (e.items.len(), e.libraries.len(), e.titles.len());
        let library_ok = |l: LibraryId| l.index() < libraries;
        let spot_ok = |s: Spot| match s {
            Spot::OnShelf { library, .. } | Spot::OnLoan { library, .. } => library_ok(library),
            Spot::InTransit { from, to, .. } => library_ok(from) && library_ok(to),
            Spot::InBooth { booth } => library_ok(booth),
            Spot::Lost | Spot::Withdrawn | Spot::ExchangedOut => true,
        };
        let phase_ok = |p: Phase| match p {
            Phase::Waiting => true,
            Phase::Assigned { item, .. } | Phase::Ready { item, .. } => item.index() < items,
        };
        let ok = e.items.iter().flatten().all(|i| {
            i.spelling.index() < e.spellings.len() && library_ok(i.owner) && spot_ok(i.spot)
        }) && e.libraries.iter().all(|l| {
            l.titles.iter().all(|t| t.index() < titles) && l.booth.iter().all(|i| i.index() < items)
        }) && e.titles.iter().all(|t| {
            t.first.is_none_or(|s| s.index() < e.spellings.len())
                && t.libraries.iter().all(|(l, _)| library_ok(*l))
        }) && e.spelling_titles.iter().all(|t| t.index() < titles)
            && e.text_first.iter().all(|t| t.index() < titles)
            && e.text_more
                .iter()
                .all(|(x, t)| x.index() < e.text_keys.len() && t.index() < titles)
            && e.holds.values().all(|h| {
                h.title.index() < titles
                    && h.item.is_none_or(|i| i.index() < items)
                    && library_ok(h.pickup)
                    && phase_ok(h.phase)
            })
            && e.held.keys().all(|i| i.index() < items)
            && e.queues.keys().all(|t| t.index() < titles)
            && e.shelf_cleared.iter().all(|(l, cleared)| {
                library_ok(*l) && cleared.values().all(|c| c.item.index() < items)
            });
        if !ok {
            return Err("availability state: an id points past its interner".to_owned());
        }
        Ok(Self {
            position: e.position,
            network: e.network,
            item_codes: e.item_codes,
            items: e.items.into(),
            library_codes: e.library_codes,
            libraries: e.libraries,
            title_keys: e.title_keys,
            titles: e.titles,
            spellings: e.spellings,
            spelling_titles: e.spelling_titles,
            text_keys: e.text_keys,
            text_first: e.text_first,
            text_more: e.text_more,
            statuses: e.statuses,
            holds: e.holds,
            held: e.held,
            queues: e.queues,
            shelf_cleared: e.shelf_cleared,
            scratch: Scratch::default(),
        })
    }
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
    fn mark(&self, item: &str, record: &mut ItemState) -> bool {
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
    titles: &'a mut [TitleState],
    libraries: &'a mut [LibraryState],
}

impl Projection for Availability {
    const NAME: &'static str = "availability";
    /// 3: the compact state (issue 17): codes interned, tables indexed by id; a state of
    /// version 2 is rebuilt.
    const VERSION: u32 = 3;

    fn apply(&mut self, event: &ProjectedEvent) {
        self.network.apply(&event.payload);
        let stamp = Stamp {
            item: event.stream.strip_prefix(StreamId::ITEM_PREFIX),
            revision: event.revision,
            position: event.position,
        };
        let stamped = match &event.payload {
            Payload::ItemCatalogued(e) => self.catalogue(e, &stamp),
            Payload::ItemLoaned(e) => {
                let library = self.intern_library(&e.library);
                self.move_item(
                    &e.item,
                    Spot::OnLoan {
                        library,
                        renewals: 0,
                        due_at_us: e.due_at_us,
                    },
                    &stamp,
                )
            }
            Payload::LoanExtended(e) => match self.item_mut(&e.item) {
                Some(record) => {
                    if let Spot::OnLoan { due_at_us, .. } = &mut record.spot {
                        *due_at_us = e.due_at_us;
                    }
                    stamp.mark(&e.item, record)
                }
                None => false,
            },
            Payload::ItemRenewed(e) => {
                let Some(id) = self.item_codes.get(&e.item) else {
                    return self.finish(event, &stamp, false);
                };
                match self.items.get_mut(id.index()).as_mut() {
                    Some(record) => {
                        if let Spot::OnLoan {
                            due_at_us,
                            renewals,
                            ..
                        } = &mut record.spot
                        {
                            let title = &mut self.titles
                                [self.spelling_titles[record.spelling.index()].index()];
                            title.loan_due(*due_at_us, Delta::Remove);
                            title.loan_due(e.due_at_us, Delta::Add);
                            *due_at_us = e.due_at_us;
                            *renewals = e.renewal_count;
                        }
                        stamp.mark(&e.item, record)
                    }
                    None => false,
                }
            }
            Payload::ItemReturned(e) => {
                let library = self.intern_library(&e.library);
                self.move_item(
                    &e.item,
                    Spot::OnShelf {
                        library,
                        homebound: e.homebound,
                        held: false,
                    },
                    &stamp,
                )
            }
            Payload::TransferDispatched(e) => {
                let from = self.intern_library(&e.from_library);
                let to = self.intern_library(&e.to_library);
                self.move_item(
                    &e.item,
                    Spot::InTransit {
                        from,
                        to,
                        reason: e.reason,
                    },
                    &stamp,
                )
            }
            Payload::TransferReceived(e) => {
                let to = self.intern_library(&e.to_library);
                let held = self
                    .item_codes
                    .get(&e.item)
                    .is_some_and(|id| self.held.contains_key(&id));
                let spot = if e.in_booth {
                    Spot::InBooth { booth: to }
                } else {
                    Spot::OnShelf {
                        library: to,
                        homebound: e.homebound,
                        held,
                    }
                };
                self.move_item(&e.item, spot, &stamp)
            }
            Payload::HoldPlaced(e) => {
                let title = self.intern_title(&e.title_key);
                let item = (!e.item.is_empty()).then(|| self.intern_item(&e.item));
                let pickup = self.intern_library(&e.pickup_library);
                self.holds.insert(
                    e.hold,
                    Hold {
                        title,
                        item,
                        pickup,
                        expires_at_us: e.expires_at_us,
                        phase: Phase::Waiting,
                    },
                );
                self.queues.entry(title).or_default().insert(e.hold);
                false
            }
            Payload::HoldAssigned(e) => {
                let item = self.intern_item(&e.item);
                self.set_phase(
                    e.hold,
                    Phase::Assigned {
                        item,
                        trapped: e.trapped,
                    },
                );
                self.set_held(&e.item, Some(e.hold), None, &stamp)
            }
            Payload::HoldReady(e) => {
                let item = self.intern_item(&e.item);
                self.set_phase(
                    e.hold,
                    Phase::Ready {
                        item,
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
                self.set_phase(e.hold, Phase::Waiting);
                self.set_held(&e.item, None, Some(e.homebound), &stamp)
            }
            Payload::HoldEnded(e) => {
                if let Some(cleared) = self
                    .holds
                    .get(&e.hold)
                    .and_then(|h| self.shelf_cleared.get_mut(&h.pickup))
                    .and_then(|at| at.get_mut(&e.hold))
                {
                    cleared.reason = e.reason;
                }
                self.end_hold(e.hold);
                false
            }
            // The deposited book arrives by its own ItemCatalogued, in the same append.
            Payload::BoothSwapped(e) => self.move_item(&e.item_taken, Spot::ExchangedOut, &stamp),
            Payload::ItemDeclaredLost(e) => self.move_item(&e.item, Spot::Lost, &stamp),
            Payload::ItemWithdrawn(e) => self.move_item(&e.item, Spot::Withdrawn, &stamp),
            // Debts, patrons, the network (folded above) and settlement move no book.
            _ => false,
        };
        self.finish(event, &stamp, stamped);
    }

    fn position(&self) -> Position {
        self.position
    }
}

impl Availability {
    /// The end of every event: any other event in an item's stream still marks the item's
    /// record.
    fn finish(&mut self, event: &ProjectedEvent, stamp: &Stamp<'_>, stamped: bool) {
        if !stamped
            && let Some(item) = stamp.item
            && let Some(record) = self.item_mut(item)
        {
            stamp.mark(item, record);
        }
        self.position = event.position;
        debug_assert!(
            self.statuses.total() <= self.items.len() as u64,
            "every item is in exactly one status"
        );
    }

    fn item_mut(&mut self, item: &str) -> Option<&mut ItemState> {
        let id = self.item_codes.get(item)?;
        self.items.get_mut(id.index()).as_mut()
    }

    /// An item's id, interning its code (with no record yet) if it is new.
    fn intern_item(&mut self, item: &str) -> ItemId {
        let id = self.item_codes.intern(item);
        if id.index() == self.items.len() {
            self.items.push(None);
        }
        id
    }

    /// A library's id, interning its code (with zero counts) if it is new.
    fn intern_library(&mut self, library: &str) -> LibraryId {
        let id = self.library_codes.intern(library);
        if id.index() == self.libraries.len() {
            self.libraries.push(LibraryState::default());
        }
        id
    }

    /// A title's id, interning its key (with no copy yet) if it is new.
    fn intern_title(&mut self, key: &str) -> TitleId {
        let id = self.title_keys.intern(key);
        if id.index() == self.titles.len() {
            self.titles.push(TitleState::default());
        }
        id
    }

    /// The table of the item rows on disk, named after the projection.
    pub const COLD_ITEMS: &'static str = "availability-items";

    /// An empty state whose item rows live on disk under `cold.dir`, at most `cold.hot_rows`
    /// of them in memory (ADR 0027). Any file an earlier run left there is removed: the rows
    /// are a cache of the fold, rebuilt from the log. The digest, the snapshot and every query
    /// answer are those of a state in memory.
    pub fn with_cold_items(cold: &ColdState) -> Result<Self, ColdError> {
        Ok(Self {
            items: Rows::on_disk(cold, Self::COLD_ITEMS, Self::VERSION)?,
            ..Self::default()
        })
    }

    /// Writes every changed item row to the disk tier, marked with the state's position (a
    /// no-op in memory). See [`readnet_projection::rows::DiskRows::checkpoint`].
    pub fn checkpoint_cold_items(&mut self) -> Result<(), ColdError> {
        self.items.checkpoint(self.position.get())
    }

    /// What the disk tier of the item rows did, if they are on disk.
    pub fn cold_stats(&self) -> Option<readnet_projection::rows::ColdStats> {
        self.items.disk().map(|d| d.stats())
    }

    /// The state's heap bytes by part, counted from capacities (for the benchmarks' bytes per
    /// item; B-tree nodes are counted at their entries' size, which is below their cost). The
    /// network view is left out.
    pub fn heap_bytes(&self) -> Vec<(&'static str, usize)> {
        use std::mem::size_of;
        fn set_bytes<T>(capacity: usize) -> usize {
            // A hash table: a slot and a control byte per bucket.
            capacity * (size_of::<T>() + 1)
        }
        let titles_inner: usize = self
            .titles
            .iter()
            .map(|t| {
                t.libraries.capacity() * size_of::<(LibraryId, Counts)>()
                    + t.loans_due_us.capacity() * size_of::<(i64, u32)>()
            })
            .sum();
        let library_sets: usize = self
            .libraries
            .iter()
            .map(|l| {
                set_bytes::<TitleId>(l.titles.capacity()) + l.booth.len() * size_of::<ItemId>()
            })
            .sum();
        vec![
            ("item codes", self.item_codes.heap_bytes()),
            ("items", self.items.heap_bytes()),
            ("title keys", self.title_keys.heap_bytes()),
            ("titles", self.titles.capacity() * size_of::<TitleState>()),
            ("titles' cells and due dates", titles_inner),
            ("spellings", self.spellings.heap_bytes()),
            (
                "spelling titles",
                self.spelling_titles.capacity() * size_of::<TitleId>(),
            ),
            ("text keys", self.text_keys.heap_bytes()),
            (
                "text index",
                self.text_first.capacity() * size_of::<TitleId>()
                    + self.text_more.len() * size_of::<(TextId, TitleId)>(),
            ),
            ("library codes", self.library_codes.heap_bytes()),
            (
                "libraries",
                self.libraries.capacity() * size_of::<LibraryState>() + library_sets,
            ),
            (
                "holds",
                self.holds.len() * size_of::<(u64, Hold)>()
                    + self.held.len() * size_of::<(ItemId, u64)>()
                    + self.queues.values().map(|q| q.len() * 8).sum::<usize>()
                    + self
                        .shelf_cleared
                        .values()
                        .map(|c| c.len() * size_of::<(u64, Cleared)>())
                        .sum::<usize>(),
            ),
        ]
    }

    /// The network as of the events folded.
    pub fn network(&self) -> &NetworkView {
        &self.network
    }

    pub(crate) fn item_code(&self, id: ItemId) -> &str {
        self.item_codes.resolve(id)
    }

    pub(crate) fn library_code(&self, id: LibraryId) -> &str {
        self.library_codes.resolve(id)
    }

    pub(crate) fn library_id(&self, library: &str) -> Option<LibraryId> {
        self.library_codes.get(library)
    }

    /// A catalogued item's id and record.
    pub(crate) fn item_state(&self, item: &str) -> Option<(ItemId, ItemState)> {
        let id = self.item_codes.get(item)?;
        Some((id, self.items.get(id.index())?))
    }

    /// Every catalogued item, in id order.
    pub(crate) fn item_states(&self) -> impl Iterator<Item = (ItemId, ItemState)> + '_ {
        self.items
            .iter()
            .enumerate()
            .filter_map(|(index, r)| Some((Code::from_index(index), r?)))
    }

    /// The (ISBN, title, author) an item was catalogued with.
    pub(crate) fn spelling(&self, record: &ItemState) -> (&str, &str, &str) {
        spelling_parts(self.spellings.resolve(record.spelling))
    }

    /// An item's title key.
    pub(crate) fn item_title_key(&self, record: &ItemState) -> &str {
        self.title_keys
            .resolve(self.spelling_titles[record.spelling.index()])
    }

    /// The hold a copy is set aside for, if any.
    pub(crate) fn item_hold(&self, id: ItemId) -> Option<u64> {
        self.held.get(&id).copied()
    }

    fn place(&self, spot: Spot) -> Place {
        let code = |id| LibraryCode::from(self.library_code(id));
        match spot {
            Spot::OnShelf {
                library,
                homebound,
                held,
            } => Place::OnShelf {
                library: code(library),
                homebound,
                held,
            },
            Spot::OnLoan {
                library,
                renewals,
                due_at_us,
            } => Place::OnLoan {
                library: code(library),
                due_at_us,
                renewals,
            },
            Spot::InTransit { from, to, reason } => Place::InTransit {
                from: code(from),
                to: code(to),
                reason,
            },
            Spot::InBooth { booth } => Place::InBooth { booth: code(booth) },
            Spot::Lost => Place::Lost,
            Spot::Withdrawn => Place::Withdrawn,
            Spot::ExchangedOut => Place::ExchangedOut,
        }
    }

    pub(crate) fn item_record(&self, id: ItemId, record: &ItemState) -> ItemRecord {
        let (isbn, title, author) = self.spelling(record);
        ItemRecord {
            isbn: isbn.to_owned(),
            title: title.to_owned(),
            author: author.to_owned(),
            owner_library: LibraryCode::from(self.library_code(record.owner)),
            price_fen: record.priced.then_some(Fen(record.price_fen)),
            acquisition: record.acquisition,
            title_key: self.item_title_key(record).to_owned(),
            place: self.place(record.spot),
            hold: self.item_hold(id),
            revision: record.revision,
            position: record.position,
        }
    }

    /// One item.
    pub fn item(&self, item: &str) -> Option<ItemRecord> {
        let (id, record) = self.item_state(item)?;
        Some(self.item_record(id, &record))
    }

    /// Every item, by id, in no particular order.
    pub fn items(&self) -> impl Iterator<Item = (&str, ItemRecord)> {
        self.item_states()
            .map(|(id, r)| (self.item_code(id), self.item_record(id, &r)))
    }

    /// A catalogued title's id and state.
    pub(crate) fn title_state(&self, title_key: &str) -> Option<(TitleId, &TitleState)> {
        let id = self.title_keys.get(title_key)?;
        let title = &self.titles[id.index()];
        title.first.is_some().then_some((id, title))
    }

    pub(crate) fn title_key(&self, id: TitleId) -> &str {
        self.title_keys.resolve(id)
    }

    /// The (ISBN, title, author) of a title's first copy.
    pub(crate) fn title_spelling(&self, title: &TitleState) -> (&str, &str, &str) {
        title
            .first
            .map_or(("", "", ""), |s| spelling_parts(self.spellings.resolve(s)))
    }

    fn title_record(&self, title: &TitleState) -> TitleRecord {
        let (isbn, name, author) = self.title_spelling(title);
        TitleRecord {
            isbn: isbn.to_owned(),
            title: name.to_owned(),
            author: author.to_owned(),
            network: title.network,
            libraries: title
                .libraries
                .iter()
                .map(|(l, c)| (LibraryCode::from(self.library_code(*l)), *c))
                .collect(),
            loans_due_us: title.loans_due_us.iter().copied().collect(),
        }
    }

    /// One title.
    pub fn title(&self, title_key: &str) -> Option<TitleRecord> {
        let (_, title) = self.title_state(title_key)?;
        Some(self.title_record(title))
    }

    /// One title, with its key borrowed from the state.
    pub fn title_entry(&self, title_key: &str) -> Option<(&str, TitleRecord)> {
        let (id, title) = self.title_state(title_key)?;
        Some((self.title_key(id), self.title_record(title)))
    }

    /// Every title, by key, in no particular order.
    pub fn titles(&self) -> impl Iterator<Item = (&str, TitleRecord)> {
        self.titles
            .iter()
            .enumerate()
            .filter(|(_, t)| t.first.is_some())
            .map(|(index, t)| {
                (
                    self.title_key(Code::from_index(index)),
                    self.title_record(t),
                )
            })
    }

    /// The title catalogued under a text key (see [`crate::title::text_key`]), by id.
    pub(crate) fn title_ids_under_text(&self, text_key: &str) -> Vec<TitleId> {
        let Some(text) = self.text_keys.get(text_key) else {
            return Vec::new();
        };
        std::iter::once(self.text_first[text.index()])
            .chain(
                self.text_more
                    .range((text, Code::from_index(0))..)
                    .take_while(|(x, _)| *x == text)
                    .map(|(_, t)| *t),
            )
            .collect()
    }

    /// The title keys catalogued under a text key (see [`crate::title::text_key`]), in key
    /// order.
    pub fn titles_under_text(&self, text_key: &str) -> impl Iterator<Item = &str> {
        let mut keys: Vec<&str> = self
            .title_ids_under_text(text_key)
            .into_iter()
            .map(|t| self.title_key(t))
            .collect();
        keys.sort_unstable();
        keys.into_iter()
    }

    /// A title's copies at a library (zero when it has none there).
    pub fn counts(&self, title_key: &str, library: &str) -> Counts {
        match (self.title_state(title_key), self.library_id(library)) {
            (Some((_, title)), Some(library)) => title.cell(library),
            _ => Counts::default(),
        }
    }

    pub(crate) fn library_state(&self, library: &str) -> Option<&LibraryState> {
        let id = self.library_id(library)?;
        let record = &self.libraries[id.index()];
        (!record.totals.is_zero()).then_some(record)
    }

    /// A library's copies of every title (zero when it has none).
    pub fn library_totals(&self, library: &str) -> Counts {
        self.library_state(library)
            .map(|l| l.totals)
            .unwrap_or_default()
    }

    /// One library's record, if any copy is counted there.
    pub fn library(&self, library: &str) -> Option<LibraryRecord> {
        let record = self.library_state(library)?;
        Some(LibraryRecord {
            totals: record.totals,
            titles: record
                .titles
                .iter()
                .map(|t| self.title_key(*t).to_owned())
                .collect(),
        })
    }

    /// The items in a booth, by id.
    pub fn booth_items(&self, booth: &str) -> impl Iterator<Item = &str> {
        let mut codes: Vec<&str> = self
            .library_state(booth)
            .into_iter()
            .flat_map(|l| &l.booth)
            .map(|i| self.item_code(*i))
            .collect();
        codes.sort_unstable();
        codes.into_iter()
    }

    /// Items per status, network-wide.
    pub fn statuses(&self) -> StatusCounts {
        self.statuses
    }

    fn hold_record(&self, hold: &Hold) -> HoldRecord {
        let item = |id| ItemCode::from(self.item_code(id));
        HoldRecord {
            title_key: self.title_key(hold.title).to_owned(),
            item: hold.item.map(item),
            pickup_library: LibraryCode::from(self.library_code(hold.pickup)),
            expires_at_us: hold.expires_at_us,
            phase: match hold.phase {
                Phase::Waiting => HoldPhase::Waiting,
                Phase::Assigned { item: i, trapped } => HoldPhase::Assigned {
                    item: item(i),
                    trapped,
                },
                Phase::Ready {
                    item: i,
                    pickup_by_us,
                } => HoldPhase::Ready {
                    item: item(i),
                    pickup_by_us,
                },
            },
        }
    }

    /// One open hold.
    pub fn hold(&self, hold: u64) -> Option<HoldRecord> {
        self.holds.get(&hold).map(|h| self.hold_record(h))
    }

    /// Every open hold, by number.
    pub fn holds(&self) -> impl Iterator<Item = (u64, HoldRecord)> {
        self.holds.iter().map(|(n, h)| (*n, self.hold_record(h)))
    }

    /// A waiting hold's place in its title's queue (1: next to be served); `None` for a hold
    /// that is not waiting.
    pub fn queue_position(&self, hold: u64) -> Option<usize> {
        let record = self.holds.get(&hold)?;
        let queue = self.queues.get(&record.title)?;
        queue
            .contains(&hold)
            .then(|| queue.range(..hold).count() + 1)
    }

    /// How many holds wait for a copy of a title.
    pub fn queue_length(&self, title_key: &str) -> usize {
        self.title_keys
            .get(title_key)
            .and_then(|t| self.queues.get(&t))
            .map_or(0, BTreeSet::len)
    }

    /// The holds that ended on a library's hold shelf lately (see [`CLEARED_KEPT_DAYS`]), by
    /// number.
    pub fn shelf_cleared(&self, library: &str) -> impl Iterator<Item = (u64, ClearedHold)> {
        self.library_id(library)
            .and_then(|l| self.shelf_cleared.get(&l))
            .into_iter()
            .flatten()
            .map(|(n, c)| {
                (
                    *n,
                    ClearedHold {
                        item: ItemCode::from(self.item_code(c.item)),
                        reason: c.reason,
                        ended_at_us: c.ended_at_us,
                    },
                )
            })
    }

    /// Puts a ready hold's copy on its pickup library's list of copies to take off the hold
    /// shelf, as the hold ends at `at_us`, and forgets that library's entries older than
    /// [`CLEARED_KEPT_DAYS`] before it. A hold that was not ready is not on a hold shelf.
    fn clear_from_shelf(&mut self, hold: u64, at_us: i64) {
        let Some(Hold {
            pickup,
            phase: Phase::Ready { item, .. },
            ..
        }) = self.holds.get(&hold).copied()
        else {
            return;
        };
        let cleared = self.shelf_cleared.entry(pickup).or_default();
        let horizon = at_us.saturating_sub(CLEARED_KEPT_DAYS * 86_400_000_000);
        cleared.retain(|_, c| c.ended_at_us >= horizon);
        cleared.insert(
            hold,
            Cleared {
                item,
                reason: 0,
                ended_at_us: at_us,
            },
        );
    }

    /// Catalogues a new item; whether the stream's item record was marked (see [`Stamp`]).
    fn catalogue(&mut self, e: &pb::ItemCatalogued, stamp: &Stamp<'_>) -> bool {
        // decide never catalogues an id twice; a hand-made repeat keeps the first copy.
        let id = self.intern_item(&e.item);
        if let Some(record) = self.items.get_mut(id.index()).as_mut() {
            return stamp.mark(&e.item, record);
        }
        spelling_key(&mut self.scratch.0, &e.isbn, &e.title, &e.author);
        let known = self.spellings.len();
        let spelling = self.spellings.intern(&self.scratch.0);
        // A spelling seen before has its title and its text key indexed: the keys (allocated
        // strings) are only worked out for new spellings.
        let title = if spelling.index() < known {
            self.spelling_titles[spelling.index()]
        } else {
            let title = self.intern_title(&title_key(&e.isbn, &e.title, &e.author));
            let record = &mut self.titles[title.index()];
            if record.first.is_none() {
                record.first = Some(spelling);
            }
            self.spelling_titles.push(title);
            let texts = self.text_keys.len();
            let text = self.text_keys.intern(&text_key(&e.title, &e.author));
            if text.index() == texts {
                self.text_first.push(title);
            } else if self.text_first[text.index()] != title {
                self.text_more.insert((text, title));
            }
            title
        };
        let placed = self.intern_library(&e.placed_at);
        let owner = self.intern_library(&e.owner_library);
        let spot = if e.in_booth {
            Spot::InBooth { booth: placed }
        } else {
            Spot::OnShelf {
                library: placed,
                homebound: false,
                held: false,
            }
        };
        let before = self.statuses.total();
        Tallies {
            statuses: &mut self.statuses,
            titles: &mut self.titles,
            libraries: &mut self.libraries,
        }
        .tally(title, id, spot, Delta::Add);
        debug_assert_eq!(
            self.statuses.total(),
            before + 1,
            "a new item has one status"
        );
        let record = self.items.get_mut(id.index()).insert(ItemState {
            spelling,
            owner,
            acquisition: e.acquisition,
            priced: e.price_fen.is_some(),
            price_fen: e.price_fen.unwrap_or_default(),
            spot,
            revision: Revision::FIRST,
            position: Position::START,
        });
        stamp.mark(&e.item, record)
    }

    /// Moves an open hold to `phase`, in or out of its title's queue.
    fn set_phase(&mut self, hold: u64, phase: Phase) {
        let Some(record) = self.holds.get_mut(&hold) else {
            return;
        };
        let queue = self.queues.entry(record.title).or_default();
        if phase == Phase::Waiting {
            queue.insert(hold);
        } else {
            queue.remove(&hold);
        }
        if queue.is_empty() {
            self.queues.remove(&record.title);
        }
        record.phase = phase;
    }

    /// Forgets a hold that was filled or ended.
    fn end_hold(&mut self, hold: u64) {
        if let Some(record) = self.holds.remove(&hold)
            && let Some(queue) = self.queues.get_mut(&record.title)
        {
            queue.remove(&hold);
            if queue.is_empty() {
                self.queues.remove(&record.title);
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
        let Some(id) = self.item_codes.get(item) else {
            return false;
        };
        let Some(record) = self.items.get_mut(id.index()).as_mut() else {
            return false;
        };
        match hold {
            Some(hold) => self.held.insert(id, hold),
            None => self.held.remove(&id),
        };
        let to = match record.spot {
            Spot::OnShelf {
                library,
                homebound: was,
                ..
            } => Spot::OnShelf {
                library,
                // A copy set aside travels to its holder, not home.
                homebound: if hold.is_some() {
                    false
                } else {
                    homebound.unwrap_or(was)
                },
                held: hold.is_some(),
            },
            _ => return stamp.mark(item, record),
        };
        self.move_item(item, to, stamp)
    }

    /// Moves a known item to a new place, moving its count with it; whether the stream's item
    /// record was marked (see [`Stamp`]).
    fn move_item(&mut self, item: &str, to: Spot, stamp: &Stamp<'_>) -> bool {
        // An event for an unknown item cannot come from decide; stay total on a hand-made log.
        let Some(id) = self.item_codes.get(item) else {
            return false;
        };
        let Some(record) = self.items.get_mut(id.index()).as_mut() else {
            return false;
        };
        let stamped = stamp.mark(item, record);
        let from = std::mem::replace(&mut record.spot, to);
        let title = self.spelling_titles[record.spelling.index()];
        Tallies {
            statuses: &mut self.statuses,
            titles: &mut self.titles,
            libraries: &mut self.libraries,
        }
        .shift(title, id, from, to);
        let (was_due, is_due) = (from.due_at_us(), to.due_at_us());
        if was_due.is_some() || is_due.is_some() {
            let title = &mut self.titles[title.index()];
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
    fn shift(&mut self, title: TitleId, item: ItemId, from: Spot, to: Spot) {
        match (from.slot(), to.slot()) {
            (Some((library, from_slot)), Some((to_library, to_slot))) if library == to_library => {
                self.shift_within(title, item, library, (from, from_slot), (to, to_slot));
            }
            _ => {
                self.tally(title, item, from, Delta::Remove);
                self.tally(title, item, to, Delta::Add);
            }
        }
    }

    /// A move between two counts of one library (a loan, a return where it was lent): the
    /// title stays at the library, so its cell and the library's title set stay put.
    fn shift_within(
        &mut self,
        title_id: TitleId,
        item: ItemId,
        library: LibraryId,
        (from, from_slot): (Spot, Slot),
        (to, to_slot): (Spot, Slot),
    ) {
        self.statuses.adjust(from.status(), Delta::Remove);
        self.statuses.adjust(to.status(), Delta::Add);
        let title = &mut self.titles[title_id.index()];
        title.network.adjust(from_slot, Delta::Remove);
        title.network.adjust(to_slot, Delta::Add);
        let at = title
            .libraries
            .binary_search_by_key(&library, |(l, _)| *l)
            .expect("an item's place is counted at its library");
        let cell = &mut title.libraries[at].1;
        cell.adjust(from_slot, Delta::Remove);
        cell.adjust(to_slot, Delta::Add);
        let cell = *cell;
        debug_assert!(title.network.at_least(&cell), "the network has the cell");
        let record = &mut self.libraries[library.index()];
        record.totals.adjust(from_slot, Delta::Remove);
        record.totals.adjust(to_slot, Delta::Add);
        debug_assert!(record.titles.contains(&title_id), "the title is still here");
        debug_assert!(record.totals.at_least(&cell), "the library has the cell");
        if from_slot == Slot::Booth {
            let removed = record.booth.remove(&item);
            debug_assert!(removed, "an item leaves a booth it is in");
        }
        if to_slot == Slot::Booth {
            let added = record.booth.insert(item);
            debug_assert!(added, "an item enters a booth once");
        }
        debug_assert_eq!(
            record.booth.len() as u64,
            u64::from(record.totals.in_booth),
            "the booth's items are its in_booth count"
        );
    }

    /// Adds an item in `spot` to, or removes it from, every count it is part of.
    fn tally(&mut self, title_id: TitleId, item: ItemId, spot: Spot, delta: Delta) {
        self.statuses.adjust(spot.status(), delta);
        let Some((library, slot)) = spot.slot() else {
            return;
        };
        let title = &mut self.titles[title_id.index()];
        title.network.adjust(slot, delta);
        let (cell, was_zero) = match title.libraries.binary_search_by_key(&library, |(l, _)| *l) {
            Ok(at) => {
                let cell = &mut title.libraries[at].1;
                let before = *cell;
                cell.adjust(slot, delta);
                let after = *cell;
                if after.is_zero() {
                    title.libraries.remove(at);
                }
                (after, before.is_zero())
            }
            Err(at) => {
                let mut cell = Counts::default();
                cell.adjust(slot, delta);
                if !cell.is_zero() {
                    title.libraries.insert(at, (library, cell));
                }
                (cell, true)
            }
        };
        debug_assert!(title.network.at_least(&cell), "the network has the cell");

        let record = &mut self.libraries[library.index()];
        record.totals.adjust(slot, delta);
        // A library's titles are those with a non-zero cell there: only a cell that became
        // zero, or stopped being zero, changes the set.
        match (was_zero, cell.is_zero()) {
            (false, true) => {
                record.titles.remove(&title_id);
            }
            (true, false) => {
                record.titles.insert(title_id);
            }
            _ => {}
        }
        debug_assert_eq!(
            record.titles.contains(&title_id),
            !cell.is_zero(),
            "a library lists the titles it has copies of"
        );
        debug_assert!(record.totals.at_least(&cell), "the library has the cell");
        debug_assert!(
            !record.totals.is_zero() || record.titles.is_empty(),
            "no copies, no titles"
        );
        if slot == Slot::Booth {
            let changed = match delta {
                Delta::Add => record.booth.insert(item),
                Delta::Remove => record.booth.remove(&item),
            };
            debug_assert!(changed, "an item enters a booth once and leaves it once");
            debug_assert_eq!(
                record.booth.len() as u64,
                u64::from(record.totals.in_booth),
                "the booth's items are its in_booth count"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spelling_key_gives_back_its_parts_whatever_they_hold() {
        let mut buf = String::new();
        for (isbn, title, author) in [
            ("", "三体", "刘慈欣"),
            ("978-7-5366-9293-0", "3:2", ":"),
            ("1:", "", "12:x"),
        ] {
            spelling_key(&mut buf, isbn, title, author);
            assert_eq!(spelling_parts(&buf), (isbn, title, author));
        }
    }

    #[test]
    fn an_item_is_64_bytes() {
        assert_eq!(std::mem::size_of::<Option<ItemState>>(), 64);
    }
}
