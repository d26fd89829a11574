//! The questions readers ask, as pure functions of the state answering with API messages.

use std::collections::BTreeMap;

use readnet_domain::Fen;
use readnet_projection::pb::{self, AvailabilityProximity, LibraryTier};
use readnet_projection::title::{is_isbn_shaped, isbn_key, normalise_isbn, text_key};
use readnet_projection::{LibraryView, Projection};

use crate::error::AvailabilityError;
use crate::state::{Availability, Counts, HoldPhase, ItemRecord, Place, TitleState};

/// Rows a page holds when the request does not say.
pub const DEFAULT_PAGE: usize = 100;
/// Rows a page holds at most, whatever the request says.
pub const MAX_PAGE: usize = 1000;

/// A page size asked for (0: the default), bounded by [`MAX_PAGE`].
pub fn page_size(requested: u32) -> usize {
    match requested {
        0 => DEFAULT_PAGE,
        n => (n as usize).min(MAX_PAGE),
    }
}

/// A title as a query names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TitleQuery {
    /// A normalised ISBN (see [`crate::title::normalise_isbn`]).
    Isbn(String),
    /// A title and author as catalogued (normalised when looked up).
    Text { title: String, author: String },
}

impl TitleQuery {
    pub fn isbn(isbn: &str) -> Self {
        Self::Isbn(normalise_isbn(isbn))
    }

    pub fn text(title: &str, author: &str) -> Self {
        Self::Text {
            title: title.to_owned(),
            author: author.to_owned(),
        }
    }

    /// From the API's message; `field` names it in errors.
    pub fn from_proto(
        title: Option<&pb::AvailabilityTitle>,
        field: &str,
    ) -> Result<Self, AvailabilityError> {
        let Some(t) = title else {
            return Err(AvailabilityError::invalid(format!(
                "{field}: a title is required (an isbn, or a title and author)"
            )));
        };
        let has_text = !t.title.trim().is_empty() || !t.author.trim().is_empty();
        if !t.isbn.trim().is_empty() {
            if has_text {
                return Err(AvailabilityError::invalid(format!(
                    "{field}: give an isbn, or a title and author, not both"
                )));
            }
            let isbn = normalise_isbn(&t.isbn);
            if !is_isbn_shaped(&isbn) {
                return Err(AvailabilityError::invalid(format!(
                    "{field}.isbn: {:?} is not an ISBN (digits and hyphens, an ISBN-10 may end in X)",
                    t.isbn
                )));
            }
            return Ok(Self::Isbn(isbn));
        }
        if t.title.trim().is_empty() {
            return Err(AvailabilityError::invalid(format!(
                "{field}.title: an isbn or a title is required"
            )));
        }
        Ok(Self::text(&t.title, &t.author))
    }
}

/// What a library-shelf query lists besides the library's totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShelfListing<'a> {
    /// The totals only.
    Totals,
    /// One row per title key the query matches (zero counts included).
    Title(&'a TitleQuery),
    /// Every title with a copy at the library, by key, after `after` (empty: from the first).
    PerTitle { after: &'a str, max: usize },
}

fn shelf_counts(c: Counts) -> pb::ShelfCounts {
    pb::ShelfCounts {
        on_shelf: c.on_shelf,
        homebound: c.homebound,
        on_loan: c.on_loan,
        in_transit_to: c.in_transit_to,
        in_booth: c.in_booth,
        held: c.held,
    }
}

/// When a copy of `t` is expected to come free for the `place`th hold in line (1: the next):
/// now if that many copies are lendable, else the due date of the copy on loan that would
/// come back for it, taking loans back on their due dates; `None` when no copy is left for it.
fn eta(t: &TitleState, place: usize) -> Eta {
    let lendable = t.network.lendable() as usize;
    if place <= lendable {
        return Eta::Now;
    }
    t.nth_due_us(place - lendable).map_or(Eta::Unknown, Eta::At)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Eta {
    Now,
    At(i64),
    Unknown,
}

impl Eta {
    fn us(self) -> i64 {
        match self {
            Eta::At(us) => us,
            Eta::Now | Eta::Unknown => 0,
        }
    }
}

impl Availability {
    /// A title as catalogued, with its network counts, its queue and its ETA for a hold placed
    /// now.
    fn summary(&self, key: &str, t: &TitleState) -> pb::TitleSummary {
        let queue_length = self.queue_length(key);
        let eta = eta(t, queue_length + 1);
        let (isbn, title, author) = self.title_spelling(t);
        pb::TitleSummary {
            title_key: key.to_owned(),
            isbn: isbn.to_owned(),
            title: title.to_owned(),
            author: author.to_owned(),
            network: Some(shelf_counts(t.network)),
            queue_length: u32::try_from(queue_length).unwrap_or(u32::MAX),
            available_now: eta == Eta::Now,
            eta_us: eta.us(),
        }
    }
}

fn timestamp(us: i64) -> readnet_proto::Timestamp {
    readnet_proto::Timestamp {
        seconds: us.div_euclid(1_000_000),
        nanos: (us.rem_euclid(1_000_000) * 1000) as i32,
    }
}

/// An item as the API shows it. Who holds it and what they owe stay with the ledger.
pub fn item_state(item: &str, r: &ItemRecord) -> pb::ItemState {
    let mut state = pb::ItemState {
        item: item.to_owned(),
        isbn: r.isbn.clone(),
        title: r.title.clone(),
        author: r.author.clone(),
        owner_library: r.owner_library.as_str().to_owned(),
        price_fen: r.price_fen.map(Fen::get),
        acquisition: r.acquisition,
        status: r.place.status() as i32,
        revision: r.revision.get(),
        position: r.position.get(),
        ..Default::default()
    };
    match &r.place {
        Place::OnShelf {
            library, homebound, ..
        } => {
            state.library = library.as_str().to_owned();
            state.homebound = *homebound;
        }
        Place::OnLoan {
            library,
            due_at_us,
            renewals,
        } => {
            state.library = library.as_str().to_owned();
            state.due_at = Some(timestamp(*due_at_us));
            state.renewal_count = *renewals;
        }
        Place::InTransit { from, to, reason } => {
            state.library = to.as_str().to_owned();
            state.from_library = from.as_str().to_owned();
            state.transfer_reason = *reason;
        }
        Place::InBooth { booth } => state.library = booth.as_str().to_owned(),
        Place::Lost | Place::Withdrawn | Place::ExchangedOut => {}
    }
    state
}

impl Availability {
    /// A library's pick list: the copies on its shelves set aside for holds that are not ready
    /// here, oldest hold first, each with its next leg. NOT_FOUND for an unknown library.
    pub fn pick_list(&self, library: &str) -> Result<pb::PickListResponse, AvailabilityError> {
        let view = self.registered(library, "library")?;
        let centre = self
            .network()
            .distribution_centre(view.city.as_str())
            .filter(|c| c.as_str() != library);
        let entries = self
            .holds()
            .filter_map(|(hold, h)| {
                let HoldPhase::Assigned { item, trapped } = &h.phase else {
                    return None;
                };
                let record = self.item(item.as_str())?;
                match &record.place {
                    Place::OnShelf { library: at, .. } if at.as_str() == library => {}
                    _ => return None,
                }
                let next = centre.unwrap_or(&h.pickup_library);
                Some(pb::PickListEntry {
                    hold,
                    item: item.as_str().to_owned(),
                    title_key: record.title_key.clone(),
                    isbn: record.isbn.clone(),
                    title: record.title.clone(),
                    author: record.author.clone(),
                    pickup_library: h.pickup_library.as_str().to_owned(),
                    next_library: next.as_str().to_owned(),
                    trapped: *trapped,
                })
            })
            .collect();
        Ok(pb::PickListResponse {
            library: library.to_owned(),
            entries,
            applied_position: self.position().get(),
        })
    }

    /// One open hold. NOT_FOUND for a hold that is not open (never placed, or filled, cancelled
    /// or expired).
    pub fn get_hold(&self, hold: u64) -> Result<pb::GetHoldResponse, AvailabilityError> {
        let h = self.hold(hold).ok_or_else(|| {
            AvailabilityError::not_found(format!(
                "hold: hold {hold} is not open (never placed, or filled, cancelled or expired)"
            ))
        })?;
        let mut answer = pb::GetHoldResponse {
            hold,
            title_key: h.title_key.clone(),
            item_asked: h
                .item
                .as_ref()
                .map(|i| i.as_str().to_owned())
                .unwrap_or_default(),
            pickup_library: h.pickup_library.as_str().to_owned(),
            queue_length: u32::try_from(self.queue_length(&h.title_key)).unwrap_or(u32::MAX),
            applied_position: self.position().get(),
            ..Default::default()
        };
        let phase = match h.phase {
            HoldPhase::Waiting => {
                let place = self.queue_position(hold);
                answer.queue_position = place.map_or(0, |p| u32::try_from(p).unwrap_or(u32::MAX));
                answer.eta_us = match (place, self.title_state(&h.title_key)) {
                    (Some(place), Some((_, t))) => eta(t, place).us(),
                    _ => 0,
                };
                answer.expires_at_us = h.expires_at_us;
                pb::HoldPhase::Waiting
            }
            HoldPhase::Assigned { item, .. } => {
                answer.item = item.as_str().to_owned();
                match self.item(item.as_str()).map(|r| r.place) {
                    Some(Place::InTransit { to, .. }) => {
                        answer.item_library = to.as_str().to_owned();
                        pb::HoldPhase::InTransit
                    }
                    Some(Place::OnShelf { library, .. }) => {
                        answer.item_library = library.as_str().to_owned();
                        // Received at a distribution centre: still on its way.
                        if self
                            .network()
                            .libraries
                            .get(library.as_str())
                            .is_some_and(|l| l.distribution_centre)
                        {
                            pb::HoldPhase::InTransit
                        } else {
                            pb::HoldPhase::ToPull
                        }
                    }
                    _ => pb::HoldPhase::ToPull,
                }
            }
            HoldPhase::Ready { item, pickup_by_us } => {
                answer.item = item.as_str().to_owned();
                answer.item_library = h.pickup_library.as_str().to_owned();
                answer.pickup_by_us = pickup_by_us;
                pb::HoldPhase::Ready
            }
        };
        answer.phase = phase as i32;
        Ok(answer)
    }

    fn registered(&self, library: &str, field: &str) -> Result<&LibraryView, AvailabilityError> {
        self.network().libraries.get(library).ok_or_else(|| {
            AvailabilityError::not_found(format!("{field}: library {library} is not registered"))
        })
    }

    /// The title keys a query names, with their records. NOT_FOUND when no copy was ever
    /// catalogued under it.
    pub(crate) fn matching_titles(
        &self,
        query: &TitleQuery,
    ) -> Result<Vec<(&str, &TitleState)>, AvailabilityError> {
        let found: Vec<(&str, &TitleState)> = match query {
            TitleQuery::Isbn(isbn) => self
                .title_state(&isbn_key(isbn))
                .map(|(id, t)| (self.title_key(id), t))
                .into_iter()
                .collect(),
            TitleQuery::Text { title, author } => {
                let mut found: Vec<(&str, &TitleState)> = self
                    .title_ids_under_text(&text_key(title, author))
                    .into_iter()
                    .filter_map(|id| self.title_state(self.title_key(id)))
                    .map(|(id, t)| (self.title_key(id), t))
                    .collect();
                found.sort_unstable_by(|a, b| a.0.cmp(b.0));
                found
            }
        };
        if found.is_empty() {
            return Err(AvailabilityError::not_found(match query {
                TitleQuery::Isbn(isbn) => {
                    format!("title.isbn: no copy with ISBN {isbn} is catalogued")
                }
                TitleQuery::Text { title, author } => {
                    format!("title: no copy of {title:?} by {author:?} is catalogued")
                }
            }));
        }
        Ok(found)
    }

    /// One item's status and place. NOT_FOUND for an item never catalogued.
    pub fn get_item(
        &self,
        item: &str,
    ) -> Result<pb::AvailabilityServiceGetItemResponse, AvailabilityError> {
        let record = self.item(item).ok_or_else(|| {
            AvailabilityError::not_found(format!("item {item} is not catalogued"))
        })?;
        Ok(pb::AvailabilityServiceGetItemResponse {
            item: Some(item_state(item, &record)),
            title_key: record.title_key.clone(),
            applied_position: self.position().get(),
        })
    }

    /// Where a title can be had, starting from `from_library`: the open libraries with a
    /// lendable copy on the shelf or a copy in their booth, `from_library` first, then the other
    /// libraries of its city by code, then other cities' libraries by city and code. Homebound
    /// copies are not lendable and are left out; closed libraries lend nothing and are left out.
    pub fn find_title(
        &self,
        title: &TitleQuery,
        from_library: &str,
        max_libraries: usize,
    ) -> Result<pb::FindTitleResponse, AvailabilityError> {
        let from_city = self.registered(from_library, "from_library")?.city.as_str();
        let titles = self.matching_titles(title)?;
        let mut per_library: BTreeMap<&str, (u32, u32)> = BTreeMap::new();
        for (_, t) in &titles {
            for (library, counts) in &t.libraries {
                let entry = per_library.entry(self.library_code(*library)).or_default();
                entry.0 += counts.lendable();
                entry.1 += counts.in_booth;
            }
        }
        let mut libraries: Vec<pb::TitleAtLibrary> = per_library
            .into_iter()
            .filter(|&(_, (lendable, in_booth))| lendable + in_booth > 0)
            .filter_map(|(library, (lendable, in_booth))| {
                let view = self.network().libraries.get(library)?;
                if view.closed {
                    return None;
                }
                let proximity = if library == from_library {
                    AvailabilityProximity::SameLibrary
                } else if view.city == from_city {
                    AvailabilityProximity::SameCity
                } else {
                    AvailabilityProximity::OtherCity
                };
                Some(pb::TitleAtLibrary {
                    library: library.to_owned(),
                    city: view.city.as_str().to_owned(),
                    tier: view.tier,
                    proximity: proximity as i32,
                    lendable,
                    in_booth,
                })
            })
            .collect();
        libraries.sort_by(|a, b| {
            (a.proximity, &a.city, &a.library).cmp(&(b.proximity, &b.city, &b.library))
        });
        let truncated = libraries.len() > max_libraries;
        libraries.truncate(max_libraries);
        Ok(pb::FindTitleResponse {
            titles: titles.iter().map(|(k, t)| self.summary(k, t)).collect(),
            libraries,
            truncated,
            applied_position: self.position().get(),
        })
    }

    /// One library's copies: its totals, and the rows `listing` asks for.
    pub fn library_shelf(
        &self,
        library: &str,
        listing: ShelfListing<'_>,
    ) -> Result<pb::LibraryShelfResponse, AvailabilityError> {
        let view = self.registered(library, "library")?;
        let library_id = self.library_id(library);
        let row = |key: &str, t: &TitleState| pb::ShelfTitle {
            title: Some(self.summary(key, t)),
            counts: Some(shelf_counts(
                library_id.map(|l| t.cell(l)).unwrap_or_default(),
            )),
        };
        let mut next_title_key = String::new();
        let titles = match listing {
            ShelfListing::Totals => Vec::new(),
            ShelfListing::Title(query) => self
                .matching_titles(query)?
                .into_iter()
                .map(|(k, t)| row(k, t))
                .collect(),
            ShelfListing::PerTitle { after, max } => {
                // Sorted here, off the fold's path: the state keeps a set of ids.
                let mut keys: Vec<&str> = self
                    .library_state(library)
                    .into_iter()
                    .flat_map(|r| &r.titles)
                    .map(|t| self.title_key(*t))
                    .filter(|k| after.is_empty() || *k > after)
                    .collect();
                keys.sort_unstable();
                let mut page: Vec<&str> = keys.into_iter().take(max + 1).collect();
                if page.len() > max {
                    page.truncate(max);
                    next_title_key = page.last().map(|k| (*k).to_owned()).unwrap_or_default();
                }
                page.into_iter()
                    .filter_map(|k| self.title_state(k).map(|(_, t)| row(k, t)))
                    .collect()
            }
        };
        Ok(pb::LibraryShelfResponse {
            library: library.to_owned(),
            city: view.city.as_str().to_owned(),
            tier: view.tier,
            closed: view.closed,
            totals: Some(shelf_counts(self.library_totals(library))),
            titles,
            next_title_key,
            applied_position: self.position().get(),
        })
    }

    /// The items in a booth with their titles, by item id, after `after_item` (empty: from the
    /// first). NOT_FOUND for an unknown library, INVALID_ARGUMENT for one that is not a booth.
    pub fn booth_stock(
        &self,
        booth: &str,
        after_item: &str,
        max_items: usize,
    ) -> Result<pb::BoothStockResponse, AvailabilityError> {
        let view = self.registered(booth, "booth")?;
        if view.tier != LibraryTier::Booth as i32 {
            let tier = LibraryTier::try_from(view.tier)
                .map_or_else(|_| view.tier.to_string(), |t| t.as_str_name().to_owned());
            return Err(AvailabilityError::invalid(format!(
                "booth: {booth} is a library of tier {tier}, not a book-exchange booth"
            )));
        }
        let item_count = self
            .library_state(booth)
            .map_or(0, |l| l.booth.len() as u32);
        let mut page: Vec<&str> = self
            .booth_items(booth)
            .filter(|id| after_item.is_empty() || *id > after_item)
            .take(max_items + 1)
            .collect();
        let mut next_item = String::new();
        if page.len() > max_items {
            page.truncate(max_items);
            next_item = page.last().map(|i| (*i).to_owned()).unwrap_or_default();
        }
        let items = page
            .into_iter()
            .filter_map(|id| {
                let r = self.item(id)?;
                Some(pb::BoothStockItem {
                    item: id.to_owned(),
                    title_key: r.title_key,
                    isbn: r.isbn,
                    title: r.title,
                    author: r.author,
                    acquisition: r.acquisition,
                    owner_library: r.owner_library.as_str().to_owned(),
                })
            })
            .collect();
        Ok(pb::BoothStockResponse {
            booth: booth.to_owned(),
            city: view.city.as_str().to_owned(),
            item_count,
            items,
            next_item,
            applied_position: self.position().get(),
        })
    }
}
