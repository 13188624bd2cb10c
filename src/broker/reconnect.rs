//! The one reconnect policy, for publishing and consuming alike: which host of a transport
//! URL to try next, and how long to wait between attempts ([`Backoff`]). Refused publishes
//! are sent again on the same backoff.

use super::connect::connect_from;
use super::{BrokerError, ConnectOptions, Connection};
use crate::transport_url::TransportUrl;
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

/// Where the hosts of a transport URL are tried from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start<'a> {
    /// A random host: a first connection.
    Anywhere,
    /// The host after the one at this `host:port`: the connection to it was lost.
    After(&'a str),
}

impl Start<'_> {
    pub(super) fn index(self, url: &TransportUrl) -> usize {
        match self {
            Start::Anywhere => random_index(url.hosts.len()),
            Start::After(address) => url
                .hosts
                .iter()
                .position(|h| h.address() == address)
                .map_or(0, |lost| (lost + 1) % url.hosts.len()),
        }
    }
}

/// A random number below `len` (0 for 0), from the standard library's random hash keys.
pub(super) fn random_index(len: usize) -> usize {
    use std::hash::BuildHasher;
    let random = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
    usize::try_from(random % len.max(1) as u64).unwrap_or(0)
}

/// Connects like [`super::connect`], trying the hosts from `start`, and while the failure
/// may pass (a broker that is down, restarting or unreachable) tries again with [`Backoff`]
/// until `deadline`, or for ever without one. `retrying` hears of each failed attempt and
/// the wait before the next. Wrong credentials, a missing virtual host or a bad TLS setup
/// fail at once.
pub fn connect_retrying(
    url: &TransportUrl,
    options: &ConnectOptions,
    start: Start,
    deadline: Option<Instant>,
    retrying: impl FnMut(&BrokerError, Duration),
) -> Result<Connection, BrokerError> {
    connect_retrying_unless(
        url,
        options,
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
        let error = match connect_from(url, &attempt, first) {
            Ok(connection) => return Ok(connection),
            Err(error) => error,
        };
        if !error.retriable || stop.load(Ordering::Relaxed) {
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

    #[test]
    fn hosts_are_tried_from_a_random_one_or_after_the_lost_one() {
        let url = TransportUrl::parse("rabbit://u:p@a:1,u:p@b:2,u:p@c:3/").unwrap();
        assert_eq!(Start::After("a:1").index(&url), 1);
        assert_eq!(Start::After("c:3").index(&url), 0, "round the list");
        assert_eq!(Start::After("elsewhere:9").index(&url), 0);
        let mut seen = [false; 3];
        for _ in 0..200 {
            seen[Start::Anywhere.index(&url)] = true;
        }
        assert_eq!(seen, [true; 3], "every host gets first connections");
        let single = TransportUrl::parse("rabbit://u:p@a:1/").unwrap();
        assert_eq!(Start::Anywhere.index(&single), 0);
        assert_eq!(Start::After("a:1").index(&single), 0);
    }
}
