//! When a run's sources all listen: from that moment nothing published to any of them is
//! missed (a command after `--` may start; a library listener's `start` may return).

use super::settings::Source;
use crate::events::Event;

/// Hears a run's events and tells when every source listens; with `partial`, a source
/// being tried again (`--partial`) counts as one that listens, so as not to be waited for.
#[derive(Debug, Clone)]
pub struct Ready {
    waiting: Vec<String>,
    partial: bool,
}

impl Ready {
    /// Waiting for every one of `sources`.
    pub fn new(sources: &[Source], partial: bool) -> Self {
        Ready {
            waiting: sources.iter().map(|s| s.name.clone()).collect(),
            partial,
        }
    }

    /// Hears `event`; whether every source listens now (and from then on).
    pub fn hear(&mut self, event: &Event) -> bool {
        match event.at_source() {
            (source, Event::Listening { .. }) => self.waiting.retain(|name| name != source),
            (source, Event::Retrying { .. }) if self.partial => {
                self.waiting.retain(|name| name != source)
            }
            _ => {}
        }
        self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oslo::transport_url::TransportUrl;

    #[test]
    fn ready_once_every_source_listens_or_with_partial_is_tried_again() {
        let url = TransportUrl::parse("rabbit://h/").unwrap();
        let sources = [
            Source::named("east", url.clone()),
            Source::named("west", url),
        ];
        let listening = |name: &str| {
            Event::on(
                name,
                Event::Listening {
                    address: "h:5672".into(),
                    queues: vec![],
                },
            )
        };
        let retrying = Event::on(
            "west",
            Event::Retrying {
                error: "refused".into(),
                wait: std::time::Duration::from_millis(200),
            },
        );
        let mut strict = Ready::new(&sources, false);
        assert!(!strict.hear(&listening("east")));
        assert!(!strict.hear(&retrying));
        assert!(strict.hear(&listening("west")));
        assert!(strict.hear(&retrying), "ready stays ready");
        let mut partial = Ready::new(&sources, true);
        assert!(!partial.hear(&retrying));
        assert!(partial.hear(&listening("east")));
        let unnamed = [Source::unnamed(TransportUrl::parse("rabbit://h/").unwrap())];
        let mut one = Ready::new(&unnamed, false);
        assert!(one.hear(&Event::Listening {
            address: "h:5672".into(),
            queues: vec![],
        }));
    }
}
