//! What the threads of `--top` share: the running figures, the queues to watch and their
//! depths, the clock, and how often each loop looks around.

use super::snapshot::{QueueDepth, Snapshot, SortBy, SourceState};
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
    /// The shared queues to read the depth of: the source each is on, its name, and the
    /// exchange it is named for.
    pub(super) watched: Mutex<Vec<Watched>>,
    /// Their depths as last read.
    pub(super) queues: Mutex<Vec<QueueDepth>>,
    /// Where each source stands, when several brokers are read.
    pub(super) sources: Mutex<Vec<SourceState>>,
    /// Asks each source's depth reader to read now, whatever its interval (and cuts its
    /// pause short).
    pub(super) ask: Vec<Channel>,
    /// Each reader's answer: it read (or tried to).
    pub(super) answer: Vec<Channel>,
}

/// A shared queue to read the depth of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Watched {
    /// The source it is on (empty for a run's only one).
    pub(super) source: String,
    /// The queue.
    pub(super) queue: String,
    /// The exchange it is named for.
    pub(super) exchange: String,
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
        for ask in &self.ask {
            let _ = ask.0.try_send(());
        }
        let until = Instant::now() + LAST_READ;
        for answer in &self.answer {
            let _ = answer
                .1
                .recv_timeout(until.saturating_duration_since(Instant::now()));
        }
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
        let mut snapshot = Snapshot::take(
            &tally,
            &queues,
            by,
            sort,
            self.started.elapsed(),
            Utc::now(),
        );
        snapshot.sources = lock(&shared.sources).clone();
        snapshot
    }
}
