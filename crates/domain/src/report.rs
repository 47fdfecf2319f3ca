//! The arithmetic of reports that needs no database: time buckets in the
//! desk's time zone (DST included), percentiles and duration distributions.

use crate::DomainError;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// The most buckets one report may have (a year by day).
pub const MAX_BUCKETS: usize = 400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Day,
    Week,
    Month,
}

impl Granularity {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s.trim().to_lowercase().as_str() {
            "day" | "jour" => Ok(Self::Day),
            "week" | "semaine" => Ok(Self::Week),
            "month" | "mois" => Ok(Self::Month),
            other => Err(DomainError::field("granularity", format!("`{other}` is not day, week or month"))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
        }
    }
}

/// One period of a report: local dates `[first, last]`, as UTC instants `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub first: NaiveDate,
    pub last: NaiveDate,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Bucket {
    /// `2026-03`, `2026-03-02` or `2026-W10`.
    pub fn label(&self, granularity: Granularity) -> String {
        match granularity {
            Granularity::Day => self.first.format("%Y-%m-%d").to_string(),
            Granularity::Week => {
                let w = self.first.iso_week();
                format!("{}-W{:02}", w.year(), w.week())
            }
            Granularity::Month => self.first.format("%Y-%m").to_string(),
        }
    }
}

/// Local midnight of `day` in `tz` (the first instant of the day when a
/// DST change skips midnight).
pub fn local_midnight(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    match tz.from_local_datetime(&midnight).earliest() {
        Some(t) => t.with_timezone(&Utc),
        None => {
            let one = day.and_hms_opt(1, 0, 0).unwrap_or_default();
            tz.from_local_datetime(&one)
                .earliest()
                .map_or_else(|| Utc.from_utc_datetime(&midnight), |t| t.with_timezone(&Utc))
        }
    }
}

fn bucket_start(day: NaiveDate, g: Granularity) -> NaiveDate {
    match g {
        Granularity::Day => day,
        Granularity::Week => day - Duration::days(i64::from(day.weekday().num_days_from_monday())),
        Granularity::Month => day.with_day(1).unwrap_or(day),
    }
}

fn next_start(start: NaiveDate, g: Granularity) -> NaiveDate {
    match g {
        Granularity::Day => start + Duration::days(1),
        Granularity::Week => start + Duration::days(7),
        Granularity::Month => start.checked_add_months(chrono::Months::new(1)).unwrap_or(start + Duration::days(31)),
    }
}

/// The buckets covering the local dates `from..=to`, cut at local midnights;
/// the first and last are clipped to the period.
pub fn buckets(tz: Tz, from: NaiveDate, to: NaiveDate, g: Granularity) -> Result<Vec<Bucket>, DomainError> {
    if to < from {
        return Err(DomainError::field("to", "`to` is before `from`"));
    }
    // Beyond these years a date is a typo, and a bucket's end could overflow.
    for (field, date) in [("from", from), ("to", to)] {
        if !(1000..=9999).contains(&date.year()) {
            return Err(DomainError::field(field, format!("`{field}` is between the years 1000 and 9999")));
        }
    }
    let mut out = Vec::new();
    let mut start = bucket_start(from, g);
    while start <= to {
        let next = next_start(start, g);
        let first = start.max(from);
        let last = (next - Duration::days(1)).min(to);
        out.push(Bucket {
            first,
            last,
            start: local_midnight(tz, first),
            end: local_midnight(tz, last + Duration::days(1)),
        });
        if out.len() > MAX_BUCKETS {
            return Err(DomainError::field(
                "granularity",
                format!("more than {MAX_BUCKETS} periods: choose a coarser granularity or a shorter period"),
            ));
        }
        start = next;
    }
    Ok(out)
}

/// The value at percentile `p` (0–100) of sorted values, by nearest rank.
pub fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// [`percentile`] of each of `ps` (in increasing order) without sorting
/// every value: a report of the demo's 90 days sorted 830,000 measures twice
/// for two ranks each. The values are left in another order.
pub fn percentiles<const N: usize>(values: &mut [i64], ps: [f64; N]) -> [Option<i64>; N] {
    let n = values.len();
    // The values before `from` are all at most the ones after it.
    let mut from = 0;
    ps.map(|p| {
        if n == 0 {
            return None;
        }
        let rank = (((p / 100.0) * n as f64).ceil() as usize).clamp(1, n) - 1;
        if rank >= from {
            values[from..].select_nth_unstable(rank - from);
            from = rank + 1;
        }
        Some(values[rank])
    })
}

/// How many different numbers `ids` holds (ticket numbers, from 1 up).
/// A bit per number up to the largest: SQLite's `COUNT(DISTINCT …)` kept a
/// B-tree of every ticket a member of the desk wrote on, 440 of the 550 ms
/// of the desk's activity over 3.3M comments; this is one pass. Sorted
/// when the numbers are sparse (or not positive), so that the bits never
/// outweigh the list.
pub fn count_distinct(ids: &mut [i64]) -> usize {
    let Some(&largest) = ids.iter().max() else {
        return 0;
    };
    let smallest = ids.iter().min().copied().unwrap_or(0);
    let words = usize::try_from(largest / 64 + 1).unwrap_or(usize::MAX);
    if smallest < 0 || words > ids.len().max(1024) {
        ids.sort_unstable();
        return ids.len() - ids.windows(2).filter(|w| w[0] == w[1]).count();
    }
    let mut seen = vec![0u64; words];
    let mut distinct = 0;
    for &id in ids.iter() {
        // Non-negative and at most `largest`: within `seen`.
        let (word, bit) = ((id / 64) as usize, 1u64 << (id % 64));
        if seen[word] & bit == 0 {
            seen[word] |= bit;
            distinct += 1;
        }
    }
    distinct
}

/// Classes of a business-time distribution, in seconds: under 1 h, 1–4 h,
/// 4 h–1 business day (7 h), 1–3 days, 3–10 days, more.
pub const DISTRIBUTION: &[(&str, i64)] = &[
    ("< 1 h", 3_600),
    ("1–4 h", 4 * 3_600),
    ("4 h–1 j", 7 * 3_600),
    ("1–3 j", 21 * 3_600),
    ("3–10 j", 70 * 3_600),
    ("> 10 j", i64::MAX),
];

/// Counts per class of [`DISTRIBUTION`].
pub fn distribution(seconds: &[i64]) -> Vec<i64> {
    let mut counts = vec![0; DISTRIBUTION.len()];
    for s in seconds {
        let i = DISTRIBUTION.iter().position(|(_, upper)| s < upper).unwrap_or(DISTRIBUTION.len() - 1);
        counts[i] += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn distinct_numbers_are_counted_as_a_set_counts_them(
            mut ids in proptest::collection::vec(prop_oneof![0i64..300, -5i64..5, 0i64..i64::MAX], 0..400),
        ) {
            let set: std::collections::HashSet<i64> = ids.iter().copied().collect();
            prop_assert_eq!(count_distinct(&mut ids), set.len());
        }

        #[test]
        fn percentiles_without_sorting_are_those_of_the_sorted_values(
            mut values in proptest::collection::vec(-50i64..50, 0..200),
            mut ps in proptest::array::uniform3(0.0f64..=100.0),
        ) {
            ps.sort_by(f64::total_cmp);
            let mut sorted = values.clone();
            sorted.sort_unstable();
            let expected = ps.map(|p| percentile(&sorted, p));
            prop_assert_eq!(percentiles(&mut values, ps), expected);
        }
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn periods_at_the_limits_of_the_calendar_are_refused_not_overflowed() {
        let tz = chrono_tz::Europe::Paris;
        let far = NaiveDate::MAX;
        for g in [Granularity::Day, Granularity::Week, Granularity::Month] {
            assert!(buckets(tz, far, far, g).is_err());
            assert!(buckets(tz, NaiveDate::MIN, NaiveDate::MIN, g).is_err());
        }
        let last = NaiveDate::from_ymd_opt(9999, 12, 31).unwrap();
        assert_eq!(buckets(tz, last, last, Granularity::Month).unwrap().len(), 1);
    }

    #[test]
    fn months_are_cut_at_local_midnight_and_the_period_clips_them() {
        let b = buckets(chrono_tz::Europe::Paris, d("2026-02-15"), d("2026-04-10"), Granularity::Month).unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].label(Granularity::Month), "2026-02");
        assert_eq!(b[0].start, "2026-02-14T23:00:00Z".parse::<DateTime<Utc>>().unwrap());
        // March ends at local midnight on 1 April, after the switch to summer time.
        assert_eq!(b[1].end, "2026-03-31T22:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(b[2].end, "2026-04-10T22:00:00Z".parse::<DateTime<Utc>>().unwrap());
    }

    #[test]
    fn the_day_of_the_dst_change_lasts_23_hours() {
        let b = buckets(chrono_tz::Europe::Paris, d("2026-03-29"), d("2026-03-29"), Granularity::Day).unwrap();
        assert_eq!(b[0].end - b[0].start, Duration::hours(23));
    }

    #[test]
    fn weeks_start_on_monday_and_are_labelled_iso() {
        let b = buckets(chrono_tz::Europe::Paris, d("2026-03-04"), d("2026-03-16"), Granularity::Week).unwrap();
        assert_eq!(
            b.iter().map(|b| b.label(Granularity::Week)).collect::<Vec<_>>(),
            ["2026-W10", "2026-W11", "2026-W12"]
        );
        assert_eq!(b[0].first, d("2026-03-04"));
        assert_eq!(b[1].first, d("2026-03-09"));
    }

    #[test]
    fn too_many_buckets_or_a_reversed_period_are_refused() {
        assert!(buckets(chrono_tz::Europe::Paris, d("2020-01-01"), d("2026-01-01"), Granularity::Day).is_err());
        assert!(buckets(chrono_tz::Europe::Paris, d("2026-02-01"), d("2026-01-01"), Granularity::Day).is_err());
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&v, 50.0), Some(5));
        assert_eq!(percentile(&v, 90.0), Some(9));
        assert_eq!(percentile(&[7], 90.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn durations_fall_in_their_class() {
        assert_eq!(distribution(&[10, 3_600, 5 * 3_600, 100 * 3_600]), vec![1, 1, 1, 0, 0, 1]);
    }
}
