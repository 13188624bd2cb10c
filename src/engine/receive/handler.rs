//! What the receiving engine hands over, and what it is told back: a [`Received`]
//! notification, a [`Handler`]'s [`Verdict`] or error.

#[cfg(doc)]
use super::Source;
#[cfg(doc)]
use crate::engine::Error;
use crate::wire::envelope::{Message, Notification};

/// A notification as it came off the broker.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    /// The message read from the body: its head, and its payload and context as JSON text
    /// ([`Received::notification`] has them as values).
    pub message: &'a Message,
    /// The exchange it was published to.
    pub exchange: &'a str,
    /// Its routing key.
    pub routing_key: &'a str,
    /// The name of the broker it came from ([`Source::name`]): empty for the one broker of
    /// a run that names none.
    pub source: &'a str,
    /// The body as received; read from saved notifications (`oslo-listen --from`), the saved
    /// line or file.
    pub body: &'a [u8],
}

impl<'a> Received<'a> {
    /// The decoded notification, its payload and context as values (built from the
    /// message's text the first time they are asked for).
    pub fn notification(&self) -> &'a Notification {
        self.message.notification()
    }
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

/// What a [`Handler`] fails with: any error, kept whole in [`Error::Handler`].
pub type HandlerError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Receives each notification; what it returns decides how the delivery is settled. An
/// error stops the engine (what was not acknowledged goes back to its queue).
///
/// A closure `FnMut(&Received) -> Result<Verdict, E>` is a handler, for any error `E` that
/// converts into a [`HandlerError`] (`anyhow::Error` and every `std` error do).
pub trait Handler {
    /// Handles one notification.
    fn handle(&mut self, received: &Received) -> Result<Verdict, HandlerError>;

    /// Called before acknowledgements are sent for what it handled: the moment to make its
    /// work durable (`--save` syncs its files here). An error stops the engine, and those
    /// messages are not acknowledged.
    fn before_acknowledging(&mut self) -> Result<(), HandlerError> {
        Ok(())
    }

    /// Called when nothing more waits: every notification that had arrived has been handed
    /// over. The moment to make buffered output visible (`oslo-listen` flushes stdout here
    /// rather than after every notification). An error stops the engine.
    fn caught_up(&mut self) -> Result<(), HandlerError> {
        Ok(())
    }
}

impl<F, E> Handler for F
where
    F: FnMut(&Received) -> Result<Verdict, E>,
    E: Into<HandlerError>,
{
    fn handle(&mut self, received: &Received) -> Result<Verdict, HandlerError> {
        self(received).map_err(Into::into)
    }
}
