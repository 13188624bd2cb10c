//! A body read without building values, in one pass over its bytes: the head's members to
//! their places, the payload and each context member rewritten as compact JSON text
//! ([`super::compact`]), an envelope's message read through the escapes of its string.
//! Anything unusual is left to [`decode`], which reads it with values and says what is wrong.

use super::compact::{members, NotCompact, Writer};
use super::decode::decode;
use super::message::{Head, Message};
use super::{EnvelopeError, Format, CONTEXT_PREFIX, ENVELOPE_VERSION, MESSAGE_KEY, VERSION_KEY};
use crate::wire::words::key_bit;
use std::ops::Range;

impl Message {
    /// Reads a notification from a message body in either format; whatever [`decode`]
    /// refuses, this refuses with the same error.
    pub fn read(body: &[u8]) -> Result<Message, EnvelopeError> {
        match quickly(body) {
            Some(message) => Ok(message),
            None => decode(body).map(Message::from),
        }
    }
}

/// The context members' names, gathered in `names`, appended to `text`: each member's name
/// and value ranges then both point into `text`. `None` for a name given twice, which is left
/// to the slow reading.
pub(super) fn append_names(
    text: &mut Vec<u8>,
    names: &str,
    context: Vec<(Range<usize>, Range<usize>)>,
) -> Option<Vec<(Range<usize>, Range<usize>)>> {
    // A name whose bit is not set yet is new, and is compared with no other (a context has
    // a few dozen members, all different).
    let mut seen = 0u64;
    for (i, (name, _)) in context.iter().enumerate() {
        let name = &names[name.clone()];
        let bit = key_bit(name.as_bytes());
        if seen & bit != 0
            && context[..i]
                .iter()
                .any(|(earlier, _)| &names[earlier.clone()] == name)
        {
            return None;
        }
        seen |= bit;
    }
    let offset = text.len();
    text.extend_from_slice(names.as_bytes());
    Some(
        context
            .into_iter()
            .map(|(name, value)| (name.start + offset..name.end + offset, value))
            .collect(),
    )
}

/// The message read without building values, or `None` for anything unusual (a member
/// that is not a notification's or is there twice, a wrong type, text `compact` refuses):
/// [`decode`] then reads it, and says what is wrong.
fn quickly(body: &[u8]) -> Option<Message> {
    // Not checked for UTF-8 here: every key is checked as it is decoded, and every value
    // ends up in a text that is checked once it is whole.
    let outer = Parts::read(body)?;
    match outer.envelope {
        Envelope::Neither => outer.message(Format::V1),
        Envelope::Both { version, message } if outer.is_empty() => {
            if !super::decode::version_is_compatible(ENVELOPE_VERSION, &version) {
                return None;
            }
            let inner = match message {
                Inner::Read(parts) => *parts,
                Inner::Text(text) => Parts::read(&text)?,
            };
            match inner.envelope {
                Envelope::Neither => inner.message(Format::V2),
                _ => None,
            }
        }
        _ => None,
    }
}

/// What an object says of oslo's envelope.
enum Envelope {
    /// Neither of its keys: the object is the message.
    Neither,
    /// Both, the message being the JSON text of the notification.
    Both { version: String, message: Inner },
}

/// The message of an envelope.
enum Inner {
    /// Read as it was read from the body, through its escapes.
    Read(Box<Parts>),
    /// Its text, unescaped, to be read next: what reading it through its escapes refused.
    Text(Vec<u8>),
}

/// The members of one object: the head and the payload as compact JSON in `text`, then the
/// context members, each name beside its value.
struct Parts {
    text: Vec<u8>,
    /// Where each of [`FIELDS`] is in `text`.
    fields: [Option<Range<usize>>; FIELDS.len()],
    context: Vec<(Range<usize>, Range<usize>)>,
    envelope: Envelope,
}

/// The members of a notification besides its context, in [`Parts::fields`]' order.
const FIELDS: [&str; 7] = [
    "message_id",
    "publisher_id",
    "event_type",
    "priority",
    "timestamp",
    "_unique_id",
    "payload",
];
const PAYLOAD: usize = 6;

/// An object's members as they are read: the head and payload as ranges of the text written
/// ([`FIELDS`]), the envelope's members, the context's names and values.
#[derive(Default)]
struct Reader {
    fields: [Option<Range<usize>>; FIELDS.len()],
    version: Option<String>,
    message: Option<Inner>,
    context: Vec<(Range<usize>, Range<usize>)>,
    names: String,
}

impl Reader {
    /// Reads the member `key`, its value at the writer's reading position.
    fn read(&mut self, key: &str, writer: &mut Writer) -> Result<(), NotCompact> {
        if key == VERSION_KEY {
            let mut text = Vec::new();
            writer.unescape_into(&mut text)?;
            // The version must be text.
            let text = String::from_utf8(text).map_err(|_| NotCompact)?;
            return once(&mut self.version, text);
        }
        if key == MESSAGE_KEY {
            // An envelope inside an envelope is left to decode, which refuses it.
            if writer.is_quoted() {
                return Err(NotCompact);
            }
            let message = Self::message(writer)?;
            return once(&mut self.message, message);
        }
        let start = writer.written();
        if let Some(index) = FIELDS.iter().position(|name| *name == key) {
            writer.value()?;
            return once(&mut self.fields[index], start..writer.written());
        }
        // Any other member is left to decode, which checks its text.
        let name = key.strip_prefix(CONTEXT_PREFIX).ok_or(NotCompact)?;
        if self.context.capacity() == 0 {
            // Room for a request context's members (a Nova one has about thirty) at once.
            self.context.reserve(32);
            self.names.reserve(512);
        }
        writer.value()?;
        let at = self.names.len();
        self.names.push_str(name);
        self.context
            .push((at..self.names.len(), start..writer.written()));
        Ok(())
    }

    /// An envelope's message, read through its escapes in the one pass over the body when
    /// it can be ([`Writer::members_quoted`]); else unescaped into its text (JSON text,
    /// checked as it is read next).
    fn message(writer: &mut Writer) -> Result<Inner, NotCompact> {
        let start = writer.position();
        let mut reader = Reader::default();
        // The message is most of the body: room for it at once.
        let mut text = Vec::with_capacity(writer.remaining());
        let read = writer.members_quoted(&mut text, &mut |key, writer| reader.read(key, writer));
        if let Ok(Some(parts)) = read.map(|()| reader.parts(text)) {
            return Ok(Inner::Read(Box::new(parts)));
        }
        writer.rewind(start);
        let mut text = Vec::with_capacity(writer.remaining());
        writer.unescape_into(&mut text)?;
        Ok(Inner::Text(text))
    }

    /// The parts read, their values in `text`.
    fn parts(self, mut text: Vec<u8>) -> Option<Parts> {
        let envelope = match (self.version, self.message) {
            (None, None) => Envelope::Neither,
            (Some(version), Some(message)) => Envelope::Both { version, message },
            _ => return None,
        };
        let context = append_names(&mut text, &self.names, self.context)?;
        Some(Parts {
            text,
            fields: self.fields,
            context,
            envelope,
        })
    }
}

/// Puts a member's value in its place; a member given twice is refused (left to decode,
/// which says so).
fn once<T>(place: &mut Option<T>, value: T) -> Result<(), NotCompact> {
    match place.replace(value) {
        None => Ok(()),
        Some(_) => Err(NotCompact),
    }
}

impl Parts {
    /// Reads an object's members in one pass over its text; `None` for one with a member
    /// twice, a member of no notification, or one envelope key without the other.
    fn read(json: &[u8]) -> Option<Parts> {
        // An envelope's own members are written elsewhere (its message into a text of its
        // own): room for the whole body only for a message without one.
        let enveloped = json
            .strip_prefix(b"{\"")
            .is_some_and(|rest| rest.starts_with(VERSION_KEY.as_bytes()));
        let room = if enveloped { 0 } else { json.len() };
        let mut text = Vec::with_capacity(room);
        let mut reader = Reader::default();
        members(json, &mut text, |key, writer| reader.read(key, writer)).ok()?;
        reader.parts(text)
    }

    /// Whether it holds nothing but the envelope.
    fn is_empty(&self) -> bool {
        self.fields.iter().all(Option::is_none) && self.context.is_empty()
    }

    /// The member `index` of [`FIELDS`], if it is a string.
    fn string(&self, index: usize) -> Option<String> {
        let json = &self.text[self.fields[index].clone()?];
        // The text is compact: a string without an escape is what is between its quotes.
        match json {
            [b'"', inner @ .., b'"'] if !inner.contains(&b'\\') => {
                std::str::from_utf8(inner).ok().map(str::to_owned)
            }
            _ => serde_json::from_slice(json).ok(),
        }
    }

    /// The member `index` of [`FIELDS`]: `Some(None)` when absent or null.
    fn optional(&self, index: usize) -> Option<Option<String>> {
        match &self.fields[index] {
            None => Some(None),
            Some(range) if &self.text[range.clone()] == b"null" => Some(None),
            Some(_) => self.string(index).map(Some),
        }
    }

    fn message(self, format: Format) -> Option<Message> {
        let head = Head {
            message_id: self.string(0)?,
            publisher_id: self.optional(1)?,
            event_type: self.string(2)?,
            priority: self.string(3)?.parse().ok()?,
            timestamp: self.string(4)?,
            unique_id: self.optional(5)?,
            format,
        };
        let payload = self.fields[PAYLOAD].clone()?;
        let text = String::from_utf8(self.text).ok()?;
        Some(Message::assemble(head, text, payload, self.context))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::envelope::Notification;
    use serde_json::{Map, Value};

    /// What the slow reading gives, as a message's parts.
    fn slowly(body: &str) -> Result<(Notification, Option<String>, Format), EnvelopeError> {
        decode(body.as_bytes()).map(|d| (d.notification, d.unique_id, d.format))
    }

    fn parts(message: Message) -> (Notification, Option<String>, Format) {
        let (unique_id, format) = (message.unique_id.clone(), message.format);
        (message.into_notification(), unique_id, format)
    }

    #[test]
    fn read_quickly_or_not_a_message_is_what_decode_reads() {
        let inner = r#"{"message_id": "m", "publisher_id": "nova-compute:c1", "event_type": "e", "priority": "INFO", "payload": {"b": 1, "a": [1.50, "caf\u00e9", 2E3]}, "timestamp": "t", "_unique_id": "u", "_context_z": 1, "_context_a": {"password": "x"}, "_context_": 0}"#;
        let envelope =
            serde_json::json!({"oslo.version": "2.0", "oslo.message": inner}).to_string();
        let deep = format!(
            r#"{{"message_id": "m", "event_type": "e", "priority": "info", "timestamp": "t", "payload": {}{}}}"#,
            "[".repeat(126),
            "]".repeat(126)
        );
        let deeper = deep.replace("[]", "[[]]");
        let bodies = [
            inner.to_owned(),
            envelope,
            deep,
            deeper,
            r#"{"message_id": "m", "event_type": "e", "priority": "warning", "payload": null, "timestamp": "t", "publisher_id": null, "_unique_id": null}"#.to_owned(),
            // The slow way: an unknown member, a surrogate alone, a key twice in the payload.
            r#"{"message_id": "m", "event_type": "e", "priority": "info", "payload": 1, "timestamp": "t", "x": "\ud800"}"#.to_owned(),
            r#"{"message_id": "m", "event_type": "e", "priority": "info", "payload": 1, "timestamp": "t", "x": 1}"#.to_owned(),
            r#"{"message_id": "m", "event_type": "e", "priority": "info", "payload": 1, "timestamp": "t", "_context_z": 1, "_context_z": 2}"#.to_owned(),
            r#"{"message_id": "m", "event_type": "e", "priority": "info", "payload": "\ud800", "timestamp": "t", "payload": 2}"#.to_owned(),
            r#"{"message_id": "m", "event_type": "e", "priority": "info", "payload": {"k": 1, "k": 2}, "timestamp": "t"}"#.to_owned(),
            r#"{"message_id": "m", "event_type": "e", "priority": "info", "payload": "\ud800", "timestamp": "t"}"#.to_owned(),
            r#"{"message\u005fid": "m", "event_type": "e", "priority": "info", "payload": 1, "timestamp": "t", "_context_\u00e9": [1,  2]}"#.to_owned(),
            // Not messages.
            r#"{"message_id": 1, "event_type": "e", "priority": "info", "payload": 1, "timestamp": "t"}"#.to_owned(),
            r#"{"oslo.version": "3.0", "oslo.message": "{}"}"#.to_owned(),
            r#"{"priority": "LOUD", "payload": 1}"#.to_owned(),
            "[]".to_owned(),
            "{".to_owned(),
        ];
        for body in &bodies {
            let read = Message::read(body.as_bytes()).map(parts);
            assert_eq!(read, slowly(body), "{body}");
        }
        assert!(quickly(bodies[0].as_bytes()).is_some());
        assert!(quickly(bodies[1].as_bytes()).is_some());
        assert!(quickly(bodies[2].as_bytes()).is_some());
        assert!(slowly(&bodies[3]).is_err());
    }

    #[test]
    fn bytes_that_are_not_utf8_are_refused_as_decode_refuses_them() {
        let inner = r#"{"message_id": "m", "event_type": "e", "priority": "info", "payload": {"s": "XX"}, "timestamp": "t", "_context_k": "XX"}"#;
        let v2 = |inner: &str| {
            format!(
                r#"{{"oslo.version": "2.0", "oslo.message": {}}}"#,
                serde_json::to_string(inner).unwrap()
            )
        };
        let spoiled = |text: &str, at: usize| {
            // The n-th "XX" replaced by a lone continuation byte and a truncated sequence.
            let mut bytes = text.as_bytes().to_vec();
            let place = text.match_indices("XX").nth(at).unwrap().0;
            bytes[place] = 0x80;
            bytes[place + 1] = 0xc3;
            bytes
        };
        let keyed = inner.replace("_context_k", "_context_XX");
        let mut bodies = vec![
            spoiled(inner, 0),
            spoiled(inner, 1),
            spoiled(&keyed, 1),
            spoiled(&v2(inner), 0),
            spoiled(&v2(inner), 1),
            spoiled(&v2(&keyed), 1),
            spoiled(r#"{"oslo.version": "2.XX", "oslo.message": "{}"}"#, 0),
        ];
        bodies.push(v2(inner).into_bytes());
        for body in &bodies {
            let read = Message::read(body).map(parts);
            let slow = decode(body).map(|d| (d.notification, d.unique_id, d.format));
            assert_eq!(read, slow, "{}", String::from_utf8_lossy(body));
        }
        assert!(Message::read(&bodies[0]).is_err());
        assert!(Message::read(&bodies[4]).is_err());
        assert!(Message::read(bodies.last().unwrap()).is_ok());
    }

    #[test]
    fn the_text_is_what_serde_json_writes_for_the_values() {
        let body = br#"{"oslo.version": "2.0", "oslo.message": "{\"message_id\": \"m\", \"publisher_id\": null, \"event_type\": \"e\", \"priority\": \"INFO\", \"payload\": {\"name\": \"caf\\u00e9\", \"n\": 1e-05}, \"timestamp\": \"t\", \"_context_roles\": [\"a\", \"b\"], \"_context_auth_token\": \"secret\"}"}"#;
        let quick = quickly(body).expect("an ordinary notification");
        let slow = Message::from(decode(body).unwrap());
        assert_eq!(quick.payload_json(), r#"{"name":"café","n":1e-05}"#);
        assert_eq!(quick.payload_json(), slow.payload_json());
        let pairs: Vec<_> = quick.context_json().collect();
        assert_eq!(
            pairs,
            [("roles", r#"["a","b"]"#), ("auth_token", r#""secret""#)]
        );
        assert_eq!(pairs, slow.context_json().collect::<Vec<_>>());
        assert_eq!(quick.notification(), slow.notification());
        let context: &Map<String, Value> = &quick.notification().context;
        assert_eq!(context["roles"][1], "b");
    }

    /// Whether an envelope's message was read in the one pass over the body.
    fn read_in_one_pass(body: &[u8]) -> bool {
        match Parts::read(body).map(|outer| outer.envelope) {
            Some(Envelope::Both { message, .. }) => matches!(message, Inner::Read(_)),
            _ => false,
        }
    }

    #[test]
    fn a_message_read_through_its_escapes_is_the_message_unescaped_first() {
        // The inner JSON as Python writes it (ASCII, `\uXXXX` for the rest), with every
        // escape a string may hold, nesting, numbers in each form, and white space of all kinds.
        let inner = concat!(
            r#"{"message_id": "m", "publisher_id": "nova-compute:c1", "event_type": "e", "#,
            r#""priority": "INFO", "payload": {"nova_object.data": {"s": "caf\u00e9 \ud83d\ude00 "#,
            r#"\"q\" \\ \/ / \b\f\n\r\t \u0001", "n": [0, -1.5, 1E2, 2e-3, 12345678901234567890], "#,
            r#""e": {}, "l": [], "t": [true, false, null]}},"#,
            "\n\t \r",
            r#""timestamp": "t", "_unique_id": "u", "_context_roles": ["a", "b"], "#,
            r#""_context_auth_token": "secret", "_context_catalog": [{"url": "https:\/\/x"}]}"#
        );
        // The outer string as oslo writes it, then with `\/` for `/`, then with an escape
        // that the one pass leaves to the two (a `\u` in the outer string).
        let oslo = serde_json::to_string(inner).unwrap();
        let slashed = oslo.replace('/', "\\/");
        let unicode = oslo.replacen("\\\"q", "\\u0022q", 1);
        assert_ne!(unicode, oslo);
        for (outer, one_pass) in [(oslo, true), (slashed, true), (unicode, false)] {
            let body = format!(r#"{{"oslo.version": "2.0", "oslo.message": {outer}}}"#);
            assert_eq!(read_in_one_pass(body.as_bytes()), one_pass, "{body}");
            let quick = quickly(body.as_bytes()).expect("an ordinary notification");
            let slow = Message::from(decode(body.as_bytes()).unwrap());
            assert_eq!(quick.payload_json(), slow.payload_json());
            assert!(quick
                .payload_json()
                .contains(r#""s":"café 😀 \"q\" \\ / / \b\f\n\r\t \u0001""#));
            assert_eq!(
                quick.context_json().collect::<Vec<_>>(),
                slow.context_json().collect::<Vec<_>>()
            );
            assert_eq!(parts(quick), slowly(&body).unwrap());
        }
        // What a string may not hold, or JSON that is not, is refused as decode refuses it,
        // after the two passes.
        let spoiled = [
            serde_json::to_string(&inner.replace("\\n", "\n")).unwrap(),
            serde_json::to_string(&inner.replacen(", ", ",, ", 1)).unwrap(),
            serde_json::to_string(&inner.replacen("\"e\": {}", "\"e\": {}, \"e\": 1", 1)).unwrap(),
            serde_json::to_string(&format!("{inner} x")).unwrap(),
            serde_json::to_string(inner)
                .unwrap()
                .replacen("\\\"", "\"", 1),
        ];
        for outer in spoiled {
            let body = format!(r#"{{"oslo.version": "2.0", "oslo.message": {outer}}}"#);
            assert!(!read_in_one_pass(body.as_bytes()), "{body}");
            let read = Message::read(body.as_bytes()).map(parts);
            assert_eq!(read, slowly(&body), "{body}");
        }
    }
}
