//! stdin while notifications stream from it (`--lines`, `--replay`): read on a thread of
//! its own, in chunks, so that a first SIGINT or SIGTERM is seen while it is idle and stops
//! the reading; a second ends the process.

use crate::tool::Signalled;
use anyhow::{Context, Result};
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// SIGINT and SIGTERM while notifications are sent: the first is noted (the sending stops at
/// the next notification, and what was sent is confirmed and reported), a second ends the
/// process at once with the signal's default action. Given back to the default on drop.
#[derive(Default)]
pub(super) struct Interrupts {
    /// The number of the first signal (0: none yet).
    signal: Arc<AtomicUsize>,
    registered: Vec<signal_hook::SigId>,
}

impl Interrupts {
    pub(super) fn arm() -> io::Result<Interrupts> {
        use signal_hook::{consts, flag};
        let signal = Arc::new(AtomicUsize::new(0));
        let asked = Arc::new(AtomicBool::new(false));
        let mut registered = Vec::new();
        for number in [consts::SIGINT, consts::SIGTERM] {
            // In this order: the second signal finds `asked` already set.
            registered.push(flag::register_conditional_default(
                number,
                Arc::clone(&asked),
            )?);
            registered.push(flag::register(number, Arc::clone(&asked))?);
            let value = usize::try_from(number).unwrap_or(usize::MAX);
            registered.push(flag::register_usize(number, Arc::clone(&signal), value)?);
        }
        Ok(Interrupts { signal, registered })
    }

    /// The signal that asked to stop, as an error.
    pub(super) fn check(&self) -> Result<(), Signalled> {
        match self.signal.load(Ordering::Relaxed) {
            0 => Ok(()),
            number => Err(Signalled(i32::try_from(number).unwrap_or(i32::MAX))),
        }
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        for id in self.registered.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// Stdin read on a thread of its own, in chunks, so that waiting for input can be
/// interrupted by a signal.
pub(super) struct Chunks {
    chunks: crossbeam_channel::Receiver<io::Result<Vec<u8>>>,
}

/// How much stdin is read at once.
const CHUNK: usize = 64 * 1024;

impl Chunks {
    pub(super) fn read(mut stdin: impl Read + Send + 'static) -> Chunks {
        let (tx, rx) = crossbeam_channel::bounded(4);
        // Not joined: it may be blocked in read(2) when sending stops early; the process
        // ends with it.
        std::thread::spawn(move || loop {
            let mut chunk = vec![0; CHUNK];
            match stdin.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => {
                    chunk.truncate(n);
                    if tx.send(Ok(chunk)).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        });
        Chunks { chunks: rx }
    }

    /// The next chunk, or `None` at the end of stdin; waits for it, looking at `interrupts`
    /// and calling `idle` every so often.
    pub(super) fn next(
        &self,
        interrupts: &Interrupts,
        mut idle: impl FnMut() -> Result<()>,
    ) -> Result<Option<Vec<u8>>> {
        loop {
            interrupts.check()?;
            match self.chunks.recv_timeout(Duration::from_millis(50)) {
                Ok(chunk) => return Ok(Some(chunk.context("reading stdin")?)),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => idle()?,
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return Ok(None),
            }
        }
    }
}
