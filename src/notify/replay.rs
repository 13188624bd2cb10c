//! Reading `oslo-listen --format json` lines back, to publish them again.

use super::input::InputError;
use super::rewrite::Rewriter;
use super::Outgoing;
use crate::tool::talk::Talk;
use crate::wire::envelope::{parse_timestamp, saved, Notification};
use crate::wire::pyjson::PythonJson;
use anyhow::{Context, Result};
use chrono::NaiveDateTime;

/// One line of an `oslo-listen --format json` capture.
#[derive(Debug, Clone, PartialEq)]
pub struct Replayed {
    /// The notification, with a new message_id and timestamp.
    pub notification: Notification,
    /// The exchange it was read from.
    pub exchange: Option<String>,
    /// The routing key it was read with.
    pub routing_key: Option<String>,
    /// When it was sent first, when the line says (its `metadata.timestamp`).
    pub recorded: Option<NaiveDateTime>,
}

/// Parses one capture line; `what` names it in errors (`line 3`).
pub fn parse_line(text: &str, what: &str) -> Result<Replayed, InputError> {
    let saved = saved::parse(text).map_err(|e| InputError(format!("{what} {e}")))?;
    let old = saved.notification;
    let recorded = saved
        .identified
        .then(|| parse_timestamp(&old.timestamp))
        .flatten();
    let mut notification =
        Notification::new(old.priority, old.event_type, old.payload).with_context(old.context);
    notification.publisher_id = old.publisher_id;
    Ok(Replayed {
        notification,
        exchange: saved.exchange,
        routing_key: saved.routing_key,
        recorded,
    })
}

/// Warns once when a replayed notification carries secrets that were masked when it was
/// saved: they are sent as the mask, not as the secret.
pub(super) struct MaskedOnce<'a> {
    talk: &'a Talk,
    warned: bool,
}

impl<'a> MaskedOnce<'a> {
    pub(super) fn new(talk: &'a Talk) -> Self {
        MaskedOnce {
            talk,
            warned: false,
        }
    }

    pub(super) fn check(&mut self, outgoing: Outgoing, what: &str) -> Result<Outgoing> {
        if !self.warned {
            let masked = outgoing
                .notification
                .context
                .iter()
                .find(|(_, value)| value.as_str() == Some(crate::oslo::mask::MASK));
            if let Some((key, _)) = masked {
                self.warned = true;
                self.talk.warn(format_args!(
                    "{what} has context {key:?} masked as \"{}\" when it was saved: it is sent \
                     so (save with oslo-listen --show-secrets to replay secrets)",
                    crate::oslo::mask::MASK
                ))?;
            }
        }
        Ok(outgoing)
    }
}

/// A notification to send again from an `oslo-listen --format json` object; `what` names
/// where it came from in errors. Its ids are replaced by `rewriter`'s, when given.
pub(super) fn replayed(
    text: &str,
    what: &str,
    keep_routing: bool,
    rewriter: Option<&mut Rewriter>,
) -> Result<Outgoing> {
    let mut replayed = parse_line(text, what)?;
    if let Some(rewriter) = rewriter {
        rewriter.rewrite(&mut replayed.notification.payload);
        rewriter.rewrite_members(&mut replayed.notification.context);
    }
    let route = match (keep_routing, replayed.exchange, replayed.routing_key) {
        (false, _, _) => None,
        (true, Some(exchange), Some(key)) => Some((exchange, key)),
        (true, _, _) => {
            return Err(
                InputError(format!("{what} has no exchange and routing_key to keep")).into(),
            )
        }
    };
    let payload =
        PythonJson::from_value(&replayed.notification.payload).context("encoding the payload")?;
    Ok(Outgoing {
        notification: replayed.notification.with_payload(payload),
        route,
        recorded: replayed.recorded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::envelope::Priority;
    use serde_json::json;

    #[test]
    fn fields_come_from_the_line_with_a_new_identity() {
        let line = json!({
            "priority": "warn", "event_type": "compute.instance.delete.start",
            "publisher_id": null, "payload": [1, "two"],
            "metadata": {"message_id": "old", "timestamp": "2020-01-01 00:00:00"},
            "context": {"request_id": "req-1"}, "exchange": "nova", "routing_key": "notifications.warn"
        });
        let r = parse_line(&line.to_string(), "line 1").unwrap();
        let n = &r.notification;
        assert_eq!(n.priority, Priority::Warn);
        assert_eq!(n.event_type, "compute.instance.delete.start");
        assert_eq!(n.publisher_id, None);
        assert_eq!(n.payload, json!([1, "two"]));
        assert_eq!(n.context["request_id"], "req-1");
        assert_ne!(n.message_id, "old");
        assert_ne!(n.timestamp, "2020-01-01 00:00:00");
        assert_eq!(r.routing_key.as_deref(), Some("notifications.warn"));
    }

    #[test]
    fn bad_lines_say_what_is_wrong() {
        for (text, reason) in [
            ("{", "line 4 is not valid JSON"),
            ("[1]", "line 4 is a JSON array"),
            (
                r#"{"event_type": "e", "payload": 1}"#,
                "line 4 has no \"priority\"",
            ),
            (
                r#"{"priority": "loud", "event_type": "e", "payload": 1}"#,
                "unknown priority",
            ),
            (
                r#"{"priority": "info", "payload": 1}"#,
                "has no \"event_type\"",
            ),
            (
                r#"{"priority": "info", "event_type": "e"}"#,
                "has no \"payload\"",
            ),
            (
                r#"{"priority": "info", "event_type": "e", "payload": 1, "context": 2}"#,
                "\"context\" as a JSON number",
            ),
        ] {
            let err = parse_line(text, "line 4").unwrap_err().to_string();
            assert!(err.contains(reason), "{text}: {err}");
        }
    }

    #[test]
    fn a_capture_line_becomes_a_new_notification_with_its_route() {
        let line = r#"{"priority":"info","event_type":"e","publisher_id":"p","payload":{"a":1},
          "metadata":{"message_id":"m","timestamp":"t"},"context":{"user":"u"},
          "exchange":"nova","routing_key":"notifications.info"}"#;
        let replayed = parse_line(line, "line 1").unwrap();
        assert_ne!(replayed.notification.message_id, "m");
        assert_eq!(replayed.exchange.as_deref(), Some("nova"));
    }
}
