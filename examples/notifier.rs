//! The sample notifier, written against this library.
//!
//! The Python original:
//!
//! ```python
//! transport = oslo_messaging.get_notification_transport(cfg.CONF)
//! notifier = oslo_messaging.Notifier(transport, driver='messagingv2',
//!                                    publisher_id='testing', topics=['notifications'])
//! notifier.info({'some': 'context'}, 'just.testing', {'heavy': 'payload'})
//! ```
//!
//! Run it with `cargo run --example notifier` (set OSLO_TRANSPORT_URL for another broker).
//! It prints the message_id once the broker has confirmed the notification.

use oslo_notify::envelope::Format;
use oslo_notify::notifier::Notifier;
use oslo_notify::transport_url::{TransportUrl, DEFAULT_URL};
use serde_json::{json, Map};

fn main() -> anyhow::Result<()> {
    let url = std::env::var("OSLO_TRANSPORT_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
    let url = TransportUrl::parse(&url)?;

    let mut notifier = Notifier::connect(&url, "testing")?
        .topics(["notifications"])
        .format(Format::V2);

    // oslo.messaging drops a context given as a plain dict (only a RequestContext is
    // packed), so the Python sample sends none; an empty map sends the same message.
    let context = Map::new();
    let message_id = notifier.info(&context, "just.testing", json!({"heavy": "payload"}))?;
    notifier.close()?;
    println!("{message_id}");
    Ok(())
}
