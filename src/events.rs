//! What the engine tells its caller while it works: typed [`Event`]s handed to an
//! [`Observer`] the caller gives. Nothing in the library writes to stderr or stdout by
//! itself; the tools print these events, and [`DefaultObserver`] prints only poison reports.

use std::fmt;
use std::time::Duration;

/// How much an event matters to a person watching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Weight {
    /// Detail: connection details, declarations, confirms and acknowledgements (`-v`).
    Detail,
    /// A notice: retries, reconnections, a blocked broker, what is bound, ready to listen.
    Notice,
    /// Never to be hidden: a message taken off a queue that is not a notification, whose
    /// report holds the only copy of it.
    Always,
}

/// Something that happened while connecting, publishing or consuming. Each displays as the
/// one line the tools print for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Connected to the broker at this `host:port`.
    Connected {
        /// `host:port`.
        address: String,
    },
    /// An attempt to connect failed; the next one follows after `wait`.
    Retrying {
        /// Why it failed (never holds a password).
        error: String,
        /// How long until the next attempt.
        wait: Duration,
    },
    /// The connection was lost; connecting again.
    Lost {
        /// What was lost, and while doing what.
        error: String,
    },
    /// Connected again after a loss; `resent` unconfirmed notifications were published again.
    Republished {
        /// `host:port` of the new connection.
        address: String,
        /// How many were published again.
        resent: usize,
    },
    /// The broker blocks publishes (a memory or disk alarm); the publisher waits.
    Blocked {
        /// `host:port`.
        address: String,
        /// The broker's reason.
        reason: String,
    },
    /// The broker takes publishes again.
    Unblocked {
        /// `host:port`.
        address: String,
    },
    /// The broker refused (nacked) notifications; they are being published again.
    Resending {
        /// `host:port`.
        address: String,
        /// How many.
        count: usize,
    },
    /// A notifier declared its exchange and the queues of its topics for a priority.
    Declared {
        /// The exchange.
        exchange: String,
        /// The `<topic>.<priority>` queues, bound with their names.
        queues: Vec<String>,
    },
    /// The queues are declared and bound.
    Bound {
        /// Which queues, as a person says it ("the shared queues").
        queues: String,
        /// The exchanges they are bound to.
        exchanges: Vec<String>,
        /// The routing keys.
        keys: Vec<String>,
    },
    /// Consuming: from now on nothing published to the bound routes is missed.
    Listening {
        /// `host:port`.
        address: String,
        /// The queues consumed.
        queues: Vec<String>,
    },
    /// Acknowledgements and requeues sent for handled deliveries.
    Settled {
        /// Acknowledgements sent (one may cover several deliveries).
        acks: usize,
        /// Deliveries given back to their queues.
        requeues: usize,
    },
    /// A message that is not a notification was taken off a queue (and acknowledged so that
    /// it cannot loop): the report holds the whole body.
    Poison {
        /// Exchange, routing key, what is wrong, and the body.
        report: String,
    },
    /// A second copy of a notification handled already (redelivered after a lost
    /// connection, or published again by a sender whose confirm was lost) was dropped.
    Duplicate {
        /// The copy's message_id.
        message_id: String,
    },
    /// Read instead of a broker: a line or file that is not a saved notification, skipped.
    Unreadable {
        /// Where: a file, or a file and line (`events.jsonl line 3`).
        place: String,
        /// What is wrong, reading after the place (`has no "priority"`).
        reason: String,
    },
    /// Something that happened on one of several brokers read at once: the source's name,
    /// and the event.
    Source {
        /// The source's name (`--source NAME=URL`).
        name: String,
        /// What happened there.
        event: Box<Event>,
    },
    /// Read instead of a broker: the input ended.
    EndOfInput {
        /// What was read (a directory, a file, stdin).
        from: String,
        /// Notifications read.
        read: u64,
        /// Lines or files skipped: not notifications.
        skipped: u64,
    },
}

impl Event {
    /// `event` as it happened on the source `name`; unchanged when `name` is empty (the one
    /// broker of a run that names none).
    pub fn on(name: &str, event: Event) -> Event {
        match name {
            "" => event,
            name => Event::Source {
                name: name.to_owned(),
                event: Box::new(event),
            },
        }
    }

    /// The source it happened on, and what happened: `("", self)` unless it is an
    /// [`Event::Source`].
    pub fn at_source(&self) -> (&str, &Event) {
        match self {
            Event::Source { name, event } => (name, event),
            event => ("", event),
        }
    }

    /// How much it matters.
    pub fn weight(&self) -> Weight {
        match self {
            Event::Source { event, .. } => event.weight(),
            Event::Connected { .. }
            | Event::Declared { .. }
            | Event::Settled { .. }
            | Event::Duplicate { .. } => Weight::Detail,
            Event::Poison { .. } => Weight::Always,
            Event::Unreadable { .. } => Weight::Notice,
            Event::EndOfInput { skipped: 0, .. } => Weight::Detail,
            Event::EndOfInput { .. } => Weight::Notice,
            Event::Retrying { .. }
            | Event::Lost { .. }
            | Event::Republished { .. }
            | Event::Blocked { .. }
            | Event::Unblocked { .. }
            | Event::Resending { .. }
            | Event::Bound { .. }
            | Event::Listening { .. } => Weight::Notice,
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Connected { address } => write!(f, "connected to {address}"),
            Event::Retrying { error, wait } => write!(f, "{error}; trying again in {wait:.1?}"),
            Event::Lost { error } => write!(f, "{error}; reconnecting"),
            Event::Republished { address, resent } => write!(
                f,
                "reconnected to {address}; sent {resent} unconfirmed notifications again"
            ),
            Event::Blocked { address, reason } => write!(
                f,
                "the broker at {address} is blocking publishes ({reason}); waiting"
            ),
            Event::Unblocked { address } => {
                write!(f, "the broker at {address} takes publishes again")
            }
            Event::Resending { address, count } => write!(
                f,
                "the broker at {address} refused (nacked) {count} notification(s); \
                 sending them again"
            ),
            Event::Declared { exchange, queues } => write!(
                f,
                "exchange {exchange:?} has queues {} bound with their names",
                queues.join(", ")
            ),
            Event::Bound {
                queues,
                exchanges,
                keys,
            } => write!(
                f,
                "bound {queues} to exchange{} {} with routing keys {}",
                if exchanges.len() == 1 { "" } else { "s" },
                exchanges.join(", "),
                keys.join(", ")
            ),
            Event::Listening { address, queues } => {
                write!(f, "listening on {address} ({})", queues.join(", "))
            }
            Event::Settled { acks, requeues } => write!(
                f,
                "sent {acks} acknowledgement(s) and {requeues} requeue(s)"
            ),
            Event::Poison { report } => f.write_str(report),
            Event::Duplicate { message_id } => {
                write!(f, "dropped a second copy of notification {message_id}")
            }
            Event::Source { name, event } => write!(f, "{name}: {event}"),
            Event::Unreadable { place, reason } => {
                write!(f, "{place} {reason} (skipped)")
            }
            Event::EndOfInput {
                from,
                read,
                skipped,
            } => {
                write!(f, "read {read} notification(s) from {from}")?;
                match skipped {
                    0 => Ok(()),
                    n => write!(f, "; skipped {n} that were not (said above)"),
                }
            }
        }
    }
}

/// Hears the engine's [`Event`]s. Any `FnMut(Event) + Send` closure is one.
pub trait Observer: Send {
    /// One event, as it happens.
    fn event(&mut self, event: Event);
}

impl<F: FnMut(Event) + Send> Observer for F {
    fn event(&mut self, event: Event) {
        self(event)
    }
}

/// The observer a notifier or listener has unless given another: it writes poison reports
/// (and nothing else) to stderr, one line each, since they hold the only copy of a message
/// taken off a queue. Everything else is dropped.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultObserver;

impl Observer for DefaultObserver {
    fn event(&mut self, event: Event) {
        if event.weight() == Weight::Always {
            eprintln!("{event}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_as_the_tools_print_them() {
        let retry = Event::Retrying {
            error: "cannot connect to rabbit://guest:***@h:1/: refused".into(),
            wait: Duration::from_millis(400),
        };
        assert_eq!(
            retry.to_string(),
            "cannot connect to rabbit://guest:***@h:1/: refused; trying again in 400.0ms"
        );
        assert_eq!(retry.weight(), Weight::Notice);
        let bound = Event::Bound {
            queues: "the shared queues".into(),
            exchanges: vec!["nova".into()],
            keys: vec!["n.info".into(), "n.error".into()],
        };
        assert_eq!(
            bound.to_string(),
            "bound the shared queues to exchange nova with routing keys n.info, n.error"
        );
        let settled = Event::Settled {
            acks: 1,
            requeues: 0,
        };
        assert_eq!(settled.weight(), Weight::Detail);
        assert_eq!(
            settled.to_string(),
            "sent 1 acknowledgement(s) and 0 requeue(s)"
        );
        let poison = Event::Poison {
            report: "poison".into(),
        };
        assert_eq!(poison.weight(), Weight::Always);
    }

    #[test]
    fn an_event_of_a_named_source_says_its_name() {
        let lost = Event::Lost {
            error: "connection lost".into(),
        };
        let labelled = Event::on("east", lost.clone());
        assert_eq!(labelled.to_string(), "east: connection lost; reconnecting");
        assert_eq!(labelled.weight(), Weight::Notice);
        assert_eq!(labelled.at_source(), ("east", &lost));
        assert_eq!(Event::on("", lost.clone()), lost);
        assert_eq!(lost.at_source(), ("", &lost));
    }

    #[test]
    fn closures_observe() {
        let mut seen = Vec::new();
        {
            let mut observer = |e: Event| seen.push(e.to_string());
            observer.event(Event::Unblocked {
                address: "h:1".into(),
            });
        }
        assert_eq!(seen, ["the broker at h:1 takes publishes again"]);
    }
}
