//! What is said on stderr while the screen is in use: held, the last line shown at the
//! bottom, and all given back once the terminal is.

use super::shared::lock;
use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};

/// How many lines said on stderr are held while the screen is in use.
const HELD_LINES: usize = 1_000;

/// Lines said on stderr while the screen is in use: the last ones kept, given back after.
#[derive(Clone, Default)]
pub(super) struct Held(Arc<Mutex<HeldLines>>);

#[derive(Default)]
struct HeldLines {
    lines: VecDeque<String>,
    dropped: u64,
    partial: Vec<u8>,
}

impl Held {
    /// The last line said.
    pub(super) fn last(&self) -> Option<String> {
        lock(&self.0).lines.back().cloned()
    }

    /// Writes every line held to `err`.
    pub(super) fn give_back(&self, err: &mut impl Write) {
        let mut held = lock(&self.0);
        if held.dropped > 0 {
            let _ = writeln!(
                err,
                "oslo-listen: {} earlier lines were not kept while the screen was in use",
                held.dropped
            );
        }
        for line in held.lines.drain(..) {
            let _ = writeln!(err, "{line}");
        }
    }
}

impl Write for Held {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut held = lock(&self.0);
        held.partial.extend_from_slice(buf);
        while let Some(end) = held.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = held.partial.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line[..end]).into_owned();
            if held.lines.len() == HELD_LINES {
                held.lines.pop_front();
                held.dropped += 1;
            }
            held.lines.push_back(line);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_lines_are_given_back_in_order_within_bounds() {
        let mut held = Held::default();
        write!(held, "a: one\na: tw").unwrap();
        assert_eq!(held.last().as_deref(), Some("a: one"));
        writeln!(held, "o").unwrap();
        assert_eq!(held.last().as_deref(), Some("a: two"));
        for i in 0..HELD_LINES {
            writeln!(held, "line {i}").unwrap();
        }
        let mut err = Vec::new();
        held.give_back(&mut err);
        let err = String::from_utf8(err).unwrap();
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), HELD_LINES + 1);
        assert_eq!(
            lines[0],
            "oslo-listen: 2 earlier lines were not kept while the screen was in use"
        );
        assert_eq!(lines[HELD_LINES], format!("line {}", HELD_LINES - 1));
    }
}
