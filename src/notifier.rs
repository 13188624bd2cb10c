//! [`Notifier`]: sends notifications the way `oslo_messaging.Notifier` does.

use crate::broker::{self, ConnectOptions, Durability, Publisher};
use crate::envelope::{new_unique_id, Format, Notification, PayloadJson, Priority};
use crate::transport_url::TransportUrl;
use anyhow::{Context, Result};
use serde_json::{Map, Value};

/// oslo.messaging's default `control_exchange`.
pub const DEFAULT_EXCHANGE: &str = "openstack";
/// oslo.messaging's default notification topic.
pub const DEFAULT_TOPIC: &str = "notifications";

/// Sends notifications to one exchange and a list of topics, like
/// `oslo_messaging.Notifier(transport, publisher_id, driver, topics)`.
///
/// Each notification goes to `<topic>.<priority>` for every topic, with one message_id and a
/// fresh `_unique_id` per topic, as oslo's drivers do. Publishes are pipelined: a send returns
/// once the message is written, and [`Notifier::flush`] waits until the broker has confirmed
/// all of them.
///
/// ```no_run
/// use oslo_notify::notifier::Notifier;
/// use oslo_notify::transport_url::TransportUrl;
/// use serde_json::{json, Map};
///
/// let url = TransportUrl::parse("rabbit://guest:guest@localhost:5672/")?;
/// let mut notifier = Notifier::connect(&url, "testing")?;
/// notifier.info(&Map::new(), "just.testing", json!({"heavy": "payload"}))?;
/// notifier.close()?;
/// # Ok::<(), anyhow::Error>(())
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
            ) -> Result<String> {
                self.notify(context, Priority::$priority, event_type, payload)
            }
        )*
    };
}

/// What [`Notifier::send`] did with one notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// The sequence number of its last publish: it is confirmed once
    /// [`Notifier::confirmed_through`] reaches this.
    pub last_tag: u64,
}

impl Notifier {
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

    /// Connects to `url` with default options and transient declarations.
    pub fn connect(url: &TransportUrl, publisher_id: impl Into<String>) -> Result<Self> {
        let options = ConnectOptions::default();
        let connection = broker::connect(url, &options)?;
        let publisher = Publisher::new(connection, Durability::default(), options.timeout)?;
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
    pub fn prepare(&mut self, priority: Priority) -> Result<()> {
        for topic in &self.topics {
            let routing_key = format!("{topic}.{}", priority.name());
            self.publisher
                .declare(&self.exchange, &routing_key)
                .with_context(|| format!("preparing to send to exchange {:?}", self.exchange))?;
        }
        Ok(())
    }

    /// Sends a notification that is already built (its publisher_id is kept as it is) to
    /// every topic.
    pub fn send<P: PayloadJson>(&mut self, notification: &Notification<P>) -> Result<Sent> {
        let mut sent = Sent { last_tag: 0 };
        for topic in &self.topics {
            self.routing_key.clear();
            self.routing_key.push_str(topic);
            self.routing_key.push('.');
            self.routing_key.push_str(notification.priority.name());
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
    pub fn send_to<P: PayloadJson>(
        &mut self,
        notification: &Notification<P>,
        exchange: &str,
        routing_key: &str,
    ) -> Result<Sent> {
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
    ) -> Result<String> {
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
    pub fn flush(&mut self) -> Result<()> {
        Ok(self.publisher.wait_for_all_confirms()?)
    }

    /// Waits for every confirm, then disconnects.
    pub fn close(self) -> Result<()> {
        Ok(self.publisher.finish()?)
    }
}

/// Encodes `notification` with a fresh `_unique_id` and publishes it (the publisher declares
/// the route the first time it sends there).
fn publish<P: PayloadJson>(
    publisher: &mut Publisher,
    format: Format,
    notification: &Notification<P>,
    exchange: &str,
    routing_key: &str,
) -> Result<Sent> {
    let body = notification
        .encode(format, &new_unique_id())
        .context("encoding the notification")?;
    publisher
        .publish(exchange, routing_key, body)
        .map(|last_tag| Sent { last_tag })
        .map_err(|e| {
            anyhow::Error::new(e).context(format!(
                "sending to exchange {exchange:?} with routing key {routing_key:?}"
            ))
        })
}
