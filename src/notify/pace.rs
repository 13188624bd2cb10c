//! When each notification of a replay is due: as fast as possible, at the recorded pace
//! (`--speed`, gaps cut to `--max-gap`), or at a steady rate (`--rate`). Pure: offsets from
//! the start of the replay, computed from the start so that they never drift however long it
//! runs; the caller sleeps until each.

use chrono::NaiveDateTime;
use std::time::Duration;

/// How a replay is paced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// As fast as the broker confirms (the default).
    AsFast,
    /// At the recorded pace, `factor` times as fast (`--speed`); a gap longer than `max_gap`
    /// (as replayed, after the speed) is cut to it.
    Speed {
        /// `--speed`: 1 is real time, 2 twice as fast.
        factor: f64,
        /// `--max-gap`.
        max_gap: Option<Duration>,
    },
    /// `--rate`: this many notifications per second, evenly spaced.
    Rate(f64),
}

/// What `oslo-notify --replay` was asked for besides what to read.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayOptions {
    /// Publish to each notification's own exchange and routing key (`--keep-routing`).
    pub keep_routing: bool,
    /// The pace.
    pub pace: Pace,
    /// How many passes over the input (`--loop`); 0 for no end.
    pub loops: u64,
    /// Stop after sending this many (`--limit`).
    pub limit: Option<u64>,
    /// Stop after this long (`--duration`).
    pub duration: Option<Duration>,
    /// Fresh ids in every pass, tied together as they were (`--rewrite-ids`).
    pub rewrite_ids: bool,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            keep_routing: false,
            pace: Pace::AsFast,
            loops: 1,
            limit: None,
            duration: None,
            rewrite_ids: false,
        }
    }
}

/// The offsets, from the start of the replay, at which notifications are due.
#[derive(Debug, Clone)]
pub struct Schedule {
    pace: Pace,
    /// The offset of the last one scheduled (`--speed`).
    offset: Duration,
    /// The recorded time of the last one scheduled in this pass (`--speed`).
    last: Option<NaiveDateTime>,
    /// How many were scheduled (`--rate`).
    scheduled: u64,
}

impl Schedule {
    /// Nothing scheduled yet.
    pub fn new(pace: Pace) -> Schedule {
        Schedule {
            pace,
            offset: Duration::ZERO,
            last: None,
            scheduled: 0,
        }
    }

    /// A new pass over the input begins: its first notification follows the last one of the
    /// pass before without a recorded gap.
    pub fn new_pass(&mut self) {
        self.last = None;
    }

    /// When the next notification, recorded at `recorded` (when known), is due: `None` for
    /// at once (as fast as possible). A notification recorded before the one before it, or
    /// without a time, follows it at once: notifications are never reordered.
    pub fn next(&mut self, recorded: Option<NaiveDateTime>) -> Option<Duration> {
        self.scheduled += 1;
        match self.pace {
            Pace::AsFast => None,
            Pace::Rate(rate) => Some(Duration::from_secs_f64((self.scheduled - 1) as f64 / rate)),
            Pace::Speed { factor, max_gap } => {
                let gap = match (self.last, recorded) {
                    (Some(last), Some(now)) => (now - last).to_std().unwrap_or(Duration::ZERO),
                    _ => Duration::ZERO,
                };
                // The latest time seen: one recorded out of order adds no time twice.
                self.last = self.last.max(recorded);
                let gap = gap.div_f64(factor);
                self.offset += max_gap.map_or(gap, |max| gap.min(max));
                Some(self.offset)
            }
        }
    }

    /// When the last notification scheduled at `rate` would be due, for `count` in all: for
    /// an estimate of the end. `None` for the other paces.
    pub fn end_at(&self, count: u64) -> Option<Duration> {
        match self.pace {
            Pace::Rate(rate) => Some(Duration::from_secs_f64(
                count.saturating_sub(1) as f64 / rate,
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::envelope::parse_timestamp;

    fn at(text: &str) -> Option<NaiveDateTime> {
        parse_timestamp(&format!("2026-12-05 {text}"))
    }

    fn offsets(schedule: &mut Schedule, times: &[&str]) -> Vec<f64> {
        times
            .iter()
            .map(|t| schedule.next(at(t)).unwrap().as_secs_f64())
            .collect()
    }

    #[test]
    fn at_the_recorded_pace_gaps_are_kept_scaled_and_cut() {
        let times = ["10:00:00", "10:00:00.5", "10:00:02", "10:00:02", "10:01:02"];
        let mut real = Schedule::new(Pace::Speed {
            factor: 1.0,
            max_gap: None,
        });
        assert_eq!(offsets(&mut real, &times), [0.0, 0.5, 2.0, 2.0, 62.0]);
        let mut fast = Schedule::new(Pace::Speed {
            factor: 2.0,
            max_gap: Some(Duration::from_secs(10)),
        });
        // The minute's gap is 30 s at twice the speed, cut to 10.
        assert_eq!(offsets(&mut fast, &times), [0.0, 0.25, 1.0, 1.0, 11.0]);
    }

    #[test]
    fn out_of_order_or_missing_times_follow_at_once_and_passes_run_on() {
        let mut s = Schedule::new(Pace::Speed {
            factor: 1.0,
            max_gap: None,
        });
        assert_eq!(
            offsets(&mut s, &["10:00:00", "10:00:03", "10:00:01"]),
            [0.0, 3.0, 3.0]
        );
        // Measured from the latest time seen, not the earlier one.
        assert_eq!(offsets(&mut s, &["10:00:04"]), [4.0]);
        assert_eq!(s.next(None), Some(Duration::from_secs(4)));
        s.new_pass();
        assert_eq!(offsets(&mut s, &["10:00:00", "10:00:01"]), [4.0, 5.0]);
    }

    #[test]
    fn at_a_rate_they_are_evenly_spaced_from_the_start_without_drift() {
        let mut s = Schedule::new(Pace::Rate(2000.0));
        let mut last = None;
        for _ in 0..1_000_000 {
            last = s.next(None);
        }
        // The millionth is due at 999,999 / 2000 s exactly, not at a sum of a million gaps.
        assert_eq!(last, Some(Duration::from_secs_f64(999_999.0 / 2000.0)));
        s.new_pass();
        assert_eq!(s.next(None), Some(Duration::from_secs_f64(500.0)));
        assert_eq!(s.end_at(4001), Some(Duration::from_secs(2)));
    }

    #[test]
    fn as_fast_as_possible_nothing_waits() {
        let mut s = Schedule::new(Pace::AsFast);
        assert_eq!(s.next(at("10:00:00")), None);
        assert_eq!(s.next(at("11:00:00")), None);
        assert_eq!(s.end_at(10), None);
    }
}
