//! Publishing with publisher confirms, pipelined.

use super::declare::Declarer;
use super::{BrokerError, BrokerErrorKind, Connection, Durability};
use amiquip::{AmqpProperties, Channel, Confirm, FieldTable, Publish};
use crossbeam_channel::{Receiver, RecvTimeoutError};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Publishes notifications with publisher confirms, declaring what each needs first.
pub struct Publisher {
    connection: Connection,
    /// Publishes, in confirm mode.
    channel: Channel,
    declarer: Declarer,
    confirms: Receiver<Confirm>,
    timeout: Duration,
    window: usize,
    next_tag: u64,
    unconfirmed: BTreeSet<u64>,
    nacked: usize,
    first_nacked: Option<u64>,
}

/// The AMQP properties oslo.messaging (through kombu) sets on a notification.
fn notification_properties() -> AmqpProperties {
    AmqpProperties::default()
        .with_content_type("application/json".to_owned())
        .with_content_encoding("utf-8".to_owned())
        .with_headers(FieldTable::default())
        .with_delivery_mode(2)
        .with_priority(0)
}

impl Publisher {
    /// The number of unconfirmed messages [`Publisher::publish`] lets be in flight.
    pub const DEFAULT_WINDOW: usize = 1000;

    /// Opens the channels on `connection` and turns publisher confirms on. `timeout` bounds
    /// every wait for the broker's confirms.
    pub fn new(
        mut connection: Connection,
        durability: Durability,
        timeout: Duration,
    ) -> Result<Self, BrokerError> {
        let channel = connection
            .inner
            .open_channel(None)
            .map_err(|e| BrokerError::amqp("opening a channel", e))?;
        let confirms = channel
            .listen_for_publisher_confirms()
            .map_err(|e| BrokerError::amqp("listening for publisher confirms", e))?;
        channel
            .enable_publisher_confirms()
            .map_err(|e| BrokerError::amqp("enabling publisher confirms", e))?;
        Ok(Publisher {
            connection,
            channel,
            declarer: Declarer::new(durability),
            confirms,
            timeout,
            window: Self::DEFAULT_WINDOW,
            next_tag: 1,
            unconfirmed: BTreeSet::new(),
            nacked: 0,
            first_nacked: None,
        })
    }

    /// The broker this publisher is connected to.
    pub fn address(&self) -> &str {
        self.connection.address()
    }

    /// Makes sure `exchange` exists and a queue named `routing_key` is bound to it with that
    /// key, as oslo's `_publish_and_creates_default_queue` does, so that a notification sent
    /// before any listener exists waits in that queue. What exists is used as it is.
    pub fn declare(&mut self, exchange: &str, routing_key: &str) -> Result<(), BrokerError> {
        self.declarer
            .route(&mut self.connection.inner, exchange, routing_key)
    }

    /// Publishes one message body to `exchange` with `routing_key` and returns its delivery
    /// tag (1, 2, 3, ... in publish order). Waits for confirms first when the window of
    /// unconfirmed messages is full. Call [`Publisher::declare`] for the route beforehand.
    pub fn publish(
        &mut self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
    ) -> Result<u64, BrokerError> {
        while self.unconfirmed.len() >= self.window {
            self.wait_for_confirm()?;
        }
        self.drain_confirms();
        self.check_nacks()?;
        self.channel
            .basic_publish(
                exchange,
                Publish::with_properties(body, routing_key, notification_properties()),
            )
            .map_err(|e| {
                BrokerError::amqp(
                    format_args!("publishing to exchange {exchange:?} with key {routing_key:?}"),
                    e,
                )
            })?;
        let tag = self.next_tag;
        self.next_tag += 1;
        self.unconfirmed.insert(tag);
        Ok(tag)
    }

    /// Every delivery tag up to and including this one has been confirmed (acked).
    pub fn confirmed_through(&self) -> u64 {
        let oldest_open = self.unconfirmed.first().copied().unwrap_or(self.next_tag);
        oldest_open.min(self.first_nacked.unwrap_or(u64::MAX)) - 1
    }

    /// Waits until every message published so far is confirmed; fails if any was nacked.
    pub fn wait_for_all_confirms(&mut self) -> Result<(), BrokerError> {
        while !self.unconfirmed.is_empty() {
            self.wait_for_confirm()?;
        }
        self.check_nacks()
    }

    /// Takes the confirms that have arrived, without waiting.
    pub fn drain_confirms(&mut self) {
        while let Ok(confirm) = self.confirms.try_recv() {
            self.apply(confirm);
        }
    }

    fn wait_for_confirm(&mut self) -> Result<(), BrokerError> {
        let started = Instant::now();
        match self.confirms.recv_timeout(self.timeout) {
            Ok(confirm) => {
                self.apply(confirm);
                Ok(())
            }
            Err(RecvTimeoutError::Timeout) => Err(BrokerError::new(
                BrokerErrorKind::Timeout,
                format!(
                    "the broker at {} confirmed none of {} notifications within {:.1?}",
                    self.address(),
                    self.unconfirmed.len(),
                    started.elapsed()
                ),
            )),
            Err(RecvTimeoutError::Disconnected) => Err(BrokerError::disconnected(format!(
                "lost the connection to {} with {} notifications unconfirmed",
                self.address(),
                self.unconfirmed.len()
            ))),
        }
    }

    fn apply(&mut self, confirm: Confirm) {
        let (payload, acked) = match confirm {
            Confirm::Ack(payload) => (payload, true),
            Confirm::Nack(payload) => (payload, false),
        };
        let settled = if payload.multiple {
            let open = self.unconfirmed.split_off(&(payload.delivery_tag + 1));
            std::mem::replace(&mut self.unconfirmed, open)
        } else if self.unconfirmed.remove(&payload.delivery_tag) {
            BTreeSet::from([payload.delivery_tag])
        } else {
            BTreeSet::new()
        };
        if !acked {
            if let Some(&first) = settled.first() {
                self.nacked += settled.len();
                self.first_nacked = Some(self.first_nacked.map_or(first, |f| f.min(first)));
            }
        }
    }

    fn check_nacks(&self) -> Result<(), BrokerError> {
        if self.nacked == 0 {
            return Ok(());
        }
        Err(BrokerError::new(
            BrokerErrorKind::Refused,
            format!(
                "the broker at {} refused (nacked) {} notification(s): is a queue full (x-max-length with reject-publish)?",
                self.address(),
                self.nacked
            ),
        ))
    }

    /// Waits for every confirm, then closes the channels and the connection.
    pub fn finish(mut self) -> Result<(), BrokerError> {
        self.wait_for_all_confirms()?;
        self.channel
            .close()
            .map_err(|e| BrokerError::amqp("closing the channel", e))?;
        // The declarer's channels are dropped only once the connection is closed.
        self.connection.close()
    }
}
