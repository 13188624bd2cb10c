//! What the threads of `--top` share: the running figures, the queues and their depths, the
//! clock, and how often each loop looks around.

use super::snapshot::{Snapshot, SortBy, SourceState};
use super::tally::{GroupBy, Tally};
use crate::listen::queues::QueueWatch;
use chrono::Utc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How often the loops look at keys, signals and the engine.
pub(super) const TICK: Duration = Duration::from_millis(50);

/// What the engine's thread and the others share.
pub(super) struct Shared {
    pub(super) tally: Mutex<Tally>,
    /// The shared queues and their depths.
    pub(super) queues: Arc<QueueWatch>,
    /// Where each source stands, when several brokers are read.
    pub(super) sources: Mutex<Vec<SourceState>>,
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
        let queues = shared.queues.depths();
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
