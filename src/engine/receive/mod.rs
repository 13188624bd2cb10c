//! The receiving engine: connect (any host of the transport URL, with backoff), declare and
//! bind the planned queues, consume, decode, drop second copies, report poison, hand each
//! notification to a [`Handler`], acknowledge it once the handler is done with it (batched),
//! and when the connection is lost, connect again (from the next host) and go on.
//!
//! Both `oslo-listen` and the library's `NotificationListener` (in `endpoint`) run on it; it
//! prints nothing, and tells its [`Observer`] what happens.

mod recent;
mod session;

use super::Error;
use crate::broker::{self, BrokerErrorKind, ConnectOptions, Durability, Start};
use crate::events::{Event, Observer};
use crate::oslo::topology::{Mode, Target};
use crate::oslo::transport_url::TransportUrl;
use crate::wire::envelope::{Notification, Priority};
#[cfg(doc)]
use crate::wire::versioned;
use recent::RecentIds;
use session::Session;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// A notification as it came off the broker.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    /// The decoded notification.
    pub notification: &'a Notification,
    /// The exchange it was published to.
    pub exchange: &'a str,
    /// Its routing key.
    pub routing_key: &'a str,
    /// The body as received.
    pub body: &'a [u8],
}

/// What a [`Handler`] did with a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Done with it: acknowledge it.
    Done,
    /// Done with it, and with listening: acknowledge it and stop.
    DoneAndStop,
    /// Not for this handler: give it back to its shared queue for another consumer (in tap
    /// mode, where the queue is ours alone, it is simply taken).
    Skip,
}

/// What a [`Handler`] fails with: any error, kept whole in [`Error::Handler`].
pub type HandlerError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Receives each notification; what it returns decides how the delivery is settled. An
/// error stops the engine (what was not acknowledged goes back to its queue).
///
/// A closure `FnMut(&Received) -> Result<Verdict, E>` is a handler, for any error `E` that
/// converts into a [`HandlerError`] (`anyhow::Error` and every `std` error do).
pub trait Handler {
    /// Handles one notification.
    fn handle(&mut self, received: &Received) -> Result<Verdict, HandlerError>;

    /// Called before acknowledgements are sent for what it handled: the moment to make its
    /// work durable (`--save` syncs its files here). An error stops the engine, and those
    /// messages are not acknowledged.
    fn before_acknowledging(&mut self) -> Result<(), HandlerError> {
        Ok(())
    }
}

impl<F, E> Handler for F
where
    F: FnMut(&Received) -> Result<Verdict, E>,
    E: Into<HandlerError>,
{
    fn handle(&mut self, received: &Received) -> Result<Verdict, HandlerError> {
        self(received).map_err(Into::into)
    }
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
}

/// How many `_unique_id`s of handled notifications are remembered to drop second copies.
pub const REMEMBERED_IDS: usize = 4096;
/// How often the stop flag and the deadline are looked at when nothing arrives.
const TICK: Duration = Duration::from_millis(100);

/// Runs until the handler says stop, `stop` is set, the deadline passes, or an error that
/// connecting again cannot mend. Events go to `observer`.
pub fn run(
    settings: &Settings,
    handler: &mut dyn Handler,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
) -> Result<Ended, Error> {
    let started = Instant::now();
    let mut recent = RecentIds::new(REMEMBERED_IDS);
    // The first connection may wait for a broker that is starting for the connect timeout
    // (or to the deadline); after a loss, reconnecting goes on to the deadline, or for ever.
    let mut connect_deadline = Some(
        settings
            .deadline
            .unwrap_or(started + settings.connect.timeout),
    );
    // The host lost last: after a loss, the hosts are tried from the next one.
    let mut lost: Option<String> = None;
    loop {
        let start = lost.as_deref().map_or(Start::Anywhere, Start::After);
        let connected = broker::connect_retrying_unless(
            &settings.url,
            &settings.connect,
            start,
            connect_deadline,
            stop,
            |e, wait| {
                observer.event(Event::Retrying {
                    error: e.to_string(),
                    wait,
                })
            },
        );
        let connection = match connected {
            // Asked to stop while the broker was out of reach.
            Err(_) if stop.load(Ordering::Relaxed) => return Ok(Ended::Interrupted),
            other => other.map_err(Error::Broker)?,
        };
        connect_deadline = settings.deadline;
        lost = Some(connection.address().to_owned());
        observer.event(Event::Connected {
            address: connection.address().to_owned(),
        });
        let mut session = Session::new(settings, &mut *handler, &mut *observer, &mut recent);
        match session.run(connection, stop) {
            Err(Error::Broker(e))
                if e.kind() == BrokerErrorKind::Disconnected && !stop.load(Ordering::Relaxed) =>
            {
                observer.event(Event::Lost {
                    error: format!("{e:#}"),
                });
                give_back_memory();
            }
            other => return other,
        }
    }
}

/// Returns the memory freed with a lost connection to the system. Its deliveries were
/// allocated on its I/O thread and freed on ours: glibc keeps such memory in the thread's
/// arena, and a subscriber that loses its connection every few seconds for hours would see
/// its resident memory creep up (the soak measured 1.7 MiB in 15 minutes; `malloc_trim`
/// gave 1.1 MiB of it back at once).
fn give_back_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim(3) only releases free memory of the allocator; it takes no
    // pointer and touches nothing in use.
    unsafe {
        libc::malloc_trim(0);
    }
}
