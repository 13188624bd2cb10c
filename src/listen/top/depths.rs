//! The depth of the shared queues, read on a connection of its own, and the watcher of the
//! engine's events that learns which queues those are.

use super::shared::{lock, Shared, Watched, QUEUE_INTERVAL};
use super::snapshot::{QueueDepth, SourceState, Standing};
use crate::broker::{self, QueueGauge};
use crate::engine::receive::Source;
use crate::events::{Event, Observer};
use crate::tool::talk::Talk;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Where each of `sources` stands before anything happened: connecting; nothing for a run's
/// only broker, when it names none.
pub(super) fn initial_states(sources: &[Source]) -> Vec<SourceState> {
    sources
        .iter()
        .filter(|s| !s.name.is_empty())
        .map(|s| SourceState {
            source: s.name.clone(),
            state: Standing::Connecting,
        })
        .collect()
}

/// Says the engine's events, and learns from them which shared queues to watch and where
/// each source stands.
pub(super) struct Watcher<'a> {
    pub(super) talk: Talk,
    pub(super) shared: &'a Shared,
}

impl Observer for Watcher<'_> {
    fn event(&mut self, event: Event) {
        let (source, happened) = event.at_source();
        {
            let mut sources = lock(&self.shared.sources);
            if let Some(known) = sources.iter_mut().find(|s| s.source == source) {
                known.state = known.state.after(happened);
            }
        }
        if let Event::Bound {
            exchanges, keys, ..
        } = happened
        {
            // The shared queue of a route is named by its routing key, whatever the exchange.
            let first = exchanges.first().cloned().unwrap_or_default();
            let mut watched = lock(&self.shared.watched);
            watched.retain(|w| w.source != source);
            watched.extend(keys.iter().map(|key| Watched {
                source: source.to_owned(),
                queue: key.clone(),
                exchange: first.clone(),
            }));
        }
        self.talk.event(event);
    }
}

/// Reads the depth of the queues watched on `source` every [`QUEUE_INTERVAL`] (and as soon
/// as there are some) over a connection of its own, until `stop`; `reader` is its index in
/// the [`Shared::ask`] channels. A queue that does not exist is left out.
pub(super) fn read_depths(
    source: &Source,
    reader: usize,
    options: &broker::ConnectOptions,
    shared: &Shared,
    stop: &AtomicBool,
) {
    let mut gauge: Option<QueueGauge> = None;
    let mut next = Instant::now();
    let mut read: Vec<Watched> = Vec::new();
    let mut asked = false;
    while !stop.load(Ordering::Relaxed) {
        let watched: Vec<Watched> = lock(&shared.watched)
            .iter()
            .filter(|w| w.source == source.name)
            .cloned()
            .collect();
        if !watched.is_empty() && (asked || Instant::now() >= next || watched != read) {
            next = Instant::now() + QUEUE_INTERVAL;
            read.clone_from(&watched);
            if gauge.is_none() {
                gauge = broker::connect(&source.url, options)
                    .ok()
                    .map(QueueGauge::new);
            }
            if let Some(reader) = &mut gauge {
                match depths(reader, &watched) {
                    Some(depths) => {
                        let mut queues = lock(&shared.queues);
                        queues.retain(|q| q.source != source.name);
                        queues.extend(depths);
                    }
                    // Connected again at the next turn; the last figures stay meanwhile.
                    None => gauge = None,
                }
            }
        }
        if asked {
            let _ = shared.answer[reader].0.try_send(());
        }
        // A pause that a request for a read now cuts short.
        asked = shared.ask[reader]
            .1
            .recv_timeout(Duration::from_millis(100))
            .is_ok();
    }
    if let Some(gauge) = gauge {
        let _ = gauge.close();
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
