//! The monitoring centre's model: the monitor snapshot grouped city → general library's network
//! (a root library and its subtree) → libraries, each library's status, totals per subtree and
//! city, and the alerts. Pure: the snapshot, the openings and `now` in, the model out.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use readnet_proto::v1 as pb;
use readnet_server::reads::Opening;
use serde::Serialize;

/// A library with no activity for longer than this many times its usual gap, and at least
/// [`SILENT_FLOOR_SECONDS`], while open by its calendar, is silent.
pub const SILENT_GAP_FACTOR: u64 = 3;
/// The shortest silence reported (15 minutes): a quiet library is not an alarm.
pub const SILENT_FLOOR_SECONDS: u64 = 15 * 60;

/// A library's live status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Open,
    Closed,
    Silent,
}

/// The numbers shown for a library and summed for a subtree, a city and the network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Figures {
    pub events_last_hour: u64,
    pub loans_today: u64,
    pub returns_today: u64,
    pub on_loan: u64,
    pub overdue: u64,
    pub in_transit: u64,
    pub holds_waiting: u64,
    pub visits_today: u64,
}

impl Figures {
    fn of(l: &pb::MonitoredLibrary) -> Self {
        Self {
            events_last_hour: l.events_last_hour,
            loans_today: l.loans_today,
            returns_today: l.returns_today,
            on_loan: l.on_loan,
            overdue: l.overdue,
            in_transit: l.in_transit,
            holds_waiting: l.holds_waiting,
            visits_today: l.visits_today,
        }
    }

    fn add(&mut self, o: &Figures) {
        self.events_last_hour += o.events_last_hour;
        self.loans_today += o.loans_today;
        self.returns_today += o.returns_today;
        self.on_loan += o.on_loan;
        self.overdue += o.overdue;
        self.in_transit += o.in_transit;
        self.holds_waiting += o.holds_waiting;
        self.visits_today += o.visits_today;
    }

    /// The figures by name, in the order the tables show them.
    pub fn named(&self) -> [(&'static str, u64); 8] {
        [
            ("events_last_hour", self.events_last_hour),
            ("loans_today", self.loans_today),
            ("returns_today", self.returns_today),
            ("on_loan", self.on_loan),
            ("overdue", self.overdue),
            ("in_transit", self.in_transit),
            ("holds_waiting", self.holds_waiting),
            ("visits_today", self.visits_today),
        ]
    }
}

/// One library's row.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub library: String,
    pub name: String,
    pub tier: i32,
    /// 0 for a subtree's root.
    pub depth: usize,
    pub status: Status,
    pub last_activity: Option<DateTime<Utc>>,
    pub figures: Figures,
}

/// A general library's network: a root library and every library under it.
#[derive(Debug, Clone, Serialize)]
pub struct Subtree {
    pub root: String,
    pub rows: Vec<Row>,
    pub totals: Figures,
}

#[derive(Debug, Clone, Serialize)]
pub struct City {
    pub city: String,
    pub subtrees: Vec<Subtree>,
    pub totals: Figures,
}

#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub at: DateTime<Utc>,
    pub library: String,
    pub name: String,
    /// `silent` (no activity since `at`) or `overdue` (`count` loans past due at `at`).
    pub kind: &'static str,
    pub count: u64,
}

/// The whole monitoring centre.
#[derive(Debug, Clone, Serialize)]
pub struct Centre {
    pub as_of: DateTime<Utc>,
    pub applied_position: u64,
    pub cities: Vec<City>,
    pub totals: Figures,
    pub alerts: Vec<Alert>,
    pub libraries: usize,
}

/// A message's timestamp as an instant.
pub fn instant(ts: &Option<readnet_proto::Timestamp>) -> Option<DateTime<Utc>> {
    ts.as_ref()
        .and_then(|t| Utc.timestamp_opt(t.seconds, t.nanos.max(0) as u32).single())
}

/// A library's status at `now`: closed by registration or calendar; silent when open and
/// quiet for much longer than its usual rhythm; open otherwise.
pub fn status(l: &pb::MonitoredLibrary, opening: Option<Opening>, now: DateTime<Utc>) -> Status {
    if l.closed || matches!(opening, Some(Opening::Closed | Opening::ClosedForGood)) {
        return Status::Closed;
    }
    let (Some(gap), Some(last)) = (l.usual_gap_seconds, instant(&l.last_occurred_at)) else {
        return Status::Open;
    };
    let limit = (gap * SILENT_GAP_FACTOR).max(SILENT_FLOOR_SECONDS);
    let quiet = (now - last).num_seconds();
    if quiet > 0 && quiet as u64 > limit {
        Status::Silent
    } else {
        Status::Open
    }
}

/// Groups the libraries of `snapshots` (one per monitored scope) into the centre.
pub fn centre(snapshots: &[pb::MonitorSnapshot], openings: &BTreeMap<String, Opening>) -> Centre {
    let as_of = snapshots
        .iter()
        .filter_map(|s| instant(&s.as_of))
        .max()
        .unwrap_or_else(Utc::now);
    let applied_position = snapshots
        .iter()
        .map(|s| s.applied_position)
        .max()
        .unwrap_or(0);
    let mut libraries: BTreeMap<&str, &pb::MonitoredLibrary> = BTreeMap::new();
    for s in snapshots {
        for l in &s.libraries {
            libraries.insert(l.library.as_str(), l);
        }
    }
    // Children by parent, within the monitored libraries.
    let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for l in libraries.values() {
        if !l.parent.is_empty() && libraries.contains_key(l.parent.as_str()) {
            children
                .entry(l.parent.as_str())
                .or_default()
                .push(l.library.as_str());
        }
    }
    let mut cities: BTreeMap<&str, City> = BTreeMap::new();
    let mut alerts = Vec::new();
    for root in libraries
        .values()
        .filter(|l| l.parent.is_empty() || !libraries.contains_key(l.parent.as_str()))
    {
        let mut subtree = Subtree {
            root: root.library.clone(),
            rows: Vec::new(),
            totals: Figures::default(),
        };
        // Depth first, children by code.
        let mut stack = vec![(root.library.as_str(), 0usize)];
        while let Some((code, depth)) = stack.pop() {
            let l = libraries[code];
            let figures = Figures::of(l);
            let status = status(l, openings.get(code).copied(), as_of);
            let last_activity = instant(&l.last_occurred_at);
            if status == Status::Silent {
                alerts.push(Alert {
                    at: last_activity.unwrap_or(as_of),
                    library: l.library.clone(),
                    name: l.name.clone(),
                    kind: "silent",
                    count: 0,
                });
            }
            if l.overdue > 0 {
                alerts.push(Alert {
                    at: as_of,
                    library: l.library.clone(),
                    name: l.name.clone(),
                    kind: "overdue",
                    count: l.overdue,
                });
            }
            subtree.totals.add(&figures);
            subtree.rows.push(Row {
                library: l.library.clone(),
                name: l.name.clone(),
                tier: l.tier,
                depth,
                status,
                last_activity,
                figures,
            });
            if let Some(kids) = children.get(code) {
                for kid in kids.iter().rev() {
                    stack.push((kid, depth + 1));
                }
            }
        }
        let city = cities.entry(root.city.as_str()).or_insert_with(|| City {
            city: root.city.clone(),
            subtrees: Vec::new(),
            totals: Figures::default(),
        });
        city.totals.add(&subtree.totals);
        city.subtrees.push(subtree);
    }
    let mut totals = Figures::default();
    for city in cities.values() {
        totals.add(&city.totals);
    }
    alerts.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| a.library.cmp(&b.library)));
    Centre {
        as_of,
        applied_position,
        cities: cities.into_values().collect(),
        totals,
        alerts,
        libraries: libraries.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn library(code: &str, city: &str, parent: &str, loans: u64) -> pb::MonitoredLibrary {
        pb::MonitoredLibrary {
            library: code.into(),
            name: code.into(),
            city: city.into(),
            parent: parent.into(),
            loans_today: loans,
            ..Default::default()
        }
    }

    fn at(seconds: i64) -> readnet_proto::Timestamp {
        readnet_proto::Timestamp { seconds, nanos: 0 }
    }

    #[test]
    fn libraries_are_grouped_by_city_and_subtree_with_totals() {
        let snapshot = pb::MonitorSnapshot {
            applied_position: 7,
            as_of: Some(at(1_800_000_000)),
            libraries: vec![
                library("A", "c1", "", 1),
                library("A-1", "c1", "A", 2),
                library("A-1-x", "c1", "A-1", 4),
                library("B", "c1", "", 8),
                library("Z", "c2", "", 16),
            ],
        };
        let centre = centre(&[snapshot], &BTreeMap::new());
        assert_eq!(centre.libraries, 5);
        assert_eq!(centre.totals.loans_today, 31);
        assert_eq!(centre.cities.len(), 2);
        let c1 = &centre.cities[0];
        assert_eq!(c1.totals.loans_today, 15);
        let a = &c1.subtrees[0];
        assert_eq!(
            a.rows
                .iter()
                .map(|r| (r.library.as_str(), r.depth))
                .collect::<Vec<_>>(),
            [("A", 0), ("A-1", 1), ("A-1-x", 2)]
        );
        assert_eq!(a.totals.loans_today, 7);
    }

    #[test]
    fn an_open_library_quiet_for_much_longer_than_its_rhythm_is_silent() {
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let mut l = library("A", "c1", "", 0);
        l.usual_gap_seconds = Some(600);
        l.last_occurred_at = Some(at(1_800_000_000 - 1_700));
        assert_eq!(status(&l, Some(Opening::Open), now), Status::Open);
        l.last_occurred_at = Some(at(1_800_000_000 - 1_801));
        assert_eq!(status(&l, Some(Opening::Open), now), Status::Silent);
        // Closed by its calendar: quiet is expected.
        assert_eq!(status(&l, Some(Opening::Closed), now), Status::Closed);
        // A short rhythm still needs a quarter of an hour of quiet.
        l.usual_gap_seconds = Some(5);
        l.last_occurred_at = Some(at(1_800_000_000 - 600));
        assert_eq!(status(&l, Some(Opening::Open), now), Status::Open);
    }
}
