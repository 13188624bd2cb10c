//! A notification as `oslo-listen --format json` writes it (and `--save` saves it), read
//! back: one JSON object with `priority` (lower case), `event_type`, `publisher_id`,
//! `payload`, `metadata` (`message_id`, `timestamp`), `context`, `exchange`,
//! `routing_key` and, when it came from one of several brokers, `source`.
//!
//! [`read`] gives a [`Message`], as a listener has it from a broker, reading the object in
//! one pass (as message bodies are read) when it is ordinary and through `serde_json` values
//! otherwise, which names what is wrong; [`parse`] gives the values, for sending again.

use super::compact::{members, NotCompact};
use super::decode::json_type;
use super::message::Head;
use super::quick::append_names;
use super::{Format, Message, Notification, Priority};
use serde_json::{Map, Value};
use std::fmt;
use std::ops::Range;

/// A saved notification read back as a message, with the route it had come by.
#[derive(Debug, Clone)]
pub struct Saved {
    /// The notification, its payload and context as compact JSON text.
    pub message: Message,
    /// The exchange it was read from, when the object says.
    pub exchange: Option<String>,
    /// Its routing key, when the object says.
    pub routing_key: Option<String>,
    /// The name of the broker it came from, when the object says.
    pub source: Option<String>,
}

/// A saved notification read back as values.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedValues {
    /// The notification; its message_id and timestamp are the saved ones when the object has
    /// its `metadata`, new ones when not.
    pub notification: Notification,
    /// Whether the object had its `metadata` (message_id and timestamp).
    pub identified: bool,
    /// The exchange it was read from, when the object says.
    pub exchange: Option<String>,
    /// Its routing key, when the object says.
    pub routing_key: Option<String>,
    /// The name of the broker it came from, when the object says.
    pub source: Option<String>,
}

/// Why a text is not a saved notification. Each reads after the name of what was read
/// (`line 3 has no "priority"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SavedError {
    /// Not JSON: the parser's message.
    NotJson(String),
    /// JSON, but not an object: its type.
    NotAnObject(&'static str),
    /// A member that must be there is not (`metadata.message_id` for one of the metadata).
    Missing(&'static str),
    /// A member of the wrong type.
    WrongType {
        /// The member.
        member: &'static str,
        /// The type it has.
        found: &'static str,
        /// The type it must have.
        expected: &'static str,
    },
    /// A priority that is none of oslo's seven.
    UnknownPriority(String),
}

impl fmt::Display for SavedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SavedError::NotJson(why) => write!(f, "is not valid JSON: {why}"),
            SavedError::NotAnObject(found) => write!(
                f,
                "is a JSON {found}, not an oslo-listen --format json object"
            ),
            SavedError::Missing(member) => write!(f, "has no {member:?}"),
            SavedError::WrongType {
                member,
                found,
                expected,
            } => write!(f, "has {member:?} as a JSON {found}, not {expected}"),
            SavedError::UnknownPriority(name) => write!(
                f,
                "has an unknown priority {name:?} (expected one of audit, debug, info, warn, \
                 error, critical, sample)"
            ),
        }
    }
}

impl std::error::Error for SavedError {}

/// Reads a saved notification as a [`Message`]: the one a listener would have, but for its
/// `_unique_id` (not saved) and format (taken as 2.0). Its `metadata` must be there.
pub fn read(text: &[u8]) -> Result<Saved, SavedError> {
    if let Some(saved) = quickly(text) {
        return Ok(saved);
    }
    let text = std::str::from_utf8(text).map_err(|e| SavedError::NotJson(e.to_string()))?;
    let values = parse(text)?;
    if !values.identified {
        return Err(SavedError::Missing("metadata"));
    }
    let decoded = super::Decoded {
        notification: values.notification,
        unique_id: None,
        format: Format::V2,
    };
    Ok(Saved {
        message: Message::from(decoded),
        exchange: values.exchange,
        routing_key: values.routing_key,
        source: values.source,
    })
}

/// An optional string member of `object`.
fn optional_string(
    object: &Map<String, Value>,
    member: &'static str,
) -> Result<Option<String>, SavedError> {
    match object.get(member) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(SavedError::WrongType {
            member,
            found: json_type(other),
            expected: "a string",
        }),
    }
}

/// A string member of `object` that must be there.
fn string(object: &Map<String, Value>, member: &'static str) -> Result<String, SavedError> {
    optional_string(object, member)?.ok_or(SavedError::Missing(member))
}

/// Reads a saved notification as values. Without `metadata`, the notification gets a new
/// message_id and timestamp (and [`SavedValues::identified`] says so).
pub fn parse(text: &str) -> Result<SavedValues, SavedError> {
    let value: Value =
        serde_json::from_str(text).map_err(|e| SavedError::NotJson(e.to_string()))?;
    let Value::Object(object) = value else {
        return Err(SavedError::NotAnObject(json_type(&value)));
    };
    let priority: Priority = string(&object, "priority")?
        .parse()
        .map_err(|e: super::UnknownPriority| SavedError::UnknownPriority(e.0))?;
    let event_type = string(&object, "event_type")?;
    let payload = object
        .get("payload")
        .cloned()
        .ok_or(SavedError::Missing("payload"))?;
    let context = match object.get("context") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(other) => {
            return Err(SavedError::WrongType {
                member: "context",
                found: json_type(other),
                expected: "an object",
            })
        }
    };
    let mut notification = Notification::new(priority, event_type, payload).with_context(context);
    notification.publisher_id = optional_string(&object, "publisher_id")?;
    let identified = match object.get("metadata") {
        None | Some(Value::Null) => false,
        Some(Value::Object(metadata)) => {
            let id = |member| {
                optional_string(metadata, member)?.ok_or(SavedError::Missing(match member {
                    "message_id" => "metadata.message_id",
                    _ => "metadata.timestamp",
                }))
            };
            notification.message_id = id("message_id")?;
            notification.timestamp = id("timestamp")?;
            true
        }
        Some(other) => {
            return Err(SavedError::WrongType {
                member: "metadata",
                found: json_type(other),
                expected: "an object",
            })
        }
    };
    Ok(SavedValues {
        notification,
        identified,
        exchange: optional_string(&object, "exchange")?,
        routing_key: optional_string(&object, "routing_key")?,
        source: optional_string(&object, "source")?,
    })
}

/// The members of the saved object read as they are, in the order `--format json` writes
/// them (`metadata` and `context` are read member by member).
const MEMBERS: [&str; 7] = [
    "priority",
    "event_type",
    "publisher_id",
    "payload",
    "exchange",
    "routing_key",
    "source",
];

/// Puts `value` in `slot`; a second one is refused.
fn once<T>(slot: &mut Option<T>, value: T) -> Result<(), NotCompact> {
    match slot.replace(value) {
        None => Ok(()),
        Some(_) => Err(NotCompact),
    }
}

/// The saved notification read in one pass, or `None` for anything unusual (a member twice,
/// a wrong type, a text [`members`] refuses): [`parse`] then reads it, and says what is
/// wrong. Members of no saved notification are skipped.
fn quickly(line: &[u8]) -> Option<Saved> {
    let mut text = Vec::with_capacity(line.len());
    let mut at: [Option<Range<usize>>; MEMBERS.len()] = Default::default();
    let (mut message_id, mut timestamp) = (None, None);
    let (mut metadata, mut context_seen) = (None, None);
    let mut context = Vec::new();
    let mut names = String::new();
    members(line, &mut text, |key, writer| match key {
        "metadata" => {
            once(&mut metadata, ())?;
            writer.members(&mut |key, writer| {
                let slot = match key {
                    "message_id" => &mut message_id,
                    "timestamp" => &mut timestamp,
                    _ => return writer.value(),
                };
                let mut value = String::new();
                writer.string_into(&mut value)?;
                once(slot, value)
            })
        }
        "context" => {
            once(&mut context_seen, ())?;
            if writer.at_null() {
                return writer.value();
            }
            writer.members(&mut |key, writer| {
                let start = writer.written();
                writer.value()?;
                let at = names.len();
                names.push_str(key);
                context.push((at..names.len(), start..writer.written()));
                Ok(())
            })
        }
        _ => {
            let start = writer.written();
            writer.value()?;
            match MEMBERS.iter().position(|name| *name == key) {
                Some(index) => once(&mut at[index], start..writer.written()),
                None => Ok(()),
            }
        }
    })
    .ok()?;
    let string = |range: &Option<Range<usize>>| -> Option<Option<String>> {
        match range {
            None => Some(None),
            Some(range) if &text[range.clone()] == b"null" => Some(None),
            Some(range) => serde_json::from_slice(&text[range.clone()]).ok().map(Some),
        }
    };
    let [priority, event_type, publisher_id, payload, exchange, routing_key, source] = &at;
    let head = Head {
        message_id: message_id?,
        publisher_id: string(publisher_id)?,
        event_type: string(event_type)??,
        priority: string(priority)??.parse().ok()?,
        timestamp: timestamp?,
        unique_id: None,
        format: Format::V2,
    };
    let (exchange, routing_key) = (string(exchange)?, string(routing_key)?);
    let source = string(source)?;
    let payload = payload.clone()?;
    let context = append_names(&mut text, &names, context)?;
    let text = String::from_utf8(text).ok()?;
    Some(Saved {
        message: Message::assemble(head, text, payload, context),
        exchange,
        routing_key,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LINE: &str = r#"{"priority":"error","event_type":"compute.instance.create.error","publisher_id":"nova-compute:c1","payload":{"nova_object.name":"InstanceActionPayload","nova_object.data":{"uuid":"u1","name":"caf\u00e9"}},"metadata":{"message_id":"m1","timestamp":"2026-12-05 08:41:45.339791"},"context":{"request_id":"req-1","auth_token":"***","roles":["admin"]},"exchange":"nova","routing_key":"versioned_notifications.error"}"#;

    /// What the slow way reads, as a message's parts.
    fn slowly(text: &str) -> Result<(Notification, Option<String>, Option<String>), SavedError> {
        let values = parse(text)?;
        if !values.identified {
            return Err(SavedError::Missing("metadata"));
        }
        Ok((values.notification, values.exchange, values.routing_key))
    }

    fn parts(saved: Saved) -> (Notification, Option<String>, Option<String>) {
        let Saved {
            message,
            exchange,
            routing_key,
            source: _,
        } = saved;
        (message.into_notification(), exchange, routing_key)
    }

    #[test]
    fn the_source_of_a_saved_line_reads_back_both_ways() {
        let line = LINE.replace(
            r#""exchange":"nova""#,
            r#""source":"east","exchange":"nova""#,
        );
        let saved = quickly(line.as_bytes()).expect("an ordinary line");
        assert_eq!(saved.source.as_deref(), Some("east"));
        assert_eq!(parse(&line).unwrap().source.as_deref(), Some("east"));
        assert_eq!(quickly(LINE.as_bytes()).unwrap().source, None);
        let wrong = LINE.replace(r#""exchange":"nova""#, r#""source":7,"exchange":"nova""#);
        assert!(matches!(
            read(wrong.as_bytes()),
            Err(SavedError::WrongType {
                member: "source",
                ..
            })
        ));
    }

    #[test]
    fn a_saved_line_reads_back_as_the_message_it_was() {
        let saved = quickly(LINE.as_bytes()).expect("an ordinary line");
        let m = &saved.message;
        assert_eq!(m.priority, Priority::Error);
        assert_eq!(m.event_type, "compute.instance.create.error");
        assert_eq!(m.publisher_id.as_deref(), Some("nova-compute:c1"));
        assert_eq!(m.message_id, "m1");
        assert_eq!(m.timestamp, "2026-12-05 08:41:45.339791");
        assert_eq!(
            m.payload_json(),
            r#"{"nova_object.name":"InstanceActionPayload","nova_object.data":{"uuid":"u1","name":"café"}}"#
        );
        let context: Vec<_> = m.context_json().collect();
        assert_eq!(
            context,
            [
                ("request_id", r#""req-1""#),
                ("auth_token", r#""***""#),
                ("roles", r#"["admin"]"#)
            ]
        );
        assert_eq!(saved.exchange.as_deref(), Some("nova"));
        assert_eq!(
            saved.routing_key.as_deref(),
            Some("versioned_notifications.error")
        );
    }

    #[test]
    fn read_quickly_or_not_is_what_parse_reads() {
        let lines = [
            LINE.to_owned(),
            // White space, members in another order, a member of no saved notification.
            r#" { "metadata" : {"timestamp": "t", "message_id": "m", "x": [1]}, "priority": "INFO",
                "event_type": "e", "payload": [1.50, "\u00e9"], "source": "east" } "#
                .to_owned(),
            r#"{"priority":"info","event_type":"e","publisher_id":null,"payload":null,"metadata":{"message_id":"m","timestamp":"t"},"context":null}"#.to_owned(),
            // The slow way: a key twice in the context, a surrogate alone.
            r#"{"priority":"info","event_type":"e","payload":1,"metadata":{"message_id":"m","timestamp":"t"},"context":{"a":1,"a":2}}"#.to_owned(),
            r#"{"priority":"info","event_type":"e","payload":"\ud800","metadata":{"message_id":"m","timestamp":"t"}}"#.to_owned(),
            // Not saved notifications.
            r#"{"priority":"info","event_type":"e","payload":1}"#.to_owned(),
            r#"{"priority":"info","event_type":"e","payload":1,"metadata":{"message_id":"m"}}"#.to_owned(),
            r#"{"priority":"info","event_type":"e","payload":1,"metadata":{"message_id":7,"timestamp":"t"}}"#.to_owned(),
            r#"{"priority":"loud","event_type":"e","payload":1,"metadata":{"message_id":"m","timestamp":"t"}}"#.to_owned(),
            r#"{"priority":"info","event_type":"e","payload":1,"metadata":{"message_id":"m","timestamp":"t"},"context":[]}"#.to_owned(),
            "[]".to_owned(),
            "{".to_owned(),
        ];
        for line in &lines {
            let read = read(line.as_bytes()).map(parts);
            assert_eq!(read, slowly(line), "{line}");
        }
        assert!(quickly(lines[1].as_bytes()).is_some());
        assert!(quickly(lines[2].as_bytes()).is_some());
        assert!(read(lines[3].as_bytes()).is_ok());
        for line in &lines[5..] {
            assert!(read(line.as_bytes()).is_err(), "{line}");
        }
    }

    #[test]
    fn what_is_wrong_is_said() {
        let said = |text: &str| read(text.as_bytes()).unwrap_err().to_string();
        assert!(said("{").starts_with("is not valid JSON"));
        assert_eq!(
            said("[1]"),
            "is a JSON array, not an oslo-listen --format json object"
        );
        assert_eq!(
            said(r#"{"event_type":"e","payload":1}"#),
            r#"has no "priority""#
        );
        assert_eq!(
            said(r#"{"priority":"info","event_type":"e","payload":1}"#),
            r#"has no "metadata""#
        );
        assert!(said(r#"{"priority":"loud","event_type":"e","payload":1}"#)
            .starts_with(r#"has an unknown priority "loud""#));
        assert_eq!(
            said(r#"{"priority":"info","event_type":"e","payload":1,"context":2}"#),
            r#"has "context" as a JSON number, not an object"#
        );
        assert_eq!(
            said(
                r#"{"priority":"info","event_type":"e","payload":1,"metadata":{"timestamp":"t"}}"#
            ),
            r#"has no "metadata.message_id""#
        );
    }

    #[test]
    fn without_metadata_the_values_get_a_new_identity() {
        let values =
            parse(&json!({"priority": "warn", "event_type": "e", "payload": {}}).to_string())
                .unwrap();
        assert!(!values.identified);
        assert_eq!(values.notification.message_id.len(), 36);
        assert_eq!(values.notification.priority, Priority::Warn);
    }
}
