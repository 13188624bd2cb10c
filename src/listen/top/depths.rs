//! The depth of the shared queues, read on a connection of its own, and the watcher of the
//! engine's events that learns which queues those are.

use super::shared::{lock, Shared, QUEUE_INTERVAL};
use super::snapshot::QueueDepth;
use crate::broker::{self, QueueGauge};
use crate::events::{Event, Observer};
use crate::oslo::transport_url::TransportUrl;
use crate::tool::talk::Talk;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Says the engine's events, and learns from them which shared queues to watch.
pub(super) struct Watcher<'a> {
    pub(super) talk: Talk,
    pub(super) shared: &'a Shared,
}

impl Observer for Watcher<'_> {
    fn event(&mut self, event: Event) {
        if let Event::Bound {
            exchanges, keys, ..
        } = &event
        {
            // The shared queue of a route is named by its routing key, whatever the exchange.
            let first = exchanges.first().cloned().unwrap_or_default();
            *lock(&self.shared.watched) = keys
                .iter()
                .map(|key| (key.clone(), first.clone()))
                .collect();
        }
        self.talk.event(event);
    }
}

/// Reads the depth of the watched queues every [`QUEUE_INTERVAL`] (and as soon as there are
/// some) over a connection of its own, until `stop`. A queue that does not exist is left out.
pub(super) fn read_depths(
    url: &TransportUrl,
    options: &broker::ConnectOptions,
    shared: &Shared,
    stop: &AtomicBool,
) {
    let mut gauge: Option<QueueGauge> = None;
    let mut next = Instant::now();
    let mut read: Vec<(String, String)> = Vec::new();
    let mut asked = false;
    while !stop.load(Ordering::Relaxed) {
        let watched = lock(&shared.watched).clone();
        if !watched.is_empty() && (asked || Instant::now() >= next || watched != read) {
            next = Instant::now() + QUEUE_INTERVAL;
            read.clone_from(&watched);
            if gauge.is_none() {
                gauge = broker::connect(url, options).ok().map(QueueGauge::new);
            }
            if let Some(reader) = &mut gauge {
                match depths(reader, &watched) {
                    Some(depths) => *lock(&shared.queues) = depths,
                    // Connected again at the next turn; the last figures stay meanwhile.
                    None => gauge = None,
                }
            }
        }
        if asked {
            let _ = shared.answer.0.try_send(());
        }
        // A pause that a request for a read now cuts short.
        asked = shared
            .ask
            .1
            .recv_timeout(Duration::from_millis(100))
            .is_ok();
    }
    if let Some(gauge) = gauge {
        let _ = gauge.close();
    }
}

fn depths(gauge: &mut QueueGauge, watched: &[(String, String)]) -> Option<Vec<QueueDepth>> {
    let mut depths = Vec::with_capacity(watched.len());
    for (queue, exchange) in watched {
        if let Some(depth) = gauge.depth(queue).ok()? {
            depths.push(QueueDepth {
                queue: queue.clone(),
                exchange: exchange.clone(),
                messages: depth.messages,
                consumers: depth.consumers,
            });
        }
    }
    Some(depths)
}
