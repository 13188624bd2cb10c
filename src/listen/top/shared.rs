//! What the threads of `--top` share: the running figures, the queues to watch and their
//! depths, the clock, and how often each loop looks around.

use super::snapshot::{QueueDepth, Snapshot, SortBy};
use super::tally::{GroupBy, Tally};
use chrono::Utc;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How often the depth of the shared queues is read.
pub(super) const QUEUE_INTERVAL: Duration = Duration::from_secs(5);
/// How often the loops look at keys, signals and the engine.
pub(super) const TICK: Duration = Duration::from_millis(50);

/// What the engine's thread and the others share.
pub(super) struct Shared {
    pub(super) tally: Mutex<Tally>,
    /// The shared queues to read the depth of, with the exchange each is named for.
    pub(super) watched: Mutex<Vec<(String, String)>>,
    /// Their depths as last read.
    pub(super) queues: Mutex<Vec<QueueDepth>>,
    /// Asks the depth reader to read now, whatever its interval (and cuts its pause short).
    pub(super) ask: Channel,
    /// The reader's answer: it read (or tried to).
    pub(super) answer: Channel,
}

/// A channel of one signal, both of its ends.
pub(super) type Channel = (
    crossbeam_channel::Sender<()>,
    crossbeam_channel::Receiver<()>,
);

/// How long the final figures wait for the queue depths to be read once more.
const LAST_READ: Duration = Duration::from_secs(2);

impl Shared {
    /// Has the depths read once more (the last read may be an interval old), waiting at most
    /// [`LAST_READ`] for it.
    pub(super) fn read_depths_now(&self) {
        if lock(&self.watched).is_empty() {
            return;
        }
        let _ = self.ask.0.try_send(());
        let _ = self.answer.1.recv_timeout(LAST_READ);
    }
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Time since the start, and the wall clock.
pub(super) struct Clock {
    pub(super) started: Instant,
}

impl Clock {
    pub(super) fn snapshot(&self, shared: &Shared, by: GroupBy, sort: SortBy) -> Snapshot {
        let queues = lock(&shared.queues).clone();
        let tally = lock(&shared.tally);
        Snapshot::take(
            &tally,
            &queues,
            by,
            sort,
            self.started.elapsed(),
            Utc::now(),
        )
    }
}
