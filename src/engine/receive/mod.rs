//! The receiving engine: connect (any host of the transport URL, with backoff), declare and
//! bind the planned queues, consume, decode, drop second copies, report poison, hand each
//! notification to a [`Handler`], acknowledge it once the handler is done with it (batched),
//! and when the connection is lost, connect again (from the next host) and go on.
//!
//! Several brokers are read at once, each on its own connection, reconnected on its own,
//! and every notification says which one it came from ([`Received::source`]).
//!
//! Both `oslo-listen` and the library's `NotificationListener` (in `endpoint`) run on it; it
//! prints nothing, and tells its [`Observer`] what happens.

mod handler;
mod many;
mod ready;
mod recent;
mod session;
mod settings;
pub mod stored;

pub use handler::{Handler, HandlerError, Received, Verdict};
pub use ready::Ready;
pub use settings::{Ended, Exchanges, Settings, Source};

use super::Error;
use crate::broker::{self, BrokerErrorKind, Handoff, Start};
use crate::events::{Event, Observer};
use recent::{RecentIds, REMEMBERED_IDS};
use session::Session;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Runs until the handler says stop, `stop` is set, the deadline passes, or an error that
/// connecting again cannot mend. Events go to `observer`.
///
/// Several [`Settings::sources`] are read at once, each on a thread and a connection of its
/// own (see [`many`]): the handler and the observer are called from those threads, one call
/// at a time.
pub fn run(
    settings: &Settings,
    handler: &mut (dyn Handler + Send),
    observer: &mut dyn Observer,
    stop: &AtomicBool,
) -> Result<Ended, Error> {
    match settings.sources.as_slice() {
        [] => Ok(Ended::Stopped),
        [source] => run_source(settings, source, handler, observer, stop)
            .map_err(|error| of_source(source, error)),
        sources => many::run(settings, sources, handler, observer, stop),
    }
}

/// Reads one source until the handler says stop, `stop` is set, the deadline passes, or an
/// error that connecting again cannot mend. Its events are labelled with its name.
fn run_source(
    settings: &Settings,
    source: &Source,
    handler: &mut dyn Handler,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
) -> Result<Ended, Error> {
    let started = Instant::now();
    let mut recent = RecentIds::new(REMEMBERED_IDS);
    let mut observer = Labelled {
        name: &source.name,
        inner: observer,
    };
    // The first connection may wait for a broker that is starting for the connect timeout
    // (or to the deadline), unless a source out of reach is to be tried again (`partial`);
    // after a loss, reconnecting goes on to the deadline, or for ever.
    let mut connect_deadline = match settings.partial {
        true => settings.deadline,
        false => Some(
            settings
                .deadline
                .unwrap_or(started + settings.connect.timeout),
        ),
    };
    // The host lost last: after a loss, the hosts are tried from the next one.
    let mut lost: Option<String> = None;
    loop {
        let start = lost.as_deref().map_or(Start::Anywhere, Start::After);
        let connected = broker::connect_retrying_unless(
            &source.url,
            &settings.connect,
            Handoff::Few,
            start,
            connect_deadline,
            stop,
            broker::tell_retrying(&mut observer),
        );
        let connection = match connected {
            // Asked to stop while the broker was out of reach.
            Err(_) if stop.load(Ordering::Relaxed) => return Ok(Ended::Interrupted),
            // Tried to the deadline.
            Err(e)
                if settings.partial
                    && e.is_retriable()
                    && settings.deadline.is_some_and(|d| Instant::now() >= d) =>
            {
                return Ok(Ended::TimedOut)
            }
            other => other.map_err(Error::Broker)?,
        };
        connect_deadline = settings.deadline;
        lost = Some(connection.address().to_owned());
        observer.event(Event::Connected {
            address: connection.address().to_owned(),
        });
        let mut session = Session::new(settings, source, &mut *handler, &mut observer, &mut recent);
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

/// `error` as the failure of `source`: named ([`Error::Source`]) when the source has a name
/// and the error is not the handler's own.
fn of_source(source: &Source, error: Error) -> Error {
    match error {
        Error::Handler(_) => error,
        error if source.name.is_empty() => error,
        error => Error::Source {
            name: source.name.clone(),
            error: Box::new(error),
        },
    }
}

/// An observer that labels every event with the name of the source it happened on.
struct Labelled<'a> {
    name: &'a str,
    inner: &'a mut dyn Observer,
}

impl Observer for Labelled<'_> {
    fn event(&mut self, event: Event) {
        self.inner.event(Event::on(self.name, event));
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
