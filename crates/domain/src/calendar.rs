//! The desk's business calendar: opening hours in a time zone, French public
//! holidays, exceptional closures and openings, and the arithmetic of
//! business time that service levels are counted in. Pure: the instant is
//! always given.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// An opening range within a day, in minutes since local midnight: [start, end).
/// Written `12:00-19:00` in configuration and the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Range {
    pub start: u32,
    pub end: u32,
}

impl Range {
    pub fn hours(start: u32, end: u32) -> Self {
        Self { start: start * 60, end: end * 60 }
    }

    /// Parses `HH:MM-HH:MM` (end up to 24:00, after the start).
    pub fn parse(text: &str) -> Result<Self, crate::DomainError> {
        let bad =
            || crate::DomainError::field("hours", format!("`{}` is not a range such as 12:00-19:00", text.trim()));
        let minutes = |t: &str| -> Option<u32> {
            let (h, m) = t.trim().split_once(':')?;
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
        };
        let (a, b) = text.split_once('-').ok_or_else(bad)?;
        let (start, end) = (minutes(a).ok_or_else(bad)?, minutes(b).ok_or_else(bad)?);
        if start >= end {
            return Err(bad());
        }
        Ok(Self { start, end })
    }
}

impl TryFrom<String> for Range {
    type Error = crate::DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Range> for String {
    fn from(r: Range) -> Self {
        r.to_string()
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}-{:02}:{:02}", self.start / 60, self.start % 60, self.end / 60, self.end % 60)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Calendar {
    /// IANA time zone, e.g. `Europe/Paris`.
    #[serde(with = "tz_name")]
    #[schema(value_type = String, example = "Europe/Paris")]
    pub tz: Tz,
    /// Opening ranges (`12:00-19:00`) from Monday (index 0) to Sunday (6).
    #[schema(value_type = Vec<Vec<String>>, min_items = 7, max_items = 7)]
    pub week: [Vec<Range>; 7],
    /// Whether French public holidays are closed.
    pub french_holidays: bool,
    /// Days closed although the week says open (a bridge day, a move), `YYYY-MM-DD`.
    #[schema(value_type = Vec<String>)]
    pub closures: BTreeSet<NaiveDate>,
    /// Days open with these hours although the week or a holiday says closed.
    #[schema(value_type = Object)]
    pub openings: BTreeMap<NaiveDate, Vec<Range>>,
}

mod tz_name {
    use chrono_tz::Tz;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(tz.name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Tz, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(|_| serde::de::Error::custom(format!("unknown time zone `{name}`")))
    }
}

impl Default for Calendar {
    /// The Lilie desk: Monday to Friday, 12:00 to 19:00, Paris time, closed on public holidays.
    fn default() -> Self {
        let open = vec![Range::hours(12, 19)];
        Self {
            tz: chrono_tz::Europe::Paris,
            week: [open.clone(), open.clone(), open.clone(), open.clone(), open, Vec::new(), Vec::new()],
            french_holidays: true,
            closures: BTreeSet::new(),
            openings: BTreeMap::new(),
        }
    }
}

/// Easter Sunday of a Gregorian year (the anonymous Gregorian algorithm).
pub fn easter(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).unwrap_or_default()
}

/// The eleven public holidays of metropolitan France in a year.
pub fn french_holidays(year: i32) -> Vec<NaiveDate> {
    let fixed = [(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)];
    let easter = easter(year);
    let mut days: Vec<NaiveDate> = fixed.iter().filter_map(|(m, d)| NaiveDate::from_ymd_opt(year, *m, *d)).collect();
    days.extend([easter + Duration::days(1), easter + Duration::days(39), easter + Duration::days(50)]);
    days.sort();
    days
}

/// How far ahead to look for an opening before deciding there is none.
const HORIZON_DAYS: i64 = 800;

impl Calendar {
    pub fn is_holiday(&self, date: NaiveDate) -> bool {
        self.french_holidays && french_holidays(date.year()).contains(&date)
    }

    /// The opening ranges of a local date.
    pub fn ranges_on(&self, date: NaiveDate) -> &[Range] {
        if let Some(ranges) = self.openings.get(&date) {
            return ranges;
        }
        if self.closures.contains(&date) || self.is_holiday(date) {
            return &[];
        }
        let index = match date.weekday() {
            Weekday::Mon => 0,
            Weekday::Tue => 1,
            Weekday::Wed => 2,
            Weekday::Thu => 3,
            Weekday::Fri => 4,
            Weekday::Sat => 5,
            Weekday::Sun => 6,
        };
        &self.week[index]
    }

    /// A local wall-clock time as an instant. A time skipped by a DST change
    /// becomes the first instant after the gap; a repeated one, the first.
    fn instant(&self, date: NaiveDate, minutes: u32) -> DateTime<Utc> {
        let naive = NaiveDateTime::new(date, NaiveTime::MIN) + Duration::minutes(i64::from(minutes));
        for shift in [0, 30, 60, 90, 120] {
            if let Some(t) = self.tz.from_local_datetime(&(naive + Duration::minutes(shift))).earliest() {
                return t.with_timezone(&Utc);
            }
        }
        Utc.from_utc_datetime(&naive)
    }

    /// The open intervals of a local date, as instants, in order.
    pub fn intervals_on(&self, date: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let mut ranges = self.ranges_on(date).to_vec();
        ranges.sort();
        let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        for r in ranges.into_iter().filter(|r| r.start < r.end) {
            let (start, end) = (self.instant(date, r.start), self.instant(date, r.end.min(24 * 60)));
            if start >= end {
                continue;
            }
            // Overlapping or touching ranges count once.
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        merged
    }

    fn local_date(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.tz).date_naive()
    }

    /// Open intervals from the local day of `t` on, for `HORIZON_DAYS` days.
    fn intervals_from(&self, t: DateTime<Utc>) -> impl Iterator<Item = (DateTime<Utc>, DateTime<Utc>)> + '_ {
        // Start a day early: with several ranges, the day before may still be open.
        let first = self.local_date(t) - Duration::days(1);
        (0..HORIZON_DAYS).flat_map(move |i| self.intervals_on(first + Duration::days(i)))
    }

    pub fn is_open(&self, t: DateTime<Utc>) -> bool {
        self.intervals_on(self.local_date(t)).iter().any(|(a, b)| *a <= t && t < *b)
    }

    /// The first open instant at or after `t`; `None` if the calendar never opens.
    pub fn next_open(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.intervals_from(t).find(|(_, end)| t < *end).map(|(start, _)| start.max(t))
    }

    /// The instant when `duration` of business time has passed from `t`.
    /// It is always the inside or the end of an open interval; `None` if
    /// the calendar does not open enough within two years.
    pub fn add_business(&self, t: DateTime<Utc>, duration: Duration) -> Option<DateTime<Utc>> {
        if duration <= Duration::zero() {
            return Some(t);
        }
        let mut left = duration;
        for (start, end) in self.intervals_from(t) {
            if end <= t {
                continue;
            }
            let from = start.max(t);
            let available = end - from;
            if left <= available {
                return Some(from + left);
            }
            left -= available;
        }
        None
    }

    /// The start (local midnight) of the `n`-th open day before the one of
    /// `t`: what was resolved before it has waited `n` full open days.
    pub fn open_days_before(&self, t: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        let mut day = self.local_date(t);
        let mut left = n;
        for _ in 0..HORIZON_DAYS {
            if left == 0 {
                break;
            }
            day -= Duration::days(1);
            if !self.ranges_on(day).is_empty() {
                left -= 1;
            }
        }
        self.instant(day, 0)
    }

    /// Business time between two instants (negative when `b` is before `a`).
    pub fn business_between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> Duration {
        if b < a {
            return -self.business_between(b, a);
        }
        let mut total = Duration::zero();
        for (start, end) in self.intervals_from(a) {
            if start >= b {
                break;
            }
            if end <= a {
                continue;
            }
            total += end.min(b) - start.max(a);
        }
        total
    }
}

/// Business time between many pairs of instants, for reports: the open
/// intervals of each day of a span and their running totals are computed
/// once, so that each measure costs two lookups instead of a walk through
/// every day. Outside the span it asks the calendar.
pub struct BusinessClock<'a> {
    calendar: &'a Calendar,
    first: NaiveDate,
    /// Each day's open intervals, in microseconds since the epoch: a report
    /// measures hundreds of thousands of tickets, and integers are what the
    /// database hands over.
    days: Vec<Vec<(i64, i64)>>,
    /// `before[i]`: open time of the days before day `i`, in microseconds.
    before: Vec<i64>,
    /// `starts[i]`: the instant day `i` begins (its local midnight), and the
    /// end of the last day; empty when a day's intervals stray out of its
    /// bounds (a time zone whose clocks go back across midnight), and then
    /// each instant's day is found by converting it to local time, which
    /// was two thirds of the clock's time (830,000 tickets, two measures
    /// each, for the times report of the demo's 90 days).
    starts: Vec<i64>,
}

impl<'a> BusinessClock<'a> {
    pub fn new(calendar: &'a Calendar, from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        let first = calendar.local_date(from);
        let last = calendar.local_date(to.max(from));
        let mut days = Vec::new();
        let mut before = vec![0];
        let mut starts = vec![calendar.instant(first, 0).timestamp_micros()];
        let mut day = first;
        let mut contained = true;
        while day <= last {
            let intervals: Vec<(i64, i64)> = calendar
                .intervals_on(day)
                .into_iter()
                .map(|(s, e)| (s.timestamp_micros(), e.timestamp_micros()))
                .collect();
            let open: i64 = intervals.iter().map(|(s, e)| e - s).sum();
            before.push(before.last().copied().unwrap_or(0) + open);
            let start = starts.last().copied().unwrap_or(i64::MIN);
            let end = calendar.instant(day + Duration::days(1), 0).timestamp_micros();
            // `between` counts the days strictly between two instants' days
            // whole and ignores the others: right only if each day's open
            // time lies within the day's bounds.
            contained &= start <= end && intervals.iter().all(|(s, e)| start <= *s && *e <= end);
            starts.push(end);
            days.push(intervals);
            day += Duration::days(1);
        }
        if !contained {
            starts.clear();
        }
        Self { calendar, first, days, before, starts }
    }

    fn index(&self, t: i64) -> Option<usize> {
        if self.starts.is_empty() {
            let offset = (self.calendar.local_date(DateTime::from_timestamp_micros(t)?) - self.first).num_days();
            return usize::try_from(offset).ok().filter(|i| *i < self.days.len());
        }
        const DAY: i64 = 86_400_000_000;
        let first = self.starts[0];
        if t < first {
            return None;
        }
        // A day is 23 to 25 hours: the guess is the day or a neighbour.
        let last = self.starts.len() - 1;
        let mut i = usize::try_from((t - first) / DAY).map_or(last, |i| i.min(last));
        while i > 0 && self.starts[i] > t {
            i -= 1;
        }
        while i < last && self.starts[i + 1] <= t {
            i += 1;
        }
        Some(i).filter(|i| *i < self.days.len())
    }

    fn overlap(intervals: &[(i64, i64)], a: i64, b: i64) -> i64 {
        intervals.iter().filter(|(s, e)| *s < b && *e > a).map(|(s, e)| (*e).min(b) - (*s).max(a)).sum()
    }

    /// The same as [`Calendar::business_between`].
    pub fn between(&self, a: DateTime<Utc>, b: DateTime<Utc>) -> Duration {
        Duration::microseconds(self.between_micros(a.timestamp_micros(), b.timestamp_micros()))
    }

    /// [`BusinessClock::between`] of two instants in microseconds since the
    /// epoch, in microseconds.
    pub fn between_micros(&self, a: i64, b: i64) -> i64 {
        if b < a {
            return -self.between_micros(b, a);
        }
        let (Some(da), Some(db)) = (self.index(a), self.index(b)) else {
            let (Some(a), Some(b)) = (DateTime::from_timestamp_micros(a), DateTime::from_timestamp_micros(b)) else {
                return 0;
            };
            return self.calendar.business_between(a, b).num_microseconds().unwrap_or(i64::MAX);
        };
        if da == db {
            return Self::overlap(&self.days[da], a, b);
        }
        Self::overlap(&self.days[da], a, i64::MAX)
            + (self.before[db] - self.before[da + 1])
            + Self::overlap(&self.days[db], i64::MIN, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_read_and_write_as_hours() {
        assert_eq!(Range::parse("12:00-19:00"), Ok(Range::hours(12, 19)));
        assert_eq!(Range::parse(" 08:30 - 24:00 ").map(|r| r.to_string()), Ok("08:30-24:00".into()));
        for bad in ["19:00-12:00", "12-19", "25:00-26:00", "12:60-13:00", "", "12:00-12:00"] {
            assert!(Range::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn easter_is_computed_for_known_years() {
        assert_eq!(easter(2024), date("2024-03-31"));
        assert_eq!(easter(2025), date("2025-04-20"));
        assert_eq!(easter(2026), date("2026-04-05"));
        assert_eq!(easter(2038), date("2038-04-25"));
    }

    #[test]
    fn french_holidays_include_the_moving_ones() {
        let days = french_holidays(2026);
        assert_eq!(days.len(), 11);
        for d in ["2026-04-06", "2026-05-14", "2026-05-25", "2026-07-14", "2026-11-11"] {
            assert!(days.contains(&date(d)), "{d}");
        }
    }

    #[test]
    fn the_default_desk_opens_weekday_afternoons_in_paris() {
        let c = Calendar::default();
        // Wednesday 2026-03-25, 11:00 UTC = 12:00 Paris (winter).
        assert!(c.is_open(utc("2026-03-25T11:00:00Z")));
        assert!(!c.is_open(utc("2026-03-25T10:59:00Z")));
        assert!(!c.is_open(utc("2026-03-25T18:00:00Z")));
        // After the switch to summer time, 12:00 Paris is 10:00 UTC.
        assert!(c.is_open(utc("2026-03-30T10:00:00Z")));
        // Easter Monday is closed; Saturday too.
        assert!(!c.is_open(utc("2026-04-06T12:00:00Z")));
        assert!(!c.is_open(utc("2026-03-28T12:00:00Z")));
    }

    #[test]
    fn two_business_hours_on_friday_evening_end_on_monday() {
        let c = Calendar::default();
        // Friday 2026-03-27 18:00 Paris (17:00 UTC): one hour left, then Monday
        // 2026-03-30 (summer time) from 12:00 Paris = 10:00 UTC.
        let due = c.add_business(utc("2026-03-27T17:00:00Z"), Duration::hours(2)).unwrap();
        assert_eq!(due, utc("2026-03-30T11:00:00Z"));
        assert_eq!(c.business_between(utc("2026-03-27T17:00:00Z"), due), Duration::hours(2));
    }

    #[test]
    fn a_week_with_ascension_and_its_bridge_counts_only_open_days() {
        let mut c = Calendar::default();
        c.closures.insert(date("2026-05-15"));
        // Monday 2026-05-11 12:00 to Monday 2026-05-18 12:00 Paris: Ascension
        // Thursday and the bridge Friday are closed: 3 days of 7 hours.
        let a = utc("2026-05-11T10:00:00Z");
        let b = utc("2026-05-18T10:00:00Z");
        assert_eq!(c.business_between(a, b), Duration::hours(21));
        assert_eq!(c.next_open(utc("2026-05-14T12:00:00Z")), Some(utc("2026-05-18T10:00:00Z")));
        // An exceptional opening on a Saturday counts.
        c.openings.insert(date("2026-05-16"), vec![Range::hours(9, 12)]);
        assert_eq!(c.business_between(a, b), Duration::hours(24));
    }

    #[test]
    fn open_days_are_counted_back_over_weekends_and_holidays() {
        let c = Calendar::default();
        // Tuesday 2026-04-07 15:00 Paris; Monday 6 is Easter Monday: two open
        // days back is Thursday 2026-04-02, midnight Paris (summer time).
        assert_eq!(c.open_days_before(utc("2026-04-07T13:00:00Z"), 2), utc("2026-04-01T22:00:00Z"));
        assert_eq!(c.open_days_before(utc("2026-04-07T13:00:00Z"), 0), utc("2026-04-06T22:00:00Z"));
    }

    #[test]
    fn a_calendar_that_never_opens_has_no_due_date() {
        let c = Calendar { week: Default::default(), ..Calendar::default() };
        assert_eq!(c.next_open(utc("2026-01-01T00:00:00Z")), None);
        assert_eq!(c.add_business(utc("2026-01-01T00:00:00Z"), Duration::hours(1)), None);
    }

    #[test]
    fn night_ranges_across_a_dst_change_count_real_time() {
        // Open 01:00-04:00 every day: on 2026-03-29 Paris skips 02:00-03:00,
        // so that night is two real hours; on 2026-10-25 it repeats one, four.
        let night = vec![Range::hours(1, 4)];
        let c =
            Calendar { week: std::array::from_fn(|_| night.clone()), french_holidays: false, ..Calendar::default() };
        let spring = c.business_between(utc("2026-03-28T22:00:00Z"), utc("2026-03-29T12:00:00Z"));
        assert_eq!(spring, Duration::hours(2));
        let autumn = c.business_between(utc("2026-10-24T21:00:00Z"), utc("2026-10-25T12:00:00Z"));
        assert_eq!(autumn, Duration::hours(4));
    }

    #[test]
    fn calendars_round_trip_through_json() {
        let mut c = Calendar::default();
        c.closures.insert(date("2026-05-15"));
        c.openings.insert(date("2026-05-16"), vec![Range::hours(9, 12)]);
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"Europe/Paris\"") && json.contains("2026-05-15") && json.contains("\"12:00-19:00\""));
        assert_eq!(serde_json::from_str::<Calendar>(&json).unwrap(), c);
        assert!(serde_json::from_str::<Calendar>(&json.replace("Europe/Paris", "Mars/Olympus")).is_err());
    }

    fn arb_calendar() -> impl Strategy<Value = Calendar> {
        let range =
            (0u32..23, 1u32..6).prop_map(|(h, len)| Range { start: h * 60, end: ((h + len) * 60).min(24 * 60) });
        let day = proptest::collection::vec(range, 0..3);
        (proptest::array::uniform7(day), any::<bool>()).prop_map(|(week, holidays)| {
            // At least one range somewhere, so that time can pass.
            let mut week = week;
            week[2].push(Range::hours(12, 19));
            Calendar { week, french_holidays: holidays, ..Calendar::default() }
        })
    }

    /// Instants over 2025-2027, DST changes and holidays included.
    fn arb_instant() -> impl Strategy<Value = DateTime<Utc>> {
        (1_735_689_600i64..1_830_297_600).prop_map(|s| DateTime::from_timestamp(s - s % 60, 0).unwrap())
    }

    #[test]
    fn the_report_clock_finds_the_day_of_the_late_evening_after_the_clocks_go_back() {
        // Open 22:00-24:00 every day. The night of 25 to 26 October 2026 in
        // Paris follows a day of 25 hours: 23:30 that evening is 22:30 UTC,
        // which 24-hour days counted from the clock's first would put on the 26th.
        let c = Calendar {
            week: std::array::from_fn(|_| vec![Range { start: 22 * 60, end: 24 * 60 }]),
            french_holidays: false,
            ..Calendar::default()
        };
        let clock = BusinessClock::new(&c, utc("2026-10-19T22:00:00Z"), utc("2026-10-30T00:00:00Z"));
        let (evening, after_midnight) = (utc("2026-10-25T22:30:00Z"), utc("2026-10-25T23:30:00Z"));
        assert_eq!(clock.between(evening, after_midnight), Duration::minutes(30));
        assert_eq!(c.business_between(evening, after_midnight), Duration::minutes(30));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn adding_then_measuring_gives_the_duration_back(c in arb_calendar(), t in arb_instant(), minutes in 0i64..5_000) {
            let d = Duration::minutes(minutes);
            let due = c.add_business(t, d).unwrap();
            prop_assert_eq!(c.business_between(t, due), d);
        }

        #[test]
        fn adding_is_monotonic(c in arb_calendar(), t in arb_instant(), a in 0i64..3_000, b in 0i64..3_000) {
            let (small, large) = (a.min(b), a.max(b));
            prop_assert!(c.add_business(t, Duration::minutes(small)) <= c.add_business(t, Duration::minutes(large)));
        }

        #[test]
        fn a_due_date_never_falls_in_a_closed_period(c in arb_calendar(), t in arb_instant(), minutes in 1i64..5_000) {
            let due = c.add_business(t, Duration::minutes(minutes)).unwrap();
            let just_before = due - Duration::seconds(1);
            prop_assert!(c.is_open(just_before), "{} is not just after an open second", due);
        }

        #[test]
        fn the_report_clock_measures_as_the_calendar_does(c in arb_calendar(), a in arb_instant(), x in 0i64..200_000, y in 0i64..200_000) {
            let (from, to) = (a - Duration::minutes(x), a + Duration::minutes(y));
            let clock = BusinessClock::new(&c, from - Duration::days(2), to);
            prop_assert_eq!(clock.between(from, to), c.business_between(from, to));
            prop_assert_eq!(clock.between(to, from), c.business_between(to, from));
            prop_assert_eq!(clock.between(a, to + Duration::days(30)), c.business_between(a, to + Duration::days(30)));
        }

        #[test]
        fn the_report_clock_measures_as_the_calendar_does_in_other_time_zones_and_without_its_day_bounds(
            c in arb_calendar(),
            tz in proptest::sample::select(vec![
                Tz::America__Santiago, Tz::Australia__Lord_Howe, Tz::Pacific__Noumea, Tz::America__Cayenne,
            ]),
            a in arb_instant(),
            micros in 0i64..60_000_000,
            x in 0i64..200_000,
            y in 0i64..200_000,
        ) {
            let c = Calendar { tz, ..c };
            let a = a + Duration::microseconds(micros);
            let (from, to) = (a - Duration::minutes(x), a + Duration::minutes(y));
            let mut clock = BusinessClock::new(&c, from - Duration::days(2), to);
            prop_assert!(!clock.starts.is_empty());
            prop_assert_eq!(clock.between(from, to), c.business_between(from, to));
            prop_assert_eq!(clock.between(a, to + Duration::days(30)), c.business_between(a, to + Duration::days(30)));
            // The way a clock finds days when a zone's days overlap.
            clock.starts.clear();
            prop_assert_eq!(clock.between(from, to), c.business_between(from, to));
        }

        #[test]
        fn business_time_adds_up_and_never_exceeds_real_time(c in arb_calendar(), a in arb_instant(), x in 0i64..20_000, y in 0i64..20_000) {
            let b = a + Duration::minutes(x);
            let e = b + Duration::minutes(y);
            prop_assert_eq!(c.business_between(a, b) + c.business_between(b, e), c.business_between(a, e));
            prop_assert!(c.business_between(a, b) <= b - a);
        }

        #[test]
        fn next_open_is_open_and_nothing_before_it_is(c in arb_calendar(), t in arb_instant()) {
            let next = c.next_open(t).unwrap();
            prop_assert!(next >= t && c.is_open(next));
            prop_assert_eq!(c.business_between(t, next), Duration::zero());
        }
    }
}
