//! The one reconnect policy, for publishing and consuming alike: how long to wait between
//! attempts ([`Backoff`]), and until when. Which host comes next is [`Start`]'s. Refused
//! publishes are sent again on the same backoff.

use super::connect::{connect_from, Handoff, Start};
use super::connection::{ConnectOptions, Connection};
use super::error::BrokerError;
use crate::events::{Event, Observer};
use crate::oslo::transport_url::TransportUrl;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Waits between attempts: 0.2 s, doubling up to 5 s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    /// The first wait.
    pub const FIRST: Duration = Duration::from_millis(200);
    /// The longest wait.
    pub const MAX: Duration = Duration::from_secs(5);

    /// Starts at [`Backoff::FIRST`].
    pub fn new() -> Self {
        Backoff { next: Self::FIRST }
    }

    /// The wait before attempt `n + 1` after `n` failed ones (n >= 1).
    pub fn after(failures: u32) -> Duration {
        Self::FIRST
            .saturating_mul(1 << failures.saturating_sub(1).min(5))
            .min(Self::MAX)
    }

    /// The next wait; the one after it is twice as long, up to [`Backoff::MAX`].
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        wait
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

/// Connects like [`super::connect`], trying the hosts from `start`, and while the failure
/// may pass (a broker that is down, restarting or unreachable) tries again with [`Backoff`]
/// until `deadline`, or for ever without one. `retrying` hears of each failed attempt and
/// the wait before the next. Wrong credentials, a missing virtual host or a bad TLS setup
/// fail at once.
pub fn connect_retrying(
    url: &TransportUrl,
    options: &ConnectOptions,
    handoff: Handoff,
    start: Start,
    deadline: Option<Instant>,
    retrying: impl FnMut(&BrokerError, Duration),
) -> Result<Connection, BrokerError> {
    connect_retrying_unless(
        url,
        options,
        handoff,
        start,
        deadline,
        &AtomicBool::new(false),
        retrying,
    )
}

/// [`connect_retrying`], giving up with the last error as soon as `stop` is set (looked at
/// between attempts and while waiting for the next).
pub fn connect_retrying_unless(
    url: &TransportUrl,
    options: &ConnectOptions,
    handoff: Handoff,
    start: Start,
    deadline: Option<Instant>,
    stop: &AtomicBool,
    mut retrying: impl FnMut(&BrokerError, Duration),
) -> Result<Connection, BrokerError> {
    let first = start.index(url);
    let mut backoff = Backoff::new();
    loop {
        let mut attempt = options.clone();
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            attempt.timeout = attempt.timeout.min(left.max(Duration::from_millis(100)));
        }
        let error = match connect_from(url, &attempt, handoff, first) {
            Ok(connection) => return Ok(connection),
            Err(error) => error,
        };
        if !error.is_retriable() || stop.load(Ordering::Relaxed) {
            return Err(error);
        }
        let wait = backoff.next_wait();
        // The last wait is cut to the deadline, for one more attempt right at it.
        let wait = match deadline {
            None => wait,
            Some(deadline) => match deadline.saturating_duration_since(Instant::now()) {
                left if left.is_zero() => return Err(error),
                left => wait.min(left),
            },
        };
        retrying(&error, wait);
        let until = Instant::now() + wait;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            if stop.load(Ordering::Relaxed) {
                return Err(error);
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
    }
}

/// The `retrying` of [`connect_retrying`] for a caller with an observer: each failed attempt
/// and the wait before the next told to it as [`Event::Retrying`].
pub fn tell_retrying(observer: &mut dyn Observer) -> impl FnMut(&BrokerError, Duration) + '_ {
    move |error, wait| {
        observer.event(Event::Retrying {
            error: format!("{error:#}"),
            wait,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_a_fifth_of_a_second_to_five() {
        let mut backoff = Backoff::new();
        let waits: Vec<u128> = (0..8).map(|_| backoff.next_wait().as_millis()).collect();
        assert_eq!(waits, [200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        let after: Vec<u128> = (1..=8).map(|n| Backoff::after(n).as_millis()).collect();
        assert_eq!(after, waits, "the same waits counted by failures");
    }
}
