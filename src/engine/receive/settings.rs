//! What the receiving engine is asked to read, and how, and the ways it ends without an
//! error.

use crate::broker::{ConnectOptions, Durability};
use crate::oslo::topology::{Mode, Target};
#[cfg(doc)]
use crate::oslo::topology::{DEFAULT_EXCHANGE, WELL_KNOWN_EXCHANGES};
use crate::oslo::transport_url::TransportUrl;
use crate::wire::envelope::Priority;
#[cfg(doc)]
use crate::wire::versioned;
use std::time::{Duration, Instant};

/// What to read, and how.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The brokers to read from, each on a connection of its own: one, unnamed, for most.
    pub sources: Vec<Source>,
    /// Whether a source that cannot be reached at the start is tried again (for ever, or to
    /// the deadline) while the others are read, rather than failing the run.
    pub partial: bool,
    /// How to connect (each attempt's timeout, heartbeat, TLS).
    pub connect: ConnectOptions,
    /// How to create shared queues that do not exist.
    pub durability: Durability,
    /// Where to read from.
    pub mode: Mode,
    /// The exchanges and topics.
    pub exchanges: Exchanges,
    /// The priorities.
    pub priorities: Vec<Priority>,
    /// Unacknowledged deliveries allowed per queue.
    pub prefetch: u16,
    /// Hand payloads over with their versioned objects unwrapped ([`versioned::unwrap`]).
    pub unwrap: bool,
    /// Stop at this moment ([`Ended::TimedOut`]); without one, run until stopped. The first
    /// connection waits for a broker at most [`ConnectOptions::timeout`] when there is no
    /// deadline.
    pub deadline: Option<Instant>,
}

/// A broker to read from, and the name its notifications are labelled with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// A short label (letters, digits, `-`, `_`, `.`); empty for the one broker of a run
    /// that names none.
    pub name: String,
    /// Where to connect (several hosts for failover, a virtual host, TLS).
    pub url: TransportUrl,
}

impl Source {
    /// The one broker of a run that names none.
    pub fn unnamed(url: TransportUrl) -> Self {
        Source {
            name: String::new(),
            url,
        }
    }

    /// A broker named `name`.
    pub fn named(name: impl Into<String>, url: TransportUrl) -> Self {
        Source {
            name: name.into(),
            url,
        }
    }
}

/// The exchanges and topics to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exchanges {
    /// These topics on [`DEFAULT_EXCHANGE`] and on every exchange of
    /// [`WELL_KNOWN_EXCHANGES`] that exists (looked for on every connection).
    WellKnown(Vec<String>),
    /// These targets: each an exchange (created when missing) and a topic.
    Targets(Vec<Target>),
}

/// Why the engine stopped without an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The handler said stop.
    Stopped,
    /// The stop flag was set.
    Interrupted,
    /// The deadline passed.
    TimedOut,
    /// Read from saved notifications (`oslo-listen --from`): the input ended.
    EndOfInput,
}

/// How often the stop flag and the deadline are looked at when nothing arrives.
pub(super) const TICK: Duration = Duration::from_millis(100);

/// The same with several sources: one that is idle when another ends the run (its handler
/// said stop, or it failed) sees it this soon.
pub(super) const MANY_TICK: Duration = Duration::from_millis(20);
