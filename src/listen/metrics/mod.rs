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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
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
        if self.series.fetch_add(1, Ordering::Relaxed) >= self.max_series {
            self.series.fetch_sub(1, Ordering::Relaxed);
            self.families.series_dropped.inc();
            return;
        }
        update(&family.get_or_create(labels));
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
        self.update(&self.families.notifications, &labels, |c| {
            c.inc();
        });
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let at = SourceLabels {
            source: labels.source,
        };
        self.families
            .last_notification
            .get_or_create(&at)
            .set(now.as_secs_f64());
        if Phase::of(&n.event_type).is_none() {
            return;
        }
        let notification = received.notification();
        let closed = {
            let mut operations = lock(&self.operations);
            let Some((_, ops)) = operations.iter_mut().find(|(s, _)| s == source) else {
                return;
            };
            ops.record(notification)
        };
        if let Some(closed) = closed {
            if let Some(duration) = closed.duration {
                let labels = DurationLabels {
                    source: at.source,
                    operation: closed.name.to_owned(),
                    outcome: if closed.failed { "error" } else { "end" }.to_owned(),
                };
                self.update(&self.families.durations, &labels, |h| {
                    h.observe(duration.as_secs_f64());
                });
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
    /// else in Prometheus' text format 0.0.4. Operations in flight and stale, and the queue
    /// depths, are brought up to date first.
    pub fn write(&self, openmetrics: bool) -> String {
        self.read_operations();
        self.read_queues();
        let mut out = String::new();
        let registry = &self.families.registry;
        let written = match openmetrics {
            true => text::encode(&mut out, registry),
            false => prometheus_text::encode(&mut out, registry),
        };
        // Writing into a String does not fail; the label values are ours.
        debug_assert!(written.is_ok());
        out
    }

    /// Operations in flight and stale, as of now.
    fn read_operations(&self) {
        let now = Utc::now().naive_utc();
        let mut figures = Vec::new();
        {
            let mut operations = lock(&self.operations);
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
