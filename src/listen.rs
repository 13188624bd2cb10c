//! The `oslo-listen` command: set queues up, consume, filter, print, acknowledge.

use crate::broker::{
    self, Acks, ConnectOptions, DeliveryToken, Durability, Event, Flow, Listener, QueueSpec, Start,
};
use crate::envelope::{decode, Priority};
use crate::filter::Filter;
use crate::output::{describe_poison, Printer, Received};
use crate::save::SaveDir;
use crate::settlement::{Settle, Settlement};
use crate::transport_url::TransportUrl;
use crate::verbosity::Verbosity;
use anyhow::{Context, Result};
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// oslo's default exchange, and the exchanges of OpenStack services that publish
/// notifications, looked for when no `--exchange` is given.
pub const WELL_KNOWN_EXCHANGES: &[&str] = &[
    "openstack",
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

/// Everything `oslo-listen` needs, with no command-line types in it.
#[derive(Debug, Clone)]
pub struct ListenConfig {
    /// Where to connect.
    pub url: TransportUrl,
    /// Heartbeat; the connect timeout is bounded by [`ListenConfig::timeout`] too.
    pub connect: ConnectOptions,
    /// How to create shared queues that do not exist.
    pub durability: Durability,
    /// Where to read from.
    pub mode: Mode,
    /// The exchanges; empty means `openstack` and the well-known ones that exist.
    pub exchanges: Vec<String>,
    /// The topics.
    pub topics: Vec<String>,
    /// The priorities.
    pub priorities: Vec<Priority>,
    /// How to write what arrives.
    pub printer: Printer,
    /// Which notifications count.
    pub filter: Filter,
    /// Stop after this many matching notifications.
    pub count: Option<u64>,
    /// Stop after this long; a failure when `count` was not reached.
    pub timeout: Option<Duration>,
    /// Unacknowledged deliveries allowed per queue.
    pub prefetch: u16,
    /// Also write each notification as a file in this directory.
    pub save: Option<std::path::PathBuf>,
    /// How much to say on stderr.
    pub verbosity: Verbosity,
}

/// `--count` was not reached before `--timeout`. Exit code 4.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountNotReached {
    /// How many matching notifications arrived.
    pub seen: u64,
    /// How many were wanted.
    pub wanted: u64,
    /// The timeout.
    pub timeout: Duration,
}

impl fmt::Display for CountNotReached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timed out after {:?}: {} of {} notifications arrived",
            self.timeout, self.seen, self.wanted
        )
    }
}

impl std::error::Error for CountNotReached {}

/// Sends the settlements; with -v, says how many acks and requeues went.
fn apply(
    acks: &Acks,
    settles: Vec<Settle<DeliveryToken>>,
    verbosity: Verbosity,
    err: &mut impl Write,
) -> Result<()> {
    let (mut acked, mut requeued) = (0, 0);
    for settle in settles {
        match settle {
            Settle::Ack { token, multiple } => {
                acks.ack(token, multiple)?;
                acked += 1;
            }
            Settle::Requeue(token) => {
                acks.requeue(token)?;
                requeued += 1;
            }
        }
    }
    if verbosity.details() && acked + requeued > 0 {
        writeln!(
            err,
            "oslo-listen: sent {acked} acknowledgement(s) and {requeued} requeue(s)"
        )?;
    }
    Ok(())
}

/// The `_unique_id`s of the notifications printed last, to drop a second copy of one, as
/// oslo's listener does with its `_MsgIdCache`: after a reconnection the broker delivers again
/// what was printed but not yet acknowledged, and a sender that lost its connection publishes
/// again what the broker had not confirmed.
#[derive(Debug)]
struct RecentIds {
    order: std::collections::VecDeque<String>,
    set: std::collections::HashSet<String>,
    capacity: usize,
}

impl RecentIds {
    fn new(capacity: usize) -> Self {
        RecentIds {
            order: std::collections::VecDeque::with_capacity(capacity),
            set: std::collections::HashSet::with_capacity(capacity),
            capacity,
        }
    }

    fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }

    fn insert(&mut self, id: String) {
        if self.set.contains(&id) {
            return;
        }
        if self.order.len() == self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.set.remove(&oldest);
            }
        }
        self.set.insert(id.clone());
        self.order.push_back(id);
    }
}

/// What a run has done so far, kept across reconnections.
struct Progress {
    /// Matching notifications printed.
    printed: u64,
    /// The `_unique_id`s printed last.
    recent: RecentIds,
    /// Where notifications are also saved as files.
    save: Option<SaveDir>,
}

/// How many printed `_unique_id`s are remembered to drop second copies.
const REMEMBERED_IDS: usize = 4096;

/// How many done deliveries are acknowledged at once.
const ACK_BATCH: usize = 64;
/// How often the stop flag and the deadline are looked at when nothing arrives.
const TICK: Duration = Duration::from_millis(100);

/// Connects, binds, and prints notifications to `out` until `count` is reached, `timeout`
/// passes, `stop` is set (by a signal), or an error. Progress and diagnostics go to `err`.
pub fn run(
    config: &ListenConfig,
    out: &mut impl Write,
    err: &mut impl Write,
    stop: &AtomicBool,
) -> Result<()> {
    if let Some(warning) = config.connect.tls.insecure_warning() {
        writeln!(err, "oslo-listen: warning: {warning}")?;
    }
    let save = match &config.save {
        Some(dir) => Some(SaveDir::create(dir, config.printer.show_secrets)?),
        None => None,
    };
    let started = Instant::now();
    let deadline = config.timeout.map(|t| started + t);
    let mut progress = Progress {
        printed: 0,
        recent: RecentIds::new(REMEMBERED_IDS),
        save,
    };
    // The first connection may wait for a broker that is starting for the connect timeout
    // (or --timeout); after a loss, reconnecting goes on until --timeout, or for ever.
    let mut connect_deadline = Some(deadline.unwrap_or(started + config.connect.timeout));
    // The host lost last: after a loss, the hosts are tried from the next one.
    let mut lost: Option<String> = None;
    loop {
        let start = lost.as_deref().map_or(Start::Anywhere, Start::After);
        let connection = broker::connect_retrying(
            &config.url,
            &config.connect,
            start,
            connect_deadline,
            |e, wait| {
                if config.verbosity.notices() {
                    let _ = writeln!(err, "oslo-listen: {e}; trying again in {wait:.1?}");
                }
            },
        )?;
        connect_deadline = deadline;
        lost = Some(connection.address().to_owned());
        let result = session(config, connection, out, err, stop, deadline, &mut progress);
        match result {
            Err(e) if is_disconnection(&e) && !stop.load(Ordering::Relaxed) => {
                if config.verbosity.notices() {
                    writeln!(err, "oslo-listen: {e:#}; reconnecting")?;
                }
            }
            other => return other,
        }
    }
}

/// Whether `error` is the loss of the connection (after which we reconnect).
fn is_disconnection(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<broker::BrokerError>()
            .is_some_and(|e| e.kind() == broker::BrokerErrorKind::Disconnected)
    })
}

/// Sets up and consumes on one connection until done, or until the connection is lost.
fn session(
    config: &ListenConfig,
    connection: broker::Connection,
    out: &mut impl Write,
    err: &mut impl Write,
    stop: &AtomicBool,
    deadline: Option<Instant>,
    progress: &mut Progress,
) -> Result<()> {
    if config.verbosity.details() {
        writeln!(err, "oslo-listen: connected to {}", connection.address())?;
    }
    let mut listener = Listener::new(connection, config.durability)?;
    let queues = set_up(config, &mut listener, err)?;
    // Deliveries of a lost connection cannot be settled: the broker gives them again.
    let mut settlement = Settlement::new();
    let hold_limit = usize::from(config.prefetch / 2).max(1);
    let keep_unmatched = config.mode != Mode::Tap;
    let address = listener.address().to_owned();
    listener.consume(&queues, config.prefetch, TICK, |event, acks| {
        match event {
            Event::Ready => {
                if config.verbosity.notices() {
                    writeln!(
                        err,
                        "oslo-listen: listening on {address} ({})",
                        queues.join(", ")
                    )?;
                    err.flush()?;
                }
                return Ok(Flow::Continue);
            }
            Event::Idle => apply(acks, settlement.flush(), config.verbosity, err)?,
            Event::Delivery(delivery) => match decode(&delivery.body) {
                Err(reason) => {
                    let line = describe_poison(
                        &delivery.exchange,
                        &delivery.routing_key,
                        &reason.to_string(),
                        &delivery.body,
                    );
                    writeln!(err, "oslo-listen: {line}")?;
                    settlement.done(delivery.token);
                }
                // Printed already: redelivered after a lost connection, or published again
                // by a sender whose confirm was lost with its connection.
                Ok(decoded)
                    if decoded
                        .unique_id
                        .as_deref()
                        .is_some_and(|id| progress.recent.contains(id)) =>
                {
                    settlement.done(delivery.token);
                }
                Ok(decoded) if config.filter.matches(&decoded.notification) => {
                    let received = Received {
                        notification: &decoded.notification,
                        exchange: &delivery.exchange,
                        routing_key: &delivery.routing_key,
                        body: &delivery.body,
                    };
                    config
                        .printer
                        .write(out, &received)
                        .context("writing to stdout")?;
                    out.flush().context("writing to stdout")?;
                    if let Some(save) = &progress.save {
                        save.save(&received)?;
                    }
                    settlement.done(delivery.token);
                    if let Some(id) = decoded.unique_id {
                        progress.recent.insert(id);
                    }
                    progress.printed += 1;
                    if config.count.is_some_and(|count| progress.printed >= count) {
                        apply(acks, settlement.flush(), config.verbosity, err)?;
                        return Ok(Flow::Stop);
                    }
                }
                Ok(_) if keep_unmatched => {
                    settlement.hold(delivery.token);
                    if settlement.held_count() >= hold_limit {
                        apply(acks, settlement.release(), config.verbosity, err)?;
                        // They come straight back when nobody else consumes the queue.
                        std::thread::sleep(TICK);
                    }
                }
                Ok(_) => settlement.done(delivery.token),
            },
        }
        if settlement.done_count() >= ACK_BATCH {
            apply(acks, settlement.flush(), config.verbosity, err)?;
        }
        if stop.load(Ordering::Relaxed) {
            apply(acks, settlement.flush(), config.verbosity, err)?;
            return Ok(Flow::Stop);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            apply(acks, settlement.flush(), config.verbosity, err)?;
            return match (config.count, config.timeout) {
                (Some(wanted), Some(timeout)) => Err(CountNotReached {
                    seen: progress.printed,
                    wanted,
                    timeout,
                }
                .into()),
                _ => Ok(Flow::Stop),
            };
        }
        Ok(Flow::Continue)
    })?;
    // Held and unread deliveries go back to their queues as the connection closes.
    listener.close()?;
    Ok(())
}

/// One queue to consume, and the (exchange, routing key) pairs to bind it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuePlan {
    /// The queue.
    pub queue: QueueSpec,
    /// Its bindings: (exchange, routing key).
    pub bindings: Vec<(String, String)>,
}

/// The queues `mode` reads `routes` (exchange, routing key) through, as oslo would set them
/// up: a shared queue per routing key, bound on every exchange that routes it; one pool
/// queue bound for everything; or one private queue bound for everything.
pub fn plan(mode: &Mode, routes: &[(String, String)]) -> Vec<QueuePlan> {
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
            for (exchange, key) in routes {
                let binding = (exchange.clone(), key.clone());
                match plans.iter_mut().find(|p| p.queue.name() == key) {
                    Some(plan) => plan.bindings.push(binding),
                    None => plans.push(QueuePlan {
                        queue: QueueSpec::Shared(key.clone()),
                        bindings: vec![binding],
                    }),
                }
            }
            plans
        }
    }
}

/// Declares every planned queue and binding; returns the queue names.
pub fn declare(listener: &mut Listener, plans: &[QueuePlan]) -> Result<Vec<String>> {
    for plan in plans {
        listener.declare_queue(&plan.queue)?;
        for (exchange, key) in &plan.bindings {
            listener.bind(plan.queue.name(), exchange, key)?;
        }
    }
    Ok(plans.iter().map(|p| p.queue.name().to_owned()).collect())
}

/// Declares and binds what `config` reads from; returns the queues to consume.
fn set_up(
    config: &ListenConfig,
    listener: &mut Listener,
    err: &mut impl Write,
) -> Result<Vec<String>> {
    let exchanges = if config.exchanges.is_empty() {
        listener.declare_exchange(WELL_KNOWN_EXCHANGES[0])?;
        let mut found = vec![WELL_KNOWN_EXCHANGES[0].to_owned()];
        for name in &WELL_KNOWN_EXCHANGES[1..] {
            if listener.exchange_exists(name)? {
                found.push((*name).to_owned());
            }
        }
        found
    } else {
        for name in &config.exchanges {
            listener.declare_exchange(name)?;
        }
        config.exchanges.clone()
    };
    let keys: Vec<String> = config
        .topics
        .iter()
        .flat_map(|topic| {
            config
                .priorities
                .iter()
                .map(move |p| format!("{topic}.{}", p.name()))
        })
        .collect();
    let routes: Vec<(String, String)> = exchanges
        .iter()
        .flat_map(|exchange| keys.iter().map(move |key| (exchange.clone(), key.clone())))
        .collect();
    let queues = declare(listener, &plan(&config.mode, &routes))?;
    let description = match config.mode {
        Mode::Tap => "a private queue",
        Mode::Shared => "the shared queues",
        Mode::Pool(_) => "the pool queue",
    };
    if config.verbosity.notices() {
        writeln!(
            err,
            "oslo-listen: bound {description} to exchange{} {} with routing keys {}",
            if exchanges.len() == 1 { "" } else { "s" },
            exchanges.join(", "),
            keys.join(", ")
        )?;
    }
    Ok(queues)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes() -> Vec<(String, String)> {
        [
            ("nova", "n.info"),
            ("nova", "n.error"),
            ("neutron", "n.info"),
        ]
        .iter()
        .map(|(e, k)| (e.to_string(), k.to_string()))
        .collect()
    }

    #[test]
    fn shared_mode_plans_a_queue_per_routing_key_on_every_exchange() {
        let plans = plan(&Mode::Shared, &routes());
        assert_eq!(plans.len(), 2);
        assert_eq!(plans[0].queue, QueueSpec::Shared("n.info".into()));
        assert_eq!(
            plans[0].bindings,
            [
                ("nova".into(), "n.info".into()),
                ("neutron".into(), "n.info".into())
            ]
        );
        assert_eq!(plans[1].queue, QueueSpec::Shared("n.error".into()));
    }

    #[test]
    fn pool_and_tap_plan_one_queue_bound_for_everything() {
        let pool = plan(&Mode::Pool("p".into()), &routes());
        assert_eq!(
            pool,
            [QueuePlan {
                queue: QueueSpec::Shared("p".into()),
                bindings: routes()
            }]
        );
        let tap = plan(&Mode::Tap, &routes());
        assert_eq!(tap.len(), 1);
        assert!(
            matches!(&tap[0].queue, QueueSpec::Private(name) if name.starts_with("oslo-listen."))
        );
        assert_eq!(tap[0].bindings, routes());
    }

    #[test]
    fn recent_ids_remember_the_last_ones() {
        let mut recent = RecentIds::new(2);
        recent.insert("a".into());
        recent.insert("b".into());
        recent.insert("b".into());
        assert!(recent.contains("a") && recent.contains("b"));
        recent.insert("c".into());
        assert!(!recent.contains("a") && recent.contains("b") && recent.contains("c"));
    }

    #[test]
    fn the_count_timeout_message_says_how_far_it_got() {
        let e = CountNotReached {
            seen: 2,
            wanted: 5,
            timeout: Duration::from_secs(3),
        };
        assert_eq!(
            e.to_string(),
            "timed out after 3s: 2 of 5 notifications arrived"
        );
    }
}
