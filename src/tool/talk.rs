//! What the tools say on stderr: their own lines and the engine's [`Event`]s, each as
//! `PROGRAM: line`, shown or not by the [`Verbosity`] asked for: `-q` for errors and
//! warnings only, `-v` for connection details, declarations, confirms and acknowledgements too.

use crate::events::{Event, Observer, Weight};
use std::fmt::Display;
use std::io::{self, Write};
use std::sync::{Arc, Mutex, PoisonError};

/// A level of talk on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Verbosity {
    /// Errors and warnings only (`-q`).
    Quiet,
    /// Also notices: retries, reconnections, what is bound, that the listener is ready.
    #[default]
    Normal,
    /// Also connection details, declarations, confirms and acknowledgements (`-v`).
    Verbose,
}

impl Verbosity {
    /// Whether notices are shown.
    pub fn notices(self) -> bool {
        self >= Verbosity::Normal
    }

    /// Whether details are shown.
    pub fn details(self) -> bool {
        self >= Verbosity::Verbose
    }
}

/// A tool's voice on stderr (or any writer). Clones share the writer, so the tool's lines and
/// those of the engine's events keep their order.
#[derive(Clone)]
pub struct Talk {
    program: &'static str,
    verbosity: Verbosity,
    out: Arc<Mutex<dyn Write + Send>>,
}

impl Talk {
    /// `program`'s voice at `verbosity`, on `out`.
    pub fn new(
        program: &'static str,
        verbosity: Verbosity,
        out: impl Write + Send + 'static,
    ) -> Self {
        Talk {
            program,
            verbosity,
            out: Arc::new(Mutex::new(out)),
        }
    }

    /// Whether a line of this weight is shown.
    pub fn shows(&self, weight: Weight) -> bool {
        match weight {
            Weight::Always => true,
            Weight::Notice => self.verbosity.notices(),
            Weight::Detail => self.verbosity.details(),
        }
    }

    /// Writes `PROGRAM: line` when a line of `weight` is shown.
    pub fn say(&self, weight: Weight, line: impl Display) -> io::Result<()> {
        if !self.shows(weight) {
            return Ok(());
        }
        // One write for the whole line: a process sharing the stream (a command run by
        // oslo-listen writes to the same stderr) cannot cut into it.
        let text = format!("{}: {line}\n", self.program);
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        out.write_all(text.as_bytes())?;
        out.flush()
    }

    /// Writes `PROGRAM: warning: line`, whatever the verbosity.
    pub fn warn(&self, line: impl Display) -> io::Result<()> {
        self.say(Weight::Always, format_args!("warning: {line}"))
    }
}

impl Observer for Talk {
    fn event(&mut self, event: Event) {
        // Nothing more can be done when stderr is gone.
        let _ = self.say(event.weight(), &event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer whose bytes the test can read afterwards.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn each_verbosity_shows_its_weights() {
        let lost = || Event::Lost {
            error: "lost".into(),
        };
        let settled = || Event::Settled {
            acks: 2,
            requeues: 1,
        };
        let poison = || Event::Poison {
            report: "bad".into(),
        };
        let said = |verbosity| {
            let buffer = Shared::default();
            let mut talk = Talk::new("tool", verbosity, buffer.clone());
            for event in [lost(), settled(), poison()] {
                talk.event(event);
            }
            talk.warn("careful").unwrap();
            let bytes = buffer.0.lock().unwrap().clone();
            String::from_utf8(bytes).unwrap()
        };
        assert_eq!(
            said(Verbosity::Quiet),
            "tool: bad\ntool: warning: careful\n"
        );
        assert_eq!(
            said(Verbosity::Normal),
            "tool: lost; reconnecting\ntool: bad\ntool: warning: careful\n"
        );
        assert_eq!(
            said(Verbosity::Verbose),
            "tool: lost; reconnecting\ntool: sent 2 acknowledgement(s) and 1 requeue(s)\n\
             tool: bad\ntool: warning: careful\n"
        );
    }
}
