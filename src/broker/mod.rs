//! Talking to RabbitMQ: connect, declare as oslo.messaging does, publish with confirms.
//!
//! This is the only module that uses the AMQP client. Everything it returns on failure is a
//! [`BrokerError`] whose [`BrokerErrorKind`] says whether the broker could not be reached,
//! turned the credentials, the virtual host or the TLS session down, did not answer in time,
//! refused a message, dropped the connection, or failed otherwise.
//!
//! A library user meets [`ConnectOptions`], [`Durability`], [`TlsFiles`] and the errors;
//! the rest serves the engine.

mod confirms;
mod connect;
mod connection;
mod consume;
mod declare;
mod error;
mod gauge;
mod link;
mod peer;
mod publish;
mod reconnect;
pub(crate) mod settlement;
mod tls;

pub(crate) use connect::{connect, Handoff, Start};
pub(crate) use connection::Connection;
pub use connection::{ConnectOptions, Durability};
pub(crate) use consume::{Acks, Consumed, DeliveryToken, Flow, Subscriber};
pub use error::{BrokerError, BrokerErrorKind, ClientError};
pub(crate) use gauge::{exchanges_exist, QueueGauge};
pub(crate) use publish::{Publisher, Reconnect};
pub(crate) use reconnect::{connect_retrying, connect_retrying_unless, tell_retrying};
pub use tls::TlsFiles;
