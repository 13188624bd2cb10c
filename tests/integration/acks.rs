//! What `oslo-listen --shared` and `--pool` take off their queues: exactly what they printed,
//! however the deliveries of several queues and exchanges interleave, on `--count`, on
//! SIGTERM, and with filters that hold some back. Checked with passive declares and by
//! reading what is left.

use crate::common;
use crate::common::{listen, scratch, send, Broker, Run};
use serde_json::Value;
use std::collections::BTreeSet;

/// What waits before the listener starts: (exchange index, priority, event type) of each.
const PRELOAD: &[(usize, &str, &str)] = &[
    (0, "info", "keep.compute.instance.create.end"),
    (0, "error", "keep.compute.instance.create.error"),
    (0, "info", "skip.volume.attach"),
    (1, "error", "keep.network.update.error"),
    (0, "warn", "keep.image.delete"),
    (1, "info", "skip.port.create.end"),
    (0, "error", "skip.volume.create.error"),
    (1, "warn", "keep.port.update.end"),
    (0, "info", "keep.compute.instance.delete.end"),
    (1, "error", "keep.network.delete.error"),
];

const PRIORITIES: [&str; 3] = ["info", "error", "warn"];

/// A topic on two exchanges with notifications waiting on its `<topic>.<priority>` queues.
struct Preloaded {
    broker: Broker,
    exchanges: [String; 2],
    topic: String,
    /// The message_id of every notification sent, by its event type.
    sent: Vec<(String, String)>,
}

impl Preloaded {
    /// A fresh topic and two exchanges; with `pool`, the pool queue is set up before anything
    /// is sent (by an oslo-listen that stops at once), as a pool that was running would be.
    fn new(pool: Option<&str>) -> Preloaded {
        let (mut broker, first, topic) = scratch();
        let exchanges = [first, broker.exchange_name()];
        let mut loaded = Preloaded {
            broker,
            exchanges,
            topic,
            sent: Vec::new(),
        };
        if let Some(pool) = pool {
            loaded.broker.forget_queue(pool);
            let run = loaded.listen(&["--pool", pool, "--timeout", "1"]).finish();
            assert_eq!(run.code, 0, "{run:?}");
            assert_eq!(run.stdout, "", "nothing sent yet");
        }
        for (exchange, priority, event_type) in PRELOAD {
            let id = send(
                &loaded.exchanges[*exchange],
                &loaded.topic,
                &[priority, event_type, "{}"],
            );
            loaded.sent.push((event_type.to_string(), id));
        }
        loaded
    }

    /// Starts oslo-listen on both exchanges, the topic and its three priorities, printing
    /// JSON, with `extra` arguments.
    fn listen(&self, extra: &[&str]) -> common::Listening {
        let mut args = vec![
            "--exchange",
            &self.exchanges[0],
            "--exchange",
            &self.exchanges[1],
            "--topic",
            &self.topic,
            "--json",
            "-v",
        ];
        for priority in PRIORITIES {
            args.extend(["--priority", priority]);
        }
        args.extend_from_slice(extra);
        listen(&args)
    }

    /// Every message_id sent whose event type starts with `prefix`.
    fn sent_ids(&self, prefix: &str) -> BTreeSet<String> {
        self.sent
            .iter()
            .filter(|(event, _)| event.starts_with(prefix))
            .map(|(_, id)| id.clone())
            .collect()
    }

    /// How many messages wait in `queues` (passive declares), then the message_id of every
    /// one of them, read off.
    fn left_on(&mut self, queues: &[String]) -> (u32, BTreeSet<String>) {
        let waiting = queues.iter().map(|q| self.broker.depth(q)).sum();
        let ids = queues
            .iter()
            .flat_map(|q| self.broker.drain(q))
            .map(|m| m.decoded().notification.message_id)
            .collect();
        (waiting, ids)
    }

    /// The shared `<topic>.<priority>` queues.
    fn shared_queues(&self) -> Vec<String> {
        PRIORITIES
            .iter()
            .map(|p| format!("{}.{p}", self.topic))
            .collect()
    }
}

/// The message_ids oslo-listen printed, each once.
fn printed(run: &Run) -> BTreeSet<String> {
    let ids: Vec<String> = run
        .stdout
        .lines()
        .map(|l| {
            let line: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
            line["metadata"]["message_id"].as_str().unwrap().to_owned()
        })
        .collect();
    let unique: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(unique.len(), ids.len(), "printed twice: {ids:?}");
    unique
}

/// Runs oslo-listen over `queues` to its end and checks that what it printed is gone from
/// them and that everything else sent is still there. Returns what it printed.
fn check_settled(
    loaded: &mut Preloaded,
    queues: &[String],
    args: &[&str],
    wanted: BTreeSet<String>,
) -> BTreeSet<String> {
    let run = loaded.listen(args).finish();
    assert_eq!(run.code, 0, "{run:?}");
    let shown = printed(&run);
    assert!(
        shown.is_subset(&wanted),
        "printed only what matches: {shown:?}"
    );
    let (waiting, left) = loaded.left_on(queues);
    let all = loaded.sent_ids("");
    assert_eq!(
        waiting as usize,
        all.len() - shown.len(),
        "what waits is what was not printed; stderr: {}",
        run.stderr
    );
    assert!(
        shown.is_disjoint(&left),
        "printed notifications left on their queues: {:?}; stderr: {}",
        shown.intersection(&left).collect::<Vec<_>>(),
        run.stderr
    );
    assert_eq!(
        left,
        &all - &shown,
        "every unprinted notification is still there"
    );
    shown
}

#[test]
fn shared_acknowledges_every_printed_notification_of_several_queues() {
    let mut loaded = Preloaded::new(None);
    let queues = loaded.shared_queues();
    let all = loaded.sent_ids("");
    let shown = check_settled(
        &mut loaded,
        &queues,
        &["--shared", "--count", "10"],
        all.clone(),
    );
    assert_eq!(shown, all, "--count equal to what waits prints everything");
}

#[test]
fn shared_with_a_smaller_count_leaves_exactly_the_unprinted_ones() {
    let mut loaded = Preloaded::new(None);
    let queues = loaded.shared_queues();
    let all = loaded.sent_ids("");
    let shown = check_settled(&mut loaded, &queues, &["--shared", "--count", "4"], all);
    assert_eq!(shown.len(), 4);
}

#[test]
fn shared_with_a_filter_acknowledges_the_printed_and_returns_the_held() {
    let mut loaded = Preloaded::new(None);
    let queues = loaded.shared_queues();
    for count in ["7", "3"] {
        let keep = loaded.sent_ids("keep.");
        let args = ["--shared", "--event-type", "keep.*", "--count", count];
        let shown = check_settled(&mut loaded, &queues, &args, keep);
        assert_eq!(shown.len().to_string(), count);
        // Put back what the check read off, for the next round.
        for (exchange, priority, event_type) in PRELOAD {
            let id = send(
                &loaded.exchanges[*exchange],
                &loaded.topic,
                &[priority, event_type, "{}"],
            );
            loaded.sent.retain(|(e, _)| e != event_type);
            loaded.sent.push((event_type.to_string(), id));
        }
    }
}

#[test]
fn pool_acknowledges_exactly_what_it_printed() {
    let pool = common::unique("acks-pool");
    let mut loaded = Preloaded::new(Some(&pool));
    let queues = vec![pool.clone()];
    let all = loaded.sent_ids("");
    let shown = check_settled(
        &mut loaded,
        &queues,
        &["--pool", &pool, "--count", "6"],
        all,
    );
    assert_eq!(shown.len(), 6);
}

#[test]
fn pool_with_a_filter_returns_the_held_ones() {
    let pool = common::unique("acks-pool");
    let mut loaded = Preloaded::new(Some(&pool));
    let queues = vec![pool.clone()];
    let keep = loaded.sent_ids("keep.");
    let args = ["--pool", &pool, "--event-type", "keep.*", "--count", "7"];
    let shown = check_settled(&mut loaded, &queues, &args, keep.clone());
    assert_eq!(shown, keep);
}

#[test]
fn sigterm_acknowledges_every_printed_notification_of_several_queues() {
    let mut loaded = Preloaded::new(None);
    let queues = loaded.shared_queues();
    let keep = loaded.sent_ids("keep.");
    let mut listening = loaded.listen(&["--shared", "--event-type", "keep.*"]);
    // -v reports each batch of acknowledgements; the first comes once the queues are read.
    listening.wait_for_stderr("acknowledgement(s)");
    std::thread::sleep(std::time::Duration::from_millis(300));
    listening.terminate();
    let run = listening.finish();
    assert_eq!(run.code, 0, "{run:?}");
    let shown = printed(&run);
    assert_eq!(shown, keep, "every matching one was printed before SIGTERM");
    let (waiting, left) = loaded.left_on(&queues);
    assert_eq!(
        waiting, 3,
        "the three held back wait; stderr: {}",
        run.stderr
    );
    assert_eq!(left, loaded.sent_ids("skip."));
}
