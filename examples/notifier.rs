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
//! It prints the message_id of each notification once the broker has confirmed them all.
//!
//! Give it a count (`cargo run --example notifier -- 200`) to send that many, ten a second,
//! and restart the broker meanwhile: the notifier connects again and sends again what the
//! broker had not confirmed, with no code of this example's; every message_id printed is
//! on the broker.

use oslo_notify::broker::BrokerErrorKind;
use oslo_notify::envelope::Format;
use oslo_notify::transport_url::{TransportUrl, DEFAULT_URL};
use oslo_notify::{Error, Notifier};
use serde_json::{json, Map};
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let url = std::env::var("OSLO_TRANSPORT_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
    let url = match TransportUrl::parse(&url) {
        Ok(url) => url,
        Err(error) => {
            eprintln!("notifier: {error}");
            return ExitCode::from(2);
        }
    };
    let count: u64 = match std::env::args().nth(1).map(|text| text.parse()) {
        None => 1,
        Some(Ok(count)) => count,
        Some(Err(error)) => {
            eprintln!("notifier: the count: {error}");
            return ExitCode::from(2);
        }
    };
    match send(&url, count) {
        Ok(message_ids) => {
            for message_id in message_ids {
                println!("{message_id}");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("notifier: {error}");
            if let Some(hint) = hint(&error) {
                eprintln!("notifier: {hint}");
            }
            ExitCode::FAILURE
        }
    }
}

/// What to try, for the failures a person can mend.
fn hint(error: &Error) -> Option<&'static str> {
    match error.broker_kind()? {
        BrokerErrorKind::Unreachable => Some("is the broker running? (OSLO_TRANSPORT_URL)"),
        BrokerErrorKind::Credentials => Some("check the user name and password in the URL"),
        BrokerErrorKind::VirtualHost => Some("create the virtual host, or grant the user access"),
        BrokerErrorKind::Blocked => Some("the broker is short of memory or disk"),
        _ => None,
    }
}

/// Sends `count` notifications, ten a second; returns their message_ids once the broker has
/// confirmed them all.
fn send(url: &TransportUrl, count: u64) -> Result<Vec<String>, Error> {
    let mut notifier = Notifier::connect(url, "testing")?
        .topics(["notifications"])
        .format(Format::V2);

    // oslo.messaging drops a context given as a plain dict (only a RequestContext is
    // packed), so the Python sample sends none; an empty map sends the same message.
    let context = Map::new();
    let mut message_ids = Vec::new();
    for n in 0..count {
        if n > 0 {
            std::thread::sleep(Duration::from_millis(100));
        }
        let payload = json!({"heavy": "payload"});
        message_ids.push(notifier.info(&context, "just.testing", payload)?);
    }
    notifier.close()?;
    Ok(message_ids)
}
