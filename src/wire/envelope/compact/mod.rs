//! JSON text rewritten, in one pass over its bytes, into exactly what `serde_json` writes
//! for the value it holds: no white space, strings escaped as `serde_json` escapes them
//! (`\uXXXX` escapes from Python decoded, `\/` unescaped), numbers as they were but for the
//! exponent's form (this crate reads numbers with `arbitrary_precision`). Reading a payload
//! this way costs a copy of its bytes, where building a `serde_json::Value` costs an
//! allocation and a hash per member.
//!
//! [`members`] reads an object this way, member by member. It refuses whatever `serde_json`
//! would not read back into the same value: a surrogate escape that is not half of a pair,
//! an object with a key twice, nesting deeper than a notification's member may have, or
//! anything that is not JSON. The caller then reads the message the slow way, which names
//! what is wrong or keeps what `serde_json` keeps.
//!
//! [`Writer::members_quoted`] reads an object that is the text of a JSON string through the
//! string's escapes, as they come: a V2 body's `oslo.message` is read in the same pass as
//! the body, never unescaped into a text of its own first.

mod scalars;
mod stacks;
mod strings;

use crate::wire::words::key_bit;
use stacks::Stacks;

/// How deep a member of a notification may nest: `serde_json` allows 127 levels in all, and
/// the notification's own object is one of them.
pub(super) const MAX_DEPTH: usize = 126;

/// Why a text was not rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct NotCompact;

/// Appends the compact form of the JSON value `raw` to `out`; on error `out` holds a part
/// of it, which the caller drops.
#[cfg(test)]
fn compact(raw: &[u8], out: &mut Vec<u8>) -> Result<(), NotCompact> {
    let mut writer = Writer::new(raw, out);
    writer.value()?;
    writer.end()
}

/// Reads the JSON object `raw` member by member: `each` is given each key, decoded, and the
/// writer positioned at its value, which it must read ([`Writer::value`] or
/// [`Writer::string_into`]).
pub(super) fn members(
    raw: &[u8],
    out: &mut Vec<u8>,
    mut each: impl FnMut(&str, &mut Writer) -> Result<(), NotCompact>,
) -> Result<(), NotCompact> {
    let mut writer = Writer::new(raw, out);
    writer.skip_space();
    writer.members(&mut each)?;
    writer.end()
}

/// An object or array being written: for an object, where its keys start in `keys`.
#[derive(Clone, Copy)]
enum Container {
    /// `seen` has a bit set for each key's [`key_bit`]: only a key whose bit is set already
    /// is compared with the others.
    Object {
        first_key: usize,
        seen: u64,
    },
    Array,
}

/// Reads JSON text and writes it compactly.
pub(super) struct Writer<'r, 'o> {
    raw: &'r [u8],
    at: usize,
    /// What is written, taken from `home` and given back when the writer is dropped: held
    /// here rather than behind a reference, so that the compiler knows that writing a byte
    /// changes nothing else of the writer's (its length and the reading position stay in
    /// registers).
    out: Vec<u8>,
    home: &'o mut Vec<u8>,
    stacks: Stacks,
    /// Whether `raw` is the inside of a JSON string whose text is read, read through the
    /// string's escapes ([`Writer::members_quoted`]).
    quoted: bool,
}

impl Drop for Writer<'_, '_> {
    fn drop(&mut self) {
        *self.home = std::mem::take(&mut self.out);
        std::mem::take(&mut self.stacks).give_back();
    }
}

impl<'r, 'o> Writer<'r, 'o> {
    fn new(raw: &'r [u8], home: &'o mut Vec<u8>) -> Self {
        Writer {
            raw,
            at: 0,
            out: std::mem::take(home),
            home,
            stacks: Stacks::take(),
            quoted: false,
        }
    }

    /// Reads the string at the reading position as the JSON object it holds, member by
    /// member as [`Writer::members`] reads an object (its text written to `out`), through
    /// the string's escapes as they come, so that the string is not unescaped first: a V2
    /// body's `oslo.message` is read in one pass. It refuses what it leaves to the two
    /// passes: a `\uXXXX` escape in the string's text (oslo's text never has one: its inner
    /// JSON is ASCII), a string inside another, and anything `members` refuses.
    pub(super) fn members_quoted(
        &mut self,
        out: &mut Vec<u8>,
        each: &mut dyn FnMut(&str, &mut Writer) -> Result<(), NotCompact>,
    ) -> Result<(), NotCompact> {
        if self.quoted || self.peek() != Some(b'"') {
            return Err(NotCompact);
        }
        let mut inner = Writer::new(self.raw, out);
        inner.at = self.at + 1;
        inner.quoted = true;
        inner.skip_space();
        inner.members(each)?;
        inner.skip_space();
        // The string ends right after the object (`peek` stops at its quote).
        if inner.raw.get(inner.at) != Some(&b'"') {
            return Err(NotCompact);
        }
        self.at = inner.at + 1;
        Ok(())
    }

    /// Where the reading is, to come back to with [`Writer::rewind`].
    pub(super) fn position(&self) -> usize {
        self.at
    }

    /// Goes back to a position [`Writer::position`] gave, as if nothing after it was read.
    pub(super) fn rewind(&mut self, position: usize) {
        self.at = position;
    }

    /// How many bytes are left to read.
    pub(super) fn remaining(&self) -> usize {
        self.raw.len() - self.at
    }

    /// Whether the text is read through a string's escapes.
    pub(super) fn is_quoted(&self) -> bool {
        self.quoted
    }

    /// Reads the object at the reading position member by member, as [`members`] reads a
    /// whole text: its keys decoded and handed to `each`, which reads each value.
    pub(super) fn members(
        &mut self,
        each: &mut dyn FnMut(&str, &mut Writer) -> Result<(), NotCompact>,
    ) -> Result<(), NotCompact> {
        let mut key = String::new();
        self.expect(b'{')?;
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.bump();
            return Ok(());
        }
        loop {
            self.skip_space();
            key.clear();
            self.string_into(&mut key)?;
            self.skip_space();
            self.expect(b':')?;
            self.skip_space();
            each(&key, self)?;
            self.skip_space();
            match self.peek() {
                Some(b',') => self.bump(),
                Some(b'}') => {
                    self.bump();
                    return Ok(());
                }
                _ => return Err(NotCompact),
            }
        }
    }

    /// Whether the value at the reading position is `null` (after white space).
    pub(super) fn at_null(&mut self) -> bool {
        self.skip_space();
        self.raw[self.at..].starts_with(b"null")
    }

    /// Where the text written so far ends.
    pub(super) fn written(&self) -> usize {
        self.out.len()
    }

    fn expect(&mut self, byte: u8) -> Result<(), NotCompact> {
        if self.peek() != Some(byte) {
            return Err(NotCompact);
        }
        self.bump();
        Ok(())
    }

    /// Only white space may follow what was read.
    fn end(&mut self) -> Result<(), NotCompact> {
        self.skip_space();
        if self.at == self.raw.len() && self.stacks.containers.is_empty() {
            Ok(())
        } else {
            Err(NotCompact)
        }
    }

    /// The next byte of the text: in a string's text ([`Writer::quoted`]), the byte an
    /// escape stands for, and `None` at the string's end or at an escape left to the two
    /// passes (`\uXXXX`, `\b`, `\f`).
    #[inline(always)]
    fn peek(&self) -> Option<u8> {
        let byte = *self.raw.get(self.at)?;
        // Above the quote, every byte but the backslash stands for itself in a string's
        // text too.
        if !self.quoted || (byte > b'"' && byte != b'\\') {
            return Some(byte);
        }
        self.peek_quoted(byte)
    }

    /// [`Writer::peek`] in a string's text, at a byte that may not stand for itself.
    fn peek_quoted(&self, byte: u8) -> Option<u8> {
        match byte {
            b'\\' => match self.raw.get(self.at + 1)? {
                b'"' => Some(b'"'),
                b'\\' => Some(b'\\'),
                b'/' => Some(b'/'),
                b'n' => Some(b'\n'),
                b'r' => Some(b'\r'),
                b't' => Some(b'\t'),
                _ => None,
            },
            // The string ends, or holds what no string may.
            b'"' | 0..=0x1f => None,
            byte => Some(byte),
        }
    }

    /// The byte at the reading position as it is in the text, for a byte no escape stands
    /// for (`{}[],:`): it is that byte exactly when [`Writer::peek`] would say so.
    #[inline(always)]
    fn raw_byte(&self) -> Option<u8> {
        self.raw.get(self.at).copied()
    }

    /// Moves past the byte [`Writer::peek`] gave.
    #[inline(always)]
    fn bump(&mut self) {
        let escaped = self.quoted && self.raw.get(self.at) == Some(&b'\\');
        self.at += if escaped { 2 } else { 1 };
    }

    /// Whether a string starts or ends at the reading position: [`Writer::peek`] would
    /// give a quote.
    #[inline(always)]
    fn at_quote(&self) -> bool {
        match self.quoted {
            false => self.raw_byte() == Some(b'"'),
            true => self.raw.get(self.at..self.at + 2) == Some(b"\\\""),
        }
    }

    /// Moves past a quote [`Writer::peek`] gave: in a string's text, an escaped one.
    #[inline(always)]
    fn bump_quote(&mut self) {
        self.at += 1 + usize::from(self.quoted);
    }

    #[inline(always)]
    fn skip_space(&mut self) {
        // Python writes one space after each `,` and `:` and none elsewhere: after at most
        // one space, a byte that no white space can start ends the search at once.
        self.skip_one_space();
        match self.raw_byte() {
            Some(byte) if byte > b' ' && byte != b'\\' => {}
            _ if self.at_quote() => {}
            _ => self.skip_more_space(),
        }
    }

    fn skip_more_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.bump();
        }
    }

    /// Writes one value and everything in it, without recursion.
    pub(super) fn value(&mut self) -> Result<(), NotCompact> {
        loop {
            self.skip_one_space();
            // Strings first: most values are.
            if self.at_quote() {
                self.string()?;
            } else {
                // Every byte a value other than a string starts with stands for itself.
                match self.raw_byte().ok_or(NotCompact)? {
                    b'{' => {
                        let first_key = self.stacks.keys.len();
                        let object = Container::Object { first_key, seen: 0 };
                        if self.open(object, b'{', b'}')? {
                            self.key()?;
                            continue;
                        }
                    }
                    b'[' => {
                        if self.open(Container::Array, b'[', b']')? {
                            continue;
                        }
                    }
                    b't' => self.literal(b"true")?,
                    b'f' => self.literal(b"false")?,
                    b'n' => self.literal(b"null")?,
                    b'-' | b'0'..=b'9' => self.number()?,
                    // White space other than Python's one space, or no value at all.
                    _ => {
                        self.skip_more_space_or_refuse()?;
                        continue;
                    }
                }
            }
            // A value is done: go on in its container, or close it.
            loop {
                let Some(container) = self.stacks.containers.last().copied() else {
                    return Ok(());
                };
                let end = match container {
                    Container::Object { .. } => b'}',
                    Container::Array => b']',
                };
                match self.raw_byte() {
                    Some(b',') => {
                        self.at += 1;
                        self.out.push(b',');
                        if let Container::Object { .. } = container {
                            self.key()?;
                        }
                        break;
                    }
                    Some(byte) if byte == end => {
                        self.at += 1;
                        self.close(end);
                    }
                    // Python writes none here; any other writer may.
                    _ => self.skip_more_space_or_refuse()?,
                }
            }
        }
    }

    /// Passes the one space Python writes after `,` and `:`: where a token is expected, a
    /// byte that starts none is then read with [`Writer::skip_more_space_or_refuse`].
    #[inline(always)]
    fn skip_one_space(&mut self) {
        if self.raw_byte() == Some(b' ') {
            self.at += 1;
        }
    }

    /// Passes white space where no token starts; refuses the text when there is none.
    #[cold]
    fn skip_more_space_or_refuse(&mut self) -> Result<(), NotCompact> {
        let before = self.at;
        self.skip_more_space();
        if self.at == before {
            return Err(NotCompact);
        }
        Ok(())
    }

    /// Opens an object or array at its `start` byte; whether it has members to read (an
    /// empty one is closed at once).
    fn open(&mut self, container: Container, start: u8, end: u8) -> Result<bool, NotCompact> {
        if self.stacks.containers.len() == MAX_DEPTH {
            return Err(NotCompact);
        }
        self.stacks.containers.push(container);
        self.at += 1;
        self.out.push(start);
        // Python writes `{}` and `[]` with nothing between, and a key right after `{`.
        if self.raw_byte() != Some(end) && !self.at_quote() {
            self.skip_space();
        }
        if self.raw_byte() == Some(end) {
            self.at += 1;
            self.close(end);
            return Ok(false);
        }
        Ok(true)
    }

    fn close(&mut self, end: u8) {
        if let Some(Container::Object { first_key, .. }) = self.stacks.containers.pop() {
            self.stacks.keys.truncate(first_key);
        }
        self.out.push(end);
    }

    /// Writes a key and its colon; a key the object already has is refused.
    #[inline(always)]
    fn key(&mut self) -> Result<(), NotCompact> {
        self.skip_one_space();
        if !self.at_quote() {
            self.skip_more_space_or_refuse()?;
            if !self.at_quote() {
                return Err(NotCompact);
            }
        }
        let start = self.out.len() + 1;
        self.string()?;
        let end = self.out.len() - 1;
        let Some(Container::Object { first_key, seen }) = self.stacks.containers.last_mut() else {
            return Err(NotCompact);
        };
        let key = &self.out[start..end];
        let bit = key_bit(key);
        if *seen & bit != 0
            && self.stacks.keys[*first_key..]
                .iter()
                .any(|&(s, e)| e - s == key.len() && &self.out[s..e] == key)
        {
            return Err(NotCompact);
        }
        *seen |= bit;
        self.stacks.keys.push((start, end));
        if self.raw_byte() != Some(b':') {
            self.skip_space();
            if self.raw_byte() != Some(b':') {
                return Err(NotCompact);
            }
        }
        self.at += 1;
        self.out.push(b':');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// What serde_json writes for the value it reads from `raw`.
    fn serde_compact(raw: &str) -> Option<String> {
        let value: Value = serde_json::from_str(raw).ok()?;
        Some(serde_json::to_string(&value).unwrap())
    }

    fn ours(raw: &str) -> Option<String> {
        let mut out = Vec::new();
        compact(raw.as_bytes(), &mut out).ok()?;
        Some(String::from_utf8(out).expect("compact writes UTF-8"))
    }

    #[test]
    fn the_same_text_as_serde_json_writes() {
        let samples = [
            r#"{"a": 1, "b": [true, false, null], "c": {"d": "e"}}"#,
            "  [ 1 ,\n 2 ,\t3 ]  ",
            r#"{"nova_object.data": {"uuid": "x", "flavor": {"extra_specs": {}}}, "l": []}"#,
            r#""caf\u00e9 \u65e5\u672c \ud83d\ude00 \"q\" \\ \/ \b\f\n\r\t \u0001 \u001f \u007f é""#,
            r#"[0, -0, 1.5, -2.50, 1e-05, 1E+2, 3.0e10, 2E-3, 12345678901234567890123, -0.0]"#,
            r#"{"": "", "k": "\u0000"}"#,
            r#"{"a\u0062": 1, "ab\u0063": 2}"#,
            "\"\u{10ffff} raw\"",
            "{}",
            "[]",
            "null",
            "\"\"",
        ];
        for raw in samples {
            assert_eq!(ours(raw), serde_compact(raw), "{raw}");
            assert!(ours(raw).is_some(), "{raw}");
        }
    }

    #[test]
    fn what_serde_json_would_read_differently_or_refuse_is_refused() {
        let refused = [
            r#""\ud800""#,
            r#""\ud800 x""#,
            r#""\udc00""#,
            r#""\ud800\u0041""#,
            r#"{"a": 1, "a": 2}"#,
            r#"{"a": 1, "\u0061": 2}"#,
            r#"{"a": {"b": 1, "b": 2}}"#,
            "[1,]",
            "[1 2]",
            "{\"a\" 1}",
            "01",
            "1.",
            "-",
            ".5",
            "1e",
            "tru",
            "\"a\tb\"",
            "\"open",
            "[1] 2",
            "[",
            "{\"a\":1",
            "\"\\x\"",
            "\"\\u12\"",
            "",
        ];
        for raw in refused {
            assert_eq!(ours(raw), None, "{raw}");
        }
        // Keys may repeat in different objects.
        let sibling = r#"[{"a": 1}, {"a": 2, "b": {"a": 3}}]"#;
        assert_eq!(ours(sibling), serde_compact(sibling));
        // Many keys share a bit: each is still compared with those that do, and a key given
        // twice is found wherever it is, after an object nested in between too.
        let keys: Vec<String> = (0..300).map(|i| format!(r#""k{i}": {i}"#)).collect();
        let many = format!("{{{}}}", keys.join(", "));
        assert_eq!(ours(&many), serde_compact(&many));
        for (first, again) in [(0, 299), (150, 151), (298, 0)] {
            let twice = format!(
                r#"{{{}, "inner": {{"k{again}": 1}}, "k{again}": 2}}"#,
                keys[..=first.max(again)].join(", ")
            );
            assert_eq!(ours(&twice), None, "k{first} and k{again}");
        }
    }

    #[test]
    fn nesting_is_bounded_without_recursion() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(ours(&deep(MAX_DEPTH)).is_some());
        assert_eq!(ours(&deep(MAX_DEPTH + 1)), None);
        assert_eq!(ours(&deep(1_000_000)), None);
    }

    /// JSON as Python's `json.dumps` writes it (ASCII only, `\uXXXX` for the rest), with
    /// the separators given.
    fn python(value: &Value, item: &str, key: &str, out: &mut String) {
        let string = |s: &str, out: &mut String| {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    ' '..='~' => out.push(c),
                    c => {
                        for unit in c.encode_utf16(&mut [0; 2]) {
                            out.push_str(&format!("\\u{unit:04x}"));
                        }
                    }
                }
            }
            out.push('"');
        };
        match value {
            Value::String(s) => string(s, out),
            Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(item);
                    }
                    python(v, item, key, out);
                }
                out.push(']');
            }
            Value::Object(map) => {
                out.push('{');
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push_str(item);
                    }
                    string(k, out);
                    out.push_str(key);
                    python(v, item, key, out);
                }
                out.push('}');
            }
            other => out.push_str(&other.to_string()),
        }
    }

    fn any_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let text = || {
            proptest::string::string_regex("[a-z\"\\\\/ é日\u{1F600}\n\t\r\u{1}\u{1f}]{0,12}")
                .expect("a pattern")
        };
        let number = prop_oneof![
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            Just(serde_json::from_str::<Value>("1E-7").expect("a number")),
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            number,
            text().prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 64, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                proptest::collection::vec((text(), inner), 0..6)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    const ITEMS: [&str; 4] = [", ", ",", " ,\n\t", "\r\n, "];
    const KEYS: [&str; 4] = [": ", ":", " :\t", "\n:\n"];

    proptest::proptest! {
        #[test]
        fn whatever_python_writes_is_written_as_serde_json_writes_it(
            value in any_value(), item in 0..ITEMS.len(), key in 0..KEYS.len(),
        ) {
            let mut text = String::new();
            python(&value, ITEMS[item], KEYS[key], &mut text);
            proptest::prop_assert_eq!(ours(&text), Some(value.to_string()), "{}", text);
        }

        #[test]
        fn an_object_in_a_string_is_read_through_its_escapes(
            pairs in proptest::collection::vec((".{0,6}", any_value()), 0..8),
            item in 0..ITEMS.len(), key in 0..KEYS.len(),
        ) {
            let object = Value::Object(pairs.into_iter().collect());
            let mut text = String::new();
            python(&object, ITEMS[item], KEYS[key], &mut text);
            // The text as a JSON string, as oslo's envelope holds it.
            let outer = format!("{{\"m\": {}}}", serde_json::to_string(&text).expect("text"));
            let (mut out, mut inner) = (Vec::new(), Vec::new());
            let mut read = Vec::new();
            let result = members(outer.as_bytes(), &mut out, |_, writer| {
                writer.members_quoted(&mut inner, &mut |name, writer| {
                    let start = writer.written();
                    writer.value()?;
                    read.push((name.to_owned(), start..writer.written()));
                    Ok(())
                })
            });
            proptest::prop_assert_eq!(result, Ok(()), "{}", outer);
            let read: Vec<_> = read
                .into_iter()
                .map(|(name, range)| (name, String::from_utf8(inner[range].to_vec()).unwrap()))
                .collect();
            let Value::Object(map) = object else { unreachable!() };
            let expected: Vec<_> = map.into_iter().map(|(k, v)| (k, v.to_string())).collect();
            proptest::prop_assert_eq!(read, expected);
        }
    }
}
