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
    /// Where to connect.
    pub url: TransportUrl,
    /// How to connect (each attempt's timeout, heartbeat, TLS).
    pub connect: ConnectOptions,
    /// How to create shared queues that do not exist.
    pub durability: Durability,
    /// Where to read from.
    pub mode: Mode,
    /// The exchanges and topics.
    pub sources: Sources,
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

/// The exchanges and topics to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sources {
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
