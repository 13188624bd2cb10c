//! Publish and receive OpenStack notifications on RabbitMQ, byte for byte as
//! oslo.messaging does.
//!
//! The library a program uses to talk to OpenStack's notification bus:
//!
//! - [`envelope`]: the notification message: build, encode (envelope 2.0 or bare 1.0) and
//!   decode, as oslo.messaging writes and reads it; [`pyjson`] writes JSON as Python does.
//! - [`transport_url`] and [`config`]: where the broker is, from an oslo transport URL or a
//!   service's own configuration file.
//! - [`Notifier`]: publishes with confirms, as `oslo_messaging.Notifier` does.
//! - [`NotificationListener`]: endpoints called per priority, as
//!   `oslo_messaging.get_notification_listener` calls them; beneath it, the receiving
//!   engine's [`Handler`] and [`Verdict`].
//! - [`events`]: what the engine tells its [`Observer`](events::Observer) as it runs
//!   (connected, lost, republished, blocked, poison...).
//! - [`Error`]: the one error the engine returns, with [`broker::BrokerErrorKind`] saying how
//!   talking to the broker failed; [`broker`] also holds the connection options.
//! - [`mask`] and [`versioned`]: secrets masked as OpenStack masks them, and versioned
//!   objects made readable.
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
//!
//! # Layers
//!
//! The source tree is the architecture; a file imports only from its own folder or the ones
//! below it in this list:
//!
//! 1. `events.rs` (what the engine reports) and `wire/`: the envelope, Python-exact JSON,
//!    versioned objects; no I/O.
//! 2. `oslo/`: OpenStack's conventions: transport URLs, oslo.config files, masking, where
//!    notifications travel (topology); no I/O.
//! 3. `broker/`: the only user of the AMQP client.
//! 4. `engine/`: the notifier, the receiving engine, the notification listener, [`Error`].
//! 5. `tool/`: what both tools share (their voice on stderr, their handlers).
//! 6. `listen/` (`oslo-listen`) and `notify/` (`oslo-notify`), neither importing the other.
//! 7. `cli/`: arguments, man pages, exit codes, and the two programs' `main`s.
//!
//! Data flows one way: arguments -> [`envelope::Notification`] -> broker, and broker ->
//! [`envelope::decode`] -> output.

pub mod broker;
pub mod events;

mod engine;
mod listen;
mod notify;
mod oslo;
mod tool;
mod wire;

pub use engine::endpoint::{Endpoint, Handled, Metadata, NotificationListener, Running};
pub use engine::notifier::{Notifier, NotifierOptions, Sent};
pub use engine::receive::{Handler, HandlerError, Received, Source, Verdict};
pub use engine::Error;
pub use oslo::topology::{Target, DEFAULT_EXCHANGE, DEFAULT_TOPIC};
pub use oslo::{config, mask, transport_url};
pub use wire::{envelope, pyjson, versioned};

// The two programs, for their binaries; not part of the library's API.
#[doc(hidden)]
pub mod cli;
