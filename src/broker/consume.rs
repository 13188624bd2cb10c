//! Consuming with manual acknowledgements: set queues up, then hand each delivery to the
//! caller, who acknowledges or requeues it once it has done its work.

use super::connection::{Connection, Durability};
use super::declare::Declarer;
use super::error::BrokerError;
use crate::broker::settlement::Tagged;
use crate::oslo::topology::QueueSpec;
use amiquip::{Channel, Consumer, ConsumerMessage, ConsumerOptions};
use crossbeam_channel::Select;
use std::time::Duration;

/// One message taken from a queue, not yet acknowledged.
pub struct Delivery {
    /// What [`Acks`] needs to settle it.
    pub token: DeliveryToken,
    /// The exchange it was published to.
    pub exchange: String,
    /// Its routing key.
    pub routing_key: String,
    /// The body, as received.
    pub body: Vec<u8>,
}

/// The handle of an unsettled delivery.
pub struct DeliveryToken(amiquip::Delivery);

impl Tagged for DeliveryToken {
    /// The delivery tag: deliveries on one listener are numbered 1, 2, 3, ...
    fn tag(&self) -> u64 {
        self.0.delivery_tag()
    }
}

/// Settles deliveries while [`Subscriber::consume`] runs.
pub struct Acks<'a> {
    channel: &'a Channel,
}

impl Acks<'_> {
    /// Acknowledges this delivery, or with `multiple` every unsettled one up to it.
    pub fn ack(&self, token: DeliveryToken, multiple: bool) -> Result<(), BrokerError> {
        let result = if multiple {
            token.0.ack_multiple(self.channel)
        } else {
            token.0.ack(self.channel)
        };
        result.map_err(|e| BrokerError::amqp("acknowledging a message", e))
    }

    /// Returns this delivery to its queue.
    pub fn requeue(&self, token: DeliveryToken) -> Result<(), BrokerError> {
        token
            .0
            .nack(self.channel, true)
            .map_err(|e| BrokerError::amqp("returning a message to its queue", e))
    }
}

/// What happens while consuming.
#[allow(
    clippy::large_enum_variant,
    reason = "an event is moved once, straight to the handler; boxing would allocate per message"
)]
pub enum Consumed {
    /// Every consumer is registered: from now on, messages reach us.
    Ready,
    /// A message arrived.
    Delivery(Delivery),
    /// Nothing more waits for now: every delivery that had arrived has been handed over.
    /// Comes once after each run of deliveries, before waiting for the next.
    CaughtUp,
    /// Nothing arrived for one tick.
    Idle,
}

/// Whether to keep consuming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on.
    Continue,
    /// Stop consuming; unsettled deliveries go back to their queues when the listener closes.
    Stop,
}

/// A connection set up for listening.
pub struct Subscriber {
    connection: Connection,
    declarer: Declarer,
    channel: Channel,
}

impl Subscriber {
    /// Opens the channel to consume on, with at most `prefetch` unsettled deliveries per
    /// queue. Shared queues that must be created are created with `durability`.
    pub fn new(
        mut connection: Connection,
        durability: Durability,
        prefetch: u16,
    ) -> Result<Self, BrokerError> {
        let channel = connection.open_channel()?;
        channel
            .qos(0, prefetch, false)
            .map_err(|e| BrokerError::amqp("setting the prefetch count", e))?;
        Ok(Subscriber {
            connection,
            declarer: Declarer::new(durability),
            channel,
        })
    }

    /// The broker this listener is connected to.
    pub fn address(&self) -> &str {
        self.connection.address()
    }

    /// Whether `exchange` exists, without creating it.
    pub fn exchange_exists(&mut self, exchange: &str) -> Result<bool, BrokerError> {
        self.declarer
            .exchange_exists(&mut self.connection, exchange)
    }

    /// Makes sure the topic exchange `exchange` exists (created as oslo would when missing).
    pub fn declare_exchange(&mut self, exchange: &str) -> Result<(), BrokerError> {
        self.declarer.exchange(&mut self.connection, exchange)
    }

    /// Makes sure `queue` exists.
    pub fn declare_queue(&mut self, queue: &QueueSpec) -> Result<(), BrokerError> {
        self.declarer.queue(&mut self.connection, queue)
    }

    /// Binds `queue` to each exchange with its key, waiting for the broker once for them all.
    pub fn bind_all(&mut self, queue: &str, routes: &[(&str, &str)]) -> Result<(), BrokerError> {
        self.declarer.bind_all(&mut self.connection, queue, routes)
    }

    /// Consumes from `queues`, calling
    /// `handle` for each [`Consumed`] until it returns [`Flow::Stop`] or fails. `handle` gets
    /// [`Consumed::Idle`] when nothing arrived for `tick`.
    pub fn consume<E: From<BrokerError>>(
        &mut self,
        queues: &[String],
        tick: Duration,
        mut handle: impl FnMut(Consumed, &Acks) -> Result<Flow, E>,
    ) -> Result<(), E> {
        let mut consumers = Vec::with_capacity(queues.len());
        for queue in queues {
            let consumer = self
                .channel
                .basic_consume(queue.as_str(), ConsumerOptions::default())
                .map_err(|e| {
                    BrokerError::amqp(format_args!("consuming from queue {queue:?}"), e)
                })?;
            consumers.push(consumer);
        }
        let acks = Acks {
            channel: &self.channel,
        };
        let result = pump(
            &consumers,
            queues,
            tick,
            &acks,
            self.connection.address(),
            &mut handle,
        );
        for consumer in &consumers {
            stop_consumer(consumer);
        }
        result
    }

    /// Closes the connection. Deliveries not acknowledged go back to their queues.
    pub fn close(self) -> Result<(), BrokerError> {
        let Subscriber {
            mut connection,
            mut declarer,
            channel,
        } = self;
        connection.retire(channel);
        declarer.retire_into(&mut connection);
        connection.close()
    }
}

/// Receives from every consumer and hands each event to `handle` until it says stop.
fn pump<E: From<BrokerError>>(
    consumers: &[Consumer],
    queues: &[String],
    tick: Duration,
    acks: &Acks,
    address: &str,
    handle: &mut impl FnMut(Consumed, &Acks) -> Result<Flow, E>,
) -> Result<(), E> {
    if handle(Consumed::Ready, acks)? == Flow::Stop {
        return Ok(());
    }
    let mut select = Select::new();
    for consumer in consumers {
        select.recv(consumer.receiver());
    }
    // The consumer looked at first for a waiting message, in turn, so that none starves.
    let mut first = 0;
    let mut waiting = false;
    loop {
        // What already waits is taken without registering with every channel and sleeping.
        let ready = (0..consumers.len())
            .map(|i| (first + i) % consumers.len())
            .find_map(|i| consumers[i].receiver().try_recv().ok().map(|m| (i, Ok(m))));
        first = (first + 1) % consumers.len().max(1);
        let event = match ready {
            Some((index, message)) => {
                waiting = true;
                settled_cancel(consumers, index, &message, address)?;
                event_of(message, &queues[index], address)?
            }
            None if waiting => {
                waiting = false;
                Consumed::CaughtUp
            }
            None => match select.select_timeout(tick) {
                Err(_) => Consumed::Idle,
                Ok(operation) => {
                    let index = operation.index();
                    let message = operation.recv(consumers[index].receiver());
                    waiting = true;
                    settled_cancel(consumers, index, &message, address)?;
                    event_of(message, &queues[index], address)?
                }
            },
        };
        if handle(event, acks)? == Flow::Stop {
            return Ok(());
        }
    }
}

/// How long a cancelled consumer waits for its connection to close.
const CANCEL_GRACE: Duration = Duration::from_secs(1);

/// When `message` is the broker's cancel of consumer `index`: waits up to [`CANCEL_GRACE`]
/// for the connection to close too, as it does when the node is stopping (it cancels the
/// consumers of its queues first), and says so then: connecting again at once would reach a
/// node half down. Deliveries that arrive meanwhile are left unacknowledged: they go back to
/// their queues with the connection. `Ok` when the message is no cancel, or the connection
/// stays.
fn settled_cancel(
    consumers: &[Consumer],
    index: usize,
    message: &Result<ConsumerMessage, crossbeam_channel::RecvError>,
    address: &str,
) -> Result<(), BrokerError> {
    if !matches!(message, Ok(ConsumerMessage::ServerCancelled)) {
        return Ok(());
    }
    let deadline = std::time::Instant::now() + CANCEL_GRACE;
    while std::time::Instant::now() < deadline {
        for (other, consumer) in consumers.iter().enumerate() {
            if other == index {
                continue;
            }
            match consumer.receiver().try_recv() {
                Ok(ConsumerMessage::Delivery(_)) | Err(crossbeam_channel::TryRecvError::Empty) => {}
                Ok(ConsumerMessage::ServerCancelled) => {}
                Ok(_) | Err(crossbeam_channel::TryRecvError::Disconnected) => {
                    return Err(BrokerError::disconnected(format!(
                        "lost the connection to {address} (its node is stopping)"
                    )));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// What a consumer's message means: a delivery, or the end of consuming.
fn event_of(
    message: Result<ConsumerMessage, crossbeam_channel::RecvError>,
    queue: &str,
    address: &str,
) -> Result<Consumed, BrokerError> {
    match message {
        Ok(ConsumerMessage::Delivery(mut delivery)) => Ok(Consumed::Delivery(Delivery {
            exchange: std::mem::take(&mut delivery.exchange),
            routing_key: std::mem::take(&mut delivery.routing_key),
            body: std::mem::take(&mut delivery.body),
            token: DeliveryToken(delivery),
        })),
        // A node going down cancels the consumers of its queues before it closes the
        // connection; a queue deleted under us does too. Either way, connecting again (and
        // declaring the queue again, as oslo's listeners do) is what brings it back.
        Ok(ConsumerMessage::ServerCancelled) => Err(BrokerError::disconnected(format!(
            "the broker stopped our consumer of queue {queue:?} (its node is stopping, or \
             the queue was deleted)"
        ))),
        Ok(ConsumerMessage::ServerClosedChannel(e))
        | Ok(ConsumerMessage::ServerClosedConnection(e)) => Err(BrokerError::amqp(
            format_args!("consuming from {address}"),
            e,
        )),
        Ok(_) | Err(_) => Err(BrokerError::disconnected(format!(
            "lost the connection to {address}"
        ))),
    }
}

/// Cancels a consumer and waits until amiquip has told it so. Dropping a consumer right
/// after its cancel returns races amiquip's I/O thread, which then finds the consumer gone
/// and fails the whole connection. Deliveries that arrive meanwhile stay unacknowledged and
/// go back to their queue.
fn stop_consumer(consumer: &Consumer) {
    if consumer.cancel().is_err() {
        return;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match consumer.receiver().recv_timeout(left) {
            Ok(ConsumerMessage::Delivery(_)) => continue,
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::error::BrokerErrorKind;

    #[test]
    fn a_consumer_the_broker_cancels_is_a_lost_connection_to_make_again() {
        let Err(error) = event_of(Ok(ConsumerMessage::ServerCancelled), "n.info", "h:5672") else {
            panic!("a cancelled consumer is not a delivery");
        };
        assert_eq!(error.kind(), BrokerErrorKind::Disconnected);
        assert!(error.is_retriable());
        assert!(error.to_string().contains("\"n.info\""), "{error}");
    }
}
