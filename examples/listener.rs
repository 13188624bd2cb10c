//! The sample notification listener, written against this library.
//!
//! The Python original:
//!
//! ```python
//! class NotificationEndpoint(object):
//!     def info(self, ctxt, publisher_id, event_type, payload, metadata):
//!         print(publisher_id, event_type, payload)
//!
//! transport = oslo_messaging.get_notification_transport(cfg.CONF)
//! targets = [oslo_messaging.Target(topic='notifications')]
//! server = oslo_messaging.get_notification_listener(transport, targets,
//!                                                   [NotificationEndpoint()])
//! server.start()
//! server.wait()
//! ```
//!
//! Run it with `cargo run --example listener` (set OSLO_TRANSPORT_URL for another broker),
//! then send something with `oslo-notify info just.testing '{"heavy":"payload"}'`.
//! Ctrl-C stops it. Like oslo's listener, it reads the shared `notifications.*` queues.
//! Restart the broker while it runs: it connects again and goes on, with no code of this
//! example's, and a notification it handled is not handed to the endpoint twice.

use oslo_notify::broker::BrokerErrorKind;
use oslo_notify::transport_url::{TransportUrl, DEFAULT_URL};
use oslo_notify::{Endpoint, Error, Handled, Metadata, NotificationListener, Target};
use oslo_notify::{DEFAULT_EXCHANGE, DEFAULT_TOPIC};
use serde_json::{Map, Value};

struct NotificationEndpoint;

impl Endpoint for NotificationEndpoint {
    fn info(
        &mut self,
        _ctxt: &Map<String, Value>,
        publisher_id: Option<&str>,
        event_type: &str,
        payload: &Value,
        _metadata: &Metadata,
    ) -> Handled {
        println!("{} {event_type} {payload}", publisher_id.unwrap_or("-"));
        Handled::Done
    }
}

fn main() -> anyhow::Result<()> {
    let url = std::env::var("OSLO_TRANSPORT_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned());
    let url = TransportUrl::parse(&url)?;
    let targets = vec![Target::new(DEFAULT_EXCHANGE, DEFAULT_TOPIC)];
    let server = NotificationListener::new(url, targets, vec![Box::new(NotificationEndpoint)]);

    let running = match server.start() {
        Ok(running) => running,
        // The broker's answer, told apart without reading the message.
        Err(Error::Broker(refused)) if refused.kind() == BrokerErrorKind::Credentials => {
            anyhow::bail!("{refused} (set OSLO_TRANSPORT_URL with the right user)")
        }
        Err(error) => return Err(error.into()),
    };
    let (stop_tx, stop_rx) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(());
    })?;
    eprintln!("listening; Ctrl-C stops");
    let _ = stop_rx.recv();
    running.stop();
    Ok(running.wait()?)
}
