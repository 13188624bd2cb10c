//! The depth of the shared queues: which ones to watch, learnt from the engine's events, read
//! on connections of their own (one per source) with passive declares, so that reading them
//! never waits on the engine, nor the engine on them. `--top` shows them; `--metrics` serves
//! them.

use crate::broker::{self, ConnectOptions, QueueGauge};
use crate::engine::receive::Source;
use crate::events::Event;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How often the depth of the shared queues is read.
pub const INTERVAL: Duration = Duration::from_secs(5);
/// How long [`QueueWatch::read_now`] waits for the readers.
const READ_NOW: Duration = Duration::from_secs(2);

/// A shared queue's depth, as a passive declare reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueDepth {
    /// The broker it is on (`--source`); empty, and left out of the JSON, for a run's only
    /// one.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// The queue (`<topic>.<priority>`).
    pub queue: String,
    /// The (first) exchange it is bound to by the chosen exchanges.
    pub exchange: String,
    /// Messages waiting in it.
    pub messages: u32,
    /// Consumers reading it.
    pub consumers: u32,
}

impl QueueDepth {
    /// Messages are piling up with nobody to read them.
    pub fn unread(&self) -> bool {
        self.messages > 0 && self.consumers == 0
    }
}

/// A shared queue to read the depth of.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Watched {
    /// The source it is on (empty for a run's only one).
    source: String,
    /// The queue.
    queue: String,
    /// The exchange it is named for.
    exchange: String,
}

/// A channel of one signal, both of its ends.
type Channel = (
    crossbeam_channel::Sender<()>,
    crossbeam_channel::Receiver<()>,
);

/// The shared queues of a run and their depths, read by a thread per source until
/// [`QueueWatch::stop`].
#[derive(Debug)]
pub struct QueueWatch {
    /// The queues to read.
    watched: Mutex<Vec<Watched>>,
    /// Their depths as last read.
    depths: Mutex<Vec<QueueDepth>>,
    /// Asks each source's reader to read now, whatever its interval.
    ask: Vec<Channel>,
    /// Each reader's answer: it read (or tried to).
    answer: Vec<Channel>,
    stop: AtomicBool,
}

impl QueueWatch {
    /// Starts a reader for each of `sources`, connecting with `options` once there are
    /// queues to read on it.
    pub fn start(sources: &[Source], options: &ConnectOptions) -> Arc<QueueWatch> {
        let channels = || {
            sources
                .iter()
                .map(|_| crossbeam_channel::bounded(1))
                .collect()
        };
        let watch = Arc::new(QueueWatch {
            watched: Mutex::new(Vec::new()),
            depths: Mutex::new(Vec::new()),
            ask: channels(),
            answer: channels(),
            stop: AtomicBool::new(false),
        });
        for (reader, source) in sources.iter().enumerate() {
            // Not joined: it may be waiting on a broker when the run ends.
            let (watch, source, options) = (Arc::clone(&watch), source.clone(), options.clone());
            std::thread::spawn(move || watch.read(&source, reader, &options));
        }
        watch
    }

    /// Learns from `event`, which happened on `source`, which shared queues to watch there:
    /// a route's shared queue is named by its routing key, whatever the exchange.
    pub fn learn(&self, source: &str, event: &Event) {
        if let Event::Bound {
            exchanges, keys, ..
        } = event
        {
            let first = exchanges.first().cloned().unwrap_or_default();
            let mut watched = lock(&self.watched);
            watched.retain(|w| w.source != source);
            watched.extend(keys.iter().map(|key| Watched {
                source: source.to_owned(),
                queue: key.clone(),
                exchange: first.clone(),
            }));
        }
    }

    /// The depths as last read.
    pub fn depths(&self) -> Vec<QueueDepth> {
        lock(&self.depths).clone()
    }

    /// Has the depths read once more (the last read may be an interval old), waiting at most
    /// two seconds for it.
    pub fn read_now(&self) {
        if lock(&self.watched).is_empty() {
            return;
        }
        for ask in &self.ask {
            let _ = ask.0.try_send(());
        }
        let until = Instant::now() + READ_NOW;
        for answer in &self.answer {
            let _ = answer
                .1
                .recv_timeout(until.saturating_duration_since(Instant::now()));
        }
    }

    /// Ends the readers, each at its next turn.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Reads the depth of the queues watched on `source` every [`INTERVAL`] (and as soon as
    /// there are some) until stopped; `reader` is its index in the channels. A queue that
    /// does not exist is left out.
    fn read(&self, source: &Source, reader: usize, options: &ConnectOptions) {
        let mut gauge: Option<QueueGauge> = None;
        let mut next = Instant::now();
        let mut read: Vec<Watched> = Vec::new();
        let mut asked = false;
        while !self.stop.load(Ordering::Relaxed) {
            let watched: Vec<Watched> = lock(&self.watched)
                .iter()
                .filter(|w| w.source == source.name)
                .cloned()
                .collect();
            if !watched.is_empty() && (asked || Instant::now() >= next || watched != read) {
                next = Instant::now() + INTERVAL;
                read.clone_from(&watched);
                if gauge.is_none() {
                    gauge = broker::connect(&source.url, options)
                        .ok()
                        .map(QueueGauge::new);
                }
                if let Some(reader) = &mut gauge {
                    match depths(reader, &watched) {
                        Some(depths) => {
                            let mut queues = lock(&self.depths);
                            queues.retain(|q| q.source != source.name);
                            queues.extend(depths);
                        }
                        // Connected again at the next turn; the last figures stay meanwhile.
                        None => gauge = None,
                    }
                }
            }
            if asked {
                let _ = self.answer[reader].0.try_send(());
            }
            // A pause that a request for a read now cuts short.
            asked = self.ask[reader]
                .1
                .recv_timeout(Duration::from_millis(100))
                .is_ok();
        }
        if let Some(gauge) = gauge {
            let _ = gauge.close();
        }
    }
}

fn depths(gauge: &mut QueueGauge, watched: &[Watched]) -> Option<Vec<QueueDepth>> {
    let mut depths = Vec::with_capacity(watched.len());
    for Watched {
        source,
        queue,
        exchange,
    } in watched
    {
        if let Some(depth) = gauge.depth(queue).ok()? {
            depths.push(QueueDepth {
                source: source.clone(),
                queue: queue.clone(),
                exchange: exchange.clone(),
                messages: depth.messages,
                consumers: depth.consumers,
            });
        }
    }
    Some(depths)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_queues_are_learnt_per_source_from_what_was_bound() {
        let watch = QueueWatch {
            watched: Mutex::new(Vec::new()),
            depths: Mutex::new(Vec::new()),
            ask: Vec::new(),
            answer: Vec::new(),
            stop: AtomicBool::new(true),
        };
        let bound = |keys: &[&str]| Event::Bound {
            queues: "the shared queues".into(),
            exchanges: vec!["nova".into(), "neutron".into()],
            keys: keys.iter().map(|k| k.to_string()).collect(),
        };
        watch.learn(
            "east",
            &bound(&["notifications.info", "notifications.error"]),
        );
        watch.learn("west", &bound(&["notifications.info"]));
        watch.learn("east", &bound(&["notifications.warn"]));
        watch.learn("east", &Event::Lost { error: "x".into() });
        let watched = lock(&watch.watched).clone();
        let names: Vec<(&str, &str, &str)> = watched
            .iter()
            .map(|w| (w.source.as_str(), w.queue.as_str(), w.exchange.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("west", "notifications.info", "nova"),
                ("east", "notifications.warn", "nova")
            ]
        );
    }
}
