//! Publish and receive OpenStack notifications on RabbitMQ, byte for byte as
//! oslo.messaging does.
//!
//! The crate holds the library behind the `oslo-notify` and `oslo-listen` tools, in layers;
//! a module imports only from its own layer or the ones below it:
//!
//! 1. Wire and data, no I/O: [`envelope`] (build and parse notification messages, envelope
//!    2.0 and bare 1.0), [`pyjson`] (JSON written exactly as Python's `json.dumps` writes
//!    it), [`transport_url`] (oslo transport URLs, passwords kept out of every message),
//!    [`topology`] (routing keys, routes, and the queues each way of listening reads),
//!    [`settlement`] (which acknowledgements settle deliveries handled in any order),
//!    [`mask`] (secrets masked as OpenStack masks them), [`versioned`] (versioned objects
//!    made readable) and [`events`] (what the engine tells its caller).
//! 2. [`broker`]: the only module that talks AMQP: connecting with host rotation and one
//!    reconnect policy, declaring as oslo does, confirmed publishing that republishes what a
//!    lost connection left unconfirmed, and consuming with manual acknowledgements.
//! 3. The engine, every guarantee in one place: [`notifier::Notifier`] (the counterpart of
//!    `oslo_messaging.Notifier`), [`receive`] (the listening engine: reconnects, drops
//!    second copies, reports poison, acknowledges once the handler is done) and
//!    [`endpoint::NotificationListener`] (the counterpart of
//!    `oslo_messaging.get_notification_listener`, on the listening engine).
//! 4. The tools: [`send`] and [`listen`] (the `oslo-notify` and `oslo-listen` commands, thin
//!    adapters from a configuration to the engine and back), with [`input`], [`filter`],
//!    [`predicate`] (jq programs for `--where` and `--fail-on`), [`trigger`] (the command
//!    run once listening),
//!    [`output`], [`template`], [`replay`], [`save`], [`top`] (`oslo-listen --top`: running
//!    figures of the traffic, on a full screen or as JSON lines), [`config`] (oslo.config files),
//!    [`talk`] and [`verbosity`] (what they say on stderr).
//! 5. [`cli`] (arguments) and [`exit`] (the one place where an error becomes an exit code),
//!    used by the binaries.
//!
//! Data flows one way: arguments -> [`envelope::Notification`] -> [`broker`], and
//! [`broker`] -> [`envelope::decode`] -> [`output`].
//!
//! ```
//! use oslo_notify::envelope::{decode, Format, Notification, Priority};
//! use serde_json::json;
//!
//! let notification = Notification::new(Priority::Info, "just.testing", json!({"heavy": "payload"}))
//!     .with_publisher_id("testing");
//! let body = notification.encode(Format::V2, &oslo_notify::envelope::new_unique_id())?;
//! let received = decode(&body)?;
//! assert_eq!(received.notification.payload["heavy"], "payload");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod broker;
pub mod cli;
pub mod config;
pub mod endpoint;
pub mod envelope;
pub mod events;
pub mod exit;
pub mod filter;
pub mod input;
pub mod listen;
pub mod mask;
pub mod notifier;
pub mod output;
pub mod predicate;
pub mod pyjson;
pub mod receive;
pub mod replay;
pub mod save;
pub mod send;
pub mod settlement;
pub mod talk;
pub mod template;
pub mod top;
pub mod topology;
pub mod transport_url;
pub mod trigger;
pub mod verbosity;
pub mod versioned;
