//! JSON text written the way Python's `json.dumps` writes it.
//!
//! oslo.messaging serializes with `json.dumps` defaults: `", "` and `": "` as separators and
//! `ensure_ascii=True`, so every character outside printable ASCII is written as a lower-case
//! `\uXXXX` escape (astral characters as a surrogate pair). Writing the same bytes keeps our
//! messages indistinguishable from a Python service's.

use super::words;
use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter, Serializer};
use serde_json::Value;
use std::io::{self, Write};

/// A `serde_json` formatter with Python's default separators and `ensure_ascii` escaping.
#[derive(Debug, Default, Clone, Copy)]
pub struct PythonFormatter;

const HEX: &[u8; 16] = b"0123456789abcdef";

fn write_u_escape<W: ?Sized + Write>(writer: &mut W, unit: u16) -> io::Result<()> {
    let buf = [
        b'\\',
        b'u',
        HEX[usize::from(unit >> 12)],
        HEX[usize::from((unit >> 8) & 0xf)],
        HEX[usize::from((unit >> 4) & 0xf)],
        HEX[usize::from(unit & 0xf)],
    ];
    writer.write_all(&buf)
}

/// Python's item separator, `", "`, before every item but the first.
fn separator<W: ?Sized + Write>(writer: &mut W, first: bool) -> io::Result<()> {
    if first {
        Ok(())
    } else {
        writer.write_all(b", ")
    }
}

impl Formatter for PythonFormatter {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // Printable ASCII is copied in runs; everything else is escaped one char at a time.
        let mut rest = fragment;
        while let Some(at) = rest.bytes().position(|b| !(b' '..=b'~').contains(&b)) {
            writer.write_all(&rest.as_bytes()[..at])?;
            // What precedes `at` is ASCII, so a char starts there.
            let tail = &rest[at..];
            let Some(ch) = tail.chars().next() else { break };
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                write_u_escape(writer, *unit)?;
            }
            rest = &tail[ch.len_utf8()..];
        }
        writer.write_all(rest.as_bytes())
    }

    fn write_char_escape<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        char_escape: CharEscape,
    ) -> io::Result<()> {
        let short: &[u8] = match char_escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::Solidus => b"/",
            CharEscape::Backspace => b"\\b",
            CharEscape::FormFeed => b"\\f",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::AsciiControl(byte) => return write_u_escape(writer, u16::from(byte)),
        };
        writer.write_all(short)
    }

    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        separator(writer, first)
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        separator(writer, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }
}

/// Appends `value` to `out` as Python's `json.dumps(value)` would write it.
pub fn write<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> serde_json::Result<()> {
    let mut serializer = Serializer::with_formatter(out, PythonFormatter);
    value.serialize(&mut serializer)
}

/// Returns `value` as Python's `json.dumps(value)` would write it.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(128);
    write(&mut out, value)?;
    Ok(out)
}

/// JSON text exactly as Python's `json.dumps` writes it: a payload rendered once, then
/// copied as it is into every message that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonJson(String);

impl PythonJson {
    /// `value` as `json.dumps(value)` writes it.
    pub fn from_value(value: &Value) -> serde_json::Result<Self> {
        let mut out = Vec::with_capacity(128);
        write(&mut out, value)?;
        Ok(PythonJson(ascii_to_string(out)))
    }

    /// JSON text as `json.dumps(json.loads(text))` writes it. Most texts are rewritten as
    /// they are read, without building a [`Value`]; the rest (repeated keys, keys written
    /// with escapes, very large objects, deep nesting, errors) take the general way, which
    /// gives the same result, and the same error, as parsing into a [`Value`] would.
    ///
    /// ```
    /// use oslo_notify::pyjson::PythonJson;
    ///
    /// let json = PythonJson::parse(r#"{"heavy":"payload","n":[1,2.50],"é":"\u00e9"}"#)?;
    /// assert_eq!(json.as_str(), r#"{"heavy": "payload", "n": [1, 2.50], "\u00e9": "\u00e9"}"#);
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn parse(text: &str) -> serde_json::Result<Self> {
        match rewrite(text) {
            Some(json) => Ok(json),
            None => Self::from_value(&serde_json::from_str(text)?),
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The quick way of [`PythonJson::parse`]; `None` when the text must take the general way.
fn rewrite(text: &str) -> Option<PythonJson> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 8 + 16);
    rewrite_quickly(text, &mut out, &mut Vec::new(), Quoting::Plain)?;
    Some(PythonJson(ascii_to_string(out)))
}

/// Appends JSON `text` to `out` as `json.dumps(json.loads(text))` writes it (what
/// [`PythonJson::parse`] holds), written as the inside of a JSON string (a backslash before
/// each quote and backslash, see [`words::escape_quotes_into`]) in the same pass: a payload
/// as it stands in a format 2.0 envelope's message. `keys` is room for the reader's keys,
/// kept by a caller that rewrites many texts so that it is made once.
pub(crate) fn rewrite_quoted_into(
    text: &str,
    out: &mut Vec<u8>,
    keys: &mut Vec<(usize, usize)>,
) -> serde_json::Result<()> {
    let start = out.len();
    if rewrite_quickly(text, out, keys, Quoting::Quoted).is_some() {
        return Ok(());
    }
    out.truncate(start);
    let plain = to_vec(&serde_json::from_str::<Value>(text)?)?;
    words::escape_quotes_into(&plain, out);
    Ok(())
}

/// How a [`Rewriter`] writes: as JSON text, or as the inside of a JSON string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quoting {
    Plain,
    Quoted,
}

fn rewrite_quickly(
    text: &str,
    out: &mut Vec<u8>,
    keys: &mut Vec<(usize, usize)>,
    quoting: Quoting,
) -> Option<()> {
    keys.clear();
    let mut rewriter = Rewriter {
        text: text.as_bytes(),
        at: 0,
        out,
        keys,
        depth: 0,
        quoting,
    };
    rewriter.document()
}

/// What `write` produces is ASCII, always valid UTF-8.
fn ascii_to_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Nesting beyond this, and objects with more keys, take the general way.
const REWRITE_MAX_DEPTH: usize = 100;
const REWRITE_MAX_KEYS: usize = 256;

/// Reads JSON text and writes it in Python's form as it goes. Every method returns `None`
/// when the text must take the general way instead.
struct Rewriter<'a, 'o> {
    text: &'a [u8],
    at: usize,
    out: &'o mut Vec<u8>,
    /// Where the keys of the objects being read are in `text` (start and end), innermost
    /// last, to find repeated ones (Python keeps the last value of a repeated key, at the
    /// place of the first).
    keys: &'o mut Vec<(usize, usize)>,
    depth: usize,
    /// Whether strings' quotes and backslashes are written escaped once more (nothing else
    /// the rewriter writes by itself is a quote or a backslash).
    quoting: Quoting,
}

impl<'a> Rewriter<'a, '_> {
    fn document(&mut self) -> Option<()> {
        self.skip_space();
        self.value()?;
        self.skip_space();
        (self.at == self.text.len()).then_some(())
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn value(&mut self) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => self.copy_string().map(drop),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= REWRITE_MAX_DEPTH).then_some(())
    }

    fn object(&mut self) -> Option<()> {
        self.enter()?;
        self.at += 1;
        self.out.push(b'{');
        let first_key = self.keys.len();
        // A bit for each key read (`words::key_bit`): only a key whose bit is set already
        // may be one of them.
        let mut seen = 0u64;
        self.skip_space();
        if self.peek()? == b'}' {
            self.at += 1;
        } else {
            loop {
                self.skip_space();
                if self.peek()? != b'"' {
                    return None;
                }
                let key_start = self.at;
                if self.keys.len() > first_key {
                    self.out.extend_from_slice(b", ");
                }
                let (key, plain) = self.copy_string()?;
                let siblings = &self.keys[first_key..];
                let text = self.text;
                let bit = words::key_bit(key);
                // Keys written with escapes may equal keys written without. (A key that is
                // not plain but has no escape takes the general way too: seldom seen.)
                if !plain
                    || (seen & bit != 0 && siblings.iter().any(|&(s, e)| &text[s..e] == key))
                    || siblings.len() >= REWRITE_MAX_KEYS
                {
                    return None;
                }
                seen |= bit;
                self.keys.push((key_start, key_start + key.len()));
                self.skip_space();
                if self.next()? != b':' {
                    return None;
                }
                self.out.extend_from_slice(b": ");
                self.skip_space();
                self.value()?;
                self.skip_space();
                match self.next()? {
                    b',' => {}
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        self.keys.truncate(first_key);
        self.out.push(b'}');
        self.depth -= 1;
        Some(())
    }

    fn array(&mut self) -> Option<()> {
        self.enter()?;
        self.at += 1;
        self.out.push(b'[');
        self.skip_space();
        if self.peek()? == b']' {
            self.at += 1;
        } else {
            let mut first = true;
            loop {
                if !first {
                    self.out.extend_from_slice(b", ");
                }
                first = false;
                self.skip_space();
                self.value()?;
                self.skip_space();
                match self.next()? {
                    b',' => {}
                    b']' => break,
                    _ => return None,
                }
            }
        }
        self.out.push(b']');
        self.depth -= 1;
        Some(())
    }

    /// The string starting here, quotes included, as written (escapes not yet checked).
    fn string(&mut self) -> Option<&'a [u8]> {
        let start = self.at;
        let mut at = start + 1;
        loop {
            at += words::find_quote_or_backslash(self.text.get(at..)?)?;
            if self.text[at] == b'"' {
                self.at = at + 1;
                return Some(&self.text[start..self.at]);
            }
            // A backslash: the next byte is escaped, whatever it is.
            at += 2;
        }
    }

    /// Reads the string starting here and writes it; its text (quotes included, as written)
    /// and whether it is plain: printable ASCII without escapes, which reads and writes the
    /// same in JSON and in Python. A plain string is copied as it is read
    /// ([`words::copy_until`]), its quotes escaped when quoting; any other is read again
    /// and written the long way.
    fn copy_string(&mut self) -> Option<(&'a [u8], bool)> {
        let start = self.at;
        let mark = self.out.len();
        self.quote();
        if let Some(end) =
            words::copy_until(words::Stop::Unprintable, self.text, start + 1, self.out)
        {
            if self.text[end] == b'"' {
                self.quote();
                self.at = end + 1;
                return Some((&self.text[start..self.at], true));
            }
        }
        self.out.truncate(mark);
        let raw = self.string()?;
        self.write_decoded(raw)?;
        Some((raw, false))
    }

    /// Writes a string's quote: escaped when quoting. (Each branch writes bytes known when
    /// compiling: stores, not a call to copy one or two bytes.)
    fn quote(&mut self) {
        match self.quoting {
            Quoting::Plain => self.out.push(b'"'),
            Quoting::Quoted => self.out.extend_from_slice(b"\\\""),
        }
    }

    /// Writes the string `raw` (quotes included) the long way: decoded, then written as
    /// Python writes it.
    fn write_decoded(&mut self, raw: &[u8]) -> Option<()> {
        let decoded: String = serde_json::from_slice(raw).ok()?;
        match self.quoting {
            Quoting::Plain => write(self.out, &decoded).ok()?,
            Quoting::Quoted => words::escape_quotes_into(&to_vec(&decoded).ok()?, self.out),
        }
        Some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at + word.len();
        if self.text.get(self.at..end)? != word {
            return None;
        }
        self.out.extend_from_slice(word);
        self.at = end;
        Some(())
    }

    /// A number is written as serde_json's arbitrary_precision keeps it: as given, but for
    /// an exponent, always written `e` and signed.
    fn number(&mut self) -> Option<()> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.at_least_one_digit()?;
        }
        self.out.extend_from_slice(&self.text[start..self.at]);
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            let sign = match self.peek() {
                Some(sign @ (b'+' | b'-')) => {
                    self.at += 1;
                    sign
                }
                _ => b'+',
            };
            let digits = self.at;
            self.at_least_one_digit()?;
            self.out.extend_from_slice(&[b'e', sign]);
            self.out.extend_from_slice(&self.text[digits..self.at]);
        }
        Some(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.at += 1;
        }
    }

    fn at_least_one_digit(&mut self) -> Option<()> {
        if !self.peek()?.is_ascii_digit() {
            return None;
        }
        self.digits();
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dumps(value: &serde_json::Value) -> String {
        String::from_utf8(to_vec(value).unwrap()).unwrap()
    }

    #[test]
    fn separators_match_python() {
        let value = json!({"a": [1, 2.5, null, true], "b": {"c": "d"}});
        assert_eq!(
            dumps(&value),
            r#"{"a": [1, 2.5, null, true], "b": {"c": "d"}}"#
        );
    }

    #[test]
    fn non_ascii_is_escaped_like_ensure_ascii() {
        // json.dumps("vm-é-日本-🚀\x7f\x01\n\"\\/")
        let value = json!("vm-\u{e9}-\u{65e5}\u{672c}-\u{1f680}\u{7f}\u{1}\n\"\\/");
        assert_eq!(
            dumps(&value),
            r#""vm-\u00e9-\u65e5\u672c-\ud83d\ude80\u007f\u0001\n\"\\/""#
        );
    }

    #[test]
    fn output_is_ascii_and_parses_back_to_the_same_value() {
        let value = json!({"\u{10ffff}key": ["\u{0}", "tab\there", "\u{2028}"]});
        let text = dumps(&value);
        assert!(text.is_ascii());
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn usual_payloads_are_rewritten_without_a_value() {
        let text = r#"{"instance_id":"a6a8e7ec","state":"active","n":[1,-2.5e3,true,null],
            "host":"compute-1","nested":{"display_name":"vm-\u00e9","tags":[]},"empty":{}}"#;
        let json = rewrite(text).expect("the quick way");
        assert_eq!(
            json.as_str(),
            r#"{"instance_id": "a6a8e7ec", "state": "active", "n": [1, -2.5e+3, true, null], "host": "compute-1", "nested": {"display_name": "vm-\u00e9", "tags": []}, "empty": {}}"#
        );
    }

    #[test]
    fn repeated_and_escaped_keys_take_the_general_way() {
        assert!(rewrite(r#"{"a": 1, "a": 2}"#).is_none());
        assert!(rewrite(r#"{"\u0061": 1}"#).is_none());
        assert!(rewrite(r#"{"a": 1} x"#).is_none());
        // Python keeps the last value of a repeated key, where the first was.
        let json = PythonJson::parse(r#"{"a": 1, "b": 2, "a": 3}"#).unwrap();
        assert_eq!(json.as_str(), r#"{"a": 3, "b": 2}"#);
    }

    #[test]
    fn numbers_are_written_as_given() {
        let value: serde_json::Value =
            serde_json::from_str(r#"[123456789012345678901234567890, 1.50, -0, 1e+400]"#).unwrap();
        assert_eq!(
            dumps(&value),
            "[123456789012345678901234567890, 1.50, -0, 1e+400]"
        );
    }

    #[test]
    fn quoted_rewriting_is_the_rewriting_escaped() {
        let texts = [
            r#"{"instance_id":"a6a8e7ec","state":"active","n":[1,-2.5e3,true,null],
                "nested":{"display_name":"vm-\u00e9 \"x\" \\ y","tags":[]},"empty":{}}"#,
            r#"{"a": 1, "a": 2, "\u0062": "quote \" and backslash \\"}"#,
            r#"  "a \"quoted\" string\n"  "#,
            r#"["", "\\", "\"", "caf\u00e9", "\ud83d\ude80", "tab\t", "/\/"]"#,
            "123456789012345678901234567890",
            "null",
        ];
        for text in texts {
            let mut quoted = b"[".to_vec();
            rewrite_quoted_into(text, &mut quoted, &mut Vec::new()).unwrap();
            let mut want = b"[".to_vec();
            let plain = PythonJson::parse(text).unwrap();
            words::escape_quotes_into(plain.as_str().as_bytes(), &mut want);
            assert_eq!(
                String::from_utf8(quoted).unwrap(),
                String::from_utf8(want).unwrap(),
                "{text}"
            );
        }
        let mut out = Vec::new();
        assert!(rewrite_quoted_into(r#"{"a": }"#, &mut out, &mut Vec::new()).is_err());
    }
}
