//! One connection's publishing side: a channel in confirm mode, the receivers of its
//! confirms and of the broker's blocked/unblocked notices, and the routes declared on it.

use super::connection::{Connection, Durability};
use super::declare::Declarer;
use super::error::{BrokerError, BrokerErrorKind};
use crate::oslo::topology::Route;
use amiquip::{
    AmqpProperties, Channel, Confirm, ConnectionBlockedNotification, FieldTable, Publish,
};
use crossbeam_channel::Receiver;

/// A message kept until the broker confirms it.
pub(super) struct Kept {
    /// Index into the publisher's routes.
    pub(super) route: usize,
    pub(super) body: Vec<u8>,
}

/// One connection's channel in confirm mode.
pub(super) struct Link {
    pub(super) connection: Connection,
    /// None once the link is abandoned (its handle is then the connection's, and leaked).
    pub(super) channel: Option<Channel>,
    pub(super) declarer: Declarer,
    /// Which of the publisher's routes are declared on this connection.
    pub(super) declared: Vec<bool>,
    pub(super) confirms: Receiver<Confirm>,
    /// connection.blocked and connection.unblocked from the broker.
    pub(super) blocked: Receiver<ConnectionBlockedNotification>,
}

/// Opens a channel on `connection` in confirm mode, and the receiver of its confirms.
fn confirm_channel(
    connection: &mut Connection,
) -> Result<(Channel, Receiver<Confirm>), BrokerError> {
    let channel = connection.open_channel()?;
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
    pub(super) fn open(
        mut connection: Connection,
        durability: Durability,
    ) -> Result<Link, BrokerError> {
        let (channel, confirms) = confirm_channel(&mut connection)?;
        let blocked = connection
            .amqp()?
            .listen_for_connection_blocked()
            .map_err(|e| BrokerError::amqp("listening for blocked publishing", e))?;
        Ok(Link {
            connection,
            channel: Some(channel),
            declarer: Declarer::new(durability),
            declared: Vec::new(),
            confirms,
            blocked,
        })
    }

    /// Publishes on a new channel from now on; the old one, with nothing left to confirm on
    /// it, is closed with the connection.
    pub(super) fn renew_channel(&mut self) -> Result<(), BrokerError> {
        let (channel, confirms) = confirm_channel(&mut self.connection)?;
        let old = self.channel.replace(channel);
        self.confirms = confirms;
        if let Some(old) = old {
            self.connection.retire(old);
        }
        Ok(())
    }

    /// Whether `routes[route]` is declared on this connection.
    pub(super) fn has_declared(&self, route: usize) -> bool {
        self.declared.get(route).copied().unwrap_or(false)
    }

    fn mark_declared(&mut self, route: usize) {
        if self.declared.len() <= route {
            self.declared.resize(route + 1, false);
        }
        self.declared[route] = true;
    }

    /// Declares `routes[route]` starting on the publishing channel, which must have nothing
    /// in flight (see [`Declarer::route_on`]). `Ok(true)` when that channel was closed by
    /// the broker and replaced: its delivery tags start again at 1.
    pub(super) fn declare_while_idle(
        &mut self,
        route: usize,
        routes: &[Route],
    ) -> Result<bool, BrokerError> {
        let Some(channel) = &self.channel else {
            // Given up: declared as `send` would, which then says why nothing is sent.
            return self.declare(route, routes).map(|()| false);
        };
        let Route {
            exchange,
            routing_key,
        } = &routes[route];
        let closed =
            self.declarer
                .route_on(&mut self.connection, channel, exchange, routing_key)?;
        self.mark_declared(route);
        if closed {
            self.renew_channel()?;
        }
        Ok(closed)
    }

    /// Declares `routes[route]` on the control channel.
    pub(super) fn declare(&mut self, route: usize, routes: &[Route]) -> Result<(), BrokerError> {
        let Route {
            exchange,
            routing_key,
        } = &routes[route];
        self.declarer
            .route(&mut self.connection, exchange, routing_key)?;
        self.mark_declared(route);
        Ok(())
    }

    /// Publishes `kept` (declaring its route first when this connection has not).
    pub(super) fn send(&mut self, kept: &Kept, routes: &[Route]) -> Result<(), BrokerError> {
        if !self.has_declared(kept.route) {
            self.declare(kept.route, routes)?;
        }
        let route = &routes[kept.route];
        let Some(channel) = &self.channel else {
            return Err(BrokerError::new(
                BrokerErrorKind::Other,
                format!(
                    "the connection to {} was given up (the broker blocked it)",
                    self.connection.address()
                ),
            ));
        };
        channel
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
            })
    }

    /// Closes the connection with its channels in one round trip.
    pub(super) fn close(self) -> Result<(), BrokerError> {
        let Link {
            mut connection,
            channel,
            mut declarer,
            ..
        } = self;
        if let Some(channel) = channel {
            connection.retire(channel);
        }
        declarer.retire_into(&mut connection);
        connection.close()
    }

    /// Gives the connection up without closing it: a broker that blocks us reads nothing,
    /// a close included. Every handle stays with the connection, which is left to the end
    /// of the process.
    pub(super) fn abandon(&mut self) {
        if let Some(channel) = self.channel.take() {
            self.connection.retire(channel);
        }
        self.declarer.retire_into(&mut self.connection);
        self.connection.abandon();
    }
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
