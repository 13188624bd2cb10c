//! The oslo.messaging notification message: build it and parse it, exactly as on the wire.
//!
//! A notification is a JSON object whose keys oslo writes in this order: `message_id`,
//! `publisher_id`, `event_type`, `priority`, `payload`, `timestamp`, `_unique_id`, then one
//! `_context_<key>` per entry of the request context (`oslo_messaging/notify/notifier.py`,
//! `_drivers/amqp.py`). With format 2.0 (driver `messagingv2`) that object is sent as a JSON
//! string inside `{"oslo.version": "2.0", "oslo.message": "..."}`; with format 1.0 (driver
//! `messaging`) it is the body itself (`_drivers/common.py`).
//!
//! Nothing here does I/O, and [`decode`] never panics, whatever bytes it is given.

use crate::wire::pyjson::{self, PythonJson};
use crate::wire::words;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value};
use std::fmt;
use std::str::FromStr;

/// The envelope version oslo.messaging writes, and the newest it accepts.
pub const ENVELOPE_VERSION: &str = "2.0";
const VERSION_KEY: &str = "oslo.version";
const MESSAGE_KEY: &str = "oslo.message";
const CONTEXT_PREFIX: &str = "_context_";
/// A format 2.0 body up to the inner message's text, and after it.
const V2_OPEN: &[u8] = b"{\"oslo.version\": \"2.0\", \"oslo.message\": \"";
const V2_CLOSE: &[u8] = b"\"}";

/// The priority (oslo's name for the level) of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    /// `AUDIT`
    Audit,
    /// `DEBUG`
    Debug,
    /// `INFO`
    Info,
    /// `WARN` (`warning` is accepted as input)
    Warn,
    /// `ERROR`
    Error,
    /// `CRITICAL`
    Critical,
    /// `SAMPLE`, used by Ceilometer-style metering
    Sample,
}

impl Priority {
    /// Every priority, in oslo's order.
    pub const ALL: [Priority; 7] = [
        Priority::Audit,
        Priority::Debug,
        Priority::Info,
        Priority::Warn,
        Priority::Error,
        Priority::Critical,
        Priority::Sample,
    ];

    /// The lower-case name: the routing-key suffix (`notifications.info`) and what an oslo
    /// endpoint method is called.
    pub fn name(self) -> &'static str {
        match self {
            Priority::Audit => "audit",
            Priority::Debug => "debug",
            Priority::Info => "info",
            Priority::Warn => "warn",
            Priority::Error => "error",
            Priority::Critical => "critical",
            Priority::Sample => "sample",
        }
    }

    /// The upper-case name written in the message's `priority` key.
    pub fn wire_name(self) -> &'static str {
        match self {
            Priority::Audit => "AUDIT",
            Priority::Debug => "DEBUG",
            Priority::Info => "INFO",
            Priority::Warn => "WARN",
            Priority::Error => "ERROR",
            Priority::Critical => "CRITICAL",
            Priority::Sample => "SAMPLE",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A priority name that is none of oslo's seven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPriority(pub String);

impl fmt::Display for UnknownPriority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown priority {:?} (expected one of audit, debug, info, warn, error, critical, sample)",
            self.0
        )
    }
}

impl std::error::Error for UnknownPriority {}

impl FromStr for Priority {
    type Err = UnknownPriority;

    /// Parses a priority, ignoring case; `warning` means `warn` (as in oslo's `Notifier.warning`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("warning") {
            return Ok(Priority::Warn);
        }
        Priority::ALL
            .into_iter()
            .find(|p| s.eq_ignore_ascii_case(p.name()))
            .ok_or_else(|| UnknownPriority(s.to_owned()))
    }
}

/// How a notification is put in the message body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Format 1.0, oslo's `messaging` driver: the notification object is the body.
    V1,
    /// Format 2.0, oslo's `messagingv2` driver: the notification is wrapped in an envelope.
    #[default]
    V2,
}

/// One notification: what an oslo endpoint receives as `ctxt`, `publisher_id`, `event_type`,
/// `payload` and `metadata`, plus its priority.
///
/// The payload is a [`Value`], or, for sending, any [`PayloadJson`] such as a
/// [`PythonJson`] already written in the form it goes on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification<P = Value> {
    /// A UUID4 with dashes, the same for every topic the notification is sent to.
    pub message_id: String,
    /// Who sent it, such as `compute.host1`. Python services may send `null`.
    pub publisher_id: Option<String>,
    /// What happened, such as `compute.instance.create.end`.
    pub event_type: String,
    /// The priority.
    pub priority: Priority,
    /// Any JSON value.
    pub payload: P,
    /// Naive UTC time in Python's `str(datetime)` form, see [`python_timestamp`].
    pub timestamp: String,
    /// The request context, sent as one `_context_<key>` member per entry.
    pub context: Map<String, Value>,
}

/// A payload as it is written into a message body: JSON in Python's form (see [`pyjson`]).
pub trait PayloadJson {
    /// Appends the payload's JSON text to `out`.
    fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()>;

    /// About how many bytes [`PayloadJson::write_json`] appends, when known.
    fn size_hint(&self) -> usize {
        0
    }
}

impl PayloadJson for Value {
    fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        pyjson::write(out, self)
    }
}

impl PayloadJson for PythonJson {
    fn write_json(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        out.extend_from_slice(self.as_str().as_bytes());
        Ok(())
    }

    fn size_hint(&self) -> usize {
        self.as_str().len()
    }
}

impl<P> Notification<P> {
    /// A new notification with a fresh message_id and the current time, no publisher and an
    /// empty context.
    pub fn new(priority: Priority, event_type: impl Into<String>, payload: P) -> Self {
        Notification {
            message_id: uuid::Uuid::new_v4().to_string(),
            publisher_id: None,
            event_type: event_type.into(),
            priority,
            payload,
            timestamp: python_timestamp(Utc::now()),
            context: Map::new(),
        }
    }

    /// Sets the publisher_id.
    pub fn with_publisher_id(mut self, publisher_id: impl Into<String>) -> Self {
        self.publisher_id = Some(publisher_id.into());
        self
    }

    /// Sets the request context.
    pub fn with_context(mut self, context: Map<String, Value>) -> Self {
        self.context = context;
        self
    }

    /// The same notification with another payload (or the same in another form).
    pub fn with_payload<Q>(self, payload: Q) -> Notification<Q> {
        Notification {
            message_id: self.message_id,
            publisher_id: self.publisher_id,
            event_type: self.event_type,
            priority: self.priority,
            payload,
            timestamp: self.timestamp,
            context: self.context,
        }
    }
}

impl<P: PayloadJson> Notification<P> {
    /// The message body for one publish, byte for byte what oslo.messaging would send.
    ///
    /// `unique_id` is oslo's per-publish `_unique_id` (see [`new_unique_id`]); oslo gives each
    /// topic's copy its own.
    ///
    /// ```
    /// use oslo_notify::envelope::{decode, Format, Notification, Priority};
    /// use serde_json::json;
    ///
    /// let sent = Notification::new(Priority::Info, "just.testing", json!({"heavy": "payload"}))
    ///     .with_publisher_id("testing");
    /// let body = sent.encode(Format::V2, "35d06edced1e437e8b6efb02ecfd982f").unwrap();
    /// assert!(body.starts_with(br#"{"oslo.version": "2.0", "oslo.message": "{\"message_id\": "#));
    /// assert_eq!(decode(&body).unwrap().notification, sent);
    /// ```
    pub fn encode(&self, format: Format, unique_id: &str) -> serde_json::Result<Vec<u8>> {
        let mut inner = Vec::with_capacity(384 + self.payload.size_hint());
        self.write_message(&mut inner, unique_id)?;
        match format {
            Format::V1 => Ok(inner),
            Format::V2 => {
                let mut body = Vec::with_capacity(inner.len() + inner.len() / 8 + 48);
                body.extend_from_slice(V2_OPEN);
                // The inner text is pure ASCII with every control character already escaped,
                // so as a JSON string it only needs its quotes and backslashes escaped.
                words::escape_quotes_into(&inner, &mut body);
                body.extend_from_slice(V2_CLOSE);
                Ok(body)
            }
        }
    }

    /// The inner message as `json.dumps` writes it, keys in oslo's order.
    fn write_message(&self, out: &mut Vec<u8>, unique_id: &str) -> serde_json::Result<()> {
        out.extend_from_slice(b"{\"message_id\": ");
        pyjson::write(out, &self.message_id)?;
        write_head(
            out,
            self.publisher_id.as_deref(),
            &self.event_type,
            self.priority,
        )?;
        self.payload.write_json(out)?;
        out.extend_from_slice(b", \"timestamp\": ");
        pyjson::write(out, &self.timestamp)?;
        out.extend_from_slice(b", \"_unique_id\": ");
        pyjson::write(out, unique_id)?;
        write_context(out, &self.context)?;
        out.push(b'}');
        Ok(())
    }
}

/// A notification that a publisher can write as message bodies, one for each topic it is
/// sent to, each with its own `_unique_id` (see [`new_unique_id`]).
pub trait Body {
    /// The notification's priority, which names the queue it goes to (`<topic>.<priority>`).
    fn priority(&self) -> Priority;

    /// The message body, byte for byte what oslo.messaging would send.
    fn body(&self, format: Format, unique_id: &str) -> serde_json::Result<Vec<u8>>;
}

impl<P: PayloadJson> Body for Notification<P> {
    fn priority(&self) -> Priority {
        self.priority
    }

    fn body(&self, format: Format, unique_id: &str) -> serde_json::Result<Vec<u8>> {
        self.encode(format, unique_id)
    }
}

/// The inner message's members between `message_id`'s value and `payload`'s: `, "publisher_id":
/// ..., "event_type": ..., "priority": ..., "payload": `.
fn write_head(
    out: &mut Vec<u8>,
    publisher_id: Option<&str>,
    event_type: &str,
    priority: Priority,
) -> serde_json::Result<()> {
    out.extend_from_slice(b", \"publisher_id\": ");
    pyjson::write(out, &publisher_id)?;
    out.extend_from_slice(b", \"event_type\": ");
    pyjson::write(out, event_type)?;
    out.extend_from_slice(b", \"priority\": ");
    pyjson::write(out, priority.wire_name())?;
    out.extend_from_slice(b", \"payload\": ");
    Ok(())
}

/// The inner message's last members: `, "_context_<key>": value` for each entry of `context`.
fn write_context(out: &mut Vec<u8>, context: &Map<String, Value>) -> serde_json::Result<()> {
    for (key, value) in context {
        out.extend_from_slice(b", ");
        pyjson::write(out, &format_args!("{CONTEXT_PREFIX}{key}"))?;
        out.extend_from_slice(b": ");
        pyjson::write(out, value)?;
    }
    Ok(())
}

/// A fresh `_unique_id`: a UUID4 as 32 hex digits, as oslo's `_add_unique_id` makes it.
pub fn new_unique_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A notification's timestamp: Python's `str(datetime)` as oslo writes it, or ISO 8601
/// (with a `T`, and an offset or `Z`).
pub fn parse_timestamp(text: &str) -> Option<NaiveDateTime> {
    if let Some(at) = parse_python(text) {
        return Some(at);
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t);
        }
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.naive_utc())
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]`, the form oslo writes, read without a format parser: it
/// is read for every start and end.
fn parse_python(text: &str) -> Option<NaiveDateTime> {
    let b = text.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let micros = match &b[19..] {
        [] => 0,
        [b'.', digits @ ..] if (1..=6).contains(&digits.len()) => {
            let n = number(20..b.len())?;
            n * 10u32.pow(6 - digits.len() as u32)
        }
        _ => return None,
    };
    let date =
        chrono::NaiveDate::from_ymd_opt(number(0..4)? as i32, number(5..7)?, number(8..10)?)?;
    date.and_hms_micro_opt(number(11..13)?, number(14..16)?, number(17..19)?, micros)
}

/// `time` as Python's `str(datetime)` writes a naive datetime: `2026-11-25 08:41:45.339791`,
/// or `2026-11-25 08:41:45` when the microseconds are 0.
pub fn python_timestamp(time: DateTime<Utc>) -> String {
    let mut text = Vec::with_capacity(26);
    write_python_timestamp(&mut text, time);
    String::from_utf8(text).unwrap_or_default()
}

/// Appends `time` as [`python_timestamp`] writes it.
fn write_python_timestamp(text: &mut Vec<u8>, time: DateTime<Utc>) {
    write_python_second(text, time);
    write_python_micros(text, time);
}

/// Digits written by hand: formatting machinery would cost more than the rest of a small
/// notification's encoding.
fn write_digits(out: &mut Vec<u8>, value: u32, width: usize) {
    let mut buf = [b'0'; 6];
    let mut v = value;
    for slot in buf[..width].iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&buf[..width]);
}

/// Appends the second of `time` as [`python_timestamp`] writes it, `2026-11-25 08:41:45`:
/// always 19 bytes.
fn write_python_second(text: &mut Vec<u8>, time: DateTime<Utc>) {
    use chrono::{Datelike, Timelike};
    // Python's datetime has years 1 to 9999 only.
    write_digits(text, time.year().clamp(1, 9999) as u32, 4);
    for (separator, value) in [
        (b'-', time.month()),
        (b'-', time.day()),
        (b' ', time.hour()),
        (b':', time.minute()),
        (b':', time.second()),
    ] {
        text.push(separator);
        write_digits(text, value, 2);
    }
}

/// Appends what [`python_timestamp`] writes after the second of `time`: `.339791`, or
/// nothing when the microseconds are 0.
fn write_python_micros(text: &mut Vec<u8>, time: DateTime<Utc>) {
    // A leap second shows as 1_000_000 or more; Python has no such value.
    match time.timestamp_subsec_micros().min(999_999) {
        0 => {}
        micros => {
            text.push(b'.');
            write_digits(text, micros, 6);
        }
    }
}

mod compact;
mod decode;
mod members;
mod message;
mod quick;
pub mod saved;
mod series;

pub use decode::{decode, json_type, Decoded, EnvelopeError};
pub use message::Message;
pub use series::Series;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn sample() -> Notification {
        Notification {
            message_id: "12dd0aee-b23f-4b4d-a66c-f7c276dd8d71".into(),
            publisher_id: Some("testing".into()),
            event_type: "just.testing".into(),
            priority: Priority::Info,
            payload: json!({"heavy": "payload"}),
            timestamp: "2026-11-25 08:41:45.295368".into(),
            context: Map::new(),
        }
    }

    #[test]
    fn priorities_parse_ignoring_case_and_warning_is_warn() {
        assert_eq!("INFO".parse(), Ok(Priority::Info));
        assert_eq!("Sample".parse(), Ok(Priority::Sample));
        assert_eq!("warning".parse(), Ok(Priority::Warn));
        assert_eq!("WARN".parse(), Ok(Priority::Warn));
        let err = "notice".parse::<Priority>().unwrap_err();
        assert!(err.to_string().contains("\"notice\""), "{err}");
        for p in Priority::ALL {
            assert_eq!(p.name().parse(), Ok(p));
            assert_eq!(p.wire_name().parse(), Ok(p));
            assert_eq!(p.wire_name(), p.name().to_uppercase());
        }
    }

    #[test]
    fn v2_encoding_is_byte_for_byte_what_oslo_sends() {
        // Body captured from oslo.messaging 18.3.1 (fixture v2_info_seed).
        let expected = r#"{"oslo.version": "2.0", "oslo.message": "{\"message_id\": \"12dd0aee-b23f-4b4d-a66c-f7c276dd8d71\", \"publisher_id\": \"testing\", \"event_type\": \"just.testing\", \"priority\": \"INFO\", \"payload\": {\"heavy\": \"payload\"}, \"timestamp\": \"2026-11-25 08:41:45.295368\", \"_unique_id\": \"35d06edced1e437e8b6efb02ecfd982f\"}"}"#;
        let body = sample()
            .encode(Format::V2, "35d06edced1e437e8b6efb02ecfd982f")
            .unwrap();
        assert_eq!(String::from_utf8(body).unwrap(), expected);
    }

    #[test]
    fn v1_encoding_is_the_bare_message_with_context_last() {
        let mut context = Map::new();
        context.insert("user".into(), json!("u1"));
        context.insert("roles".into(), json!(["member"]));
        let body = sample()
            .with_context(context)
            .encode(Format::V1, "04699f61dfef49338e9e5bc755506072")
            .unwrap();
        let expected = r#"{"message_id": "12dd0aee-b23f-4b4d-a66c-f7c276dd8d71", "publisher_id": "testing", "event_type": "just.testing", "priority": "INFO", "payload": {"heavy": "payload"}, "timestamp": "2026-11-25 08:41:45.295368", "_unique_id": "04699f61dfef49338e9e5bc755506072", "_context_user": "u1", "_context_roles": ["member"]}"#;
        assert_eq!(String::from_utf8(body).unwrap(), expected);
    }

    #[test]
    fn a_missing_publisher_is_sent_as_null_like_python_none() {
        let mut n = sample();
        n.publisher_id = None;
        let body = n.encode(Format::V1, "u").unwrap();
        assert!(String::from_utf8(body)
            .unwrap()
            .contains(r#""publisher_id": null"#));
    }

    #[test]
    fn round_trips_keep_every_field_in_both_formats() {
        let mut context = Map::new();
        context.insert("request_id".into(), json!("req-1"));
        context.insert("is_admin".into(), json!(false));
        let payload = json!({
            "name": "vm-\u{e9}-\u{65e5}\u{672c}-\u{1f680}",
            "quote": "he said \"hi\"\n",
            "big": serde_json::from_str::<Value>("123456789012345678901234567890").unwrap(),
            "blob": "x".repeat(2_000_000),
        });
        for format in [Format::V1, Format::V2] {
            for priority in Priority::ALL {
                let sent = Notification::new(priority, "round.trip", payload.clone())
                    .with_publisher_id("compute.h\u{f6}st")
                    .with_context(context.clone());
                let body = sent.encode(format, "abc").unwrap();
                assert!(body.is_ascii());
                let got = decode(&body).unwrap();
                assert_eq!(got.notification, sent);
                assert_eq!(got.unique_id.as_deref(), Some("abc"));
                assert_eq!(got.format, format);
            }
        }
    }

    #[test]
    fn new_ids_have_oslo_shapes() {
        let n = Notification::new(Priority::Info, "e", Value::Null);
        assert_eq!(n.message_id.len(), 36);
        assert_eq!(
            uuid::Uuid::parse_str(&n.message_id)
                .unwrap()
                .get_version_num(),
            4
        );
        let unique = new_unique_id();
        assert_eq!(unique.len(), 32);
        assert!(unique
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }

    #[test]
    fn timestamps_are_python_str_of_a_naive_datetime() {
        let t = Utc.with_ymd_and_hms(2026, 11, 25, 8, 41, 45).unwrap();
        assert_eq!(python_timestamp(t), "2026-11-25 08:41:45");
        let t = t + chrono::Duration::microseconds(339_791) + chrono::Duration::nanoseconds(999);
        assert_eq!(python_timestamp(t), "2026-11-25 08:41:45.339791");
        let t = Utc.with_ymd_and_hms(5, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(python_timestamp(t), "0005-01-02 03:04:05");
        let t =
            Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap() + chrono::Duration::microseconds(7);
        assert_eq!(python_timestamp(t), "2026-01-02 03:04:05.000007");
    }
}
