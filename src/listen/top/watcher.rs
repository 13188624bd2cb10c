//! Where each source stands before anything happened, and the watcher of the engine's events
//! that learns which queues to watch and where each source stands.

use super::shared::{lock, Shared};
use super::snapshot::{SourceState, Standing};
use crate::engine::receive::Source;
use crate::events::{Event, Observer};
use crate::listen::metrics::Metrics;
use crate::tool::talk::Talk;

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
/// each source stands; counts them in the metrics, when served.
pub(super) struct Watcher<'a> {
    pub(super) talk: Talk,
    pub(super) shared: &'a Shared,
    pub(super) metrics: Option<&'a Metrics>,
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
        self.shared.queues.learn(source, happened);
        if let Some(metrics) = self.metrics {
            metrics.observe(source, happened);
        }
        self.talk.event(event);
    }
}
