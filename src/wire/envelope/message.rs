//! A notification as a listener passes it on: its head (ids, event type, priority, time)
//! decoded, its payload and context members kept as compact JSON text until someone asks for
//! them as values ([`super::compact`]). Printing a notification as JSON then costs a copy of that text, where
//! building `serde_json::Value`s for it costs an allocation and a hash per member.

use super::decode::Decoded;
use super::{Format, Notification, Priority};
use crate::wire::versioned;
use serde_json::Value;
use std::cell::OnceCell;
use std::ops::Range;

/// A notification read from a message body: the head decoded, the payload and context as
/// the compact JSON text `serde_json` would write for them ([`Message::payload_json`],
/// [`Message::context_json`]), and the whole [`Notification`] built from that text the
/// first time it is asked for ([`Message::notification`]). [`Message::read`] (in
/// `quick.rs`, beside the reading it tries first) makes one from a body.
#[derive(Debug, Clone)]
pub struct Message {
    /// A UUID4 with dashes.
    pub message_id: String,
    /// Who sent it, such as `compute.host1`.
    pub publisher_id: Option<String>,
    /// What happened, such as `compute.instance.create.end`.
    pub event_type: String,
    /// The priority.
    pub priority: Priority,
    /// Naive UTC time in Python's `str(datetime)` form.
    pub timestamp: String,
    /// oslo's `_unique_id`, when the sender set one.
    pub unique_id: Option<String>,
    /// Whether it came in an envelope (2.0) or bare (1.0).
    pub format: Format,
    /// The payload's JSON, then each context member's name and JSON.
    text: String,
    payload: Range<usize>,
    /// Each context member: where its name and its JSON are in `text`.
    context: Vec<(Range<usize>, Range<usize>)>,
    values: OnceCell<Notification>,
}

impl Message {
    /// The payload as compact JSON text.
    pub fn payload_json(&self) -> &str {
        &self.text[self.payload.clone()]
    }

    /// The text that the payload's JSON and the context's names and JSON are slices of.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// The request context's members (names without `_context_`), in order, each value as
    /// compact JSON text.
    pub fn context_json(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.context
            .iter()
            .map(|(name, value)| (&self.text[name.clone()], &self.text[value.clone()]))
    }

    /// The whole notification, its payload and context as values.
    pub fn notification(&self) -> &Notification {
        self.values.get_or_init(|| self.build())
    }

    /// The whole notification, taken out.
    pub fn into_notification(mut self) -> Notification {
        match self.values.take() {
            Some(notification) => notification,
            None => self.build(),
        }
    }

    /// The message with its payload's versioned objects unwrapped ([`versioned::unwrap`]):
    /// from its text ([`versioned::unwrap_json`]), or through values when the text holds
    /// what that leaves to them.
    pub fn unwrap_versioned(self) -> Message {
        let json = versioned::unwrap_json(self.payload_json()).unwrap_or_else(|| {
            // Only the payload is read into values (see `build` for why this cannot fail).
            let mut payload = serde_json::from_str(self.payload_json()).unwrap_or(Value::Null);
            versioned::unwrap_in_place(&mut payload);
            payload.to_string()
        });
        self.with_payload_json(json)
    }

    /// The message with `json` (compact JSON text) for its payload.
    fn with_payload_json(self, json: String) -> Message {
        let mut text = json;
        let payload = 0..text.len();
        let mut append = |part: &str| {
            let start = text.len();
            text.push_str(part);
            start..text.len()
        };
        let context = self
            .context
            .iter()
            .map(|(name, value)| {
                (
                    append(&self.text[name.clone()]),
                    append(&self.text[value.clone()]),
                )
            })
            .collect();
        Message {
            text,
            payload,
            context,
            values: OnceCell::new(),
            ..self
        }
    }

    fn build(&self) -> Notification {
        // The text is JSON that serde_json wrote, or that `compact` checked it reads back
        // the same: reading it cannot fail. Were it to, the value would be null.
        let value = |json: &str| serde_json::from_str(json).unwrap_or(Value::Null);
        Notification {
            message_id: self.message_id.clone(),
            publisher_id: self.publisher_id.clone(),
            event_type: self.event_type.clone(),
            priority: self.priority,
            payload: value(self.payload_json()),
            timestamp: self.timestamp.clone(),
            context: self
                .context_json()
                .map(|(name, json)| (name.to_owned(), value(json)))
                .collect(),
        }
    }
}

/// A message's head: everything but its payload and context.
pub(super) struct Head {
    pub(super) message_id: String,
    pub(super) publisher_id: Option<String>,
    pub(super) event_type: String,
    pub(super) priority: Priority,
    pub(super) timestamp: String,
    pub(super) unique_id: Option<String>,
    pub(super) format: Format,
}

impl Message {
    /// A message of `head` whose payload is at `payload` in `text`, and each context member's
    /// name and value at the ranges of `context`: compact JSON text, as [`super::compact`]
    /// writes it.
    pub(super) fn assemble(
        head: Head,
        text: String,
        payload: Range<usize>,
        context: Vec<(Range<usize>, Range<usize>)>,
    ) -> Message {
        Message {
            message_id: head.message_id,
            publisher_id: head.publisher_id,
            event_type: head.event_type,
            priority: head.priority,
            timestamp: head.timestamp,
            unique_id: head.unique_id,
            format: head.format,
            text,
            payload,
            context,
            values: OnceCell::new(),
        }
    }
}

impl From<Decoded> for Message {
    /// The message of a notification already decoded: its values written as JSON text.
    fn from(decoded: Decoded) -> Message {
        let Decoded {
            notification: n,
            unique_id,
            format,
        } = decoded;
        fn write(text: &mut Vec<u8>, value: &Value) -> Range<usize> {
            let start = text.len();
            // Writing a Value into memory cannot fail.
            let _ = serde_json::to_writer(&mut *text, value);
            start..text.len()
        }
        let mut text = Vec::new();
        let payload = write(&mut text, &n.payload);
        let context = n
            .context
            .iter()
            .map(|(name, value)| {
                let start = text.len();
                text.extend_from_slice(name.as_bytes());
                let name = start..text.len();
                (name, write(&mut text, value))
            })
            .collect();
        Message {
            message_id: n.message_id.clone(),
            publisher_id: n.publisher_id.clone(),
            event_type: n.event_type.clone(),
            priority: n.priority,
            timestamp: n.timestamp.clone(),
            unique_id,
            format,
            // serde_json writes UTF-8, and the names were strings.
            text: String::from_utf8(text).unwrap_or_default(),
            payload,
            context,
            values: OnceCell::from(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_unwrapped_from_its_text_or_through_values_alike() {
        // The second payload has a key with an escape: unwrapped through values.
        for key in ["plain", "with \\\"quote"] {
            let inner = format!(
                r#"{{"message_id": "m", "event_type": "e", "priority": "info", "timestamp": "t", "payload": {{"nova_object.name": "P", "nova_object.data": {{"{key}": {{"x_object.name": "X", "x_object.data": [1]}}}}}}, "_context_user": "u"}}"#
            );
            let body =
                serde_json::json!({"oslo.version": "2.0", "oslo.message": inner}).to_string();
            let message = Message::read(body.as_bytes()).unwrap();
            let mut expected = message.notification().payload.clone();
            versioned::unwrap_in_place(&mut expected);
            let unwrapped = message.unwrap_versioned();
            assert_eq!(unwrapped.payload_json(), expected.to_string());
            assert_eq!(unwrapped.notification().payload, expected);
            assert_eq!(
                unwrapped.context_json().collect::<Vec<_>>(),
                [("user", "\"u\"")]
            );
            assert_eq!(unwrapped.message_id, "m");
        }
    }
}
