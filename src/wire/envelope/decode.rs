//! Reading a message body back into a [`Notification`]: envelope 2.0 or bare 1.0, with
//! every way a body can fail to be a notification named.

use super::members::Members;
use super::{Format, Notification, UnknownPriority, ENVELOPE_VERSION, MESSAGE_KEY, VERSION_KEY};
use serde_json::Value;
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
    quickly(body).map_or_else(|| slowly(body), Ok)
}

/// A notification read in one pass per object ([`Members`]), or `None` when the body is
/// not one: [`slowly`] then reads it again, step by step, to say why.
fn quickly(body: &[u8]) -> Option<Decoded> {
    let outer: Members = serde_json::from_slice(body).ok()?;
    if !outer.is_envelope() {
        return unpack(outer, Format::V1).ok();
    }
    match (&outer.version, outer.message) {
        (Some(Value::String(version)), Some(Value::String(inner)))
            if version_is_compatible(ENVELOPE_VERSION, version) =>
        {
            let members: Members = serde_json::from_str(&inner).ok()?;
            unpack(members, Format::V2).ok()
        }
        _ => None,
    }
}

/// Reads `body` step by step as whole values, naming the first thing that makes it no
/// notification.
fn slowly(body: &[u8]) -> Result<Decoded, EnvelopeError> {
    let outer: Value =
        serde_json::from_slice(body).map_err(|e| match std::str::from_utf8(body) {
            Err(utf8) => EnvelopeError::NotUtf8 {
                offset: utf8.valid_up_to(),
            },
            Ok(_) => EnvelopeError::NotJson(e.to_string()),
        })?;
    let members = match outer {
        Value::Object(map) => Members::of(map),
        other => return Err(EnvelopeError::NotAnObject(json_type(&other))),
    };
    if !members.is_envelope() {
        return unpack(members, Format::V1);
    }
    let version = match &members.version {
        Some(Value::String(v)) => v,
        _ => return Err(EnvelopeError::VersionNotAString),
    };
    if !version_is_compatible(ENVELOPE_VERSION, version) {
        return Err(EnvelopeError::UnsupportedVersion(version.clone()));
    }
    let inner = match members.message {
        Some(Value::String(text)) => text,
        Some(other) => return Err(EnvelopeError::MessageNotAString(json_type(&other))),
        None => return Err(EnvelopeError::MissingKey(MESSAGE_KEY)),
    };
    let members = match serde_json::from_str(&inner) {
        Ok(Value::Object(map)) => Members::of(map),
        Ok(other) => return Err(EnvelopeError::InnerNotAnObject(json_type(&other))),
        Err(e) => return Err(EnvelopeError::InnerNotJson(e.to_string())),
    };
    unpack(members, Format::V2)
}

/// oslo's `version_is_compatible`: same major, minor and revision no newer than ours.
/// A version that is not `MAJOR.MINOR[.REV]` in digits is incompatible (oslo raises).
pub(super) fn version_is_compatible(ours: &str, theirs: &str) -> bool {
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

/// The notification its members make, or what is missing or wrong in them.
fn unpack(members: Members, format: Format) -> Result<Decoded, EnvelopeError> {
    let priority_name = string("priority", members.priority)?;
    let priority = priority_name
        .parse()
        .map_err(|_| EnvelopeError::UnknownPriority(priority_name))?;
    let notification = Notification {
        payload: members
            .payload
            .ok_or(EnvelopeError::MissingKey("payload"))?,
        message_id: string("message_id", members.message_id)?,
        publisher_id: optional_string("publisher_id", members.publisher_id)?,
        event_type: string("event_type", members.event_type)?,
        priority,
        timestamp: string("timestamp", members.timestamp)?,
        context: members.context,
    };
    Ok(Decoded {
        notification,
        unique_id: optional_string("_unique_id", members.unique_id)?,
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
    fn reading_in_one_pass_agrees_with_reading_whole_values() {
        let inner = r#"{"message_id": "m", "publisher_id": "p", "event_type": "e", "priority": "INFO", "payload": {"b": 1, "a": [1.50, "\u00e9"]}, "timestamp": "t", "_unique_id": "u", "_context_z": 1, "_context_a": {"password": "x"}, "_context_z": 2, "other": [1], "_context_": 0}"#;
        let envelope =
            serde_json::json!({"oslo.version": "2.0", "oslo.message": inner}).to_string();
        let bodies: Vec<String> = vec![
            inner.to_owned(),
            envelope,
            // Escaped keys, duplicates (the last value wins, in the first one's place).
            r#"{"message\u005fid": "m", "event_type": "a", "event_type": "b", "priority": "warning", "payload": null, "timestamp": "t", "_context_\u00e9": "x"}"#.to_owned(),
            // An envelope that also has notification keys: the inner message counts.
            format!(r#"{{"message_id": "outer", "oslo.message": {}, "oslo.version": "2.0.0"}}"#, serde_json::Value::from(inner)),
            // One envelope key alone: format 1.0, the key ignored.
            r#"{"oslo.version": "2.0", "message_id": "m", "event_type": "e", "priority": "info", "payload": 1, "timestamp": "t"}"#.to_owned(),
            // Refused: a lone surrogate in a member nobody reads, a missing key, bad types.
            r#"{"message_id": "m", "event_type": "e", "priority": "info", "payload": 1, "timestamp": "t", "x": "\ud800"}"#.to_owned(),
            r#"{"message_id": "m", "event_type": "e", "priority": "info", "timestamp": "t"}"#.to_owned(),
            r#"{"message_id": 1, "event_type": "e", "priority": "info", "payload": 1, "timestamp": "t"}"#.to_owned(),
            r#"{"oslo.version": "2.0", "oslo.message": "{\"message_id\": \"m\"} x"}"#.to_owned(),
            "{} []".to_owned(),
        ];
        for body in &bodies {
            let quick = quickly(body.as_bytes());
            let slow = slowly(body.as_bytes());
            assert_eq!(quick, slow.clone().ok(), "{body}");
            assert_eq!(decode(body.as_bytes()), slow, "{body}");
        }
        let decoded = decode(bodies[1].as_bytes()).unwrap();
        let keys: Vec<&String> = decoded.notification.context.keys().collect();
        assert_eq!(keys, ["z", "a", ""]);
        assert_eq!(decoded.notification.context["z"], 2);
        assert_eq!(decoded.format, Format::V2);
        assert!(decode(bodies[5].as_bytes()).is_err());
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
