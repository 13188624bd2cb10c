//! [`Series`]: notifications that differ only in their payloads, each written into its
//! message body without building a [`Notification`](super::Notification) for it.

use super::{
    write_context, write_head, write_python_micros, write_python_second, Body, Format, Priority,
    V2_CLOSE, V2_OPEN,
};
use crate::wire::{pyjson, words};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Notifications of one priority, event type, publisher and request context, one payload
/// after another (`oslo-notify --lines`).
///
/// What they share is written once, in both formats; each body is then written straight
/// from its payload's text, its ids and its time: the same bytes as
/// [`Notification::encode`](super::Notification::encode) of the same notification, without
/// a copy of the context, the names or the ids for each.
///
/// ```
/// use oslo_notify::envelope::{decode, Body, Format, Priority, Series};
/// use serde_json::{json, Map};
///
/// let mut series = Series::new(Priority::Info, "just.testing", Some("testing"), &Map::new())?;
/// series.next(r#"{"heavy":"payload"}"#)?;
/// let body = series.body(Format::V2, "35d06edced1e437e8b6efb02ecfd982f")?;
/// let received = decode(&body).unwrap().notification;
/// assert_eq!(received.message_id, series.message_id().to_string());
/// assert_eq!(received.payload, json!({"heavy": "payload"}));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Series {
    priority: Priority,
    /// The text around each notification's own values: format 1.0's, then 2.0's (escaped
    /// as the envelope's string, and inside the envelope).
    parts: [Parts; 2],
    /// The current notification's payload in Python's form, written as it stands in a
    /// format 2.0 message (the inside of a JSON string: a backslash before each quote and
    /// backslash). Format 1.0, seldom asked for, takes those backslashes out again.
    quoted_payload: Vec<u8>,
    message_id: Uuid,
    timestamp: Vec<u8>,
    /// The second (since the epoch) whose text starts `timestamp`: the date and time are
    /// written again only when it changes.
    second: Option<i64>,
    /// Room for the payload reader's keys, made once.
    keys: Vec<(usize, usize)>,
}

/// The text of a body that is the same for every notification of a series.
#[derive(Debug, Clone, Default)]
struct Parts {
    /// Up to the message_id's text: `{"message_id": "`.
    open: Vec<u8>,
    /// From after the message_id's text to the payload: `", "publisher_id": ..., "payload": `.
    head: Vec<u8>,
    /// From after the payload to the timestamp's text: `, "timestamp": "`.
    timestamp: Vec<u8>,
    /// From after the timestamp's text to the `_unique_id`'s: `", "_unique_id": "`.
    unique_id: Vec<u8>,
    /// The rest: `"`, the context's members, `}` (and the envelope's end).
    close: Vec<u8>,
}

impl Parts {
    /// Format 2.0's parts from format 1.0's: the inner message is a JSON string in the
    /// envelope. Like the whole inner text (see `Notification::encode`), each part is ASCII
    /// with its control characters escaped, so only its quotes and backslashes need escaping.
    fn enveloped(&self) -> Parts {
        let escaped = |prefix: &[u8], text: &[u8], suffix: &[u8]| {
            let mut out = prefix.to_vec();
            words::escape_quotes_into(text, &mut out);
            out.extend_from_slice(suffix);
            out
        };
        Parts {
            open: escaped(V2_OPEN, &self.open, b""),
            head: escaped(b"", &self.head, b""),
            timestamp: escaped(b"", &self.timestamp, b""),
            unique_id: escaped(b"", &self.unique_id, b""),
            close: escaped(b"", &self.close, V2_CLOSE),
        }
    }

    fn len(&self) -> usize {
        self.open.len()
            + self.head.len()
            + self.timestamp.len()
            + self.unique_id.len()
            + self.close.len()
    }
}

impl Series {
    /// A series of notifications of `priority` and `event_type` from `publisher_id`, each
    /// with `context` as its request context.
    pub fn new(
        priority: Priority,
        event_type: &str,
        publisher_id: Option<&str>,
        context: &Map<String, Value>,
    ) -> serde_json::Result<Self> {
        let mut head = Vec::new();
        head.push(b'"');
        write_head(&mut head, publisher_id, event_type, priority)?;
        let mut close = vec![b'"'];
        write_context(&mut close, context)?;
        close.push(b'}');
        let plain = Parts {
            open: b"{\"message_id\": \"".to_vec(),
            head,
            timestamp: b", \"timestamp\": \"".to_vec(),
            unique_id: b"\", \"_unique_id\": \"".to_vec(),
            close,
        };
        let enveloped = plain.enveloped();
        Ok(Series {
            priority,
            parts: [plain, enveloped],
            quoted_payload: Vec::new(),
            message_id: Uuid::nil(),
            timestamp: Vec::with_capacity(26),
            second: None,
            keys: Vec::new(),
        })
    }

    /// Makes the next notification of the series: `payload` (JSON text) as oslo's
    /// `json.dumps(json.loads(payload))` writes it, a fresh message_id, and the time now.
    /// Fails, as parsing it into a [`Value`] would, when the text is not JSON.
    pub fn next(&mut self, payload: &str) -> serde_json::Result<()> {
        self.next_with(payload, Uuid::new_v4(), Utc::now())
    }

    /// [`Series::next`] with the message_id and the time given.
    pub(crate) fn next_with(
        &mut self,
        payload: &str,
        message_id: Uuid,
        time: DateTime<Utc>,
    ) -> serde_json::Result<()> {
        self.quoted_payload.clear();
        pyjson::rewrite_quoted_into(payload, &mut self.quoted_payload, &mut self.keys)?;
        self.message_id = message_id;
        let second = time.timestamp();
        if self.second == Some(second) {
            self.timestamp.truncate(SECOND_LEN);
        } else {
            self.timestamp.clear();
            write_python_second(&mut self.timestamp, time);
            self.second = Some(second);
        }
        write_python_micros(&mut self.timestamp, time);
        Ok(())
    }

    /// The current notification's message_id (a UUID4, written with dashes).
    pub fn message_id(&self) -> Uuid {
        self.message_id
    }
}

/// The length of a timestamp's text up to its second: `2026-11-25 08:41:45`.
const SECOND_LEN: usize = 19;

impl Body for Series {
    fn priority(&self) -> Priority {
        self.priority
    }

    /// The current notification's message body.
    fn body(&self, format: Format, unique_id: &str) -> serde_json::Result<Vec<u8>> {
        let parts = &self.parts[usize::from(format == Format::V2)];
        let mut body = Vec::with_capacity(
            parts.len()
                + self.quoted_payload.len()
                + self.timestamp.len()
                + unique_id.len()
                + 36
                + 16,
        );
        body.extend_from_slice(&parts.open);
        let mut id = Uuid::encode_buffer();
        body.extend_from_slice(
            self.message_id
                .hyphenated()
                .encode_lower(&mut id)
                .as_bytes(),
        );
        body.extend_from_slice(&parts.head);
        match format {
            Format::V1 => unquote_into(&self.quoted_payload, &mut body),
            Format::V2 => body.extend_from_slice(&self.quoted_payload),
        }
        body.extend_from_slice(&parts.timestamp);
        body.extend_from_slice(&self.timestamp);
        body.extend_from_slice(&parts.unique_id);
        body.extend_from_slice(unique_id.as_bytes());
        body.extend_from_slice(&parts.close);
        Ok(body)
    }
}

/// Appends `quoted` to `out` with the backslash taken away before each byte that
/// [`words::escape_quotes_into`] escaped: the text as it was before.
fn unquote_into(quoted: &[u8], out: &mut Vec<u8>) {
    let mut rest = quoted;
    // The escaped byte after each backslash is written as it is.
    while let Some(at) = rest.iter().position(|&b| b == b'\\') {
        let Some(&escaped) = rest.get(at + 1) else {
            break;
        };
        out.extend_from_slice(&rest[..at]);
        out.push(escaped);
        rest = &rest[at + 2..];
    }
    out.extend_from_slice(rest);
}

#[cfg(test)]
mod tests {
    use super::super::{decode, new_unique_id, python_timestamp, Notification};
    use super::*;
    use crate::wire::pyjson::PythonJson;
    use chrono::TimeZone;
    use serde_json::json;

    /// The notification that `series` holds now, built the ordinary way.
    fn notification(
        priority: Priority,
        event_type: &str,
        publisher_id: Option<&str>,
        context: &Map<String, Value>,
        payload: &str,
        series: &Series,
    ) -> Notification<PythonJson> {
        let mut notification =
            Notification::new(priority, event_type, PythonJson::parse(payload).unwrap())
                .with_context(context.clone());
        notification.publisher_id = publisher_id.map(str::to_owned);
        notification.message_id = series.message_id().to_string();
        notification.timestamp = String::from_utf8(series.timestamp.clone()).unwrap();
        notification
    }

    #[test]
    fn bodies_are_those_of_the_same_notifications_encoded_whole() {
        let contexts = [
            Map::new(),
            json!({"user_id": "u\"1\\", "roles": ["admin", "é"], "is_admin": true, "n": 1.50})
                .as_object()
                .unwrap()
                .clone(),
        ];
        let payloads = [
            r#"{"heavy":"payload"}"#,
            r#"{"instance_id": "9d5fa9fb", "n": [1, 2.50, -0, 1e400], "s": "a\"b\\c\n\u00e9é\ud83d\ude00"}"#,
            // The general way: a key given twice, a key written with an escape.
            r#"{"a": 1, "b": 2, "a": 3, "\u0063": "c"}"#,
            r#"  "just a string"  "#,
            "[]",
            "null",
        ];
        let times = [
            Utc.with_ymd_and_hms(2026, 12, 5, 22, 4, 9).unwrap(),
            Utc.timestamp_opt(1_764_972_249, 339_791_000).unwrap(),
        ];
        for context in &contexts {
            for publisher_id in [None, Some("compute.host-\"1\"")] {
                let event_type = "compute.instance.\u{e9}.end";
                let mut series =
                    Series::new(Priority::Warn, event_type, publisher_id, context).unwrap();
                for (payload, time) in payloads.iter().zip(times.iter().cycle()) {
                    series.next_with(payload, Uuid::new_v4(), *time).unwrap();
                    let whole = notification(
                        Priority::Warn,
                        event_type,
                        publisher_id,
                        context,
                        payload,
                        &series,
                    );
                    for format in [Format::V1, Format::V2] {
                        let unique_id = new_unique_id();
                        let body = series.body(format, &unique_id).unwrap();
                        assert_eq!(
                            String::from_utf8(body.clone()).unwrap(),
                            String::from_utf8(whole.encode(format, &unique_id).unwrap()).unwrap(),
                            "{format:?} {payload}"
                        );
                        let received = decode(&body).unwrap().notification;
                        assert_eq!(received.message_id, series.message_id().to_string());
                        assert_eq!(received.context, *context);
                    }
                }
            }
        }
    }

    #[test]
    fn each_timestamp_is_written_as_a_whole_one_is_within_a_second_and_across() {
        let at = |secs: i64, nanos: u32| Utc.timestamp_opt(secs, nanos).unwrap();
        let times = [
            at(1_764_972_249, 339_791_000),
            at(1_764_972_249, 0),
            at(1_764_972_249, 999_999_999),
            at(1_764_972_249, 5_000),
            at(1_764_972_250, 0),
            at(1_764_972_250, 120_000),
            // Back in time (the clock set back), and a leap second.
            at(1_764_972_100, 1_000),
            Utc.from_utc_datetime(
                &chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
                    .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
                    .unwrap(),
            ),
            at(1_483_228_800, 0),
        ];
        let mut series = Series::new(Priority::Info, "a.b", None, &Map::new()).unwrap();
        for time in times {
            series.next_with("{}", Uuid::new_v4(), time).unwrap();
            assert_eq!(
                String::from_utf8(series.timestamp.clone()).unwrap(),
                python_timestamp(time),
                "{time:?}"
            );
        }
    }

    #[test]
    fn each_next_draws_a_new_message_id_and_a_bad_payload_is_refused() {
        let mut series = Series::new(Priority::Info, "a.b", None, &Map::new()).unwrap();
        series.next("{}").unwrap();
        let first = series.message_id();
        series.next("[1]").unwrap();
        assert_ne!(series.message_id(), first);
        assert_eq!(series.message_id().get_version_num(), 4);
        let bad = series.next(r#"{"a": }"#).unwrap_err();
        assert_eq!(
            bad.to_string(),
            serde_json::from_str::<Value>(r#"{"a": }"#)
                .unwrap_err()
                .to_string()
        );
    }
}
