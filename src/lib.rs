//! Publish and receive OpenStack notifications on RabbitMQ, byte for byte as
//! oslo.messaging does.
//!
//! The crate holds the library behind the `oslo-notify` and `oslo-listen` tools:
//!
//! - [`envelope`]: build and parse notification messages (envelope 2.0 and bare 1.0);
//! - [`pyjson`]: JSON written exactly as Python's `json.dumps` writes it;
//! - [`transport_url`]: oslo transport URLs, with passwords kept out of every message;
//! - [`input`]: JSON payloads and contexts given on the command line;
//! - [`config`]: the notification settings of a service's oslo.config files;
//! - [`broker`]: the RabbitMQ connection, declarations and confirmed publishing;
//! - [`notifier`]: [`notifier::Notifier`], the counterpart of `oslo_messaging.Notifier`;
//! - [`endpoint`]: endpoints and [`endpoint::NotificationListener`], the counterpart of
//!   `oslo_messaging.get_notification_listener`;
//! - [`filter`], [`output`]: which received notifications to keep, and how to write them;
//! - [`template`]: `oslo-listen --format` templates such as `{timestamp} {payload.id}`;
//! - [`replay`]: reading `oslo-listen --format json` lines back;
//! - [`save`]: `oslo-listen --save DIR`, a file per notification;
//! - [`settlement`]: which acknowledgements settle deliveries handled in any order;
//! - [`send`] and [`listen`]: the `oslo-notify` and `oslo-listen` commands;
//! - [`cli`], [`exit`] and [`verbosity`]: arguments, exit codes, error reporting and how
//!   much the tools say.
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
pub mod exit;
pub mod filter;
pub mod input;
pub mod listen;
pub mod notifier;
pub mod output;
pub mod pyjson;
pub mod replay;
pub mod save;
pub mod send;
pub mod settlement;
pub mod template;
pub mod transport_url;
pub mod verbosity;
