//! Declaring exchanges, queues and bindings as oslo.messaging does, without clashing with
//! what a deployment already has.
//!
//! What exists is found with a passive declare and used as it is, so nothing is declared
//! again with settings that differ from the deployment's (that would fail with
//! 406 PRECONDITION_FAILED). Only what is missing is created, with the [`Durability`] asked
//! for. A passive declare of something missing is answered with 404, which closes the
//! channel, so declarations run on a control channel of their own that is reopened then.

use super::connection::{Connection, Durability};
use super::error::BrokerError;
use crate::oslo::topology::QueueSpec;
use amiquip::{
    AmqpValue, Channel, ExchangeDeclareOptions, ExchangeType, FieldTable, QueueDeclareOptions,
};
use std::collections::{HashMap, HashSet};
use std::fmt;

fn is_channel_error(error: &amiquip::Error, wanted: u16) -> bool {
    matches!(error, amiquip::Error::ServerClosedChannel { code, .. } if *code == wanted)
}

/// Runs declarations on a control channel of its own, and remembers what it has done.
/// Channels the broker closes (after a 404 or 406) are retired into the [`Connection`].
pub(crate) struct Declarer {
    durability: Durability,
    control: Option<Channel>,
    /// Exchange -> routing keys whose queue is declared and bound on it.
    routes: HashMap<String, HashSet<String>>,
}

impl Declarer {
    pub(crate) fn new(durability: Durability) -> Self {
        Declarer {
            durability,
            control: None,
            routes: HashMap::new(),
        }
    }

    /// Runs `step` on the control channel. `Ok(false)` when the broker answered with the
    /// `tolerated` code (which closed the channel; the next step opens a new one).
    fn step(
        &mut self,
        connection: &mut Connection,
        doing: impl fmt::Display,
        tolerated: Option<u16>,
        step: impl FnOnce(&Channel) -> amiquip::Result<()>,
    ) -> Result<bool, BrokerError> {
        self.ask(connection, doing, tolerated, step)
            .map(|answer| answer.is_some())
    }

    /// Runs `step` on the control channel and returns what it returns; `Ok(None)` when the
    /// broker answered with the `tolerated` code.
    fn ask<T>(
        &mut self,
        connection: &mut Connection,
        doing: impl fmt::Display,
        tolerated: Option<u16>,
        step: impl FnOnce(&Channel) -> amiquip::Result<T>,
    ) -> Result<Option<T>, BrokerError> {
        let channel = match self.control.take() {
            Some(channel) => channel,
            None => connection.open_channel()?,
        };
        match step(&channel) {
            Ok(answer) => {
                self.control = Some(channel);
                Ok(Some(answer))
            }
            Err(e) => {
                connection.retire(channel);
                if tolerated.is_some_and(|code| is_channel_error(&e, code)) {
                    Ok(None)
                } else {
                    Err(BrokerError::amqp(doing, e))
                }
            }
        }
    }

    /// How many messages wait in `queue` and how many consumers read it, without creating it:
    /// `None` when it does not exist.
    pub(crate) fn queue_depth(
        &mut self,
        connection: &mut Connection,
        queue: &str,
    ) -> Result<Option<(u32, u32)>, BrokerError> {
        let doing = format!("checking queue {queue:?}");
        self.ask(connection, doing, Some(404), |c| {
            c.queue_declare_passive(queue).map(|q| {
                (
                    q.declared_message_count().unwrap_or(0),
                    q.declared_consumer_count().unwrap_or(0),
                )
            })
        })
    }

    /// Hands the control channel to `connection`, to be closed with it.
    pub(crate) fn retire_into(&mut self, connection: &mut Connection) {
        if let Some(channel) = self.control.take() {
            connection.retire(channel);
        }
    }

    /// Whether `exchange` exists, without creating it.
    pub(crate) fn exchange_exists(
        &mut self,
        connection: &mut Connection,
        exchange: &str,
    ) -> Result<bool, BrokerError> {
        if self.routes.contains_key(exchange) {
            return Ok(true);
        }
        let doing = format!("checking exchange {exchange:?}");
        self.step(connection, doing, Some(404), |c| {
            c.exchange_declare_passive(exchange).map(drop)
        })
    }

    /// Makes sure the topic exchange `exchange` exists.
    pub(crate) fn exchange(
        &mut self,
        connection: &mut Connection,
        exchange: &str,
    ) -> Result<(), BrokerError> {
        if !self.exchange_exists(connection, exchange)? {
            let options = ExchangeDeclareOptions {
                durable: self.durability != Durability::Transient,
                ..ExchangeDeclareOptions::default()
            };
            // 406: someone created it a moment ago with other settings; use theirs.
            let doing = format!("declaring exchange {exchange:?}");
            self.step(connection, doing, Some(406), |c| {
                c.exchange_declare(ExchangeType::Topic, exchange, options)
                    .map(drop)
            })?;
        }
        self.routes.entry(exchange.to_owned()).or_default();
        Ok(())
    }

    /// Makes sure the queue exists.
    pub(crate) fn queue(
        &mut self,
        connection: &mut Connection,
        queue: &QueueSpec,
    ) -> Result<(), BrokerError> {
        let name = queue.name();
        let options = match queue {
            QueueSpec::Private(_) => QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..QueueDeclareOptions::default()
            },
            QueueSpec::Shared(_) => {
                let doing = format!("checking queue {name:?}");
                if self.step(connection, doing, Some(404), |c| {
                    c.queue_declare_passive(name).map(drop)
                })? {
                    return Ok(());
                }
                let mut arguments = FieldTable::default();
                if self.durability == Durability::Quorum {
                    arguments.insert(
                        "x-queue-type".to_owned(),
                        AmqpValue::LongString("quorum".to_owned()),
                    );
                }
                QueueDeclareOptions {
                    durable: self.durability != Durability::Transient,
                    arguments,
                    ..QueueDeclareOptions::default()
                }
            }
        };
        let doing = format!("declaring queue {name:?}");
        // 406 for a shared queue: it was created a moment ago with other settings.
        let tolerated = matches!(queue, QueueSpec::Shared(_)).then_some(406);
        self.step(connection, doing, tolerated, |c| {
            c.queue_declare(name, options).map(drop)
        })?;
        Ok(())
    }

    /// Binds `queue` to `exchange` with `routing_key`.
    pub(crate) fn bind(
        &mut self,
        connection: &mut Connection,
        queue: &str,
        exchange: &str,
        routing_key: &str,
    ) -> Result<(), BrokerError> {
        self.try_bind(connection, queue, exchange, routing_key, None)
            .map(drop)
    }

    /// Binds as [`Declarer::bind`] does; `Ok(false)` when the broker answered with the
    /// `tolerated` code.
    fn try_bind(
        &mut self,
        connection: &mut Connection,
        queue: &str,
        exchange: &str,
        routing_key: &str,
        tolerated: Option<u16>,
    ) -> Result<bool, BrokerError> {
        let doing =
            format!("binding queue {queue:?} to exchange {exchange:?} with key {routing_key:?}");
        self.step(connection, doing, tolerated, |c| {
            c.queue_bind(queue, exchange, routing_key, FieldTable::default())
        })
    }

    /// Binds `queue` to each exchange with its key without waiting for each answer, then
    /// waits once: a bind the broker refuses closes the channel, which that wait finds. One
    /// round trip for them all, however far the broker is.
    pub(crate) fn bind_all(
        &mut self,
        connection: &mut Connection,
        queue: &str,
        routes: &[(&str, &str)],
    ) -> Result<(), BrokerError> {
        let doing = match routes {
            [(exchange, key)] => {
                format!("binding queue {queue:?} to exchange {exchange:?} with key {key:?}")
            }
            _ => format!("binding queue {queue:?} with {} keys", routes.len()),
        };
        self.ask(connection, doing, None, |c| {
            for (exchange, key) in routes {
                c.queue_bind_nowait(queue, *exchange, *key, FieldTable::default())?;
            }
            // Answered only once every bind before it was taken.
            c.queue_declare_passive(queue).map(drop)
        })
        .map(drop)
    }

    /// Makes sure `exchange` exists and a queue named `routing_key` is bound to it with that
    /// key, as oslo's `_publish_and_creates_default_queue` does before it publishes, so that
    /// a notification sent before any listener exists waits in that queue. Done once per
    /// route and connection.
    pub(crate) fn route(
        &mut self,
        connection: &mut Connection,
        exchange: &str,
        routing_key: &str,
    ) -> Result<(), BrokerError> {
        if self.has_route(exchange, routing_key) {
            return Ok(());
        }
        // Most often both exist: the bind, sent without waiting, and a check of the queue
        // behind it take one round trip; a 404 (either missing) closes the channel, and the
        // route is then made step by step.
        let doing = bind_doing(exchange, routing_key);
        let bound = self.step(connection, doing, Some(404), |c| {
            bind_and_check(c, exchange, routing_key)
        })?;
        if !bound {
            self.make_route(connection, exchange, routing_key)?;
        }
        self.add_route(exchange, routing_key);
        Ok(())
    }

    /// As [`Declarer::route`], trying first on `idle`, a channel with nothing in flight
    /// (the publishing channel before its first publish), so that the control channel is
    /// opened only when something is missing: for a one-shot, one round trip less. `Ok(true)`
    /// when the broker closed `idle` (a 404: something was missing, and was made on the
    /// control channel): the caller publishes on a new channel.
    pub(crate) fn route_on(
        &mut self,
        connection: &mut Connection,
        idle: &Channel,
        exchange: &str,
        routing_key: &str,
    ) -> Result<bool, BrokerError> {
        if self.has_route(exchange, routing_key) {
            return Ok(false);
        }
        let closed = match bind_and_check(idle, exchange, routing_key) {
            Ok(()) => false,
            Err(e) if is_channel_error(&e, 404) => {
                self.make_route(connection, exchange, routing_key)?;
                true
            }
            Err(e) => return Err(BrokerError::amqp(bind_doing(exchange, routing_key), e)),
        };
        self.add_route(exchange, routing_key);
        Ok(closed)
    }

    fn has_route(&self, exchange: &str, routing_key: &str) -> bool {
        self.routes
            .get(exchange)
            .is_some_and(|keys| keys.contains(routing_key))
    }

    fn add_route(&mut self, exchange: &str, routing_key: &str) {
        self.routes
            .entry(exchange.to_owned())
            .or_default()
            .insert(routing_key.to_owned());
    }

    /// Makes the route step by step, what exists used as it is.
    fn make_route(
        &mut self,
        connection: &mut Connection,
        exchange: &str,
        routing_key: &str,
    ) -> Result<(), BrokerError> {
        self.queue(connection, &QueueSpec::Shared(routing_key.to_owned()))?;
        // Most often the exchange exists: binding to it tells, with a 404 when it does not,
        // one round trip sooner than checking it first would.
        let known = self.routes.contains_key(exchange);
        if known || !self.try_bind(connection, routing_key, exchange, routing_key, Some(404))? {
            self.exchange(connection, exchange)?;
            self.bind(connection, routing_key, exchange, routing_key)?;
        }
        Ok(())
    }
}

fn bind_doing(exchange: &str, routing_key: &str) -> String {
    format!("binding queue {routing_key:?} to exchange {exchange:?} with key {routing_key:?}")
}

/// Binds the queue `routing_key` to `exchange` with that key without waiting, then checks
/// the queue: answered once the bind was taken, with 404 when either is missing.
fn bind_and_check(channel: &Channel, exchange: &str, routing_key: &str) -> amiquip::Result<()> {
    channel.queue_bind_nowait(routing_key, exchange, routing_key, FieldTable::default())?;
    channel.queue_declare_passive(routing_key).map(drop)
}
