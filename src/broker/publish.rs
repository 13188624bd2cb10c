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

use super::declare::Declarer;
use super::{
    connect_retrying, BrokerError, BrokerErrorKind, ConnectOptions, Connection, Durability, Start,
};
use crate::transport_url::TransportUrl;
use amiquip::{
    AmqpProperties, Channel, Confirm, ConnectionBlockedNotification, FieldTable, Publish,
};
use crossbeam_channel::{Receiver, Select};
use std::collections::BTreeMap;
use std::mem::ManuallyDrop;
use std::time::{Duration, Instant};

/// How to connect again when the connection is lost.
pub struct Reconnect {
    /// Where.
    pub url: TransportUrl,
    /// How; `timeout` also bounds how long reconnecting may take.
    pub options: ConnectOptions,
}

/// Hears one line about each event worth telling a person: a lost connection, a failed
/// attempt to connect again, a broker that blocks publishes.
pub type Notices = Box<dyn FnMut(&str) + Send>;

/// Where messages go: an exchange and a routing key.
struct Route {
    exchange: String,
    routing_key: String,
}

/// A message kept until the broker confirms it.
struct Kept {
    /// Index into the publisher's routes.
    route: usize,
    body: Vec<u8>,
    /// How many times the broker refused (nacked) it, and when first.
    nacks: u32,
    first_nack: Option<Instant>,
}

/// One connection's channel in confirm mode.
struct Link {
    connection: Connection,
    channel: Channel,
    declarer: Declarer,
    /// Which of the publisher's routes are declared on this connection.
    declared: Vec<bool>,
    confirms: Receiver<Confirm>,
    /// connection.blocked and connection.unblocked from the broker.
    blocked: Receiver<ConnectionBlockedNotification>,
    /// Delivery tag (of this connection) -> sequence number.
    tags: BTreeMap<u64, u64>,
    next_tag: u64,
}

/// Opens a channel on `connection` in confirm mode, and the receiver of its confirms.
fn confirm_channel(
    connection: &mut Connection,
) -> Result<(Channel, Receiver<Confirm>), BrokerError> {
    let channel = connection
        .inner
        .open_channel(None)
        .map_err(|e| BrokerError::amqp("opening a channel", e))?;
    let confirms = channel
        .listen_for_publisher_confirms()
        .map_err(|e| BrokerError::amqp("listening for publisher confirms", e))?;
    // No need to wait for confirm.select-ok: the broker handles a channel's methods in
    // order, so every publish on it comes after, and a failure closes the channel.
    channel
        .enable_publisher_confirms_nowait()
        .map_err(|e| BrokerError::amqp("enabling publisher confirms", e))?;
    Ok((channel, confirms))
}

impl Link {
    fn open(mut connection: Connection, durability: Durability) -> Result<Link, BrokerError> {
        let (channel, confirms) = confirm_channel(&mut connection)?;
        let blocked = connection
            .inner
            .listen_for_connection_blocked()
            .map_err(|e| BrokerError::amqp("listening for blocked publishing", e))?;
        Ok(Link {
            connection,
            channel,
            declarer: Declarer::new(durability),
            declared: Vec::new(),
            confirms,
            blocked,
            tags: BTreeMap::new(),
            next_tag: 1,
        })
    }

    /// Publishes on a new channel from now on; the old one, with nothing left to confirm on
    /// it, is closed.
    fn renew_channel(&mut self) -> Result<(), BrokerError> {
        let (channel, confirms) = confirm_channel(&mut self.connection)?;
        let old = std::mem::replace(&mut self.channel, channel);
        self.confirms = confirms;
        self.next_tag = 1;
        self.tags.clear();
        // A failure here is the connection's, and the next publish finds it.
        let _ = old.close();
        Ok(())
    }

    fn send(&mut self, seq: u64, kept: &Kept, routes: &[Route]) -> Result<(), BrokerError> {
        let route = &routes[kept.route];
        if !self.declared.get(kept.route).copied().unwrap_or(false) {
            self.declarer.route(
                &mut self.connection.inner,
                &route.exchange,
                &route.routing_key,
            )?;
            if self.declared.len() <= kept.route {
                self.declared.resize(kept.route + 1, false);
            }
            self.declared[kept.route] = true;
        }
        self.channel
            .basic_publish(
                route.exchange.as_str(),
                Publish::with_properties(
                    &kept.body,
                    route.routing_key.as_str(),
                    notification_properties(),
                ),
            )
            .map_err(|e| {
                BrokerError::amqp(
                    format_args!(
                        "publishing to exchange {:?} with key {:?}",
                        route.exchange, route.routing_key
                    ),
                    e,
                )
            })?;
        self.tags.insert(self.next_tag, seq);
        self.next_tag += 1;
        Ok(())
    }
}

/// Publishes notifications with publisher confirms, declaring what each needs first.
pub struct Publisher {
    /// Dropped by hand (see `Drop`), unless abandoned or taken by `finish`.
    link: ManuallyDrop<Link>,
    /// Set when the broker may never answer a close: the link is then left to the end of
    /// the process rather than closed and waited on.
    abandoned: bool,
    durability: Durability,
    timeout: Duration,
    window: usize,
    next_seq: u64,
    /// Every route published to, in order of first use.
    routes: Vec<Route>,
    unconfirmed: BTreeMap<u64, Kept>,
    /// Refused (nacked) messages to publish again, and when.
    resend: Vec<u64>,
    resend_at: Option<Instant>,
    /// Messages refused for longer than the timeout.
    nacked: usize,
    first_nacked: Option<u64>,
    reconnect: Option<Reconnect>,
    notices: Option<Notices>,
    /// Why the broker blocks our publishes, while it does.
    blocked: Option<String>,
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

fn is_lost(error: &BrokerError) -> bool {
    error.kind() == BrokerErrorKind::Disconnected
}

impl Publisher {
    /// The number of unconfirmed messages [`Publisher::publish`] lets be in flight.
    pub const DEFAULT_WINDOW: usize = 1000;

    /// Opens the channels on `connection` and turns publisher confirms on. `timeout` bounds
    /// every wait for the broker's confirms.
    pub fn new(
        connection: Connection,
        durability: Durability,
        timeout: Duration,
    ) -> Result<Self, BrokerError> {
        Ok(Publisher {
            link: ManuallyDrop::new(Link::open(connection, durability)?),
            abandoned: false,
            durability,
            timeout,
            window: Self::DEFAULT_WINDOW,
            next_seq: 1,
            routes: Vec::new(),
            unconfirmed: BTreeMap::new(),
            resend: Vec::new(),
            resend_at: None,
            nacked: 0,
            first_nacked: None,
            reconnect: None,
            notices: None,
            blocked: None,
        })
    }

    /// Connects again and republishes what is unconfirmed when the connection is lost,
    /// rather than failing.
    pub fn with_reconnect(mut self, reconnect: Reconnect) -> Self {
        self.reconnect = Some(reconnect);
        self
    }

    /// Tells `notices` of lost connections, attempts to connect again, and a broker that
    /// blocks publishes.
    pub fn with_notices(mut self, notices: Notices) -> Self {
        self.notices = Some(notices);
        self
    }

    fn notice(&mut self, line: &str) {
        if let Some(notices) = self.notices.as_mut() {
            notices(line);
        }
    }

    /// The broker this publisher is connected to.
    pub fn address(&self) -> &str {
        self.link.connection.address()
    }

    /// Makes sure `exchange` exists and a queue named `routing_key` is bound to it with that
    /// key, as oslo's `_publish_and_creates_default_queue` does, so that a notification sent
    /// before any listener exists waits in that queue. What exists is used as it is.
    pub fn declare(&mut self, exchange: &str, routing_key: &str) -> Result<(), BrokerError> {
        loop {
            let link = &mut *self.link;
            match link
                .declarer
                .route(&mut link.connection.inner, exchange, routing_key)
            {
                Err(e) if is_lost(&e) => self.recover(e)?,
                other => return other,
            }
        }
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
        while self.unconfirmed.len() >= self.window || !self.resend.is_empty() {
            self.wait_for_confirm()?;
        }
        self.check_nacks()?;
        let seq = self.next_seq;
        self.next_seq += 1;
        let kept = Kept {
            route: self.route_index(exchange, routing_key),
            body,
            nacks: 0,
            first_nack: None,
        };
        let sent = self.link.send(seq, &kept, &self.routes);
        self.unconfirmed.insert(seq, kept);
        match sent {
            // Republished, with everything else unconfirmed, once connected again.
            Err(e) if is_lost(&e) => self.recover(e)?,
            other => other?,
        }
        Ok(seq)
    }

    fn route_index(&mut self, exchange: &str, routing_key: &str) -> usize {
        let known = self
            .routes
            .iter()
            .rposition(|r| r.exchange == exchange && r.routing_key == routing_key);
        known.unwrap_or_else(|| {
            self.routes.push(Route {
                exchange: exchange.to_owned(),
                routing_key: routing_key.to_owned(),
            });
            self.routes.len() - 1
        })
    }

    /// Every message up to and including this sequence number has been confirmed (acked).
    pub fn confirmed_through(&self) -> u64 {
        let oldest_open = self
            .unconfirmed
            .keys()
            .next()
            .copied()
            .unwrap_or(self.next_seq);
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
        while let Ok(confirm) = self.link.confirms.try_recv() {
            self.apply(confirm);
        }
    }

    /// Waits for one confirm, or until refused messages are due to be published again and
    /// are.
    fn wait_for_confirm(&mut self) -> Result<(), BrokerError> {
        let started = Instant::now();
        loop {
            // They go once nothing more is to be confirmed on this channel.
            let resend_at = self.resend_at.filter(|_| self.link.tags.is_empty());
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
            let ready = match select.select_timeout(left) {
                Ok(ready) => ready,
                // Refused messages are due: published again below.
                Err(_) if resend_at.is_some() && started.elapsed() < self.timeout => continue,
                Err(_) => {
                    if self.blocked.is_some() {
                        // It reads nothing from us now, a channel or connection close included.
                        self.abandoned = true;
                    }
                    return Err(self.not_confirmed(started.elapsed()));
                }
            };
            if ready.index() == blocked_op {
                match ready.recv(&self.link.blocked) {
                    Ok(ConnectionBlockedNotification::Blocked(reason)) => {
                        let line = format!(
                            "the broker at {} is blocking publishes ({reason}); waiting",
                            self.address()
                        );
                        self.notice(&line);
                        self.blocked = Some(reason);
                    }
                    Ok(ConnectionBlockedNotification::Unblocked) => {
                        let line =
                            format!("the broker at {} takes publishes again", self.address());
                        self.notice(&line);
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
                    self.apply(confirm);
                    Ok(())
                }
                Err(_) => self.recover(BrokerError::disconnected(format!(
                    "lost the connection to {} with {} notifications unconfirmed",
                    self.address(),
                    self.unconfirmed.len()
                ))),
            };
        }
    }

    fn not_confirmed(&self, waited: Duration) -> BrokerError {
        let why = match &self.blocked {
            Some(reason) => format!(" (it is blocking publishes: {reason})"),
            None => String::new(),
        };
        BrokerError::new(
            BrokerErrorKind::Timeout,
            format!(
                "the broker at {} confirmed none of {} notifications within {waited:.1?}{why}",
                self.address(),
                self.unconfirmed.len()
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
        self.notice(&format!("{lost}; reconnecting"));
        // Everything unconfirmed is published again on the new connection, refused ones too.
        self.resend.clear();
        self.resend_at = None;
        let deadline = Instant::now() + options.timeout;
        let lost_address = self.address().to_owned();
        loop {
            let notices = &mut self.notices;
            let start = Start::After(&lost_address);
            let connection = connect_retrying(&url, &options, start, Some(deadline), |e, wait| {
                if let Some(notices) = notices.as_mut() {
                    notices(&format!("{e}; trying again in {wait:.1?}"));
                }
            })?;
            let mut link = match Link::open(connection, self.durability) {
                Ok(link) => link,
                Err(e) if is_lost(&e) && Instant::now() < deadline => continue,
                Err(e) => return Err(e),
            };
            let mut republished = Ok(());
            for (seq, kept) in &self.unconfirmed {
                republished = link.send(*seq, kept, &self.routes);
                if republished.is_err() {
                    break;
                }
            }
            match republished {
                Ok(()) => {
                    let line = format!(
                        "reconnected to {}; sent {} unconfirmed notifications again",
                        link.connection.address(),
                        self.unconfirmed.len()
                    );
                    self.notice(&line);
                    // The old connection's handles go with it; it is gone anyway.
                    let old = std::mem::replace(&mut self.link, ManuallyDrop::new(link));
                    drop(ManuallyDrop::into_inner(old));
                    self.blocked = None;
                    return Ok(());
                }
                Err(e) if is_lost(&e) && Instant::now() < deadline => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn apply(&mut self, confirm: Confirm) {
        let (payload, acked) = match confirm {
            Confirm::Ack(payload) => (payload, true),
            Confirm::Nack(payload) => (payload, false),
        };
        let settled: Vec<u64> = if payload.multiple {
            let open = self.link.tags.split_off(&(payload.delivery_tag + 1));
            std::mem::replace(&mut self.link.tags, open)
                .into_values()
                .collect()
        } else {
            self.link
                .tags
                .remove(&payload.delivery_tag)
                .into_iter()
                .collect()
        };
        if acked {
            for seq in &settled {
                self.unconfirmed.remove(seq);
            }
            return;
        }
        let now = Instant::now();
        for seq in settled {
            let Some(kept) = self.unconfirmed.get_mut(&seq) else {
                continue;
            };
            kept.nacks += 1;
            let first = *kept.first_nack.get_or_insert(now);
            if now.duration_since(first) >= self.timeout {
                self.unconfirmed.remove(&seq);
                self.nacked += 1;
                self.first_nacked = Some(self.first_nacked.map_or(seq, |f| f.min(seq)));
                continue;
            }
            // 0.2 s, doubling up to 5 s.
            let wait = super::FIRST_BACKOFF
                .saturating_mul(1 << (kept.nacks - 1).min(5))
                .min(super::MAX_BACKOFF);
            let at = now + wait;
            self.resend_at = Some(self.resend_at.map_or(at, |due| due.min(at)));
            self.resend.push(seq);
        }
    }

    /// Publishes the refused messages again, on a new channel: a RabbitMQ (3.10) channel
    /// that published to a quorum queue while it had no leader goes on refusing what is sent
    /// to it, where a new channel finds the new leader.
    fn resend_due(&mut self) -> Result<(), BrokerError> {
        self.resend_at = None;
        if let Err(e) = self.link.renew_channel() {
            return if is_lost(&e) { self.recover(e) } else { Err(e) };
        }
        let mut seqs = std::mem::take(&mut self.resend);
        seqs.sort_unstable();
        let line = format!(
            "the broker at {} refused (nacked) {} notification(s); sending them again",
            self.address(),
            seqs.len()
        );
        self.notice(&line);
        for seq in seqs {
            let Some(kept) = self.unconfirmed.get(&seq) else {
                continue;
            };
            match self.link.send(seq, kept, &self.routes) {
                // Republished with everything else unconfirmed.
                Err(e) if is_lost(&e) => return self.recover(e),
                other => other?,
            }
        }
        Ok(())
    }

    fn check_nacks(&self) -> Result<(), BrokerError> {
        if self.nacked == 0 {
            return Ok(());
        }
        Err(BrokerError::new(
            BrokerErrorKind::Refused,
            format!(
                "the broker at {} refused (nacked) {} notification(s) again and again for {:?}: is a queue full (x-max-length with reject-publish)?",
                self.address(),
                self.nacked,
                self.timeout
            ),
        ))
    }

    /// Waits for every confirm, then closes the channels and the connection.
    pub fn finish(mut self) -> Result<(), BrokerError> {
        self.wait_for_all_confirms()?;
        // SAFETY: taken once; `abandoned` keeps Drop from touching it again.
        let link = unsafe { ManuallyDrop::take(&mut self.link) };
        self.abandoned = true;
        let Link {
            connection,
            channel,
            declarer,
            ..
        } = link;
        // Closing the connection closes its channels: one round trip rather than one per
        // channel. Their handles go once it is closed (amiquip fails a connection whose
        // closed channels' handles are dropped before it).
        let closed = connection.close();
        drop(channel);
        drop(declarer);
        closed
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        if !self.abandoned {
            // SAFETY: dropped here once; `finish` takes the link and sets `abandoned` first.
            unsafe { ManuallyDrop::drop(&mut self.link) }
        }
    }
}
