//! Reading a message body back into a [`Notification`]: envelope 2.0 or bare 1.0, with
//! every way a body can fail to be a notification named.

use super::{
    Format, Notification, UnknownPriority, CONTEXT_PREFIX, ENVELOPE_VERSION, MESSAGE_KEY,
    VERSION_KEY,
};
use serde_json::{Map, Value};
use std::fmt;

/// A notification read from a message body.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// The notification.
    pub notification: Notification,
    /// oslo's `_unique_id`, when the sender set one.
    pub unique_id: Option<String>,
    /// Whether it came in an envelope (2.0) or bare (1.0).
    pub format: Format,
}

/// Why a message body is not a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvelopeError {
    /// The body is not UTF-8 text.
    NotUtf8 {
        /// Where the first invalid byte is.
        offset: usize,
    },
    /// The body is not JSON (the parser's message, with line and column).
    NotJson(String),
    /// The body is JSON, but not an object.
    NotAnObject(&'static str),
    /// `oslo.version` is not a string.
    VersionNotAString,
    /// `oslo.version` names an envelope this implementation cannot read.
    UnsupportedVersion(String),
    /// `oslo.message` is not a string.
    MessageNotAString(&'static str),
    /// `oslo.message` is not JSON (the parser's message).
    InnerNotJson(String),
    /// `oslo.message` holds JSON that is not an object.
    InnerNotAnObject(&'static str),
    /// A required key is absent.
    MissingKey(&'static str),
    /// A key holds a value of the wrong JSON type.
    WrongType {
        /// The key.
        key: &'static str,
        /// What it must hold.
        expected: &'static str,
        /// What it holds.
        found: &'static str,
    },
    /// The `priority` is none of oslo's seven.
    UnknownPriority(String),
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvelopeError::NotUtf8 { offset } => {
                write!(f, "body is not UTF-8 (invalid byte at offset {offset})")
            }
            EnvelopeError::NotJson(e) => write!(f, "body is not JSON: {e}"),
            EnvelopeError::NotAnObject(found) => {
                write!(f, "body is a JSON {found}, not an object")
            }
            EnvelopeError::VersionNotAString => write!(f, "{VERSION_KEY} is not a string"),
            EnvelopeError::UnsupportedVersion(v) => write!(
                f,
                "unsupported envelope version {VERSION_KEY}={v:?} (this reads {ENVELOPE_VERSION})"
            ),
            EnvelopeError::MessageNotAString(found) => {
                write!(f, "{MESSAGE_KEY} is a JSON {found}, not a string")
            }
            EnvelopeError::InnerNotJson(e) => write!(f, "{MESSAGE_KEY} is not JSON: {e}"),
            EnvelopeError::InnerNotAnObject(found) => {
                write!(f, "{MESSAGE_KEY} holds a JSON {found}, not an object")
            }
            EnvelopeError::MissingKey(key) => write!(f, "notification has no {key:?} key"),
            EnvelopeError::WrongType {
                key,
                expected,
                found,
            } => write!(
                f,
                "notification key {key:?} is a JSON {found}, not {expected}"
            ),
            EnvelopeError::UnknownPriority(p) => write!(f, "{}", UnknownPriority(p.clone())),
        }
    }
}

impl std::error::Error for EnvelopeError {}

/// The JSON type name of `value`, for messages.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Reads a notification from a message body in either format, as oslo's `deserialize_msg`
/// and notification dispatcher do.
pub fn decode(body: &[u8]) -> Result<Decoded, EnvelopeError> {
    let outer: Value =
        serde_json::from_slice(body).map_err(|e| match std::str::from_utf8(body) {
            Err(utf8) => EnvelopeError::NotUtf8 {
                offset: utf8.valid_up_to(),
            },
            Ok(_) => EnvelopeError::NotJson(e.to_string()),
        })?;
    let mut message = match outer {
        Value::Object(map) => map,
        other => return Err(EnvelopeError::NotAnObject(json_type(&other))),
    };
    let format = if message.contains_key(VERSION_KEY) && message.contains_key(MESSAGE_KEY) {
        let version = match message.get(VERSION_KEY) {
            Some(Value::String(v)) => v,
            _ => return Err(EnvelopeError::VersionNotAString),
        };
        if !version_is_compatible(ENVELOPE_VERSION, version) {
            return Err(EnvelopeError::UnsupportedVersion(version.clone()));
        }
        let inner = match message.remove(MESSAGE_KEY) {
            Some(Value::String(text)) => text,
            Some(other) => return Err(EnvelopeError::MessageNotAString(json_type(&other))),
            None => return Err(EnvelopeError::MissingKey(MESSAGE_KEY)),
        };
        message = match serde_json::from_str(&inner) {
            Ok(Value::Object(map)) => map,
            Ok(other) => return Err(EnvelopeError::InnerNotAnObject(json_type(&other))),
            Err(e) => return Err(EnvelopeError::InnerNotJson(e.to_string())),
        };
        Format::V2
    } else {
        Format::V1
    };
    unpack(message, format)
}

/// oslo's `version_is_compatible`: same major, minor and revision no newer than ours.
/// A version that is not `MAJOR.MINOR[.REV]` in digits is incompatible (oslo raises).
fn version_is_compatible(ours: &str, theirs: &str) -> bool {
    fn parts(version: &str) -> Option<(u64, u64, u64)> {
        let mut it = version.split('.');
        let major = it.next()?.trim().parse().ok()?;
        let minor = it.next()?.trim().parse().ok()?;
        let rev = match it.next() {
            Some(rev) => rev.trim().parse().ok()?,
            None => 0,
        };
        Some((major, minor, rev))
    }
    match (parts(ours), parts(theirs)) {
        (Some((major, minor, rev)), Some((their_major, their_minor, their_rev))) => {
            major == their_major
                && (their_minor < minor || (their_minor == minor && their_rev <= rev))
        }
        _ => false,
    }
}

fn string(key: &'static str, value: Option<Value>) -> Result<String, EnvelopeError> {
    match value {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(EnvelopeError::WrongType {
            key,
            expected: "a string",
            found: json_type(&other),
        }),
        None => Err(EnvelopeError::MissingKey(key)),
    }
}

fn optional_string(
    key: &'static str,
    value: Option<Value>,
) -> Result<Option<String>, EnvelopeError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(EnvelopeError::WrongType {
            key,
            expected: "a string or null",
            found: json_type(&other),
        }),
    }
}

/// Takes the notification apart in one pass, so that the context keeps its order.
fn unpack(message: Map<String, Value>, format: Format) -> Result<Decoded, EnvelopeError> {
    let (mut message_id, mut publisher_id, mut event_type, mut priority) = (None, None, None, None);
    let (mut payload, mut timestamp, mut unique_id) = (None, None, None);
    let mut context = Map::new();
    for (key, value) in message {
        let slot = match key.as_str() {
            "message_id" => &mut message_id,
            "publisher_id" => &mut publisher_id,
            "event_type" => &mut event_type,
            "priority" => &mut priority,
            "payload" => &mut payload,
            "timestamp" => &mut timestamp,
            "_unique_id" => &mut unique_id,
            other => {
                if let Some(name) = other.strip_prefix(CONTEXT_PREFIX) {
                    context.insert(name.to_owned(), value);
                }
                continue;
            }
        };
        *slot = Some(value);
    }
    let priority_name = string("priority", priority)?;
    let priority = priority_name
        .parse()
        .map_err(|_| EnvelopeError::UnknownPriority(priority_name))?;
    let notification = Notification {
        payload: payload.ok_or(EnvelopeError::MissingKey("payload"))?,
        message_id: string("message_id", message_id)?,
        publisher_id: optional_string("publisher_id", publisher_id)?,
        event_type: string("event_type", event_type)?,
        priority,
        timestamp: string("timestamp", timestamp)?,
        context,
    };
    Ok(Decoded {
        notification,
        unique_id: optional_string("_unique_id", unique_id)?,
        format,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_compatibility_follows_oslo() {
        assert!(version_is_compatible("2.0", "2.0"));
        assert!(version_is_compatible("2.0", "2.0.0"));
        for bad in ["2.1", "3.0", "1.0", "2.0.1", "2", "two", "", "2.x"] {
            assert!(!version_is_compatible("2.0", bad), "{bad}");
        }
    }

    #[test]
    fn bad_bodies_are_errors_with_reasons() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "not JSON"),
            (b"not json", "not JSON"),
            (b"\xff\xfe{}", "not UTF-8"),
            (b"[1, 2]", "JSON array, not an object"),
            (b"\"text\"", "JSON string, not an object"),
            (
                br#"{"oslo.version": "3.0", "oslo.message": "{}"}"#,
                "unsupported envelope version",
            ),
            (
                br#"{"oslo.version": 2.0, "oslo.message": "{}"}"#,
                "oslo.version is not a string",
            ),
            (
                br#"{"oslo.version": "2.0", "oslo.message": {}}"#,
                "oslo.message is a JSON object",
            ),
            (
                br#"{"oslo.version": "2.0", "oslo.message": "{"}"#,
                "oslo.message is not JSON",
            ),
            (
                br#"{"oslo.version": "2.0", "oslo.message": "[]"}"#,
                "holds a JSON array",
            ),
            (br#"{"priority": "INFO"}"#, "no \"payload\" key"),
            (
                br#"{"priority": "LOUD", "payload": 1}"#,
                "unknown priority \"LOUD\"",
            ),
            (
                br#"{"priority": 3}"#,
                "\"priority\" is a JSON number, not a string",
            ),
        ];
        for (body, reason) in cases {
            let err = decode(body).unwrap_err().to_string();
            assert!(
                err.contains(reason),
                "{:?}: {err}",
                String::from_utf8_lossy(body)
            );
            assert!(!err.contains('\n'));
        }
    }

    #[test]
    fn deep_nesting_and_huge_numbers_do_not_panic() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(
            decode(deep.as_bytes()),
            Err(EnvelopeError::NotJson(_))
        ));
        let deep_inner = format!(
            r#"{{"oslo.version": "2.0", "oslo.message": "{}"}}"#,
            "[".repeat(10_000)
        );
        assert!(decode(deep_inner.as_bytes()).is_err());
        let huge = format!(
            r#"{{"message_id": "m", "publisher_id": null, "event_type": "e", "priority": "info", "payload": {}, "timestamp": "t"}}"#,
            "9".repeat(5000)
        );
        let got = decode(huge.as_bytes()).unwrap();
        assert_eq!(got.notification.payload.to_string(), "9".repeat(5000));
        assert_eq!(got.notification.publisher_id, None);
    }
}
