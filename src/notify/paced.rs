//! A replay's pacing as it runs: waiting (asleep, never spinning) until each notification is
//! due by its [`Schedule`], stopping at `--limit` or `--duration`, measuring how far behind
//! schedule the sending falls, and saying how it goes: a progress line on a terminal, and one
//! line at the end.

use super::pace::{Pace, ReplayOptions, Schedule};
use super::stdin::Interrupts;
use crate::events::Weight;
use crate::tool::talk::Talk;
use anyhow::Result;
use chrono::NaiveDateTime;
use std::io::Write;
use std::time::{Duration, Instant};

/// Whether to go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    /// Send it.
    Go,
    /// `--limit` or `--duration` is reached: send nothing more.
    Stop,
}

/// The longest sleep between two looks at signals and confirms.
const NAP: Duration = Duration::from_millis(10);
/// How often the progress line is written again.
const REFRESH: Duration = Duration::from_millis(250);

/// The pacing of one replay (or none, for `--lines`).
pub(super) struct Pacer {
    options: ReplayOptions,
    schedule: Schedule,
    /// When the first notification was due: the schedule's zero.
    started: Option<Instant>,
    sent: u64,
    /// When the last one scheduled was due.
    due: Option<Instant>,
    /// How far behind schedule the last one was sent, and the most so far.
    lag: Duration,
    max_lag: Duration,
    /// Confirmed so far, and how long after it was due the last one was confirmed.
    confirmed: u64,
    confirm_lag: Duration,
    /// How many the whole replay sends, when that is known.
    total: Option<u64>,
    /// The progress line on a terminal: when it was written last.
    progress: Option<Instant>,
}

impl Pacer {
    /// As fast as possible, with no end but the input's and nothing said (`--lines`).
    pub(super) fn unpaced() -> Pacer {
        Pacer::new(ReplayOptions::default(), false)
    }

    /// The pacing `options` ask for; with a progress line on stderr when `progress`.
    pub(super) fn new(options: ReplayOptions, progress: bool) -> Pacer {
        Pacer {
            schedule: Schedule::new(options.pace),
            options,
            started: None,
            sent: 0,
            due: None,
            lag: Duration::ZERO,
            max_lag: Duration::ZERO,
            confirmed: 0,
            confirm_lag: Duration::ZERO,
            total: None,
            progress: progress.then(Instant::now),
        }
    }

    /// Whether notifications wait for their time (their timestamps are then the time they
    /// are sent).
    pub(super) fn paced(&self) -> bool {
        self.options.pace != Pace::AsFast
    }

    /// A new pass over the input, of `size` notifications when known.
    pub(super) fn new_pass(&mut self, size: Option<u64>) {
        self.schedule.new_pass();
        let passes = self.options.loops;
        let whole = size.filter(|_| passes > 0).map(|size| size * passes);
        self.total = match (whole, self.options.limit) {
            (Some(whole), Some(limit)) => Some(whole.min(limit)),
            (whole, limit) => whole.or(limit),
        };
    }

    /// Waits until the next notification, recorded at `recorded`, is due, calling `idle`
    /// (which writes what was confirmed meanwhile) and looking at `interrupts` at least
    /// every 10 ms (so that a confirm is seen soon after it comes); says [`Flow::Stop`]
    /// instead once `--limit` or `--duration` is reached.
    pub(super) fn wait(
        &mut self,
        recorded: Option<NaiveDateTime>,
        interrupts: &Interrupts,
        mut idle: impl FnMut() -> Result<()>,
    ) -> Result<Flow> {
        if self.options.limit.is_some_and(|limit| self.sent >= limit) {
            return Ok(Flow::Stop);
        }
        let due = self.schedule.next(recorded);
        let started = *self.started.get_or_insert_with(Instant::now);
        if let Some(duration) = self.options.duration {
            if started.elapsed() >= duration || due.is_some_and(|due| due >= duration) {
                return Ok(Flow::Stop);
            }
        }
        self.due = due.map(|due| started + due);
        let Some(due) = self.due else {
            return Ok(Flow::Go);
        };
        loop {
            interrupts.check()?;
            let now = Instant::now();
            if now >= due {
                self.lag = now - due;
                self.max_lag = self.max_lag.max(self.lag);
                return Ok(Flow::Go);
            }
            idle()?;
            self.show();
            std::thread::sleep((due - now).min(NAP));
        }
    }

    /// When the last notification scheduled was due; `None` when not paced.
    pub(super) fn due(&self) -> Option<Instant> {
        self.due
    }

    /// One more was sent; `confirmed` are confirmed so far, the last one `lag` after it was
    /// due.
    pub(super) fn sent(&mut self, confirmed: u64, lag: Duration) {
        self.sent += 1;
        self.confirmed = confirmed;
        self.confirm_lag = lag;
        self.show();
    }

    /// Writes the progress line again, when it is shown and due.
    fn show(&mut self) {
        let Some(last) = self.progress else {
            return;
        };
        if last.elapsed() < REFRESH {
            return;
        }
        self.progress = Some(Instant::now());
        let line = self.progress_line();
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[K{line}");
        let _ = err.flush();
    }

    /// Clears the progress line, if one is shown.
    pub(super) fn clear(&mut self) {
        if self.progress.take().is_some() {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
        }
    }

    fn elapsed(&self) -> Duration {
        self.started.map_or(Duration::ZERO, |s| s.elapsed())
    }

    /// `sent 1200, confirmed 1180, 400/s, 0.002 s behind, ETA 7 s`: behind schedule is the
    /// later of sending and of the broker's confirm.
    fn progress_line(&self) -> String {
        let confirmed = self.confirmed;
        let elapsed = self.elapsed();
        let rate = per_second(self.sent, elapsed);
        let mut line = format!("sent {}", self.sent);
        if confirmed > 0 {
            line.push_str(&format!(", confirmed {confirmed}"));
        }
        let behind = self.lag.max(self.confirm_lag);
        line.push_str(&format!(", {rate:.0}/s, {} behind", seconds(behind)));
        let left = self.total.and_then(|total| {
            let end = match self.options.pace {
                Pace::Rate(_) => self.schedule.end_at(total)?,
                Pace::AsFast if rate > 0.0 => Duration::from_secs_f64(total as f64 / rate),
                _ => return None,
            };
            Some(end.saturating_sub(elapsed))
        });
        if let Some(left) = left {
            line.push_str(&format!(", ETA {}", seconds(left)));
        }
        line
    }

    /// Says, in one line, how the replay went: sent, `confirmed`, elapsed, mean rate, and
    /// the most it fell behind schedule (in sending, or in confirms: `confirm_lag`).
    pub(super) fn summary(
        &mut self,
        talk: &Talk,
        confirmed: u64,
        confirm_lag: Duration,
    ) -> std::io::Result<()> {
        self.clear();
        let elapsed = self.elapsed();
        let mut line = format!(
            "replayed {} notification(s), {confirmed} confirmed, in {} ({:.0}/s)",
            self.sent,
            seconds(elapsed),
            per_second(self.sent, elapsed)
        );
        if self.options.pace != Pace::AsFast {
            line.push_str(&format!(
                "; at most {} behind schedule",
                seconds(self.max_lag.max(confirm_lag))
            ));
        }
        talk.say(Weight::Notice, line)
    }
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    match elapsed.as_secs_f64() {
        s if s > 0.0 => count as f64 / s,
        _ => 0.0,
    }
}

/// `0.012 s`, `4.5 s`, `95 s`.
fn seconds(duration: Duration) -> String {
    match duration.as_secs_f64() {
        s if s < 1.0 => format!("{s:.3} s"),
        s if s < 10.0 => format!("{s:.1} s"),
        s => format!("{s:.0} s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_line_says_what_is_known() {
        let options = ReplayOptions {
            pace: Pace::Rate(100.0),
            loops: 2,
            ..ReplayOptions::default()
        };
        let mut pacer = Pacer::new(options, false);
        pacer.new_pass(Some(500));
        assert_eq!(pacer.total, Some(1000));
        pacer.started = Some(Instant::now() - Duration::from_secs(2));
        pacer.sent = 200;
        pacer.confirmed = 190;
        pacer.lag = Duration::from_millis(1);
        pacer.confirm_lag = Duration::from_millis(3);
        let line = pacer.progress_line();
        assert!(
            line.starts_with("sent 200, confirmed 190, 100/s, 0.003 s behind, ETA 8."),
            "{line}"
        );
        // Without an end known, no ETA.
        let mut endless = Pacer::new(
            ReplayOptions {
                loops: 0,
                ..ReplayOptions::default()
            },
            false,
        );
        endless.new_pass(Some(10));
        assert_eq!(endless.total, None);
        assert!(!endless.progress_line().contains("ETA"));
        let mut limited = Pacer::new(
            ReplayOptions {
                loops: 0,
                limit: Some(30),
                ..ReplayOptions::default()
            },
            false,
        );
        limited.new_pass(None);
        assert_eq!(limited.total, Some(30));
    }

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(seconds(Duration::from_millis(12)), "0.012 s");
        assert_eq!(seconds(Duration::from_millis(4500)), "4.5 s");
        assert_eq!(seconds(Duration::from_secs(95)), "95 s");
    }
}
