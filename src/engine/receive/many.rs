//! Several brokers read at once: each source on a thread and a connection of its own, with
//! its own reconnecting, duplicate drop and acknowledgements, and one handler and one
//! observer for all of them, called one at a time. One source lost does not stop the others;
//! the handler saying stop, an error, the deadline or the stop flag stops them all, each
//! acknowledging what its notifications' handling finished and nothing else.

use super::handler::{Handler, HandlerError, Received, Verdict};
use super::settings::{Ended, Settings, Source};
use super::{of_source, run_source, Error};
use crate::events::{Event, Observer};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How often the caller's stop flag is looked at.
const WATCH: Duration = Duration::from_millis(20);

/// Reads every one of `sources` until the handler says stop, `stop` is set, the deadline
/// passes, or one of them fails with an error that connecting again cannot mend (returned as
/// [`Error::Source`], the handler's own errors as they are).
pub(super) fn run(
    settings: &Settings,
    sources: &[Source],
    handler: &mut (dyn Handler + Send),
    observer: &mut dyn Observer,
    stop: &AtomicBool,
) -> Result<Ended, Error> {
    let shared = Shared {
        handler: Mutex::new(Turn {
            handler,
            done: false,
        }),
        observer: Mutex::new(observer),
        halt: AtomicBool::new(false),
    };
    let running = AtomicUsize::new(sources.len());
    let results: Vec<(Instant, Result<Ended, Error>)> = std::thread::scope(|scope| {
        // The caller's stop flag, passed on to every source.
        scope.spawn(|| {
            while running.load(Ordering::Relaxed) > 0 {
                if stop.load(Ordering::Relaxed) {
                    shared.halt.store(true, Ordering::Relaxed);
                }
                std::thread::sleep(WATCH);
            }
        });
        let threads: Vec<_> = sources
            .iter()
            .map(|source| {
                let (shared, running) = (&shared, &running);
                scope.spawn(move || {
                    let mut handler = Part { shared };
                    let mut observer = Voice { shared };
                    let result =
                        run_source(settings, source, &mut handler, &mut observer, &shared.halt);
                    // However it ended, the others end too.
                    shared.halt.store(true, Ordering::Relaxed);
                    running.fetch_sub(1, Ordering::Relaxed);
                    let result = result.map_err(|error| of_source(source, error));
                    (Instant::now(), result)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|thread| {
                thread
                    .join()
                    .unwrap_or_else(|_| (Instant::now(), Err(Error::Panicked)))
            })
            .collect()
    });
    outcome(results)
}

/// How a run of several sources ended: the first error (a source stopped because another
/// ended is not one), else the handler saying stop, else the deadline, else the stop flag.
fn outcome(mut results: Vec<(Instant, Result<Ended, Error>)>) -> Result<Ended, Error> {
    results.sort_by_key(|(at, _)| *at);
    let mut ends = Vec::new();
    for (_, result) in results {
        match result {
            Err(Error::Handler(halted)) if halted.is::<Halted>() => ends.push(Ended::Interrupted),
            Err(error) => return Err(error),
            Ok(ended) => ends.push(ended),
        }
    }
    Ok([Ended::Stopped, Ended::TimedOut]
        .into_iter()
        .find(|wanted| ends.contains(wanted))
        .unwrap_or(Ended::Interrupted))
}

/// What the sources share: the handler, whose turn it is, the observer, and the flag that
/// stops them all.
struct Shared<'h, 'o> {
    handler: Mutex<Turn<'h>>,
    observer: Mutex<&'o mut dyn Observer>,
    halt: AtomicBool,
}

/// The handler, and whether it is done: it said stop, or failed.
struct Turn<'h> {
    handler: &'h mut (dyn Handler + Send),
    done: bool,
}

impl<'h> Shared<'h, '_> {
    fn turn(&self) -> MutexGuard<'_, Turn<'h>> {
        // A source that panicked in the handler ends the run (`Error::Panicked`); the others
        // still settle what they handled.
        self.handler.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The handler as one source sees it.
struct Part<'s, 'h, 'o> {
    shared: &'s Shared<'h, 'o>,
}

/// A source's delivery that came after the handler was done: not handled, and so not
/// acknowledged (it goes back to its queue as the connection closes).
#[derive(Debug)]
struct Halted;

impl fmt::Display for Halted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stopped by another source")
    }
}

impl std::error::Error for Halted {}

impl Handler for Part<'_, '_, '_> {
    fn handle(&mut self, received: &Received) -> Result<Verdict, HandlerError> {
        let mut turn = self.shared.turn();
        if turn.done {
            return Err(Box::new(Halted));
        }
        let verdict = turn.handler.handle(received);
        if !matches!(verdict, Ok(Verdict::Done | Verdict::Skip)) {
            turn.done = true;
            self.shared.halt.store(true, Ordering::Relaxed);
        }
        verdict
    }

    fn before_acknowledging(&mut self) -> Result<(), HandlerError> {
        self.shared.turn().handler.before_acknowledging()
    }

    fn caught_up(&mut self) -> Result<(), HandlerError> {
        let mut turn = self.shared.turn();
        match turn.done {
            true => Ok(()),
            false => turn.handler.caught_up(),
        }
    }
}

/// The observer as one source sees it (its events come labelled already).
struct Voice<'s, 'h, 'o> {
    shared: &'s Shared<'h, 'o>,
}

impl Observer for Voice<'_, '_, '_> {
    fn event(&mut self, event: Event) {
        let mut observer = self
            .shared
            .observer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        observer.event(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::{BrokerError, BrokerErrorKind};

    fn at(ms: u64) -> Instant {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *START.get_or_init(Instant::now) + Duration::from_millis(ms)
    }

    #[test]
    fn the_first_real_error_decides_then_stop_then_the_deadline() {
        let halted = || Err(Error::Handler(Box::new(Halted)));
        let refused = |name: &str| {
            Err(Error::Source {
                name: name.into(),
                error: Box::new(Error::Broker(BrokerError::new(
                    BrokerErrorKind::Credentials,
                    "refused",
                ))),
            })
        };
        let ended = outcome(vec![(at(5), refused("b")), (at(1), refused("a"))]);
        assert!(matches!(ended, Err(Error::Source { name, .. }) if name == "a"));
        let ended = outcome(vec![(at(1), halted()), (at(2), Ok(Ended::Stopped))]);
        assert_eq!(ended.ok(), Some(Ended::Stopped));
        let ended = outcome(vec![(at(1), Ok(Ended::TimedOut)), (at(2), halted())]);
        assert_eq!(ended.ok(), Some(Ended::TimedOut));
        let ended = outcome(vec![(at(1), Ok(Ended::Interrupted)), (at(2), halted())]);
        assert_eq!(ended.ok(), Some(Ended::Interrupted));
    }

    #[test]
    fn after_the_handler_said_stop_no_source_hands_it_more() {
        let mut seen = Vec::new();
        let mut handler = |received: &Received| -> Result<Verdict, std::convert::Infallible> {
            seen.push(received.source.to_owned());
            Ok(match seen.len() {
                2 => Verdict::DoneAndStop,
                _ => Verdict::Done,
            })
        };
        let mut observer = |_: Event| {};
        let shared = Shared {
            handler: Mutex::new(Turn {
                handler: &mut handler,
                done: false,
            }),
            observer: Mutex::new(&mut observer),
            halt: AtomicBool::new(false),
        };
        let message = crate::wire::envelope::Message::read(
            br#"{"message_id":"m","publisher_id":"p","event_type":"e","priority":"INFO","payload":{},"timestamp":"2026-01-01 00:00:00.000000"}"#,
        )
        .unwrap();
        let received = |source| Received {
            message: &message,
            exchange: "x",
            routing_key: "k.info",
            source,
            body: b"",
        };
        let (mut east, mut west) = (Part { shared: &shared }, Part { shared: &shared });
        assert_eq!(east.handle(&received("east")).ok(), Some(Verdict::Done));
        assert_eq!(
            west.handle(&received("west")).ok(),
            Some(Verdict::DoneAndStop)
        );
        assert!(shared.halt.load(Ordering::Relaxed));
        let late = east.handle(&received("east")).unwrap_err();
        assert!(late.is::<Halted>());
        // Acknowledging what was handled still reaches the handler; nothing more is shown.
        assert!(east.before_acknowledging().is_ok());
        assert!(west.caught_up().is_ok());
        assert_eq!(seen, ["east", "west"]);
    }
}
