//! Listening the way `oslo_messaging.get_notification_listener` does: endpoints with one
//! method per priority, fed from the shared queues (or a pool's) of some targets, on the
//! receiving engine ([`crate::engine::receive`]) and so with every guarantee `oslo-listen` has.

use super::receive::{self, Exchanges, Ready, Received, Settings, Source, Verdict};
use super::Error;
use crate::broker::{ConnectOptions, Durability};
use crate::events::{DefaultObserver, Event, Observer};
use crate::oslo::topology::{Mode, Target};
use crate::oslo::transport_url::TransportUrl;
use crate::wire::envelope::{Notification, Priority};
use serde_json::{Map, Value};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// What an endpoint did with a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Handled {
    /// Done with: acknowledge it (oslo's `NotificationResult.HANDLED`).
    #[default]
    Done,
    /// Give it back to the queue to be delivered again (`NotificationResult.REQUEUE`).
    Requeue,
}

/// The `metadata` an oslo endpoint receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// The notification's message_id.
    pub message_id: String,
    /// Its timestamp.
    pub timestamp: String,
    /// The name of the broker it came from ([`NotificationListener::with_sources`]); empty
    /// for the one broker of [`NotificationListener::new`].
    pub source: String,
}

/// Declares the endpoint methods, each doing nothing but saying the notification was handled.
macro_rules! endpoint_methods {
    ($($(#[$doc:meta])* $method:ident;)*) => {
        $(
            $(#[$doc])*
            #[allow(unused_variables)]
            fn $method(
                &mut self,
                ctxt: &Map<String, Value>,
                publisher_id: Option<&str>,
                event_type: &str,
                payload: &Value,
                metadata: &Metadata,
            ) -> Handled {
                Handled::Done
            }
        )*
    };
}

/// Receives notifications: one method per priority, each given what an oslo endpoint
/// method gets (`ctxt, publisher_id, event_type, payload, metadata`). Every method does
/// nothing by default, so an endpoint implements only the priorities it cares for.
pub trait Endpoint: Send {
    endpoint_methods! {
        /// An `AUDIT` notification.
        audit;
        /// A `DEBUG` notification.
        debug;
        /// An `INFO` notification.
        info;
        /// A `WARN` notification.
        warn;
        /// An `ERROR` notification.
        error;
        /// A `CRITICAL` notification.
        critical;
        /// A `SAMPLE` notification.
        sample;
    }
}

/// Calls the method of `endpoint` for the notification's priority; `source` is the name of
/// the broker it came from (empty for a listener's only broker).
pub fn dispatch(endpoint: &mut dyn Endpoint, n: &Notification, source: &str) -> Handled {
    let metadata = Metadata {
        message_id: n.message_id.clone(),
        timestamp: n.timestamp.clone(),
        source: source.to_owned(),
    };
    let (ctxt, publisher_id, event_type, payload) = (
        &n.context,
        n.publisher_id.as_deref(),
        n.event_type.as_str(),
        &n.payload,
    );
    match n.priority {
        Priority::Audit => endpoint.audit(ctxt, publisher_id, event_type, payload, &metadata),
        Priority::Debug => endpoint.debug(ctxt, publisher_id, event_type, payload, &metadata),
        Priority::Info => endpoint.info(ctxt, publisher_id, event_type, payload, &metadata),
        Priority::Warn => endpoint.warn(ctxt, publisher_id, event_type, payload, &metadata),
        Priority::Error => endpoint.error(ctxt, publisher_id, event_type, payload, &metadata),
        Priority::Critical => endpoint.critical(ctxt, publisher_id, event_type, payload, &metadata),
        Priority::Sample => endpoint.sample(ctxt, publisher_id, event_type, payload, &metadata),
    }
}

/// A notification listener: connects, reads the targets' queues and dispatches each
/// notification to every endpoint, acknowledging it once they have handled it.
///
/// It keeps going through a lost connection or a broker restart: it connects again (from
/// the next host of the transport URL, with backoff, for ever), declares again, and what
/// was dispatched but not yet acknowledged is dropped when the broker delivers it again (by
/// `_unique_id`, as oslo's listener does), so each notification reaches the endpoints once
/// per listener as long as it remembers it. A message that is not a notification is
/// acknowledged and reported to the observer ([`DefaultObserver`] writes it on stderr).
///
/// ```no_run
/// use oslo_notify::{Endpoint, Handled, Metadata, NotificationListener, Target};
/// use oslo_notify::transport_url::TransportUrl;
/// use serde_json::{Map, Value};
///
/// struct Errors;
///
/// impl Endpoint for Errors {
///     fn error(
///         &mut self,
///         _ctxt: &Map<String, Value>,
///         publisher_id: Option<&str>,
///         event_type: &str,
///         payload: &Value,
///         _metadata: &Metadata,
///     ) -> Handled {
///         eprintln!("{} {event_type} {payload}", publisher_id.unwrap_or("-"));
///         Handled::Done
///     }
/// }
///
/// let url = TransportUrl::parse("rabbit://guest:guest@localhost:5672/")?;
/// let targets = vec![Target::new("nova", "notifications")];
/// let running = NotificationListener::new(url, targets, vec![Box::new(Errors)])
///     .pool("error-watcher")
///     .start()?;
/// running.wait()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct NotificationListener {
    sources: Vec<Source>,
    targets: Vec<Target>,
    endpoints: Vec<Box<dyn Endpoint>>,
    pool: Option<String>,
    durability: Durability,
    connect: ConnectOptions,
    observer: Box<dyn Observer>,
}

/// Unacknowledged deliveries a listener allows per queue.
const PREFETCH: u16 = 100;

impl NotificationListener {
    /// A listener for `targets`, every priority, dispatching to `endpoints`.
    pub fn new(url: TransportUrl, targets: Vec<Target>, endpoints: Vec<Box<dyn Endpoint>>) -> Self {
        Self::with_sources(vec![Source::unnamed(url)], targets, endpoints)
    }

    /// A listener for `targets` on every one of several brokers at once, each on its own
    /// connection (reconnected on its own while the others go on): every notification's
    /// [`Metadata::source`] names the broker it came from. It starts once every one of them
    /// listens.
    pub fn with_sources(
        sources: Vec<Source>,
        targets: Vec<Target>,
        endpoints: Vec<Box<dyn Endpoint>>,
    ) -> Self {
        NotificationListener {
            sources,
            targets,
            endpoints,
            pool: None,
            durability: Durability::default(),
            connect: ConnectOptions::default(),
            observer: Box::new(DefaultObserver),
        }
    }

    /// Reads as a member of this listener pool: every pool gets its own copy.
    pub fn pool(mut self, name: impl Into<String>) -> Self {
        self.pool = Some(name.into());
        self
    }

    /// Creates missing queues this way.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Connects this way (the timeout bounds each attempt, and the wait for a broker at
    /// the start).
    pub fn connect_options(mut self, options: ConnectOptions) -> Self {
        self.connect = options;
        self
    }

    /// Tells `observer` what happens: connections, retries, losses, what is bound, poison.
    pub fn observer(mut self, observer: Box<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// Connects, declares and binds, then listens on a thread of its own until
    /// [`Running::stop`]. Returns once the listener consumes (nothing published to the
    /// targets from then on is missed), or the error that kept it from connecting.
    pub fn start(self) -> Result<Running, Error> {
        let settings = Settings {
            sources: self.sources,
            partial: false,
            connect: self.connect,
            durability: self.durability,
            mode: self.pool.map_or(Mode::Shared, Mode::Pool),
            exchanges: Exchanges::Targets(self.targets),
            priorities: Priority::ALL.to_vec(),
            prefetch: PREFETCH,
            unwrap: false,
            deadline: None,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let mut endpoints = self.endpoints;
        let mut observer = self.observer;
        let (ready, listening) = crossbeam_channel::bounded(1);
        let mut all_listen = Ready::new(&settings.sources, settings.partial);
        let mut forward = move |event: Event| {
            if all_listen.hear(&event) {
                let _ = ready.try_send(());
            }
            observer.event(event);
        };
        let thread = std::thread::spawn(move || -> Result<(), Error> {
            // Endpoints cannot fail; a panic in one ends the thread (`Error::Panicked`).
            let mut handler = |received: &Received| -> Result<Verdict, Infallible> {
                let mut handled = Handled::Done;
                for endpoint in endpoints.iter_mut() {
                    let notification = received.notification();
                    if dispatch(endpoint.as_mut(), notification, received.source)
                        == Handled::Requeue
                    {
                        handled = Handled::Requeue;
                    }
                }
                Ok(match handled {
                    Handled::Done => Verdict::Done,
                    Handled::Requeue => Verdict::Skip,
                })
            };
            receive::run(&settings, &mut handler, &mut forward, &stopped)?;
            Ok(())
        });
        let running = Running { stop, thread };
        match listening.recv() {
            Ok(()) => Ok(running),
            // The thread ended (and dropped the sender) before it listened.
            Err(_) => match running.wait() {
                Ok(()) => Err(Error::StoppedBeforeListening),
                Err(e) => Err(e),
            },
        }
    }
}

/// A started [`NotificationListener`].
pub struct Running {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<(), Error>>,
}

impl Running {
    /// Asks the listener to stop after the notification it is dispatching.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Whether the listener has stopped (asked to, or on an error that connecting again
    /// cannot mend, which [`Running::wait`] returns).
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }

    /// Waits until the listener has stopped (after [`Running::stop`], or on an error).
    pub fn wait(self) -> Result<(), Error> {
        match self.thread.join() {
            Ok(result) => result,
            Err(_) => Err(Error::Panicked),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Recorder {
        seen: Vec<(String, String)>,
    }

    impl Endpoint for Recorder {
        fn info(
            &mut self,
            _: &Map<String, Value>,
            _: Option<&str>,
            event_type: &str,
            _: &Value,
            m: &Metadata,
        ) -> Handled {
            self.seen
                .push(("info".into(), format!("{event_type} {}", m.message_id)));
            Handled::Done
        }
        fn error(
            &mut self,
            ctxt: &Map<String, Value>,
            _: Option<&str>,
            event_type: &str,
            _: &Value,
            _: &Metadata,
        ) -> Handled {
            self.seen
                .push(("error".into(), format!("{event_type} {}", ctxt["user"])));
            Handled::Requeue
        }
    }

    #[test]
    fn each_priority_reaches_its_method_and_the_rest_default_to_handled() {
        let mut recorder = Recorder::default();
        let info = Notification::new(Priority::Info, "a", Value::Null);
        assert_eq!(dispatch(&mut recorder, &info, ""), Handled::Done);
        let mut context = Map::new();
        context.insert("user".into(), "u1".into());
        let error = Notification::new(Priority::Error, "b", Value::Null).with_context(context);
        assert_eq!(dispatch(&mut recorder, &error, ""), Handled::Requeue);
        let sample = Notification::new(Priority::Sample, "c", Value::Null);
        assert_eq!(dispatch(&mut recorder, &sample, ""), Handled::Done);
        assert_eq!(
            recorder.seen,
            [
                ("info".to_owned(), format!("a {}", info.message_id)),
                ("error".to_owned(), "b \"u1\"".to_owned())
            ]
        );
    }
}
