//! The metrics `oslo-listen --metrics` serves: their names, help, labels and buckets, in one
//! registry. Every name is prefixed `oslo_listen_`; counters end in `_total`, units are
//! base units (seconds).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

/// The buckets of the operation durations, in seconds: from 10 ms to half an hour.
pub const DURATION_BUCKETS: [f64; 16] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
];

/// The labels of a notification's counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct NotificationLabels {
    /// The source (`default` for a run's only broker).
    pub source: String,
    /// The exchange it was read from.
    pub exchange: String,
    /// Its priority, as oslo writes it in routing keys (`info`, `error`...).
    pub priority: String,
    /// Its event type.
    pub event_type: String,
    /// The service part of its publisher id (see [`super::service_of`]).
    pub service: String,
}

/// The labels of an operation's figures.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct OperationLabels {
    /// The source.
    pub source: String,
    /// The operation: the event type before `.start`/`.end`/`.error`.
    pub operation: String,
}

/// The labels of an operation's duration.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct DurationLabels {
    /// The source.
    pub source: String,
    /// The operation.
    pub operation: String,
    /// How it ended: `end` or `error`.
    pub outcome: String,
}

/// The labels of a shared queue's figures.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct QueueLabels {
    /// The source.
    pub source: String,
    /// The queue.
    pub queue: String,
}

/// The labels of a source's figures.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct SourceLabels {
    /// The source.
    pub source: String,
}

/// A histogram of operation durations with [`DURATION_BUCKETS`].
fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// Every metric, registered in [`Families::registry`].
#[derive(Debug)]
pub struct Families {
    /// The registry that writes them all.
    pub registry: Registry,
    /// `notifications_total`.
    pub notifications: Family<NotificationLabels, Counter>,
    /// `operation_duration_seconds`.
    pub durations: Family<DurationLabels, Histogram, fn() -> Histogram>,
    /// `operations_in_flight`.
    pub in_flight: Family<OperationLabels, Gauge>,
    /// `operations_stale_total`.
    pub stale: Family<OperationLabels, Counter>,
    /// `queue_messages`.
    pub queue_messages: Family<QueueLabels, Gauge>,
    /// `queue_consumers`.
    pub queue_consumers: Family<QueueLabels, Gauge>,
    /// `up`.
    pub up: Family<SourceLabels, Gauge>,
    /// `connections_total`.
    pub connections: Family<SourceLabels, Counter>,
    /// `poison_total`.
    pub poison: Family<SourceLabels, Counter>,
    /// `duplicates_total`.
    pub duplicates: Family<SourceLabels, Counter>,
    /// `last_notification_timestamp_seconds`.
    pub last_notification: Family<SourceLabels, Gauge<f64, AtomicU64>>,
    /// `series_dropped_total`.
    pub series_dropped: Counter,
}

impl Families {
    /// Every metric, registered with its help, `version` in `build_info`.
    pub fn new(version: &str) -> Families {
        let families = Families {
            registry: Registry::with_prefix("oslo_listen"),
            notifications: Family::default(),
            durations: Family::new_with_constructor(duration_histogram),
            in_flight: Family::default(),
            stale: Family::default(),
            queue_messages: Family::default(),
            queue_consumers: Family::default(),
            up: Family::default(),
            connections: Family::default(),
            poison: Family::default(),
            duplicates: Family::default(),
            last_notification: Family::default(),
            series_dropped: Counter::default(),
        };
        let mut registry = Registry::with_prefix("oslo_listen");
        registry.register(
            "notifications",
            "Notifications received that passed the filters, by source, exchange, priority, \
             event type and publishing service",
            families.notifications.clone(),
        );
        registry.register_with_unit(
            "operation_duration",
            "Durations of operations (.start to .end or .error, by the notifications' own \
             timestamps), by source, operation and outcome",
            Unit::Seconds,
            families.durations.clone(),
        );
        registry.register(
            "operations_in_flight",
            "Operations started and not yet ended, by source and operation",
            families.in_flight.clone(),
        );
        registry.register(
            "operations_stale",
            "Operations found in flight for longer than --stale, each counted once",
            families.stale.clone(),
        );
        registry.register(
            "queue_messages",
            "Messages waiting in a shared queue (--shared, --pool), read every 5 s",
            families.queue_messages.clone(),
        );
        registry.register(
            "queue_consumers",
            "Consumers of a shared queue (--shared, --pool), read every 5 s",
            families.queue_consumers.clone(),
        );
        registry.register(
            "up",
            "Whether the source's broker is being consumed (1) or not (0)",
            families.up.clone(),
        );
        registry.register(
            "connections",
            "Connections made to the source's broker, the first one included",
            families.connections.clone(),
        );
        registry.register(
            "poison",
            "Messages taken off a queue that were not notifications (reported on stderr)",
            families.poison.clone(),
        );
        registry.register(
            "duplicates",
            "Second copies of notifications handled already, dropped",
            families.duplicates.clone(),
        );
        registry.register_with_unit(
            "last_notification_timestamp",
            "When the last notification from the source was received, in seconds since the \
             epoch",
            Unit::Seconds,
            families.last_notification.clone(),
        );
        registry.register(
            "series_dropped",
            "Updates not made because they would have created a label set beyond \
             --metrics-max-series",
            families.series_dropped.clone(),
        );
        registry.register(
            "build",
            "The version of oslo-listen",
            Info::new(vec![("version".to_owned(), version.to_owned())]),
        );
        Families {
            registry,
            ..families
        }
    }
}

#[cfg(test)]
impl Families {
    /// Every family as the text format writes it, without anything brought up to date.
    pub fn registry_text(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            .expect("writing into a String");
        out
    }
}
