//! Where notifications travel, planned without I/O: routing keys, the (exchange, routing
//! key) routes of a set of exchanges, topics and priorities, and the queues and bindings
//! each way of listening reads them through. Every side (the notifier, the receiving engine,
//! the tools) takes its names from here.

use crate::wire::envelope::Priority;

/// oslo.messaging's default `control_exchange`.
pub const DEFAULT_EXCHANGE: &str = "openstack";
/// oslo.messaging's default notification topic.
pub const DEFAULT_TOPIC: &str = "notifications";

/// oslo's default exchange, and the exchanges of OpenStack services that publish
/// notifications, looked for when a listener names no exchange.
pub const WELL_KNOWN_EXCHANGES: &[&str] = &[
    DEFAULT_EXCHANGE,
    "nova",
    "neutron",
    "cinder",
    "glance",
    "keystone",
    "heat",
    "ironic",
    "octavia",
    "designate",
    "manila",
    "magnum",
    "trove",
    "barbican",
    "aodh",
    "ceilometer",
    "swift",
    "sahara",
    "zun",
    "placement",
    "masakari",
    "watcher",
    "senlin",
    "cyborg",
    "blazar",
    "zaqar",
    "mistral",
    "murano",
    "tacker",
    "vitrage",
    "cloudkitty",
];

/// Writes the routing key (and shared queue name) of `topic` and `priority` into `key`,
/// replacing what it held: `<topic>.<priority>`, as oslo's notifier builds it.
pub fn write_routing_key(key: &mut String, topic: &str, priority: Priority) {
    key.clear();
    key.push_str(topic);
    key.push('.');
    key.push_str(priority.name());
}

/// The routing key (and shared queue name) of `topic` and `priority`: `<topic>.<priority>`.
pub fn routing_key(topic: &str, priority: Priority) -> String {
    let mut key = String::with_capacity(topic.len() + 9);
    write_routing_key(&mut key, topic, priority);
    key
}

/// The routing keys of every topic with every priority, topic by topic.
pub fn routing_keys(topics: &[String], priorities: &[Priority]) -> Vec<String> {
    topics
        .iter()
        .flat_map(|topic| priorities.iter().map(move |p| routing_key(topic, *p)))
        .collect()
}

/// An exchange and a routing key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route {
    /// The exchange.
    pub exchange: String,
    /// The routing key.
    pub routing_key: String,
}

impl Route {
    /// The route to `exchange` with `routing_key`.
    pub fn new(exchange: impl Into<String>, routing_key: impl Into<String>) -> Self {
        Route {
            exchange: exchange.into(),
            routing_key: routing_key.into(),
        }
    }
}

/// An exchange and topic to listen to, like `oslo_messaging.Target(exchange=..., topic=...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The exchange (oslo's control_exchange when the target names none).
    pub exchange: String,
    /// The topic, such as `notifications`.
    pub topic: String,
}

impl Target {
    /// A target on `exchange` for `topic`.
    pub fn new(exchange: impl Into<String>, topic: impl Into<String>) -> Self {
        Target {
            exchange: exchange.into(),
            topic: topic.into(),
        }
    }

    /// Every topic on every exchange, exchange by exchange.
    pub fn every(exchanges: &[String], topics: &[String]) -> Vec<Target> {
        exchanges
            .iter()
            .flat_map(|exchange| topics.iter().map(move |topic| Target::new(exchange, topic)))
            .collect()
    }
}

/// The routes of `targets` with each of `priorities`, target by target.
pub fn target_routes(targets: &[Target], priorities: &[Priority]) -> Vec<Route> {
    targets
        .iter()
        .flat_map(|t| {
            priorities
                .iter()
                .map(move |p| Route::new(&t.exchange, routing_key(&t.topic, *p)))
        })
        .collect()
}

/// Where notifications are read from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Mode {
    /// A private queue of our own bound like the shared ones: sees what is published from now
    /// on, takes nothing from anyone, and disappears on exit.
    #[default]
    Tap,
    /// The shared `<topic>.<priority>` queues, as an oslo listener without a pool reads them.
    Shared,
    /// oslo's listener pool: one queue of this name bound for every topic and priority.
    Pool(String),
}

impl Mode {
    /// What the queues of this mode are, as a person says it.
    pub fn describe(&self) -> &'static str {
        match self {
            Mode::Tap => "a private queue",
            Mode::Shared => "the shared queues",
            Mode::Pool(_) => "the pool queue",
        }
    }

    /// Whether the queues are shared with other consumers, so that what a listener does not
    /// want must be given back rather than taken.
    pub fn is_shared(&self) -> bool {
        !matches!(self, Mode::Tap)
    }
}

/// A queue to consume from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueSpec {
    /// A queue shared with others (oslo's `<topic>.<priority>` queues, or a pool's): used as
    /// it is when it exists, created with the [`crate::broker::Durability`] asked for when it does not.
    Shared(String),
    /// A queue of our own: exclusive to this connection, deleted when it closes.
    Private(String),
}

impl QueueSpec {
    /// The queue's name.
    pub fn name(&self) -> &str {
        match self {
            QueueSpec::Shared(name) | QueueSpec::Private(name) => name,
        }
    }
}

/// One queue to consume, and the routes to bind it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuePlan {
    /// The queue.
    pub queue: QueueSpec,
    /// Its bindings.
    pub bindings: Vec<Route>,
}

/// The queues `mode` reads `routes` through, as oslo would set them up: a shared queue per
/// routing key, bound on every exchange that routes it; one pool queue bound for everything;
/// or one private queue bound for everything.
pub fn plan(mode: &Mode, routes: &[Route]) -> Vec<QueuePlan> {
    match mode {
        Mode::Tap => vec![QueuePlan {
            queue: QueueSpec::Private(format!("oslo-listen.{}", uuid::Uuid::new_v4().simple())),
            bindings: routes.to_vec(),
        }],
        Mode::Pool(name) => vec![QueuePlan {
            queue: QueueSpec::Shared(name.clone()),
            bindings: routes.to_vec(),
        }],
        Mode::Shared => {
            let mut plans: Vec<QueuePlan> = Vec::new();
            for route in routes {
                match plans
                    .iter_mut()
                    .find(|p| p.queue.name() == route.routing_key)
                {
                    Some(plan) => plan.bindings.push(route.clone()),
                    None => plans.push(QueuePlan {
                        queue: QueueSpec::Shared(route.routing_key.clone()),
                        bindings: vec![route.clone()],
                    }),
                }
            }
            plans
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_routes() -> Vec<Route> {
        vec![
            Route::new("nova", "n.info"),
            Route::new("nova", "n.error"),
            Route::new("neutron", "n.info"),
        ]
    }

    #[test]
    fn routing_keys_are_topic_dot_priority() {
        assert_eq!(
            routing_key("notifications", Priority::Warn),
            "notifications.warn"
        );
        let mut key = String::from("old");
        write_routing_key(&mut key, "t", Priority::Sample);
        assert_eq!(key, "t.sample");
        let topics = ["a".to_owned(), "b".to_owned()];
        assert_eq!(
            routing_keys(&topics, &[Priority::Info, Priority::Error]),
            ["a.info", "a.error", "b.info", "b.error"]
        );
        let exchanges = ["x".to_owned(), "y".to_owned()];
        let targets = Target::every(&exchanges, &topics);
        assert_eq!(
            target_routes(&targets, &[Priority::Info]),
            [
                Route::new("x", "a.info"),
                Route::new("x", "b.info"),
                Route::new("y", "a.info"),
                Route::new("y", "b.info")
            ]
        );
    }

    #[test]
    fn shared_mode_plans_a_queue_per_routing_key_on_every_exchange() {
        let plans = plan(&Mode::Shared, &sample_routes());
        assert_eq!(plans.len(), 2);
        assert_eq!(plans[0].queue, QueueSpec::Shared("n.info".into()));
        assert_eq!(
            plans[0].bindings,
            [
                Route::new("nova", "n.info"),
                Route::new("neutron", "n.info")
            ]
        );
        assert_eq!(plans[1].queue, QueueSpec::Shared("n.error".into()));
    }

    #[test]
    fn pool_and_tap_plan_one_queue_bound_for_everything() {
        let pool = plan(&Mode::Pool("p".into()), &sample_routes());
        assert_eq!(
            pool,
            [QueuePlan {
                queue: QueueSpec::Shared("p".into()),
                bindings: sample_routes()
            }]
        );
        let tap = plan(&Mode::Tap, &sample_routes());
        assert_eq!(tap.len(), 1);
        assert!(
            matches!(&tap[0].queue, QueueSpec::Private(name) if name.starts_with("oslo-listen."))
        );
        assert_eq!(tap[0].bindings, sample_routes());
        assert!(!Mode::Tap.is_shared() && Mode::Shared.is_shared());
    }
}
