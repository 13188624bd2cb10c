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
    Object { first_key: usize },
    Array,
}

/// Reads JSON text and writes it compactly.
pub(super) struct Writer<'r, 'o> {
    raw: &'r [u8],
    at: usize,
    out: &'o mut Vec<u8>,
    containers: Vec<Container>,
    /// Where each key of the open objects is in `out` (its escaped text, without quotes).
    keys: Vec<(usize, usize)>,
}

impl<'r, 'o> Writer<'r, 'o> {
    fn new(raw: &'r [u8], out: &'o mut Vec<u8>) -> Self {
        Writer {
            raw,
            at: 0,
            out,
            containers: Vec::new(),
            keys: Vec::new(),
        }
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
            self.at += 1;
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
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
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
        self.at += 1;
        Ok(())
    }

    /// Only white space may follow what was read.
    fn end(&mut self) -> Result<(), NotCompact> {
        self.skip_space();
        if self.at == self.raw.len() && self.containers.is_empty() {
            Ok(())
        } else {
            Err(NotCompact)
        }
    }

    /// Reads a JSON string into `into`, its escapes decoded.
    pub(super) fn string_into(&mut self, into: &mut String) -> Result<(), NotCompact> {
        let mut bytes = std::mem::take(into).into_bytes();
        self.unescape_into(&mut bytes)?;
        // Checked once: every run of plain bytes ends at a quote or a backslash, so a
        // character cannot span two runs, and an escape decodes to whole characters.
        *into = String::from_utf8(bytes).map_err(|_| NotCompact)?;
        Ok(())
    }

    /// Reads a JSON string's bytes into `into`, its escapes decoded, without checking that
    /// they are UTF-8: for a string that holds JSON text which is read (and checked) next.
    pub(super) fn unescape_into(&mut self, into: &mut Vec<u8>) -> Result<(), NotCompact> {
        self.expect(b'"')?;
        loop {
            into.extend_from_slice(self.plain_run()?);
            match self.raw[self.at] {
                b'"' => {
                    self.at += 1;
                    return Ok(());
                }
                b'\\' => {
                    let kind = *self.raw.get(self.at + 1).ok_or(NotCompact)?;
                    self.at += 2;
                    let byte = match kind {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 0x8,
                        b'f' => 0xc,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            let c = self.code_point()?;
                            into.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                            continue;
                        }
                        _ => return Err(NotCompact),
                    };
                    into.push(byte);
                }
                _ => return Err(NotCompact),
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.raw.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Writes one value and everything in it, without recursion.
    pub(super) fn value(&mut self) -> Result<(), NotCompact> {
        loop {
            self.skip_space();
            match self.peek().ok_or(NotCompact)? {
                b'{' => {
                    let first_key = self.keys.len();
                    if self.open(Container::Object { first_key }, b'{', b'}')? {
                        self.key()?;
                        continue;
                    }
                }
                b'[' => {
                    if self.open(Container::Array, b'[', b']')? {
                        continue;
                    }
                }
                b'"' => {
                    self.string()?;
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return Err(NotCompact),
            }
            // A value is done: go on in its container, or close it.
            loop {
                let Some(container) = self.containers.last().copied() else {
                    return Ok(());
                };
                self.skip_space();
                let (next, end) = match container {
                    Container::Object { .. } => (b',', b'}'),
                    Container::Array => (b',', b']'),
                };
                match self.peek() {
                    Some(byte) if byte == next => {
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
                    _ => return Err(NotCompact),
                }
            }
        }
    }

    /// Opens an object or array at its `start` byte; whether it has members to read (an
    /// empty one is closed at once).
    fn open(&mut self, container: Container, start: u8, end: u8) -> Result<bool, NotCompact> {
        if self.containers.len() == MAX_DEPTH {
            return Err(NotCompact);
        }
        self.containers.push(container);
        self.at += 1;
        self.out.push(start);
        self.skip_space();
        if self.peek() == Some(end) {
            self.at += 1;
            self.close(end);
            return Ok(false);
        }
        Ok(true)
    }

    fn close(&mut self, end: u8) {
        if let Some(Container::Object { first_key }) = self.containers.pop() {
            self.keys.truncate(first_key);
        }
        self.out.push(end);
    }

    /// Writes a key and its colon; a key the object already has is refused.
    fn key(&mut self) -> Result<(), NotCompact> {
        self.skip_space();
        if self.peek() != Some(b'"') {
            return Err(NotCompact);
        }
        let start = self.out.len() + 1;
        self.string()?;
        let end = self.out.len() - 1;
        let Some(Container::Object { first_key }) = self.containers.last().copied() else {
            return Err(NotCompact);
        };
        let key = &self.out[start..end];
        if self.keys[first_key..]
            .iter()
            .any(|&(s, e)| e - s == key.len() && &self.out[s..e] == key)
        {
            return Err(NotCompact);
        }
        self.keys.push((start, end));
        self.skip_space();
        if self.peek() != Some(b':') {
            return Err(NotCompact);
        }
        self.at += 1;
        self.out.push(b':');
        Ok(())
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), NotCompact> {
        if !self.raw[self.at..].starts_with(word) {
            return Err(NotCompact);
        }
        self.at += word.len();
        self.out.extend_from_slice(word);
        Ok(())
    }

    /// Copies a number once its form is JSON's, its exponent written as `serde_json` keeps it
    /// (`e`, then a sign: `1E2` is `1e+2`).
    fn number(&mut self) -> Result<(), NotCompact> {
        let rest = &self.raw[self.at..];
        let digits = |from: usize| {
            rest.get(from..).map_or(0, |tail| {
                tail.iter().take_while(|b| b.is_ascii_digit()).count()
            })
        };
        let mut i = usize::from(rest.first() == Some(&b'-'));
        let int = digits(i);
        if int == 0 || (int > 1 && rest[i] == b'0') {
            return Err(NotCompact);
        }
        i += int;
        if rest.get(i) == Some(&b'.') {
            let fraction = digits(i + 1);
            if fraction == 0 {
                return Err(NotCompact);
            }
            i += 1 + fraction;
        }
        self.out.extend_from_slice(&rest[..i]);
        if matches!(rest.get(i), Some(b'e' | b'E')) {
            i += 1;
            let sign = match rest.get(i) {
                Some(&sign @ (b'+' | b'-')) => {
                    i += 1;
                    sign
                }
                _ => b'+',
            };
            let exponent = digits(i);
            if exponent == 0 {
                return Err(NotCompact);
            }
            self.out.extend_from_slice(&[b'e', sign]);
            self.out.extend_from_slice(&rest[i..i + exponent]);
            i += exponent;
        }
        self.at += i;
        Ok(())
    }

    /// The bytes of a string up to its next quote, backslash or control character, which
    /// is then the next byte to read.
    fn plain_run(&mut self) -> Result<&'r [u8], NotCompact> {
        let raw: &'r [u8] = self.raw;
        let rest = &raw[self.at..];
        let plain = special_at(rest).ok_or(NotCompact)?;
        self.at += plain;
        Ok(&rest[..plain])
    }

    /// Writes a string as `serde_json` writes it.
    fn string(&mut self) -> Result<(), NotCompact> {
        self.at += 1;
        self.out.push(b'"');
        loop {
            let plain = self.plain_run()?;
            self.out.extend_from_slice(plain);
            match self.raw[self.at] {
                b'"' => {
                    self.at += 1;
                    self.out.push(b'"');
                    return Ok(());
                }
                b'\\' => self.escape()?,
                _ => return Err(NotCompact),
            }
        }
    }

    /// Reads one escape and writes the character it stands for, escaped as `serde_json`
    /// escapes it.
    fn escape(&mut self) -> Result<(), NotCompact> {
        let kind = *self.raw.get(self.at + 1).ok_or(NotCompact)?;
        self.at += 2;
        let short: &[u8] = match kind {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'/' => b"/",
            b'b' => b"\\b",
            b'f' => b"\\f",
            b'n' => b"\\n",
            b'r' => b"\\r",
            b't' => b"\\t",
            b'u' => {
                let c = self.code_point()?;
                self.write_char(c);
                return Ok(());
            }
            _ => return Err(NotCompact),
        };
        self.out.extend_from_slice(short);
        Ok(())
    }

    /// The character of a `\uXXXX` escape (and of the second half, for a surrogate pair).
    fn code_point(&mut self) -> Result<char, NotCompact> {
        let first = self.hex4()?;
        let unit = match first {
            0xD800..=0xDBFF => {
                if !self.raw[self.at..].starts_with(b"\\u") {
                    return Err(NotCompact);
                }
                self.at += 2;
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(NotCompact);
                }
                0x10000 + ((first - 0xD800) << 10) + (low - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(NotCompact),
            _ => first,
        };
        char::from_u32(unit).ok_or(NotCompact)
    }

    fn hex4(&mut self) -> Result<u32, NotCompact> {
        let digits = self.raw.get(self.at..self.at + 4).ok_or(NotCompact)?;
        let mut value = 0;
        for &digit in digits {
            value = value * 16 + char::from(digit).to_digit(16).ok_or(NotCompact)?;
        }
        self.at += 4;
        Ok(value)
    }

    fn write_char(&mut self, c: char) {
        let short: &[u8] = match c {
            '"' => b"\\\"",
            '\\' => b"\\\\",
            '\u{8}' => b"\\b",
            '\u{c}' => b"\\f",
            '\n' => b"\\n",
            '\r' => b"\\r",
            '\t' => b"\\t",
            c if u32::from(c) < 0x20 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let n = u32::from(c) as usize;
                self.out
                    .extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[n >> 4], HEX[n & 0xF]]);
                return;
            }
            c => {
                let mut buffer = [0; 4];
                self.out
                    .extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
                return;
            }
        };
        self.out.extend_from_slice(short);
    }
}

/// Where the first quote, backslash or control character of `bytes` is: eight bytes at a
/// time (each word tested for the three at once), then byte by byte for the last few.
fn special_at(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte of `x` is zero: its high bit in `(x - ONES) & !x & HIGH`. A borrow can also set
    // the bit of a byte above a zero one, never below it, so the lowest bit set is exact.
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let mut words = bytes.chunks_exact(8);
    let mut at = 0;
    for word in words.by_ref() {
        let w = u64::from_le_bytes([
            word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
        ]);
        // Below 0x20: the same trick with 0x20 for 1 (exact for the lowest such byte).
        let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
        let found =
            zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\'))) | control;
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map(|i| at + i)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_first_special_byte_is_found_wherever_it_is() {
        let slow = |bytes: &[u8]| {
            bytes
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        };
        let specials: [u8; 6] = [b'"', b'\\', 0x00, 0x1f, 0x0a, 0x19];
        let plains: [u8; 6] = [b'a', 0x20, 0x7f, 0x80, 0xff, 0x21];
        for len in 0..40 {
            for at in 0..=len {
                for (&special, &plain) in specials.iter().zip(plains.iter().cycle()) {
                    let mut bytes = vec![plain; len];
                    if at < len {
                        bytes[at] = special;
                        // Another special later does not matter; one just before does.
                        if at + 3 < len {
                            bytes[at + 3] = b'"';
                        }
                    }
                    assert_eq!(special_at(&bytes), slow(&bytes), "{bytes:?}");
                }
            }
        }
        // Every byte value, alone in a word of plain bytes.
        for b in 0..=255u8 {
            let bytes = [b'x', b'x', b, b'x', b'x', b'x', b'x', b'x', b'x'];
            assert_eq!(special_at(&bytes), slow(&bytes), "{b}");
        }
    }

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
    }

    #[test]
    fn nesting_is_bounded_without_recursion() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(ours(&deep(MAX_DEPTH)).is_some());
        assert_eq!(ours(&deep(MAX_DEPTH + 1)), None);
        assert_eq!(ours(&deep(1_000_000)), None);
    }
}
