//! Listening the way `oslo_messaging.get_notification_listener` does: endpoints with one
//! method per priority, fed from the shared queues (or a pool's) of some targets.

use crate::broker::{self, ConnectOptions, Durability, Event, Flow, Listener};
use crate::envelope::{decode, Notification, Priority};
use crate::listen::{declare, plan, Mode};
use crate::output::describe_poison;
use crate::transport_url::TransportUrl;
use anyhow::Result;
use serde_json::{Map, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// What an endpoint did with a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Handled {
    /// Done with: acknowledge it (oslo's `NotificationResult.HANDLED`).
    #[default]
    Yes,
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
                Handled::Yes
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

    /// A message that is not a notification. It is acknowledged after this returns (the
    /// default writes one line on stderr with the whole body, so that nothing is lost).
    fn rejected(&mut self, description: &str) {
        eprintln!("{description}");
    }
}

/// Calls the method of `endpoint` for the notification's priority.
pub fn dispatch(endpoint: &mut dyn Endpoint, n: &Notification) -> Handled {
    let metadata = Metadata {
        message_id: n.message_id.clone(),
        timestamp: n.timestamp.clone(),
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

/// An exchange and topic to listen to, like `oslo_messaging.Target(exchange=..., topic=...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The exchange (oslo's control_exchange when the target names none).
    pub exchange: String,
    /// The topic, such as `notifications`.
    pub topic: String,
}

impl Target {
    /// A target on `exchange` for `topic`.
    pub fn new(exchange: impl Into<String>, topic: impl Into<String>) -> Self {
        Target {
            exchange: exchange.into(),
            topic: topic.into(),
        }
    }
}

/// A notification listener: connects, reads the targets' queues and dispatches each
/// notification to every endpoint, acknowledging it once they have handled it.
///
/// ```no_run
/// use oslo_notify::endpoint::{Endpoint, Handled, Metadata, NotificationListener, Target};
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
///         Handled::Yes
///     }
/// }
///
/// let url = TransportUrl::parse("rabbit://guest:guest@localhost:5672/")?;
/// let targets = vec![Target::new("nova", "notifications")];
/// let running = NotificationListener::new(url, targets, vec![Box::new(Errors)])
///     .pool("error-watcher")
///     .start()?;
/// running.wait()?;
/// # Ok::<(), anyhow::Error>(())
/// ```
pub struct NotificationListener {
    url: TransportUrl,
    targets: Vec<Target>,
    endpoints: Vec<Box<dyn Endpoint>>,
    pool: Option<String>,
    durability: Durability,
}

impl NotificationListener {
    /// A listener for `targets`, every priority, dispatching to `endpoints`.
    pub fn new(url: TransportUrl, targets: Vec<Target>, endpoints: Vec<Box<dyn Endpoint>>) -> Self {
        NotificationListener {
            url,
            targets,
            endpoints,
            pool: None,
            durability: Durability::default(),
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

    /// Connects and sets the queues up, then dispatches on a thread of its own until
    /// [`Running::stop`].
    pub fn start(self) -> Result<Running> {
        let connection = broker::connect(&self.url, &ConnectOptions::default())?;
        let mut listener = Listener::new(connection, self.durability)?;
        let routes: Vec<(String, String)> = self
            .targets
            .iter()
            .flat_map(|t| {
                Priority::ALL
                    .iter()
                    .map(move |p| (t.exchange.clone(), format!("{}.{}", t.topic, p.name())))
            })
            .collect();
        for target in &self.targets {
            listener.declare_exchange(&target.exchange)?;
        }
        let mode = self.pool.map_or(Mode::Shared, Mode::Pool);
        let queues = declare(&mut listener, &plan(&mode, &routes))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let mut endpoints = self.endpoints;
        let thread = std::thread::spawn(move || -> Result<()> {
            listener.consume(&queues, 100, Duration::from_millis(100), |event, acks| {
                if let Event::Delivery(delivery) = event {
                    match decode(&delivery.body) {
                        Ok(decoded) => {
                            let mut handled = Handled::Yes;
                            for endpoint in endpoints.iter_mut() {
                                if dispatch(endpoint.as_mut(), &decoded.notification)
                                    == Handled::Requeue
                                {
                                    handled = Handled::Requeue;
                                }
                            }
                            match handled {
                                Handled::Yes => acks.ack(delivery.token, false)?,
                                Handled::Requeue => acks.requeue(delivery.token)?,
                            }
                        }
                        Err(reason) => {
                            let text = describe_poison(
                                &delivery.exchange,
                                &delivery.routing_key,
                                &reason.to_string(),
                                &delivery.body,
                            );
                            for endpoint in endpoints.iter_mut() {
                                endpoint.rejected(&text);
                            }
                            acks.ack(delivery.token, false)?;
                        }
                    }
                }
                Ok(if stopped.load(Ordering::Relaxed) {
                    Flow::Stop
                } else {
                    Flow::Continue
                })
            })?;
            listener.close()?;
            Ok(())
        });
        Ok(Running { stop, thread })
    }
}

/// A started [`NotificationListener`].
pub struct Running {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<()>>,
}

impl Running {
    /// Asks the listener to stop after the notification it is dispatching.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Waits until the listener has stopped (after [`Running::stop`], or on an error).
    pub fn wait(self) -> Result<()> {
        match self.thread.join() {
            Ok(result) => result,
            Err(_) => Err(anyhow::anyhow!("the listener thread panicked")),
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
            Handled::Yes
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
        assert_eq!(dispatch(&mut recorder, &info), Handled::Yes);
        let mut context = Map::new();
        context.insert("user".into(), "u1".into());
        let error = Notification::new(Priority::Error, "b", Value::Null).with_context(context);
        assert_eq!(dispatch(&mut recorder, &error), Handled::Requeue);
        let sample = Notification::new(Priority::Sample, "c", Value::Null);
        assert_eq!(dispatch(&mut recorder, &sample), Handled::Yes);
        assert_eq!(
            recorder.seen,
            [
                ("info".to_owned(), format!("a {}", info.message_id)),
                ("error".to_owned(), "b \"u1\"".to_owned())
            ]
        );
    }
}
