//! Publishing with publisher confirms, pipelined, and surviving a lost connection.
//!
//! Every message gets a sequence number (1, 2, 3, ... in publish order) that stays valid
//! across connections. A message is kept until the broker confirms it; when the connection
//! is lost and a [`Reconnect`] policy is set, the publisher connects again, declares the
//! routes again and republishes, in order, everything not yet confirmed. A message may then
//! reach a queue twice (its confirm was lost with the connection); none is lost.
//!
//! A message the broker refuses (nacks) is published again after a wait (0.2 s, doubling up
//! to 5 s): a quorum queue nacks while it elects a new leader after losing a node, and takes
//! the message once it has one. One still refused after the publisher's timeout (a full queue
//! that rejects publishes, say) is an error.

use super::confirms::Ledger;
use super::connect::{Handoff, Start};
use super::connection::{ConnectOptions, Connection, Durability};
use super::error::{BrokerError, BrokerErrorKind};
use super::link::{Kept, Link};
use super::reconnect::{connect_retrying, tell_retrying};
use crate::events::{DefaultObserver, Event, Observer};
use crate::oslo::topology::Route;
use crate::oslo::transport_url::TransportUrl;
use amiquip::{Confirm, ConnectionBlockedNotification};
use crossbeam_channel::Select;
use std::time::{Duration, Instant};

/// How to connect again when the connection is lost.
pub struct Reconnect {
    /// Where.
    pub url: TransportUrl,
    /// How; `timeout` also bounds how long reconnecting may take.
    pub options: ConnectOptions,
}

/// Publishes notifications with publisher confirms, declaring what each needs first.
pub struct Publisher {
    link: Link,
    durability: Durability,
    /// Bounds every wait for confirms, and how long a refused message is sent again.
    timeout: Duration,
    /// Every route published to, in order of first use.
    routes: Vec<Route>,
    ledger: Ledger<Kept>,
    reconnect: Option<Reconnect>,
    observer: Box<dyn Observer>,
    /// Why the broker blocks our publishes, while it does.
    blocked: Option<String>,
}

fn is_lost(error: &BrokerError) -> bool {
    error.kind() == BrokerErrorKind::Disconnected
}

impl Publisher {
    /// The number of unconfirmed messages [`Publisher::publish`] lets be in flight.
    pub const WINDOW: usize = 1000;

    /// Opens the channels on `connection` and turns publisher confirms on. `timeout` bounds
    /// every wait for the broker's confirms. Events go to [`DefaultObserver`] until
    /// [`Publisher::with_observer`].
    pub(crate) fn new(
        connection: Connection,
        durability: Durability,
        timeout: Duration,
    ) -> Result<Self, BrokerError> {
        Ok(Publisher {
            link: Link::open(connection, durability)?,
            durability,
            timeout,
            routes: Vec::new(),
            ledger: Ledger::new(timeout),
            reconnect: None,
            observer: Box::new(DefaultObserver),
            blocked: None,
        })
    }

    /// Connects again and republishes what is unconfirmed when the connection is lost,
    /// rather than failing.
    pub fn with_reconnect(mut self, reconnect: Reconnect) -> Self {
        self.reconnect = Some(reconnect);
        self
    }

    /// Tells `observer` of lost connections, attempts to connect again, republished
    /// messages, refused ones sent again, and a broker that blocks publishes.
    pub fn with_observer(mut self, observer: Box<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// Tells the observer of `event`.
    pub(crate) fn tell(&mut self, event: Event) {
        self.observer.event(event);
    }

    /// The broker this publisher is connected to.
    pub fn address(&self) -> &str {
        self.link.connection.address()
    }

    /// Makes sure `exchange` exists and a queue named `routing_key` is bound to it with that
    /// key, as oslo's `_publish_and_creates_default_queue` does, so that a notification sent
    /// before any listener exists waits in that queue. What exists is used as it is.
    pub fn declare(&mut self, exchange: &str, routing_key: &str) -> Result<(), BrokerError> {
        let route = self.route_index(exchange, routing_key);
        self.declare_route(route)
    }

    /// Declares `self.routes[route]` on this connection unless it is. With nothing in flight
    /// that starts on the publishing channel, which a missing queue or exchange closes (a
    /// new one then takes its place): one channel fewer to open for a one-shot.
    fn declare_route(&mut self, route: usize) -> Result<(), BrokerError> {
        while !self.link.has_declared(route) {
            let declared = if self.ledger.awaiting_confirms() {
                self.link.declare(route, &self.routes)
            } else {
                self.link
                    .declare_while_idle(route, &self.routes)
                    .map(|renewed| {
                        if renewed {
                            self.ledger.new_channel();
                        }
                    })
            };
            match declared {
                Ok(()) => {}
                Err(e) if is_lost(&e) => self.recover(e)?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Publishes one message body to `exchange` with `routing_key` (declaring the route
    /// first when this connection has not) and returns its sequence number. Waits for
    /// confirms first when the window of unconfirmed messages is full.
    pub fn publish(
        &mut self,
        exchange: &str,
        routing_key: &str,
        body: Vec<u8>,
    ) -> Result<u64, BrokerError> {
        self.drain_confirms();
        // Refused messages go again before anything new.
        while self.ledger.unconfirmed_count() >= Self::WINDOW || self.ledger.resend_at().is_some() {
            self.wait_for_confirm()?;
        }
        self.check_refused()?;
        let route = self.route_index(exchange, routing_key);
        self.declare_route(route)?;
        let kept = Kept { route, body };
        let sent = self.link.send(&kept, &self.routes);
        let seq = self.ledger.add(kept);
        match sent {
            Ok(()) => self.ledger.published(seq),
            // Republished, with everything else unconfirmed, once connected again.
            Err(e) if is_lost(&e) => self.recover(e)?,
            Err(e) => return Err(e),
        }
        Ok(seq)
    }

    fn route_index(&mut self, exchange: &str, routing_key: &str) -> usize {
        let known = self
            .routes
            .iter()
            .rposition(|r| r.exchange == exchange && r.routing_key == routing_key);
        known.unwrap_or_else(|| {
            self.routes.push(Route::new(exchange, routing_key));
            self.routes.len() - 1
        })
    }

    /// Every message up to and including this sequence number has been confirmed (acked).
    pub fn confirmed_through(&self) -> u64 {
        self.ledger.confirmed_through()
    }

    /// Waits until every message published so far is confirmed; fails if any was refused
    /// for longer than the timeout.
    pub fn wait_for_all_confirms(&mut self) -> Result<(), BrokerError> {
        while self.ledger.unconfirmed_count() > 0 {
            self.wait_for_confirm()?;
        }
        self.check_refused()
    }

    /// Takes the confirms that have arrived, without waiting.
    pub fn drain_confirms(&mut self) {
        while let Ok(confirm) = self.link.confirms.try_recv() {
            self.apply_confirm(confirm);
        }
    }

    /// Waits for one confirm, or until refused messages are due to be published again and
    /// are.
    fn wait_for_confirm(&mut self) -> Result<(), BrokerError> {
        let started = Instant::now();
        loop {
            // They go once nothing more is to be confirmed on this channel.
            let resend_at = self
                .ledger
                .resend_at()
                .filter(|_| !self.ledger.awaiting_confirms());
            if resend_at.is_some_and(|at| at <= Instant::now()) {
                return self.resend_due();
            }
            let mut left = self.timeout.saturating_sub(started.elapsed());
            if let Some(at) = resend_at {
                left = left.min(at.saturating_duration_since(Instant::now()));
            }
            let mut select = Select::new();
            let confirm_op = select.recv(&self.link.confirms);
            let blocked_op = select.recv(&self.link.blocked);
            let Ok(ready) = select.select_timeout(left) else {
                drop(select);
                // Refused messages are due: published again above.
                if resend_at.is_some() && started.elapsed() < self.timeout {
                    continue;
                }
                if self.blocked.is_some() {
                    self.link.abandon();
                }
                return Err(self.not_confirmed(started.elapsed()));
            };
            if ready.index() == blocked_op {
                match ready.recv(&self.link.blocked) {
                    Ok(ConnectionBlockedNotification::Blocked(reason)) => {
                        self.observer.event(Event::Blocked {
                            address: self.address().to_owned(),
                            reason: reason.clone(),
                        });
                        self.blocked = Some(reason);
                    }
                    Ok(ConnectionBlockedNotification::Unblocked) => {
                        self.observer.event(Event::Unblocked {
                            address: self.address().to_owned(),
                        });
                        self.blocked = None;
                    }
                    // The connection is gone: the confirms' side says so too.
                    Err(_) => {}
                }
                continue;
            }
            debug_assert_eq!(ready.index(), confirm_op);
            return match ready.recv(&self.link.confirms) {
                Ok(confirm) => {
                    self.apply_confirm(confirm);
                    Ok(())
                }
                Err(_) => self.recover(BrokerError::disconnected(format!(
                    "lost the connection to {} with {} notifications unconfirmed",
                    self.address(),
                    self.ledger.unconfirmed_count()
                ))),
            };
        }
    }

    fn apply_confirm(&mut self, confirm: Confirm) {
        let (payload, acked) = match confirm {
            Confirm::Ack(payload) => (payload, true),
            Confirm::Nack(payload) => (payload, false),
        };
        self.ledger.confirm(
            payload.delivery_tag,
            payload.multiple,
            acked,
            Instant::now(),
        );
    }

    fn not_confirmed(&self, waited: Duration) -> BrokerError {
        let (kind, why) = match &self.blocked {
            Some(reason) => (
                BrokerErrorKind::Blocked,
                format!(" (it is blocking publishes: {reason})"),
            ),
            None => (BrokerErrorKind::TimedOut, String::new()),
        };
        BrokerError::new(
            kind,
            format!(
                "the broker at {} confirmed none of {} notifications within {waited:.1?}{why}",
                self.address(),
                self.ledger.unconfirmed_count()
            ),
        )
    }

    /// After losing the connection: connect again and republish everything unconfirmed,
    /// or fail with `lost` when there is no [`Reconnect`] policy.
    fn recover(&mut self, lost: BrokerError) -> Result<(), BrokerError> {
        let Some(policy) = self.reconnect.as_ref() else {
            return Err(lost);
        };
        let (url, options) = (policy.url.clone(), policy.options.clone());
        self.observer.event(Event::Lost {
            error: format!("{lost:#}"),
        });
        // Everything unconfirmed is published again on the new connection, refused ones too.
        self.ledger.forget_resends();
        let deadline = Instant::now() + options.timeout;
        let lost_address = self.address().to_owned();
        loop {
            let observer = &mut self.observer;
            let start = Start::After(&lost_address);
            let connection = connect_retrying(
                &url,
                &options,
                Handoff::Window,
                start,
                Some(deadline),
                tell_retrying(&mut **observer),
            )?;
            let mut link = match Link::open(connection, self.durability) {
                Ok(link) => link,
                Err(e) if is_lost(&e) && Instant::now() < deadline => continue,
                Err(e) => return Err(e),
            };
            self.ledger.new_channel();
            let mut republished = Ok(());
            let mut sent = Vec::with_capacity(self.ledger.unconfirmed_count());
            for (seq, kept) in self.ledger.unconfirmed() {
                republished = link.send(kept, &self.routes);
                if republished.is_err() {
                    break;
                }
                sent.push(seq);
            }
            for seq in sent {
                self.ledger.published(seq);
            }
            match republished {
                Ok(()) => {
                    self.observer.event(Event::Republished {
                        address: link.connection.address().to_owned(),
                        resent: self.ledger.unconfirmed_count(),
                    });
                    // The old connection is gone anyway; its handles go with it.
                    drop(std::mem::replace(&mut self.link, link));
                    self.blocked = None;
                    return Ok(());
                }
                Err(e) if is_lost(&e) && Instant::now() < deadline => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Publishes the refused messages again, on a new channel: a RabbitMQ (3.10) channel
    /// that published to a quorum queue while it had no leader goes on refusing what is sent
    /// to it, where a new channel finds the new leader.
    fn resend_due(&mut self) -> Result<(), BrokerError> {
        let seqs = self.ledger.take_resends();
        if let Err(e) = self.link.renew_channel() {
            return if is_lost(&e) { self.recover(e) } else { Err(e) };
        }
        self.ledger.new_channel();
        self.observer.event(Event::Resending {
            address: self.address().to_owned(),
            count: seqs.len(),
        });
        for seq in seqs {
            let Some(kept) = self.ledger.get(seq) else {
                continue;
            };
            match self.link.send(kept, &self.routes) {
                Ok(()) => self.ledger.published(seq),
                // Republished with everything else unconfirmed.
                Err(e) if is_lost(&e) => return self.recover(e),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn check_refused(&self) -> Result<(), BrokerError> {
        match self.ledger.refused() {
            0 => Ok(()),
            refused => Err(BrokerError::new(
                BrokerErrorKind::Nacked,
                format!(
                    "the broker at {} refused (nacked) {refused} notification(s) again and again for {:?}: is a queue full (x-max-length with reject-publish)?",
                    self.address(),
                    self.timeout
                ),
            )),
        }
    }

    /// Waits for every confirm, then closes the channels and the connection.
    pub fn finish(mut self) -> Result<(), BrokerError> {
        self.wait_for_all_confirms()?;
        self.link.close()
    }
}
