//! One connection's worth of receiving: declare and bind, consume, decode, hand over,
//! settle.

use super::handler::{Handler, Received, Verdict};
use super::recent::{Key, RecentIds};
use super::settings::{Ended, Exchanges, Settings, Source, MANY_TICK, TICK};
use crate::broker::settlement::{Settle, Settlement};
use crate::broker::{self, Acks, DeliveryToken, Flow, Subscriber};
use crate::engine::Error;
use crate::events::{Event, Observer};
use crate::oslo::topology::{self, Route, Target, DEFAULT_EXCHANGE, WELL_KNOWN_EXCHANGES};
use crate::wire::envelope::Message;
use base64::Engine;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How many done deliveries are acknowledged at once.
const ACK_BATCH: usize = 64;
/// A broker whose connection took longer than this (about four round trips) is far away: the
/// well-known exchanges are then looked for all at once rather than one after another.
const FAR: Duration = Duration::from_millis(200);

/// The well-known exchanges but the default one.
fn other_well_known() -> Vec<&'static str> {
    WELL_KNOWN_EXCHANGES
        .iter()
        .copied()
        .filter(|name| *name != DEFAULT_EXCHANGE)
        .collect()
}

/// Which of [`other_well_known`] exist, being found out on a thread of its own.
type Probe = std::thread::JoinHandle<Result<Vec<bool>, broker::BrokerError>>;
/// One connection's worth of receiving.
pub(super) struct Session<'a> {
    settings: &'a Settings,
    source: &'a Source,
    handler: &'a mut dyn Handler,
    observer: &'a mut dyn Observer,
    recent: &'a mut RecentIds,
    /// Deliveries of a lost connection cannot be settled: the broker gives them again.
    settlement: Settlement<DeliveryToken>,
}

impl<'a> Session<'a> {
    pub(super) fn new(
        settings: &'a Settings,
        source: &'a Source,
        handler: &'a mut dyn Handler,
        observer: &'a mut dyn Observer,
        recent: &'a mut RecentIds,
    ) -> Self {
        Session {
            settings,
            source,
            handler,
            observer,
            recent,
            settlement: Settlement::new(),
        }
    }

    /// Sets up and consumes on `connection` until done, or until the connection is lost.
    pub(super) fn run(
        &mut self,
        connection: broker::Connection,
        stop: &AtomicBool,
    ) -> Result<Ended, Error> {
        // A broker far away: the well-known exchanges are looked for all at once, while this
        // connection sets itself up.
        let far = connection.handshake() > FAR;
        let probe = match &self.settings.exchanges {
            Exchanges::WellKnown(_) if far => {
                let (url, connect) = (self.source.url.clone(), self.settings.connect.clone());
                Some(std::thread::spawn(move || {
                    broker::exchanges_exist(&url, &connect, &other_well_known())
                }))
            }
            _ => None,
        };
        let mut subscriber =
            Subscriber::new(connection, self.settings.durability, self.settings.prefetch)?;
        let queues = self.set_up(&mut subscriber, probe)?;
        let hold_limit = usize::from(self.settings.prefetch / 2).max(1);
        let address = subscriber.address().to_owned();
        let mut ended = Ended::Stopped;
        let tick = match self.settings.sources.len() {
            0 | 1 => TICK,
            _ => MANY_TICK,
        };
        subscriber.consume(&queues, tick, |event, acks| {
            match event {
                broker::Consumed::Ready => {
                    self.observer.event(Event::Listening {
                        address: address.clone(),
                        queues: queues.clone(),
                    });
                    return Ok(Flow::Continue);
                }
                broker::Consumed::CaughtUp => self.handler.caught_up().map_err(Error::Handler)?,
                broker::Consumed::Idle => self.flush(acks)?,
                broker::Consumed::Delivery(delivery) => {
                    let token = delivery.token;
                    match self.deliver(&delivery.exchange, &delivery.routing_key, &delivery.body) {
                        Ok(Verdict::Done) => self.settlement.done(token),
                        Ok(Verdict::DoneAndStop) => {
                            self.settlement.done(token);
                            self.flush(acks)?;
                            return Ok(Flow::Stop);
                        }
                        Ok(Verdict::Skip) if self.settings.mode.is_shared() => {
                            self.settlement.hold(token);
                            if self.settlement.held_count() >= hold_limit {
                                let settles = self.settlement.release();
                                self.apply(acks, settles)?;
                                // They come straight back when nobody else consumes the queue.
                                std::thread::sleep(TICK);
                            }
                        }
                        Ok(Verdict::Skip) => self.settlement.done(token),
                        Err(e) => {
                            // What was handled before is acknowledged; this one comes again.
                            // The handler's failure is the one to report.
                            let _ = self.flush(acks);
                            return Err(e);
                        }
                    }
                }
            }
            if self.settlement.done_count() >= ACK_BATCH {
                self.flush(acks)?;
            }
            if stop.load(Ordering::Relaxed) {
                self.flush(acks)?;
                ended = Ended::Interrupted;
                return Ok(Flow::Stop);
            }
            if self.settings.deadline.is_some_and(|d| Instant::now() >= d) {
                self.flush(acks)?;
                ended = Ended::TimedOut;
                return Ok(Flow::Stop);
            }
            Ok(Flow::Continue)
        })?;
        // Held and unread deliveries go back to their queues as the connection closes.
        subscriber.close()?;
        Ok(ended)
    }

    /// Decodes one delivery and hands it to the handler unless it is poison (reported) or a
    /// second copy of one handled (dropped); both are done with.
    fn deliver(
        &mut self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
    ) -> Result<Verdict, Error> {
        let read = match self.settings.unwrap {
            true => Message::read(body).map(Message::unwrap_versioned),
            false => Message::read(body),
        };
        let message = match read {
            Ok(message) => message,
            Err(reason) => {
                self.observer.event(Event::Poison {
                    report: describe_poison(exchange, routing_key, &reason.to_string(), body),
                });
                return Ok(Verdict::Done);
            }
        };
        // Handled already: redelivered after a lost connection, or published again by a
        // sender whose confirm was lost with its connection.
        let key = message.unique_id.as_deref().map(Key::of);
        if let Some(key) = key {
            if self.recent.contains(key) {
                self.observer.event(Event::Duplicate {
                    message_id: message.message_id,
                });
                return Ok(Verdict::Done);
            }
        }
        let received = Received {
            message: &message,
            exchange,
            routing_key,
            source: &self.source.name,
            body,
        };
        let verdict = self.handler.handle(&received).map_err(Error::Handler)?;
        if verdict != Verdict::Skip {
            if let Some(key) = key {
                self.recent.insert(key);
            }
        }
        Ok(verdict)
    }

    /// Acknowledges everything done.
    fn flush(&mut self, acks: &Acks) -> Result<(), Error> {
        let settles = self.settlement.flush();
        self.apply(acks, settles)
    }

    /// Sends the settlements, and tells the observer how many went.
    fn apply(&mut self, acks: &Acks, settles: Vec<Settle<DeliveryToken>>) -> Result<(), Error> {
        if settles.iter().any(|s| matches!(s, Settle::Ack { .. })) {
            self.handler
                .before_acknowledging()
                .map_err(Error::Handler)?;
        }
        let (mut acked, mut requeued) = (0, 0);
        for settle in settles {
            match settle {
                Settle::Ack { token, multiple } => {
                    acks.ack(token, multiple)?;
                    acked += 1;
                }
                Settle::Requeue(token) => {
                    acks.requeue(token)?;
                    requeued += 1;
                }
            }
        }
        if acked + requeued > 0 {
            self.observer.event(Event::Settled {
                acks: acked,
                requeues: requeued,
            });
        }
        Ok(())
    }

    /// Declares and binds what the settings read from; returns the queues to consume.
    fn set_up(
        &mut self,
        subscriber: &mut Subscriber,
        probe: Option<Probe>,
    ) -> Result<Vec<String>, Error> {
        let settings = self.settings;
        let targets = match &settings.exchanges {
            Exchanges::WellKnown(topics) => {
                subscriber.declare_exchange(DEFAULT_EXCHANGE)?;
                let others = other_well_known();
                let exist = match probe {
                    Some(probe) => probe.join().unwrap_or_else(|_| {
                        Err(broker::BrokerError::new(
                            broker::BrokerErrorKind::Disconnected,
                            "looking for the OpenStack exchanges failed",
                        ))
                    })?,
                    None => others
                        .iter()
                        .map(|name| subscriber.exchange_exists(name))
                        .collect::<Result<_, _>>()?,
                };
                let mut found = vec![DEFAULT_EXCHANGE.to_owned()];
                for (name, exists) in others.iter().zip(exist) {
                    if exists {
                        found.push((*name).to_owned());
                    }
                }
                Target::every(&found, topics)
            }
            Exchanges::Targets(targets) => {
                for target in targets {
                    subscriber.declare_exchange(&target.exchange)?;
                }
                targets.clone()
            }
        };
        let routes = topology::target_routes(&targets, &settings.priorities);
        let queues = declare(subscriber, &topology::plan(&settings.mode, &routes))?;
        let mut exchanges: Vec<String> = Vec::new();
        let mut keys: Vec<String> = Vec::new();
        for route in routes {
            if !exchanges.contains(&route.exchange) {
                exchanges.push(route.exchange);
            }
            if !keys.contains(&route.routing_key) {
                keys.push(route.routing_key);
            }
        }
        self.observer.event(Event::Bound {
            queues: settings.mode.describe().to_owned(),
            exchanges,
            keys,
        });
        Ok(queues)
    }
}

/// Declares every planned queue and binding; returns the queue names.
fn declare(
    subscriber: &mut Subscriber,
    plans: &[topology::QueuePlan],
) -> Result<Vec<String>, Error> {
    for plan in plans {
        subscriber.declare_queue(&plan.queue)?;
        let routes: Vec<(&str, &str)> = plan
            .bindings
            .iter()
            .map(
                |Route {
                     exchange,
                     routing_key,
                 }| (exchange.as_str(), routing_key.as_str()),
            )
            .collect();
        subscriber.bind_all(plan.queue.name(), &routes)?;
    }
    Ok(plans.iter().map(|p| p.queue.name().to_owned()).collect())
}

/// One line describing a message that is not a notification, holding the whole body so that
/// nothing is lost: as a JSON string when it is UTF-8, in base64 otherwise.
pub(crate) fn describe_poison(
    exchange: &str,
    routing_key: &str,
    reason: &str,
    body: &[u8],
) -> String {
    let shown = match std::str::from_utf8(body) {
        Ok(text) => format!(
            "body ({} bytes): {}",
            body.len(),
            serde_json::Value::from(text)
        ),
        Err(_) => format!(
            "body ({} bytes, base64): {}",
            body.len(),
            base64::engine::general_purpose::STANDARD.encode(body)
        ),
    };
    format!(
        "message on exchange {exchange:?} with routing key {routing_key:?} is not a notification: {reason}; {shown}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poison_descriptions_keep_the_whole_body_on_one_line() {
        let text = describe_poison("ex", "t.info", "body is not JSON", b"line1\nline2 \"q\"");
        assert_eq!(
            text,
            r#"message on exchange "ex" with routing key "t.info" is not a notification: body is not JSON; body (15 bytes): "line1\nline2 \"q\"""#
        );
        let binary = describe_poison("ex", "t.info", "body is not UTF-8", b"\xff\x00a");
        assert!(binary.ends_with("body (3 bytes, base64): /wBh"), "{binary}");
    }
}
