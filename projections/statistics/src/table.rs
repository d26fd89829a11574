//! Whole tables of the state, every row and no range limit, for the analysts' exports
//! (`readnet export tables`, docs/analytics.md). The queries of [`crate::query`] answer one
//! library, city or month over a bounded range; these list all of them, in a stable order, with
//! the same figures (a table's row for a library and day equals what `library_days` answers for
//! it). No row holds a patron id: patrons are counted, never named.

use crate::fold::{By, MonthNumber, Statistics};
use crate::query::{
    DayFigures, DayRange, FlowCell, HoldFigures, TitleLoans, day_key, flow_matrix, ranked_titles,
    rows_of, sum_days,
};

/// A month number as its key, `YYYY-MM`.
fn month_key(month: MonthNumber) -> String {
    format!(
        "{:04}-{:02}",
        month.div_euclid(12),
        month.rem_euclid(12) + 1
    )
}

/// One library's figures on one of its local days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryDayRow {
    pub library: String,
    pub city: String,
    pub figures: DayFigures,
}

/// Every library's days in view `by`: libraries by code, each library's days in order.
pub fn library_day_rows(state: &Statistics, by: By) -> Vec<LibraryDayRow> {
    let mut rows = Vec::new();
    for (code, library) in &state.network.libraries {
        let days = sum_days(
            rows_of(state, by, code.as_str()).into_iter(),
            &DayRange::ALL,
        );
        rows.extend(days.into_iter().map(|figures| LibraryDayRow {
            library: code.as_str().to_owned(),
            city: library.city.as_str().to_owned(),
            figures,
        }));
    }
    rows
}

/// Every city's days in view `by` (its libraries' rows summed, patrons united): cities by
/// code, days in order.
pub fn city_day_rows(state: &Statistics, by: By) -> Vec<(String, DayFigures)> {
    let mut rows = Vec::new();
    for city in state.network.cities.keys() {
        let libraries = state
            .network
            .libraries
            .iter()
            .filter(|(_, l)| l.city == *city)
            .filter_map(|(code, _)| rows_of(state, by, code.as_str()));
        let days = sum_days(libraries, &DayRange::ALL);
        rows.extend(days.into_iter().map(|d| (city.as_str().to_owned(), d)));
    }
    rows
}

/// The network's days in view `by`, in order.
pub fn network_day_rows(state: &Statistics, by: By) -> Vec<DayFigures> {
    sum_days(state.days.get(by).iter(), &DayRange::ALL)
}

/// Every month's return flows (`YYYY-MM`, Asia/Shanghai), months in order, each as
/// [`flow_matrix`] answers it.
pub fn flow_rows(state: &Statistics) -> Vec<(String, FlowCell)> {
    let mut rows = Vec::new();
    for month in state.flows.keys().copied().map(month_key) {
        rows.extend(
            flow_matrix(state, &month)
                .into_iter()
                .map(|cell| (month.clone(), cell)),
        );
    }
    rows
}

/// A title's loans in a city and month, with its rank there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TitleMonthRow {
    pub city: String,
    /// `YYYY-MM`, the city's local month.
    pub month: String,
    /// 1 for the most lent, in the order `top_titles` answers (ties by title key).
    pub rank: u64,
    pub title: TitleLoans,
}

/// Every title lent in every city and month (not only the top ones): cities by code, months in
/// order, titles by rank.
pub fn title_month_rows(state: &Statistics) -> Vec<TitleMonthRow> {
    let mut cities: Vec<(&str, _)> = state
        .title_loans
        .iter()
        .map(|(city, months)| (state.codes.cities.resolve(*city), months))
        .collect();
    cities.sort_unstable_by_key(|(code, _)| *code);
    let mut rows = Vec::new();
    for (city, months) in cities {
        for (month, counts) in months {
            let month = month_key(*month);
            let titles = ranked_titles(state, Some(counts), usize::MAX);
            rows.extend(
                titles
                    .into_iter()
                    .zip(1..)
                    .map(|(title, rank)| TitleMonthRow {
                        city: city.to_owned(),
                        month: month.clone(),
                        rank,
                        title,
                    }),
            );
        }
    }
    rows
}

/// One pickup library's holds on one of its local days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldDayRow {
    pub library: String,
    pub city: String,
    /// `YYYY-MM-DD`, the library's local day.
    pub day: String,
    /// The day's figures; the fill-time percentiles are of that day's fills.
    pub figures: HoldFigures,
    /// The fill times of the day's fills summed, in minutes (with `filled`, a mean; days add up).
    pub fill_minutes_total: u64,
}

/// Every pickup library's hold days: libraries by code, days in order.
pub fn hold_day_rows(state: &Statistics) -> Vec<HoldDayRow> {
    let mut rows = Vec::new();
    for (code, library) in &state.network.libraries {
        let Some(days) = state
            .codes
            .libraries
            .get(code.as_str())
            .and_then(|id| state.hold_days.get(id.index()))
        else {
            continue;
        };
        for (day, figures) in &days.0 {
            rows.push(HoldDayRow {
                library: code.as_str().to_owned(),
                city: library.city.as_str().to_owned(),
                day: day_key(*day),
                figures: HoldFigures {
                    placed: figures.placed,
                    filled: figures.filled,
                    expired_unfilled: figures.expired_unfilled,
                    not_picked_up: figures.not_picked_up,
                    cancelled: figures.cancelled,
                    fill_minutes_median: figures.fill_percentile(50),
                    fill_minutes_p90: figures.fill_percentile(90),
                },
                fill_minutes_total: figures
                    .fill_minutes
                    .iter()
                    .map(|(minutes, n)| minutes * n)
                    .sum(),
            });
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_numbers_are_written_as_their_keys() {
        let may_2026 = 2026 * 12 + 4;
        assert_eq!(month_key(may_2026), "2026-05");
        assert_eq!(month_key(2026 * 12 + 11), "2026-12");
        assert_eq!(month_key(2027 * 12), "2027-01");
    }
}
