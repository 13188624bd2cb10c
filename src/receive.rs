//! The listening engine: connect (any host of the transport URL, with backoff), declare and
//! bind the planned queues, consume, decode, drop second copies, report poison, hand each
//! notification to a [`Handler`], acknowledge it once the handler is done with it (batched),
//! and when the connection is lost, connect again (from the next host) and go on.
//!
//! Both `oslo-listen` and the library's `NotificationListener` (in `endpoint`) run on it; it
//! prints nothing, and tells its [`Observer`] what happens.

use crate::broker::{self, Acks, ConnectOptions, DeliveryToken, Durability, Flow, Listener, Start};
use crate::envelope::{decode, Notification, Priority};
use crate::events::{Event, Observer};
use crate::settlement::{Settle, Settlement};
use crate::topology::{self, Mode, Route, Target, DEFAULT_EXCHANGE, WELL_KNOWN_EXCHANGES};
use crate::transport_url::TransportUrl;
use crate::versioned;
use anyhow::Result;
use base64::Engine;
use std::collections::{HashSet, VecDeque};
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

/// Receives each notification; what it returns decides how the delivery is settled. An
/// error stops the engine (what was not acknowledged goes back to its queue).
pub trait Handler {
    /// Handles one notification.
    fn handle(&mut self, received: &Received) -> Result<Verdict>;

    /// Called before acknowledgements are sent for what it handled: the moment to make its
    /// work durable (`--save` syncs its files here). An error stops the engine, and those
    /// messages are not acknowledged.
    fn before_acknowledging(&mut self) -> Result<()> {
        Ok(())
    }
}

impl<F: FnMut(&Received) -> Result<Verdict>> Handler for F {
    fn handle(&mut self, received: &Received) -> Result<Verdict> {
        self(received)
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
/// How often the stop flag and the deadline are looked at when nothing arrives.
const TICK: Duration = Duration::from_millis(100);

/// Runs until the handler says stop, `stop` is set, the deadline passes, or an error that
/// connecting again cannot mend. Events go to `observer`.
pub fn run(
    settings: &Settings,
    handler: &mut dyn Handler,
    observer: &mut dyn Observer,
    stop: &AtomicBool,
) -> Result<Ended> {
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
            other => other?,
        };
        connect_deadline = settings.deadline;
        lost = Some(connection.address().to_owned());
        observer.event(Event::Connected {
            address: connection.address().to_owned(),
        });
        let mut session = Session {
            settings,
            handler: &mut *handler,
            observer: &mut *observer,
            recent: &mut recent,
            settlement: Settlement::new(),
        };
        match session.run(connection, stop) {
            Err(e) if is_disconnection(&e) && !stop.load(Ordering::Relaxed) => {
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
/// arena, and a listener that loses its connection every few seconds for hours would see
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

/// Whether `error` is the loss of the connection (after which we reconnect).
fn is_disconnection(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<broker::BrokerError>()
            .is_some_and(|e| e.kind() == broker::BrokerErrorKind::Disconnected)
    })
}

/// One connection's worth of listening.
struct Session<'a> {
    settings: &'a Settings,
    handler: &'a mut dyn Handler,
    observer: &'a mut dyn Observer,
    recent: &'a mut RecentIds,
    /// Deliveries of a lost connection cannot be settled: the broker gives them again.
    settlement: Settlement<DeliveryToken>,
}

impl Session<'_> {
    /// Sets up and consumes on `connection` until done, or until the connection is lost.
    fn run(&mut self, connection: broker::Connection, stop: &AtomicBool) -> Result<Ended> {
        // A broker far away: the well-known exchanges are looked for all at once, while this
        // connection sets itself up.
        let far = connection.handshake() > FAR;
        let probe = match &self.settings.sources {
            Sources::WellKnown(_) if far => {
                let (url, connect) = (self.settings.url.clone(), self.settings.connect.clone());
                Some(std::thread::spawn(move || {
                    broker::exchanges_exist(&url, &connect, &other_well_known())
                }))
            }
            _ => None,
        };
        let mut listener =
            Listener::new(connection, self.settings.durability, self.settings.prefetch)?;
        let queues = self.set_up(&mut listener, probe)?;
        let hold_limit = usize::from(self.settings.prefetch / 2).max(1);
        let address = listener.address().to_owned();
        let mut ended = Ended::Stopped;
        listener.consume(&queues, TICK, |event, acks| {
            match event {
                broker::Event::Ready => {
                    self.observer.event(Event::Listening {
                        address: address.clone(),
                        queues: queues.clone(),
                    });
                    return Ok(Flow::Continue);
                }
                broker::Event::Idle => self.flush(acks)?,
                broker::Event::Delivery(delivery) => {
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
        listener.close()?;
        Ok(ended)
    }

    /// Decodes one delivery and hands it to the handler unless it is poison (reported) or a
    /// second copy of one handled (dropped); both are done with.
    fn deliver(&mut self, exchange: &str, routing_key: &str, body: &[u8]) -> Result<Verdict> {
        let mut decoded = match decode(body) {
            Ok(decoded) => decoded,
            Err(reason) => {
                self.observer.event(Event::Poison {
                    report: describe_poison(exchange, routing_key, &reason.to_string(), body),
                });
                return Ok(Verdict::Done);
            }
        };
        // Handled already: redelivered after a lost connection, or published again by a
        // sender whose confirm was lost with its connection.
        if let Some(id) = &decoded.unique_id {
            if self.recent.contains(id) {
                return Ok(Verdict::Done);
            }
        }
        if self.settings.unwrap {
            versioned::unwrap_in_place(&mut decoded.notification.payload);
        }
        let received = Received {
            notification: &decoded.notification,
            exchange,
            routing_key,
            body,
        };
        let verdict = self.handler.handle(&received)?;
        if verdict != Verdict::Skip {
            if let Some(id) = decoded.unique_id {
                self.recent.insert(id);
            }
        }
        Ok(verdict)
    }

    /// Acknowledges everything done.
    fn flush(&mut self, acks: &Acks) -> Result<()> {
        let settles = self.settlement.flush();
        self.apply(acks, settles)
    }

    /// Sends the settlements, and tells the observer how many went.
    fn apply(&mut self, acks: &Acks, settles: Vec<Settle<DeliveryToken>>) -> Result<()> {
        if settles.iter().any(|s| matches!(s, Settle::Ack { .. })) {
            self.handler.before_acknowledging()?;
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
    fn set_up(&mut self, listener: &mut Listener, probe: Option<Probe>) -> Result<Vec<String>> {
        let settings = self.settings;
        let targets = match &settings.sources {
            Sources::WellKnown(topics) => {
                listener.declare_exchange(DEFAULT_EXCHANGE)?;
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
                        .map(|name| listener.exchange_exists(name))
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
            Sources::Targets(targets) => {
                for target in targets {
                    listener.declare_exchange(&target.exchange)?;
                }
                targets.clone()
            }
        };
        let routes = topology::target_routes(&targets, &settings.priorities);
        let queues = declare(listener, &topology::plan(&settings.mode, &routes))?;
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
fn declare(listener: &mut Listener, plans: &[topology::QueuePlan]) -> Result<Vec<String>> {
    for plan in plans {
        listener.declare_queue(&plan.queue)?;
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
        listener.bind_all(plan.queue.name(), &routes)?;
    }
    Ok(plans.iter().map(|p| p.queue.name().to_owned()).collect())
}

/// One line describing a message that is not a notification, holding the whole body so that
/// nothing is lost: as a JSON string when it is UTF-8, in base64 otherwise.
pub fn describe_poison(exchange: &str, routing_key: &str, reason: &str, body: &[u8]) -> String {
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

/// The `_unique_id`s of the notifications handled last, to drop a second copy of one, as
/// oslo's listener does with its `_MsgIdCache`: after a reconnection the broker delivers again
/// what was handled but not yet acknowledged, and a sender that lost its connection publishes
/// again what the broker had not confirmed.
#[derive(Debug)]
struct RecentIds {
    order: VecDeque<String>,
    set: HashSet<String>,
    capacity: usize,
}

impl RecentIds {
    fn new(capacity: usize) -> Self {
        RecentIds {
            order: VecDeque::with_capacity(capacity),
            set: HashSet::with_capacity(capacity),
            capacity,
        }
    }

    fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }

    fn insert(&mut self, id: String) {
        if self.set.contains(&id) {
            return;
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.set.remove(&oldest);
            }
        }
        self.set.insert(id.clone());
        self.order.push_back(id);
    }
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

    #[test]
    fn recent_ids_remember_the_last_ones() {
        let mut recent = RecentIds::new(2);
        recent.insert("a".into());
        recent.insert("b".into());
        recent.insert("b".into());
        assert!(recent.contains("a") && recent.contains("b"));
        recent.insert("c".into());
        assert!(!recent.contains("a") && recent.contains("b") && recent.contains("c"));
    }
}
