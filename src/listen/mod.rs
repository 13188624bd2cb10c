//! The `oslo-listen` command: its configuration ([`ListenConfig`]) and the ways its runs
//! end, shared by its two faces: [`print`] writes each notification as it arrives, [`top`]
//! keeps running figures of the traffic. Both run the receiving engine with one handler
//! pipeline ([`pipeline`]): `--fail-on`, the filters, `--where`, the count.
//!
//! Around them: how notifications are written ([`output`], [`template`]) and saved
//! ([`save`]), which ones count ([`filter`], [`predicate`]), and the command run once
//! listening ([`trigger`]).

pub mod filter;
pub mod output;
pub mod pipeline;
pub mod predicate;
pub mod print;
pub mod save;
pub mod template;
pub mod top;
pub mod trigger;

use crate::broker::{ConnectOptions, Durability};
use crate::engine::receive::{Settings, Sources};
use crate::oslo::topology::{Mode, Target};
use crate::oslo::transport_url::TransportUrl;
use crate::tool::talk::Verbosity;
use crate::wire::envelope::Priority;
use filter::Filter;
use output::Printer;
use predicate::Predicate;
use std::fmt;
use std::time::{Duration, Instant};
use top::tally::GroupBy;

/// Everything `oslo-listen` needs, with no command-line types in it.
#[derive(Debug, Clone)]
pub struct ListenConfig {
    /// Where to connect.
    pub url: TransportUrl,
    /// Heartbeat; the connect timeout is bounded by [`ListenConfig::timeout`] too.
    pub connect: ConnectOptions,
    /// How to create shared queues that do not exist.
    pub durability: Durability,
    /// Where to read from.
    pub mode: Mode,
    /// The exchanges; empty means `openstack` and the well-known ones that exist.
    pub exchanges: Vec<String>,
    /// The topics.
    pub topics: Vec<String>,
    /// The priorities.
    pub priorities: Vec<Priority>,
    /// How to write what arrives.
    pub printer: Printer,
    /// Which notifications count.
    pub filter: Filter,
    /// Stop after this many matching notifications.
    pub count: Option<u64>,
    /// Stop after this long; a failure when `count` was not reached.
    pub timeout: Option<Duration>,
    /// Unacknowledged deliveries allowed per queue.
    pub prefetch: u16,
    /// Also write each notification as a file in this directory.
    pub save: Option<std::path::PathBuf>,
    /// How much to say on stderr.
    pub verbosity: Verbosity,
    /// jq programs that must all hold for a notification to count.
    pub wheres: Vec<Predicate>,
    /// jq programs that end the run (exit 5) on the first notification one holds for.
    pub fail_on: Vec<Predicate>,
    /// Show versioned objects in payloads as their data.
    pub unwrap: bool,
    /// A command to start once listening; empty for none.
    pub command: Vec<String>,
    /// Show running figures instead of each notification ([`top`]).
    pub top: Option<TopOptions>,
}

/// What `--top` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopOptions {
    /// What rows are grouped by.
    pub by: GroupBy,
    /// How often the figures are written or drawn.
    pub interval: Duration,
    /// How long in flight makes an operation stale.
    pub stale: Duration,
}

/// `--count` was not reached before `--timeout`. Exit code 4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountNotReached {
    /// How many matching notifications arrived.
    pub seen: u64,
    /// How many were wanted.
    pub wanted: u64,
    /// The timeout.
    pub timeout: Duration,
}

impl fmt::Display for CountNotReached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timed out after {:?}: {} of {} notifications arrived",
            self.timeout, self.seen, self.wanted
        )
    }
}

impl std::error::Error for CountNotReached {}

impl CountNotReached {
    /// `seen` of `config`'s `--count` arrived before its `--timeout`.
    pub(crate) fn of(config: &ListenConfig, seen: u64) -> Self {
        CountNotReached {
            seen,
            wanted: config.count.unwrap_or_default(),
            timeout: config.timeout.unwrap_or_default(),
        }
    }
}

/// A `--fail-on` program held for a notification. Exit code 5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureNotification {
    /// Its event_type.
    pub event_type: String,
    /// Its publisher_id.
    pub publisher_id: Option<String>,
    /// Its message_id.
    pub message_id: String,
}

impl fmt::Display for FailureNotification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "failure notification {} from {} ({})",
            self.event_type,
            self.publisher_id.as_deref().unwrap_or("-"),
            self.message_id
        )
    }
}

impl std::error::Error for FailureNotification {}

/// The command after `--` was still running at `--timeout`. Exit code 4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandTimedOut(pub Duration);

impl fmt::Display for CommandTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timed out after {:?} with the command still running",
            self.0
        )
    }
}

impl std::error::Error for CommandTimedOut {}

/// The engine's settings for `config`, to stop at `deadline`.
pub(crate) fn settings(config: &ListenConfig, deadline: Option<Instant>) -> Settings {
    Settings {
        url: config.url.clone(),
        connect: config.connect.clone(),
        durability: config.durability,
        mode: config.mode.clone(),
        sources: if config.exchanges.is_empty() {
            Sources::WellKnown(config.topics.clone())
        } else {
            Sources::Targets(Target::every(&config.exchanges, &config.topics))
        },
        priorities: config.priorities.clone(),
        prefetch: config.prefetch,
        unwrap: config.unwrap,
        deadline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_timeout_message_says_how_far_it_got() {
        let e = CountNotReached {
            seen: 2,
            wanted: 5,
            timeout: Duration::from_secs(3),
        };
        assert_eq!(
            e.to_string(),
            "timed out after 3s: 2 of 5 notifications arrived"
        );
    }
}
