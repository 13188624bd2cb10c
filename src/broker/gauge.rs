//! How full queues are, read with passive declares on a channel of its own: a queue that does
//! not exist is reported missing, never created.

use super::declare::Declarer;
use super::{BrokerError, Connection, Durability};

/// A queue's figures at the moment it was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Depth {
    /// Messages ready to be delivered.
    pub messages: u32,
    /// Consumers reading it.
    pub consumers: u32,
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

    /// The broker this gauge is connected to.
    pub fn address(&self) -> &str {
        self.connection.address()
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
