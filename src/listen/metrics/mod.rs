//! `oslo-listen --metrics ADDR`: the running figures of the traffic as Prometheus metrics,
//! served over HTTP ([`serve`]) while the run prints, shows `--top` or prints nothing
//! (`--format none`).
//!
//! The engine's thread counts each notification that passes the filters ([`Metrics::record`])
//! and each event of the engine ([`Metrics::observe`]) in atomic counters; a scrape reads them
//! on the server's thread, where the figures that are read rather than counted (operations
//! in flight and stale, queue depths) are brought up to date first ([`Metrics::write`]).
//! Label sets are bounded: past `--metrics-max-series`, an update that would create one is
//! counted in `oslo_listen_series_dropped_total` instead, and no label set ever goes away.

mod families;
pub mod serve;

use families::{
    DurationLabels, Families, NotificationLabels, OperationLabels, QueueLabels, SourceLabels,
};

use crate::engine::receive::{Received, Source};
use crate::events::{Event, Weight};
use crate::listen::queues::QueueWatch;
use crate::listen::top::operations::{Operations, Phase};
use crate::listen::ListenConfig;
use crate::oslo::topology::Mode;
use crate::tool::talk::Talk;
use chrono::Utc;
use prometheus_client::encoding::{prometheus_text, text};
use prometheus_client::metrics::family::{Family, MetricConstructor};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, SystemTime};

/// The label of the one broker of a run that names none.
pub const DEFAULT_SOURCE: &str = "default";
/// How many label sets are kept by default.
pub const DEFAULT_MAX_SERIES: usize = 10_000;

/// What `--metrics` was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsOptions {
    /// Where to serve them: `HOST:PORT`.
    pub address: String,
    /// At most this many label sets (`--metrics-max-series`).
    pub max_series: usize,
    /// How long in flight makes an operation stale (`--stale`).
    pub stale: Duration,
}

/// The running figures of a run, shared by the engine's thread (which counts) and the
/// server's (which writes them out).
#[derive(Debug)]
pub struct Metrics {
    families: Families,
    /// Label sets created in the families that grow with the traffic.
    series: AtomicUsize,
    max_series: usize,
    /// Each source's operations (by label), to pair starts with ends and find stale ones.
    operations: Mutex<Vec<(String, Operations)>>,
    /// The shared queues' depths, in `--shared` and `--pool` runs.
    queues: Option<Arc<QueueWatch>>,
    /// A scrape is writing the families out: a label set is not created meanwhile (that
    /// would wait for the family's lock), but kept in `deferred`.
    scraping: AtomicBool,
    /// Label sets being created by the engine right now: a scrape starts writing once none
    /// is, so that neither waits on the other's lock for long.
    creating: AtomicUsize,
    /// Updates that would have created a label set while a scrape was writing.
    deferred: Mutex<Vec<Deferred>>,
    /// Held while a label set is made.
    creator: Mutex<()>,
}

/// An update of a label set that did not exist yet.
#[derive(Debug)]
enum Deferred {
    /// One more notification.
    Count(NotificationLabels),
    /// An operation's duration, in seconds.
    Took(DurationLabels, f64),
    /// The time of the source's last notification, in seconds since the epoch.
    Seen(SourceLabels, f64),
}

/// The label of `source`'s figures.
fn label(source: &str) -> &str {
    match source {
        "" => DEFAULT_SOURCE,
        name => name,
    }
}

/// The service part of a publisher id: what comes before its first `:` or `.`
/// (`nova-compute:host1` and `compute.host1` are `nova-compute` and `compute`).
pub fn service_of(publisher_id: &str) -> &str {
    publisher_id
        .split([':', '.'])
        .next()
        .unwrap_or(publisher_id)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Metrics {
    /// No figures yet for `sources`, each with its own `up` (0), connections, poison,
    /// duplicates, as `options` say; `queues`, when given, are served as the shared queues'
    /// depths.
    pub fn new(
        sources: &[Source],
        options: &MetricsOptions,
        queues: Option<Arc<QueueWatch>>,
    ) -> Metrics {
        let stale = options.stale;
        let families = Families::new(env!("CARGO_PKG_VERSION"));
        for source in sources {
            let labels = SourceLabels {
                source: label(&source.name).to_owned(),
            };
            families.up.get_or_create(&labels).set(0);
            drop(families.connections.get_or_create(&labels));
            drop(families.poison.get_or_create(&labels));
            drop(families.duplicates.get_or_create(&labels));
        }
        let operations = sources
            .iter()
            .map(|s| (label(&s.name).to_owned(), Operations::new(stale)))
            .collect();
        Metrics {
            families,
            series: AtomicUsize::new(0),
            max_series: options.max_series,
            operations: Mutex::new(operations),
            queues,
            scraping: AtomicBool::new(false),
            creating: AtomicUsize::new(0),
            deferred: Mutex::new(Vec::new()),
            creator: Mutex::new(()),
        }
    }

    /// Updates the metric of `labels` in `family` with `update`, creating it unless that
    /// would pass the cap on label sets (then the update is counted as dropped).
    fn update<L, M, C>(&self, family: &Family<L, M, C>, labels: &L, update: impl FnOnce(&M))
    where
        L: Clone + std::hash::Hash + Eq,
        C: MetricConstructor<M>,
    {
        if let Some(metric) = family.get(labels) {
            update(&metric);
            return;
        }
        // One creator at a time (the engine, and a scrape making what was kept for later):
        // a label set made by both at once would be counted twice against the cap.
        let _creating = lock(&self.creator);
        if let Some(metric) = family.get(labels) {
            update(&metric);
            return;
        }
        if self.series.load(Ordering::Relaxed) >= self.max_series {
            self.families.series_dropped.inc();
            return;
        }
        self.series.fetch_add(1, Ordering::Relaxed);
        update(&family.get_or_create(labels));
    }

    /// Makes `update`: on its label set when it exists (a read lock, shared with a scrape);
    /// else creates it, unless a scrape is writing, then it is kept for later (the engine
    /// never waits for a scrape).
    fn apply(&self, update: Deferred) {
        let f = &self.families;
        let existing = match &update {
            Deferred::Count(labels) => f.notifications.get(labels).map(|c| {
                c.inc();
            }),
            Deferred::Took(labels, seconds) => f.durations.get(labels).map(|h| h.observe(*seconds)),
            Deferred::Seen(labels, at) => f.last_notification.get(labels).map(|g| {
                g.set(*at);
            }),
        };
        if existing.is_some() {
            return;
        }
        self.creating.fetch_add(1, Ordering::SeqCst);
        if self.scraping.load(Ordering::SeqCst) {
            lock(&self.deferred).push(update);
        } else {
            self.create_deferred();
            self.create(update);
        }
        self.creating.fetch_sub(1, Ordering::SeqCst);
    }

    /// Makes `update`, creating its label set within the cap.
    fn create(&self, update: Deferred) {
        let f = &self.families;
        match update {
            Deferred::Count(labels) => self.update(&f.notifications, &labels, |c| {
                c.inc();
            }),
            Deferred::Took(labels, seconds) => {
                self.update(&f.durations, &labels, |h| h.observe(seconds))
            }
            // One per source: not counted against the cap.
            Deferred::Seen(labels, at) => {
                f.last_notification.get_or_create(&labels).set(at);
            }
        }
    }

    /// Makes the updates kept while a scrape was writing.
    fn create_deferred(&self) {
        let deferred = std::mem::take(&mut *lock(&self.deferred));
        for update in deferred {
            self.create(update);
        }
    }

    /// Counts a notification that passed the filters; measures the operation it ends, if
    /// it ends one.
    pub fn record(&self, received: &Received) {
        let n = received.message;
        let source = label(received.source);
        let labels = NotificationLabels {
            source: source.to_owned(),
            exchange: received.exchange.to_owned(),
            priority: n.priority.name().to_owned(),
            event_type: n.event_type.clone(),
            service: service_of(n.publisher_id.as_deref().unwrap_or_default()).to_owned(),
        };
        let at = SourceLabels {
            source: labels.source.clone(),
        };
        self.apply(Deferred::Count(labels));
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        self.apply(Deferred::Seen(at.clone(), now.as_secs_f64()));
        // Only an operation's start or end takes the operations' lock.
        if Phase::of(&n.event_type).is_none() {
            return;
        }
        let closed = {
            let mut operations = lock(&self.operations);
            let Some((_, ops)) = operations.iter_mut().find(|(s, _)| s == source) else {
                return;
            };
            ops.record(n)
        };
        if let Some(closed) = closed {
            if let Some(duration) = closed.duration {
                let labels = DurationLabels {
                    source: at.source,
                    operation: closed.name.to_owned(),
                    outcome: if closed.failed { "error" } else { "end" }.to_owned(),
                };
                self.apply(Deferred::Took(labels, duration.as_secs_f64()));
            }
        }
    }

    /// Counts what `event`, which happened on `source`, says: a connection, a loss, poison,
    /// a duplicate.
    pub fn observe(&self, source: &str, event: &Event) {
        let labels = SourceLabels {
            source: label(source).to_owned(),
        };
        let f = &self.families;
        match event {
            Event::Connected { .. } => {
                f.connections.get_or_create(&labels).inc();
            }
            Event::Listening { .. } => {
                f.up.get_or_create(&labels).set(1);
            }
            Event::Lost { .. } | Event::Retrying { .. } => {
                f.up.get_or_create(&labels).set(0);
            }
            Event::Poison { .. } => {
                f.poison.get_or_create(&labels).inc();
            }
            Event::Duplicate { .. } => {
                f.duplicates.get_or_create(&labels).inc();
            }
            _ => {}
        }
    }

    /// The figures as a scrape reads them: in the OpenMetrics text format when `openmetrics`,
    /// else in Prometheus' text format 0.0.4. Operations in flight and stale, the queue
    /// depths, and what the engine kept for later, are brought up to date first. While it
    /// writes, the engine creates no label set (it keeps them for later), so that it never
    /// waits for a family's lock; the writing starts once no label set is being created.
    pub fn write(&self, openmetrics: bool) -> String {
        self.read_operations();
        self.read_queues();
        self.create_deferred();
        self.scraping.store(true, Ordering::SeqCst);
        while self.creating.load(Ordering::SeqCst) != 0 {
            std::thread::yield_now();
        }
        let mut out = String::new();
        let registry = &self.families.registry;
        let written = match openmetrics {
            true => text::encode(&mut out, registry),
            false => prometheus_text::encode(&mut out, registry),
        };
        self.scraping.store(false, Ordering::SeqCst);
        // Writing into a String does not fail; the label values are ours.
        debug_assert!(written.is_ok());
        out
    }

    /// Operations in flight and stale, as of now; left as last read when the engine is
    /// recording one at this instant (it is not kept waiting).
    fn read_operations(&self) {
        let now = Utc::now().naive_utc();
        let mut figures = Vec::new();
        {
            let mut operations = match self.operations.try_lock() {
                Ok(operations) => operations,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => return,
            };
            for (source, ops) in operations.iter_mut() {
                ops.mark_stale(now);
                for (name, op) in ops.iter() {
                    if op.started > 0 {
                        figures.push((
                            OperationLabels {
                                source: source.clone(),
                                operation: name.to_owned(),
                            },
                            op.in_flight(),
                            op.stale_total(),
                        ));
                    }
                }
            }
        }
        let f = &self.families;
        for (labels, in_flight, stale) in figures {
            self.update(&f.in_flight, &labels, |g| {
                g.set(i64::try_from(in_flight).unwrap_or(i64::MAX));
            });
            self.update(&f.stale, &labels, |c| {
                // Only this thread moves it: it follows the operations' own count.
                c.inc_by(stale.saturating_sub(c.get()));
            });
        }
    }

    /// The shared queues' depths as last read.
    fn read_queues(&self) {
        let Some(queues) = &self.queues else {
            return;
        };
        for depth in queues.depths() {
            let labels = QueueLabels {
                source: label(&depth.source).to_owned(),
                queue: depth.queue,
            };
            let f = &self.families;
            self.update(&f.queue_messages, &labels, |g| {
                g.set(i64::from(depth.messages));
            });
            self.update(&f.queue_consumers, &labels, |g| {
                g.set(i64::from(depth.consumers));
            });
        }
    }
}

/// The metrics of a run, served while it lasts (until dropped).
#[derive(Debug)]
pub struct Served {
    /// The figures, to count into.
    pub metrics: Arc<Metrics>,
    /// The shared queues' readers this started (in `--shared` and `--pool` runs, unless
    /// given some), to stop and to teach.
    own_queues: Option<Arc<QueueWatch>>,
    exporter: serve::Exporter,
}

impl Served {
    /// Starts serving the metrics `config` asks for (nothing when it asks for none), the
    /// shared queues' depths from `queues`, or, in `--shared` and `--pool` runs, from
    /// readers of its own.
    pub fn start(
        config: &ListenConfig,
        queues: Option<Arc<QueueWatch>>,
    ) -> Result<Option<Served>, serve::CannotServe> {
        let Some(options) = &config.metrics else {
            return Ok(None);
        };
        let shared = matches!(config.mode, Mode::Shared | Mode::Pool(_));
        let own_queues = match (&queues, shared) {
            (None, true) => Some(QueueWatch::start(&config.sources, &config.connect)),
            _ => None,
        };
        let queues = match shared {
            true => queues.or_else(|| own_queues.clone()),
            false => None,
        };
        let metrics = Arc::new(Metrics::new(&config.sources, options, queues));
        let exporter = serve::Exporter::start(&options.address, Arc::clone(&metrics))?;
        Ok(Some(Served {
            metrics,
            own_queues,
            exporter,
        }))
    }

    /// Counts `event`, which happened on `source`; learns the shared queues from it when
    /// this reads them.
    pub fn observe(&self, source: &str, event: &Event) {
        if let Some(queues) = &self.own_queues {
            queues.learn(source, event);
        }
        self.metrics.observe(source, event);
    }

    /// Says where the metrics are served (with the port chosen, when `:0` was given).
    pub fn say(&self, talk: &Talk) -> std::io::Result<()> {
        let address = self.exporter.address();
        talk.say(
            Weight::Notice,
            format_args!("serving metrics on http://{address}/metrics"),
        )
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(queues) = &self.own_queues {
            queues.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::envelope::{Format, Message, Notification, Priority};
    use chrono::Duration as Span;
    use serde_json::json;

    fn metrics(sources: &[&str], max_series: usize, stale: Duration) -> Metrics {
        let sources: Vec<Source> = sources
            .iter()
            .map(|name| Source {
                name: (*name).to_owned(),
                url: "rabbit://localhost/".parse().unwrap(),
            })
            .collect();
        let options = MetricsOptions {
            address: "127.0.0.1:0".into(),
            max_series,
            stale,
        };
        Metrics::new(&sources, &options, None)
    }

    /// A notification as a broker would deliver it.
    fn body(
        priority: Priority,
        event_type: &str,
        publisher: &str,
        payload: serde_json::Value,
        at: &str,
    ) -> Vec<u8> {
        let mut n = Notification::new(priority, event_type, payload);
        n.publisher_id = Some(publisher.to_owned());
        n.timestamp = at.to_owned();
        n.encode(Format::V2, "u").unwrap()
    }

    fn record(metrics: &Metrics, source: &str, body: &[u8]) {
        let message = Message::read(body).unwrap();
        metrics.record(&Received {
            message: &message,
            exchange: "nova",
            routing_key: "versioned_notifications.info",
            source,
            body,
        });
    }

    /// The samples of the Prometheus text, by name and labels.
    fn samples(text: &str) -> Vec<(String, f64)> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (series, value) = l.rsplit_once(' ').unwrap();
                (series.to_owned(), value.parse().unwrap())
            })
            .collect()
    }

    fn value(text: &str, series: &str) -> Option<f64> {
        samples(text)
            .into_iter()
            .find(|(s, _)| s == series)
            .map(|(_, v)| v)
    }

    #[test]
    fn a_label_set_new_while_a_scrape_writes_is_made_after_it_never_waited_for() {
        let m = metrics(&[""], 100, Duration::from_secs(600));
        let t = "2026-12-05 10:00:00";
        record(
            &m,
            "",
            &body(Priority::Info, "old.event", "p", json!({}), t),
        );
        // As while a scrape writes the families out.
        m.scraping.store(true, Ordering::SeqCst);
        record(
            &m,
            "",
            &body(Priority::Info, "new.event", "p", json!({}), t),
        );
        record(
            &m,
            "",
            &body(Priority::Info, "old.event", "p", json!({}), t),
        );
        let written = m.families.registry_text();
        assert!(!written.contains("new.event"), "created during the scrape");
        assert!(written.contains("old.event"));
        assert_eq!(lock(&m.deferred).len(), 1);
        m.scraping.store(false, Ordering::SeqCst);
        let text = m.write(false);
        let series = |event: &str| {
            format!("oslo_listen_notifications_total{{source=\"default\",exchange=\"nova\",priority=\"info\",event_type=\"{event}\",service=\"p\"}}")
        };
        assert_eq!(value(&text, &series("old.event")), Some(2.0));
        assert_eq!(value(&text, &series("new.event")), Some(1.0));
        assert!(lock(&m.deferred).is_empty());
        assert_eq!(m.creating.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn label_sets_made_by_several_threads_at_once_are_counted_once_against_the_cap() {
        let m = metrics(&[""], 500, Duration::from_secs(600));
        let bodies: Vec<Vec<u8>> = (0..500)
            .map(|i| {
                body(
                    Priority::Info,
                    &format!("event.{i}"),
                    "p",
                    json!({}),
                    "2026-12-05 10:00:00",
                )
            })
            .collect();
        let done = AtomicBool::new(false);
        std::thread::scope(|scope| {
            // Scrapes all along: label sets are kept for later and made by the scrapes too.
            scope.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    m.write(false);
                }
            });
            let counting: Vec<_> = (0..2)
                .map(|_| scope.spawn(|| bodies.iter().for_each(|b| record(&m, "", b))))
                .collect();
            counting.into_iter().for_each(|t| t.join().unwrap());
            done.store(true, Ordering::Relaxed);
        });
        let text = m.write(false);
        let counts: Vec<f64> = samples(&text)
            .into_iter()
            .filter(|(s, _)| s.starts_with("oslo_listen_notifications_total"))
            .map(|(_, v)| v)
            .collect();
        assert_eq!(counts.len(), 500);
        assert!(counts.iter().all(|c| *c == 2.0), "{counts:?}");
        assert_eq!(value(&text, "oslo_listen_series_dropped_total"), Some(0.0));
    }

    #[test]
    fn the_service_is_the_publisher_ids_first_part() {
        assert_eq!(service_of("nova-compute:compute-1"), "nova-compute");
        assert_eq!(service_of("compute.compute-1.example.org"), "compute");
        assert_eq!(service_of("network.controller:1"), "network");
        assert_eq!(service_of("cinder-volume"), "cinder-volume");
        assert_eq!(service_of(""), "");
    }

    #[test]
    fn notifications_are_counted_by_their_labels_and_operations_timed() {
        let m = metrics(&["", "east"], 100, Duration::from_secs(600));
        let t = "2026-12-05 10:00:00.000000";
        let n = |event: &str, publisher: &str, id: &str, at: &str| {
            body(
                Priority::Info,
                event,
                publisher,
                json!({"nova_object.data": {"uuid": id}, "nova_object.name": "InstanceActionPayload", "nova_object.namespace": "nova", "nova_object.version": "1.8"}),
                at,
            )
        };
        record(
            &m,
            "",
            &n("instance.create.start", "nova-compute:c1", "i1", t),
        );
        record(
            &m,
            "",
            &n(
                "instance.create.end",
                "nova-compute:c1",
                "i1",
                "2026-12-05 10:00:12.500000",
            ),
        );
        record(
            &m,
            "east",
            &n("instance.create.start", "nova-compute:c2", "i2", t),
        );
        record(
            &m,
            "east",
            &n(
                "instance.create.error",
                "nova-compute:c2",
                "i2",
                "2026-12-05 10:00:00.020000",
            ),
        );
        record(
            &m,
            "east",
            &body(
                Priority::Error,
                "compute.exception",
                "compute.c2",
                json!({}),
                t,
            ),
        );
        let text = m.write(false);
        let count = |source: &str, priority: &str, event: &str, service: &str| {
            let series = format!(
                "oslo_listen_notifications_total{{source=\"{source}\",exchange=\"nova\",priority=\"{priority}\",event_type=\"{event}\",service=\"{service}\"}}"
            );
            value(&text, &series)
        };
        assert_eq!(
            count("default", "info", "instance.create.start", "nova-compute"),
            Some(1.0)
        );
        assert_eq!(
            count("default", "info", "instance.create.end", "nova-compute"),
            Some(1.0)
        );
        assert_eq!(
            count("east", "info", "instance.create.error", "nova-compute"),
            Some(1.0)
        );
        assert_eq!(
            count("east", "error", "compute.exception", "compute"),
            Some(1.0)
        );
        let duration = |source: &str, outcome: &str, part: &str| {
            let series = format!(
                "oslo_listen_operation_duration_seconds_{part}{{source=\"{source}\",operation=\"instance.create\",outcome=\"{outcome}\"}}"
            );
            value(&text, &series)
        };
        assert_eq!(duration("default", "end", "count"), Some(1.0));
        assert_eq!(duration("default", "end", "sum"), Some(12.5));
        assert_eq!(duration("east", "error", "sum"), Some(0.02));
        let bucket = |le: &str| {
            value(&text, &format!("oslo_listen_operation_duration_seconds_bucket{{source=\"default\",operation=\"instance.create\",outcome=\"end\",le=\"{le}\"}}"))
        };
        assert_eq!(
            (bucket("10"), bucket("30"), bucket("+Inf")),
            (Some(0.0), Some(1.0), Some(1.0))
        );
        let in_flight =
            "oslo_listen_operations_in_flight{source=\"default\",operation=\"instance.create\"}";
        assert_eq!(value(&text, in_flight), Some(0.0));
        // No request or instance id is ever a label.
        assert!(!text.contains("i1") && !text.contains("i2"), "{text}");
        let last = value(
            &text,
            "oslo_listen_last_notification_timestamp_seconds{source=\"east\"}",
        )
        .unwrap();
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!((now - last).abs() < 60.0, "{last}");
    }

    #[test]
    fn operations_past_the_stale_time_are_in_flight_and_counted_stale_once() {
        let m = metrics(&[""], 100, Duration::from_secs(60));
        let long_ago = (Utc::now() - Span::minutes(5))
            .format("%Y-%m-%d %H:%M:%S%.6f")
            .to_string();
        let just_now = Utc::now().format("%Y-%m-%d %H:%M:%S%.6f").to_string();
        for (id, at) in [("a", &long_ago), ("b", &long_ago), ("c", &just_now)] {
            record(
                &m,
                "",
                &body(
                    Priority::Info,
                    "volume.attach.start",
                    "volume.c",
                    json!({"volume_id": 1, "id": id}),
                    at,
                ),
            );
        }
        let in_flight =
            "oslo_listen_operations_in_flight{source=\"default\",operation=\"volume.attach\"}";
        let stale =
            "oslo_listen_operations_stale_total{source=\"default\",operation=\"volume.attach\"}";
        for _ in 0..2 {
            let text = m.write(false);
            assert_eq!(value(&text, in_flight), Some(3.0));
            assert_eq!(value(&text, stale), Some(2.0), "{text}");
        }
        record(
            &m,
            "",
            &body(
                Priority::Info,
                "volume.attach.end",
                "volume.c",
                json!({"id": "a"}),
                &just_now,
            ),
        );
        let text = m.write(false);
        assert_eq!(value(&text, in_flight), Some(2.0));
        assert_eq!(value(&text, stale), Some(2.0), "a counter never goes back");
    }

    #[test]
    fn past_the_cap_no_label_set_is_made_and_the_updates_are_counted_dropped() {
        let m = metrics(&[""], 3, Duration::from_secs(600));
        let t = "2026-12-05 10:00:00";
        for i in 0..5 {
            for _ in 0..2 {
                record(
                    &m,
                    "",
                    &body(Priority::Info, &format!("event.{i}"), "p", json!({}), t),
                );
            }
        }
        let text = m.write(false);
        let counted: Vec<(String, f64)> = samples(&text)
            .into_iter()
            .filter(|(s, _)| s.starts_with("oslo_listen_notifications_total"))
            .collect();
        assert_eq!(counted.len(), 3, "{counted:?}");
        assert!(counted.iter().all(|(_, v)| *v == 2.0), "{counted:?}");
        assert_eq!(value(&text, "oslo_listen_series_dropped_total"), Some(4.0));
        // Those that exist go on counting.
        record(&m, "", &body(Priority::Info, "event.0", "p", json!({}), t));
        let text = m.write(false);
        let first = "oslo_listen_notifications_total{source=\"default\",exchange=\"nova\",priority=\"info\",event_type=\"event.0\",service=\"p\"}";
        assert_eq!(value(&text, first), Some(3.0));
    }

    #[test]
    fn the_engines_events_move_up_connections_poison_and_duplicates() {
        let m = metrics(&["east", "west"], 100, Duration::from_secs(600));
        let up = |text: &str, s: &str| value(text, &format!("oslo_listen_up{{source=\"{s}\"}}"));
        let text = m.write(false);
        assert_eq!(
            (up(&text, "east"), up(&text, "west")),
            (Some(0.0), Some(0.0))
        );
        let listening = Event::Listening {
            address: "a:5672".into(),
            queues: vec![],
        };
        m.observe(
            "east",
            &Event::Connected {
                address: "a:5672".into(),
            },
        );
        m.observe("east", &listening);
        m.observe(
            "east",
            &Event::Lost {
                error: "gone".into(),
            },
        );
        m.observe(
            "east",
            &Event::Connected {
                address: "a:5672".into(),
            },
        );
        m.observe("east", &listening);
        m.observe(
            "west",
            &Event::Retrying {
                error: "refused".into(),
                wait: Duration::from_secs(1),
            },
        );
        m.observe("west", &Event::Poison { report: "x".into() });
        m.observe(
            "west",
            &Event::Duplicate {
                message_id: "m".into(),
            },
        );
        m.observe(
            "west",
            &Event::Duplicate {
                message_id: "m".into(),
            },
        );
        let text = m.write(false);
        assert_eq!(
            (up(&text, "east"), up(&text, "west")),
            (Some(1.0), Some(0.0))
        );
        assert_eq!(
            value(&text, "oslo_listen_connections_total{source=\"east\"}"),
            Some(2.0)
        );
        assert_eq!(
            value(&text, "oslo_listen_connections_total{source=\"west\"}"),
            Some(0.0)
        );
        assert_eq!(
            value(&text, "oslo_listen_poison_total{source=\"west\"}"),
            Some(1.0)
        );
        assert_eq!(
            value(&text, "oslo_listen_duplicates_total{source=\"west\"}"),
            Some(2.0)
        );
        assert_eq!(
            value(
                &text,
                "oslo_listen_build_info{version=\"0.1.0\"}"
                    .replace("0.1.0", env!("CARGO_PKG_VERSION"))
                    .as_str()
            ),
            Some(1.0)
        );
    }

    #[test]
    fn openmetrics_when_asked_ends_with_eof_and_types_counters_without_the_suffix() {
        let m = metrics(&[""], 100, Duration::from_secs(600));
        let t = "2026-12-05 10:00:00";
        record(
            &m,
            "",
            &body(Priority::Info, "x.start", "p", json!({"id": 1}), t),
        );
        record(
            &m,
            "",
            &body(Priority::Info, "x.end", "p", json!({"id": 1}), t),
        );
        let om = m.write(true);
        assert!(om.ends_with("# EOF\n"), "{om}");
        assert!(om.contains("# TYPE oslo_listen_connections counter\n"));
        assert!(om.contains("# UNIT oslo_listen_operation_duration_seconds seconds\n"));
        let text = m.write(false);
        assert!(text.contains("# TYPE oslo_listen_connections_total counter\n"));
        assert!(!text.contains("# EOF"));
    }
}
