//! What both tools share, below either of them: their voice on stderr ([`talk`]), the way a
//! signal ends a run ([`Signalled`]), and their handlers for the receiving engine
//! ([`ToolHandler`]), whose errors come back whole ([`from_engine`]).

pub mod talk;

use crate::engine::receive::{Handler, HandlerError, Received, Verdict};
use crate::engine::Error;
use std::fmt;

/// A signal (SIGINT, SIGTERM) ended the run: exit code 128 + the signal's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signalled(pub i32);

impl fmt::Display for Signalled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "stopped by signal {}", self.0)
    }
}

impl std::error::Error for Signalled {}

/// A tool's handler for the receiving engine: a closure that fails with `anyhow` errors,
/// which [`from_engine`] gives back whole (context, chain and types) once the engine stops.
pub struct ToolHandler<F, S = fn() -> anyhow::Result<()>, C = fn() -> anyhow::Result<()>> {
    /// Handles each notification.
    pub handle: F,
    /// Makes the work durable before acknowledgements go (`--save` syncs here).
    pub before_acknowledging: Option<S>,
    /// Makes the work visible when nothing more waits (`oslo-listen` flushes stdout here).
    pub caught_up: Option<C>,
}

impl<F> ToolHandler<F> {
    /// A handler with nothing to do before acknowledgements.
    pub fn new(handle: F) -> Self {
        ToolHandler {
            handle,
            before_acknowledging: None,
            caught_up: None,
        }
    }
}

impl<F, S, C> Handler for ToolHandler<F, S, C>
where
    F: FnMut(&Received) -> anyhow::Result<Verdict>,
    S: FnMut() -> anyhow::Result<()>,
    C: FnMut() -> anyhow::Result<()>,
{
    fn handle(&mut self, received: &Received) -> Result<Verdict, HandlerError> {
        (self.handle)(received).map_err(|e| Box::new(Failed(e)) as HandlerError)
    }

    fn before_acknowledging(&mut self) -> Result<(), HandlerError> {
        match &mut self.before_acknowledging {
            Some(sync) => sync().map_err(|e| Box::new(Failed(e)) as HandlerError),
            None => Ok(()),
        }
    }

    fn caught_up(&mut self) -> Result<(), HandlerError> {
        match &mut self.caught_up {
            Some(show) => show().map_err(|e| Box::new(Failed(e)) as HandlerError),
            None => Ok(()),
        }
    }
}

/// A tool's own error, carried through the engine.
#[derive(Debug)]
struct Failed(anyhow::Error);

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Failed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// The engine's error as the tool's: a [`ToolHandler`]'s own error comes back as it was.
pub fn from_engine(error: Error) -> anyhow::Error {
    match error {
        Error::Handler(handler) => match handler.downcast::<Failed>() {
            Ok(failed) => failed.0,
            Err(handler) => Error::Handler(handler).into(),
        },
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_error_comes_back_whole_from_the_engine() {
        let io = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        let original = anyhow::Error::new(io).context("writing to stdout");
        let carried = Error::Handler(Box::new(Failed(original)));
        let back = from_engine(carried);
        assert_eq!(format!("{back:#}"), "writing to stdout: broken pipe");
        assert!(back.chain().any(|cause| cause.is::<std::io::Error>()));
    }
}
