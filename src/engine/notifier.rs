//! [`Notifier`]: sends notifications the way `oslo_messaging.Notifier` does, and keeps
//! every guarantee of `oslo-notify`: it connects to any host of the transport URL (waiting
//! with backoff for one that is starting), and when the connection is lost it connects
//! again, from the next host, and publishes again everything the broker had not confirmed;
//! refused (nacked) notifications are sent again, and a broker that blocks publishes is
//! waited for, up to the timeout.

use super::Error;
use crate::broker::{self, ConnectOptions, Durability, Handoff, Publisher, Reconnect, Start};
use crate::events::{DefaultObserver, Event, Observer};
use crate::oslo::topology::{routing_keys, write_routing_key, DEFAULT_EXCHANGE, DEFAULT_TOPIC};
use crate::oslo::transport_url::TransportUrl;
use crate::wire::envelope::{Body, Format, Notification, Priority};
use serde_json::{Map, Value};
use std::time::Instant;

/// Sends notifications to one exchange and a list of topics, like
/// `oslo_messaging.Notifier(transport, publisher_id, driver, topics)`.
///
/// Each notification goes to `<topic>.<priority>` for every topic, with one message_id and a
/// fresh `_unique_id` per topic, as oslo's drivers do. Publishes are pipelined: a send returns
/// once the message is written, and [`Notifier::flush`] waits until the broker has confirmed
/// all of them. What a send returned is never lost: a lost connection is mended and the
/// unconfirmed notifications are published again (a listener may see one twice, and oslo's
/// listeners, like `oslo-listen`, drop the second copy by its `_unique_id`).
///
/// ```no_run
/// use oslo_notify::transport_url::TransportUrl;
/// use oslo_notify::Notifier;
/// use serde_json::{json, Map};
///
/// let url = TransportUrl::parse("rabbit://guest:guest@localhost:5672/")?;
/// let mut notifier = Notifier::connect(&url, "testing")?;
/// notifier.info(&Map::new(), "just.testing", json!({"heavy": "payload"}))?;
/// notifier.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Notifier {
    publisher: Publisher,
    publisher_id: String,
    exchange: String,
    topics: Vec<String>,
    format: Format,
    /// Reused for each publish's `<topic>.<priority>`.
    routing_key: String,
}

/// One method per priority, as on `oslo_messaging.Notifier`.
macro_rules! priority_methods {
    ($($(#[$doc:meta])* $method:ident => $priority:ident,)*) => {
        $(
            $(#[$doc])*
            pub fn $method(
                &mut self,
                context: &Map<String, Value>,
                event_type: &str,
                payload: Value,
            ) -> Result<String, Error> {
                self.notify(context, Priority::$priority, event_type, payload)
            }
        )*
    };
}

/// What [`Notifier::send`] did with one notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// The sequence number of its last publish (one per topic): it is confirmed once
    /// [`Notifier::confirmed_through`] reaches this.
    pub last_seq: u64,
}

/// How a [`Notifier`] connects and declares.
#[derive(Debug, Clone, Default)]
pub struct NotifierOptions {
    /// How to connect; `timeout` also bounds the wait for a broker at the start, after a lost
    /// connection, and for confirms.
    pub connect: ConnectOptions,
    /// How to create missing exchanges and queues.
    pub durability: Durability,
}

impl Notifier {
    /// How many notifications may wait for the broker's confirm at once; a send past it
    /// waits for the oldest.
    pub const CONFIRM_WINDOW: usize = Publisher::WINDOW;

    /// Wraps a connected publisher. Defaults: exchange `openstack`, topic `notifications`,
    /// format 2.0 (driver `messagingv2`).
    pub fn new(publisher: Publisher, publisher_id: impl Into<String>) -> Self {
        Notifier {
            publisher,
            publisher_id: publisher_id.into(),
            exchange: DEFAULT_EXCHANGE.to_owned(),
            topics: vec![DEFAULT_TOPIC.to_owned()],
            format: Format::V2,
            routing_key: String::new(),
        }
    }

    /// Connects to `url` with default options (30 s timeout, transient declarations); events
    /// go to [`DefaultObserver`].
    pub fn connect(url: &TransportUrl, publisher_id: impl Into<String>) -> Result<Self, Error> {
        Self::connect_with(
            url,
            publisher_id,
            &NotifierOptions::default(),
            Box::new(DefaultObserver),
        )
    }

    /// Connects to a host of `url`, trying them all with backoff until `options.connect`'s
    /// timeout, and sets up reconnecting on a lost connection. Retries, reconnections,
    /// republished and refused notifications and a blocking broker are told to `observer`.
    pub fn connect_with(
        url: &TransportUrl,
        publisher_id: impl Into<String>,
        options: &NotifierOptions,
        mut observer: Box<dyn Observer>,
    ) -> Result<Self, Error> {
        let deadline = Instant::now() + options.connect.timeout;
        let connection = broker::connect_retrying(
            url,
            &options.connect,
            Handoff::Window,
            Start::Anywhere,
            Some(deadline),
            broker::tell_retrying(&mut *observer),
        )?;
        observer.event(Event::Connected {
            address: connection.address().to_owned(),
        });
        let publisher = Publisher::new(connection, options.durability, options.connect.timeout)?
            .with_reconnect(Reconnect {
                url: url.clone(),
                options: options.connect.clone(),
            })
            .with_observer(observer);
        Ok(Notifier::new(publisher, publisher_id))
    }

    /// Sends to this exchange (oslo's `control_exchange`).
    pub fn exchange(mut self, exchange: impl Into<String>) -> Self {
        self.exchange = exchange.into();
        self
    }

    /// Sends to these topics.
    pub fn topics<I, S>(mut self, topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.topics = topics.into_iter().map(Into::into).collect();
        self
    }

    /// Writes messages in this format (the choice of oslo driver).
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// Declares the exchange and the `<topic>.<priority>` queue of every topic for `priority`
    /// now, rather than before the first send of that priority.
    pub fn prepare(&mut self, priority: Priority) -> Result<(), Error> {
        for topic in &self.topics {
            write_routing_key(&mut self.routing_key, topic, priority);
            self.publisher
                .declare(&self.exchange, &self.routing_key)
                .map_err(|e| {
                    e.context(format_args!(
                        "preparing to send to exchange {:?}",
                        self.exchange
                    ))
                })?;
        }
        self.publisher.tell(Event::Declared {
            exchange: self.exchange.clone(),
            queues: routing_keys(&self.topics, &[priority]),
        });
        Ok(())
    }

    /// Sends a notification that is already built (its publisher_id is kept as it is) to
    /// every topic: a [`Notification`], or the current one of a
    /// [`Series`](crate::wire::envelope::Series).
    pub fn send<B: Body + ?Sized>(&mut self, notification: &B) -> Result<Sent, Error> {
        let mut sent = Sent { last_seq: 0 };
        for topic in &self.topics {
            write_routing_key(&mut self.routing_key, topic, notification.priority());
            sent = publish(
                &mut self.publisher,
                self.format,
                notification,
                &self.exchange,
                &self.routing_key,
            )?;
        }
        Ok(sent)
    }

    /// Sends a notification to one exchange and routing key, whatever this notifier's own.
    pub fn send_to<B: Body + ?Sized>(
        &mut self,
        notification: &B,
        exchange: &str,
        routing_key: &str,
    ) -> Result<Sent, Error> {
        publish(
            &mut self.publisher,
            self.format,
            notification,
            exchange,
            routing_key,
        )
    }

    /// Builds a notification from this notifier's publisher_id and sends it. Returns its
    /// message_id.
    pub fn notify(
        &mut self,
        context: &Map<String, Value>,
        priority: Priority,
        event_type: &str,
        payload: Value,
    ) -> Result<String, Error> {
        let notification = Notification::new(priority, event_type, payload)
            .with_publisher_id(self.publisher_id.clone())
            .with_context(context.clone());
        self.send(&notification)?;
        Ok(notification.message_id)
    }

    priority_methods! {
        /// Sends an `AUDIT` notification; returns its message_id.
        audit => Audit,
        /// Sends a `DEBUG` notification; returns its message_id.
        debug => Debug,
        /// Sends an `INFO` notification; returns its message_id.
        info => Info,
        /// Sends a `WARN` notification (oslo's `warn` and `warning`); returns its message_id.
        warn => Warn,
        /// Sends an `ERROR` notification; returns its message_id.
        error => Error,
        /// Sends a `CRITICAL` notification; returns its message_id.
        critical => Critical,
        /// Sends a `SAMPLE` notification; returns its message_id.
        sample => Sample,
    }

    /// Every publish up to this sequence number has been confirmed by the broker.
    pub fn confirmed_through(&mut self) -> u64 {
        self.publisher.drain_confirms();
        self.publisher.confirmed_through()
    }

    /// Waits until the broker has confirmed everything sent so far.
    pub fn flush(&mut self) -> Result<(), Error> {
        Ok(self.publisher.wait_for_all_confirms()?)
    }

    /// Waits for every confirm, then disconnects.
    pub fn close(self) -> Result<(), Error> {
        Ok(self.publisher.finish()?)
    }
}

/// Encodes `notification` with a fresh `_unique_id` and publishes it (the publisher declares
/// the route the first time it sends there).
fn publish<B: Body + ?Sized>(
    publisher: &mut Publisher,
    format: Format,
    notification: &B,
    exchange: &str,
    routing_key: &str,
) -> Result<Sent, Error> {
    // A fresh `_unique_id`, as `new_unique_id` makes it, without a String of its own.
    let mut unique_id = uuid::Uuid::encode_buffer();
    let unique_id = uuid::Uuid::new_v4().simple().encode_lower(&mut unique_id);
    let body = notification
        .body(format, unique_id)
        .map_err(Error::Encode)?;
    publisher
        .publish(exchange, routing_key, body)
        .map(|last_seq| Sent { last_seq })
        .map_err(|e| {
            Error::Broker(e.context(format_args!(
                "sending to exchange {exchange:?} with routing key {routing_key:?}"
            )))
        })
}
