//! How full queues are, read with passive declares on a channel of its own: a queue that does
//! not exist is reported missing, never created.

use super::connect::connect;
use super::connection::{ConnectOptions, Connection, Durability};
use super::declare::Declarer;
use super::error::{BrokerError, BrokerErrorKind};
use crate::oslo::transport_url::TransportUrl;
use std::time::Duration;

/// A queue's figures at the moment it was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Depth {
    /// Messages ready to be delivered.
    pub messages: u32,
    /// Consumers reading it.
    pub consumers: u32,
}

/// Which of `exchanges` exist (without creating any), each looked for over a connection of
/// its own, all at once: about as long as one connection and one round trip, however many
/// there are. For a broker far away, where one after another would take a round trip or two
/// each.
pub fn exchanges_exist(
    url: &TransportUrl,
    options: &ConnectOptions,
    exchanges: &[&str],
) -> Result<Vec<bool>, BrokerError> {
    let (tx, rx) = crossbeam_channel::unbounded();
    for (at, name) in exchanges.iter().enumerate() {
        let (tx, url, options, name) = (tx.clone(), url.clone(), options.clone(), name.to_string());
        // Not joined: each sends its answer before it closes its connection.
        std::thread::spawn(move || {
            let mut connection = match connect(&url, &options) {
                Ok(connection) => connection,
                Err(e) => {
                    let _ = tx.send((at, Err(e)));
                    return;
                }
            };
            let mut declarer = Declarer::new(Durability::Transient);
            let exists = declarer.exchange_exists(&mut connection, &name);
            let _ = tx.send((at, exists));
            declarer.retire_into(&mut connection);
            let _ = connection.close();
        });
    }
    drop(tx);
    let mut found = vec![false; exchanges.len()];
    // Each connection is bounded by the connect timeout, and its one question by heartbeats.
    let wait = options.timeout * 2 + Duration::from_secs(5);
    for _ in exchanges {
        let (at, exists) = rx.recv_timeout(wait).map_err(|_| {
            BrokerError::new(
                BrokerErrorKind::TimedOut,
                format!("no answer within {wait:?} while looking for exchanges"),
            )
        })?;
        found[at] = exists?;
    }
    Ok(found)
}

/// Looks at queues on a connection.
pub struct QueueGauge {
    connection: Connection,
    declarer: Declarer,
}

impl QueueGauge {
    /// Looks at queues over `connection`.
    pub fn new(connection: Connection) -> Self {
        QueueGauge {
            connection,
            // Nothing is declared: the durability is never used.
            declarer: Declarer::new(Durability::Transient),
        }
    }

    /// `queue`'s depth; `None` when it does not exist.
    pub fn depth(&mut self, queue: &str) -> Result<Option<Depth>, BrokerError> {
        let depth = self.declarer.queue_depth(&mut self.connection, queue)?;
        Ok(depth.map(|(messages, consumers)| Depth {
            messages,
            consumers,
        }))
    }

    /// Closes the connection.
    pub fn close(mut self) -> Result<(), BrokerError> {
        self.declarer.retire_into(&mut self.connection);
        self.connection.close()
    }
}
