//! The engine, every guarantee in one place: the [`Notifier`](notifier::Notifier) that
//! publishes as `oslo_messaging.Notifier` does, the receiving engine ([`receive`]) that both
//! `oslo-listen` and the library's [`NotificationListener`](endpoint::NotificationListener)
//! run on, and the typed [`Error`] they return.

pub mod endpoint;
mod error;
pub mod notifier;
pub mod receive;

pub use error::Error;
