//! What both tools share, below either of them: their voice on stderr ([`talk`]) and the
//! way a signal ends a run ([`Signalled`]).

pub mod talk;

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
