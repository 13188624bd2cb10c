//! The input of `--where` and `--fail-on` programs: `--format json`'s object for one
//! notification, as a jaq value. Pure: no I/O.
//!
//! Built from the message's head and its payload's and context's JSON text, which the
//! envelope reader has already checked and written compactly: [`build`] turns such text into
//! the value jaq's own reader would make, with fewer allocations (a string is a slice of one
//! copy of the message's text), and leaves what it does not expect to jaq's reader.

use crate::engine::receive::Received;
use crate::oslo::mask::mask_member_json;
use bytes::Bytes;
use jaq_json::{Map, Num, Val};
use std::cell::Cell;

/// The input a program runs on, made once per notification and shared by every program.
///
/// The object of the last one dropped on a thread is kept for the next one made on it,
/// with its keys: only the values are new (see [`Document::of`]).
pub struct Document {
    pub(super) value: Val,
    /// Whether `value` was made by [`Document::fill`] (its keys are [`MEMBERS`]).
    filled: bool,
}

thread_local! {
    /// The object of the last document made by [`Document::fill`] and dropped on this thread.
    static KEPT: Cell<Val> = const { Cell::new(Val::Null) };
}

impl Drop for Document {
    fn drop(&mut self) {
        if self.filled {
            KEPT.set(std::mem::take(&mut self.value));
        }
    }
}

/// The members of the object, in `--format json`'s order (`source` only for a named
/// source); `metadata` has `message_id` and `timestamp`.
const MEMBERS: [&str; 9] = [
    "priority",
    "event_type",
    "publisher_id",
    "payload",
    "metadata",
    "context",
    "exchange",
    "routing_key",
    "source",
];
/// Where `metadata` is among [`MEMBERS`].
const METADATA: usize = 4;

impl Document {
    /// The object the programs see, from its JSON text (`--format json`'s object).
    #[cfg(test)]
    pub fn from_json(json: &[u8]) -> Result<Document, String> {
        read(json).map(|value| Document {
            value,
            filled: false,
        })
    }

    /// The object the programs see, `--format json`'s object for `received` (see
    /// [`Printer::write_json_object`](crate::listen::output::Printer::write_json_object)),
    /// built straight from the message: only the payload's and each context member's JSON
    /// text are read. The context is masked unless `show_secrets`.
    ///
    /// Every string of the message's text and head is a slice of one copy of them. The
    /// object and its keys are the ones of the document dropped before on this thread, when
    /// nothing else holds them (a program's output is gone once judged) and `source` is
    /// as it was.
    pub fn of(received: &Received, show_secrets: bool) -> Result<Document, String> {
        let kept = KEPT.take();
        let mut document = Document {
            filled: matches!(kept, Val::Obj(_)),
            value: kept,
        };
        document.fill(received, show_secrets)?;
        Ok(document)
    }

    /// Makes this the object for `received`, as [`Document::of`] says.
    fn fill(&mut self, received: &Received, show_secrets: bool) -> Result<(), String> {
        let m = received.message;
        let heads = [
            m.message_id.as_str(),
            &m.timestamp,
            &m.event_type,
            m.publisher_id.as_deref().unwrap_or_default(),
            received.exchange,
            received.routing_key,
            received.source,
        ];
        let (text, heads) = Shared::of(m.text(), heads);
        let head = |i: usize| Val::utf8_str(heads[i].clone());
        let mut context = Map::with_capacity_and_hasher(m.context_json().len(), Default::default());
        for (key, json) in m.context_json() {
            let value = match show_secrets {
                true => text.value(json)?,
                false => text.value(&mask_member_json(key, json).map_err(|e| e.to_string())?)?,
            };
            context.insert(Val::utf8_str(text.slice(key)), value);
        }
        let metadata = [head(0), head(1)];
        let values = [
            Val::utf8_str(m.priority.name()),
            head(2),
            m.publisher_id.as_ref().map_or(Val::Null, |_| head(3)),
            text.value(m.payload_json())?,
            Val::Null,
            Val::obj(context),
            head(4),
            head(5),
        ];
        let source = (!received.source.is_empty()).then(|| head(6));
        let len = values.len() + usize::from(source.is_some());
        if let Some(object) = kept(&mut self.value, len).filter(|_| self.filled) {
            for (i, value) in values.into_iter().chain(source).enumerate() {
                if i != METADATA {
                    object[i] = value;
                }
            }
            let metadata_object = &mut object[METADATA];
            match kept(metadata_object, 2) {
                Some(pair) => {
                    let [id, timestamp] = metadata;
                    (pair[0], pair[1]) = (id, timestamp);
                }
                None => *metadata_object = metadata_of(metadata),
            }
            return Ok(());
        }
        let mut object: Map = MEMBERS
            .into_iter()
            .zip(values.into_iter().chain(source))
            .map(|(key, value)| (Val::utf8_str(key), value))
            .collect();
        object[METADATA] = metadata_of(metadata);
        self.value = Val::obj(object);
        self.filled = true;
        Ok(())
    }
}

/// The `metadata` object of these values.
fn metadata_of([id, timestamp]: [Val; 2]) -> Val {
    Val::obj(
        [
            (Val::utf8_str("message_id"), id),
            (Val::utf8_str("timestamp"), timestamp),
        ]
        .into_iter()
        .collect(),
    )
}

/// `value`'s object, to be given new values in place, if it is an object of `len` members
/// that nothing else holds.
fn kept(value: &mut Val, len: usize) -> Option<&mut Map> {
    match value {
        Val::Obj(object) => std::rc::Rc::get_mut(object).filter(|o| o.len() == len),
        _ => None,
    }
}

/// One copy of a message's text, whose strings become slices of it (no allocation each).
struct Shared<'m> {
    text: &'m str,
    bytes: Bytes,
}

impl<'m> Shared<'m> {
    /// A copy of `text` and of `heads` after it; the heads as slices of the copy.
    fn of<const N: usize>(text: &'m str, heads: [&str; N]) -> (Shared<'m>, [Bytes; N]) {
        let mut all = Vec::with_capacity(text.len() + heads.iter().map(|h| h.len()).sum::<usize>());
        all.extend_from_slice(text.as_bytes());
        let ends = heads.map(|h| {
            all.extend_from_slice(h.as_bytes());
            all.len()
        });
        let bytes = Bytes::from(all);
        let mut start = text.len();
        let heads = ends.map(|end| {
            let head = bytes.slice(start..end);
            start = end;
            head
        });
        (Shared { text, bytes }, heads)
    }

    /// Where `part` starts in the text, if it is a slice of it.
    fn offset(&self, part: &str) -> Option<usize> {
        let start = (part.as_ptr() as usize).checked_sub(self.text.as_ptr() as usize)?;
        (start + part.len() <= self.text.len()).then_some(start)
    }

    /// The copy of `part`: a slice when `part` is a slice of the text.
    fn slice(&self, part: &str) -> Bytes {
        match self.offset(part) {
            Some(start) => self.bytes.slice(start..start + part.len()),
            None => Bytes::copy_from_slice(part.as_bytes()),
        }
    }

    /// The value of `json` as [`build`] reads it; its strings slices of the copy when
    /// `json` is a slice of the text.
    fn value(&self, json: &str) -> Result<Val, String> {
        build(json, self.offset(json).map(|at| (&self.bytes, at)))
    }
}

/// jaq's reading of `json`.
fn read(json: &[u8]) -> Result<Val, String> {
    jaq_json::read::parse_single(json).map_err(|e| e.to_string())
}

/// The value of the JSON text `json`, the same as jaq's reader gives: built directly when
/// `json` is compact (no space between tokens) with no `\u` escape of a surrogate, else by
/// jaq's reader. With `copy`, `json` is in it at the given offset, and strings without
/// escapes are slices of it.
fn build(json: &str, copy: Option<(&Bytes, usize)>) -> Result<Val, String> {
    let mut builder = Builder {
        json: json.as_bytes(),
        at: 0,
        copy,
        scratch: Vec::new(),
        members: Vec::new(),
        items: Vec::new(),
    };
    match builder.value() {
        Some(value) if builder.at == json.len() => Ok(value),
        _ => read(json.as_bytes()),
    }
}

/// The number whose JSON text is `text`, when it is an integer of at most 18 digits (no
/// leading zero): what jaq's value of it holds as a machine integer. Any other number (a big
/// one, a decimal) is read by jaq's number reader, and is `None` here.
pub(super) fn plain_integer(text: &[u8]) -> Option<isize> {
    let (negative, digits) = match text.strip_prefix(b"-") {
        Some(digits) => (true, digits),
        None => (false, text),
    };
    if !(1..=18).contains(&digits.len()) || (digits.len() > 1 && digits[0] == b'0') {
        return None;
    }
    let mut n: isize = 0;
    for digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(isize::from(digit - b'0'))?;
    }
    Some(if negative { -n } else { n })
}

/// Reads compact JSON text into a value; `None` for anything else (the caller then asks
/// jaq's reader, which also says what is wrong).
struct Builder<'a> {
    json: &'a [u8],
    at: usize,
    /// A copy of the text `json` is in, and where in it: strings are slices of it.
    copy: Option<(&'a Bytes, usize)>,
    /// A string being unescaped.
    scratch: Vec<u8>,
    /// The members of the objects being read, innermost last: each object is made at its
    /// size once read.
    members: Vec<(Val, Val)>,
    /// The items of the arrays being read, likewise.
    items: Vec<Val>,
}

impl Builder<'_> {
    fn next(&mut self) -> Option<u8> {
        let byte = *self.json.get(self.at)?;
        self.at += 1;
        Some(byte)
    }

    fn literal(&mut self, word: &[u8], value: Val) -> Option<Val> {
        let rest = self.json.get(self.at - 1..)?;
        rest.starts_with(word).then(|| {
            self.at += word.len() - 1;
            value
        })
    }

    fn value(&mut self) -> Option<Val> {
        match self.next()? {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => self.string().map(Val::utf8_str),
            b'n' => self.literal(b"null", Val::Null),
            b't' => self.literal(b"true", Val::Bool(true)),
            b'f' => self.literal(b"false", Val::Bool(false)),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn object(&mut self) -> Option<Val> {
        let start = self.members.len();
        if self.json.get(self.at) == Some(&b'}') {
            self.at += 1;
            return Some(Val::obj(Map::default()));
        }
        loop {
            if self.next()? != b'"' {
                return None;
            }
            let key = Val::utf8_str(self.string()?);
            if self.next()? != b':' {
                return None;
            }
            let value = self.value()?;
            self.members.push((key, value));
            match self.next()? {
                b',' => continue,
                b'}' => return Some(Val::obj(self.members.drain(start..).collect())),
                _ => return None,
            }
        }
    }

    fn array(&mut self) -> Option<Val> {
        let start = self.items.len();
        if self.json.get(self.at) == Some(&b']') {
            self.at += 1;
            return Some(Val::Arr(Vec::new().into()));
        }
        loop {
            let item = self.value()?;
            self.items.push(item);
            match self.next()? {
                b',' => continue,
                b']' => {
                    let items: Vec<Val> = self.items.drain(start..).collect();
                    return Some(Val::Arr(items.into()));
                }
                _ => return None,
            }
        }
    }

    /// A number: an integer of at most 18 digits directly, any other by jaq's own number
    /// reader (big integers and decimals keep their text).
    fn number(&mut self) -> Option<Val> {
        let start = self.at - 1;
        let end = self.json[start + 1..]
            .iter()
            .position(|b| !matches!(b, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-'))
            .map_or(self.json.len(), |n| start + 1 + n);
        self.at = end;
        let text = &self.json[start..end];
        if let Some(n) = plain_integer(text) {
            return Some(Val::Num(Num::Int(n)));
        }
        jaq_json::read::parse_single_num(text).map(Val::Num)
    }

    /// The rest of a string whose opening quote was read, unescaped.
    fn string(&mut self) -> Option<Bytes> {
        let rest = &self.json[self.at..];
        let stop = memchr::memchr2(b'"', b'\\', rest)?;
        if rest[stop] == b'"' {
            let start = self.at;
            self.at += stop + 1;
            return Some(match self.copy {
                Some((copy, at)) => copy.slice(at + start..at + start + stop),
                None => Bytes::copy_from_slice(&rest[..stop]),
            });
        }
        self.scratch.clear();
        loop {
            let rest = &self.json[self.at..];
            let stop = memchr::memchr2(b'"', b'\\', rest)?;
            self.scratch.extend_from_slice(&rest[..stop]);
            self.at += stop + 1;
            if rest[stop] == b'"' {
                return Some(Bytes::copy_from_slice(&self.scratch));
            }
            let unescaped = match self.next()? {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => {
                    let hex = std::str::from_utf8(self.json.get(self.at..self.at + 4)?).ok()?;
                    self.at += 4;
                    // A surrogate (half of a pair, or alone) is left to jaq's reader.
                    char::from_u32(u32::from_str_radix(hex, 16).ok()?)?
                }
                _ => return None,
            };
            self.scratch
                .extend_from_slice(unescaped.encode_utf8(&mut [0; 4]).as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listen::output::{OutputFormat, Printer};
    use crate::wire::envelope::{Format, Message, Notification, Priority};
    use serde_json::json;

    /// jaq's reading of `--format json`'s line for `message`.
    fn line_read_back(received: &Received, show_secrets: bool) -> Val {
        let printer = Printer {
            format: OutputFormat::Json,
            show_secrets,
            ..Printer::default()
        };
        let mut line = Vec::new();
        printer.write_json_object(&mut line, received).unwrap();
        read(&line).unwrap()
    }

    #[test]
    fn documents_made_in_turn_are_each_their_own_notification() {
        let mut messages = Vec::new();
        for (i, publisher) in [Some("nova-compute:h1"), None, Some("cinder"), None]
            .into_iter()
            .enumerate()
        {
            let mut n = Notification::new(
                Priority::ALL[i % Priority::ALL.len()],
                format!("event.{i}"),
                json!({"i": i, "name": format!("n\u{e9}-{i}"), "list": [i, {"a": null}]}),
            );
            n.publisher_id = publisher.map(str::to_owned);
            if i % 2 == 0 {
                n.context
                    .insert("auth_token".into(), json!(format!("t-{i}")));
                n.context
                    .insert("request_id".into(), json!(format!("req-{i}")));
            }
            let body = n.encode(Format::V2, &format!("id-{i}")).unwrap();
            messages.push((Message::read(&body).unwrap(), body));
        }
        let mut held = Vec::new();
        for round in 0..3 {
            for (i, (message, body)) in messages.iter().enumerate() {
                let source = if (i + round) % 3 == 0 { "east" } else { "" };
                let received = Received {
                    message,
                    exchange: "nova",
                    routing_key: "notifications.info",
                    source,
                    body,
                };
                let show_secrets = round == 1;
                let document = Document::of(&received, show_secrets).unwrap();
                assert_eq!(
                    document.value,
                    line_read_back(&received, show_secrets),
                    "round {round}, message {i}"
                );
                assert_eq!(
                    document.value.to_string(),
                    line_read_back(&received, show_secrets).to_string()
                );
                // A value a program still holds is not given new values under it.
                if round == 2 && i == 1 {
                    held.push((document.value.clone(), line_read_back(&received, false)));
                }
            }
        }
        for (value, expected) in held {
            assert_eq!(value, expected);
        }
    }

    #[test]
    fn values_are_the_ones_jaqs_reader_makes() {
        let texts = [
            r#"{"n":0,"instance_id":"7c1a","state":"active","host":"compute-01"}"#,
            r#"{"nova_object.data":{"uuid":"u-1","n":1.5,"e":1e300,"i":-7,"z":-0,"list":[1,{"a":null}],"t":true,"f":false}}"#,
            r#"[123456789012345678,1234567890123456789,-999999999999999999,123456789012345678901234567890]"#,
            r#"[0.1,-2.5e-3,1E5,1e+2,10,-10,"",[],{},[[]],{"a":{}}]"#,
            r#""caf\u00e9 \ud83d\ude80 \"q\" \\ \/ \b\f\n\r\t \u0001 \u20ac""#,
            "\"caf\u{e9} \u{1f680} plain\"",
            r#"{"a":1,"a":2,"b":3}"#,
            r#""lone \ud800 half""#,
            r#"{ "spaced" : [ 1 , 2 ] }"#,
            "null",
            "-1",
        ];
        for text in texts {
            let jaqs = read(text.as_bytes());
            let built = build(text, None);
            assert_eq!(built, jaqs, "{text}");
            if let (Ok(built), Ok(jaqs)) = (built, jaqs) {
                assert_eq!(built.to_string(), jaqs.to_string(), "{text}");
            }
        }
        // Numbers keep jaq's kinds: a machine integer, a big one, a decimal kept as text.
        let kinds = |text: &str| match build(text, None).unwrap() {
            Val::Num(Num::Int(_)) => "int",
            Val::Num(Num::BigInt(_)) => "big",
            Val::Num(Num::Dec(_)) => "dec",
            _ => "other",
        };
        assert_eq!(kinds("999999999999999999"), "int");
        assert_eq!(kinds("123456789012345678901234567890"), "big");
        assert_eq!(kinds("1.50"), "dec");
        // What is not JSON is refused as jaq refuses it.
        for bad in [
            r#"{"a":}"#,
            r#"{"a":1"#,
            "[1,]",
            r#""open"#,
            "nul",
            "-",
            "01x",
        ] {
            assert!(build(bad, None).is_err(), "{bad}");
        }
    }
}
