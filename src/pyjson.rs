//! JSON text written the way Python's `json.dumps` writes it.
//!
//! oslo.messaging serializes with `json.dumps` defaults: `", "` and `": "` as separators and
//! `ensure_ascii=True`, so every character outside printable ASCII is written as a lower-case
//! `\uXXXX` escape (astral characters as a surrogate pair). Writing the same bytes keeps our
//! messages indistinguishable from a Python service's.

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter, Serializer};
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
        let bytes = fragment.as_bytes();
        // Printable ASCII is copied in runs; everything else is escaped one char at a time.
        let mut start = 0;
        for (i, ch) in fragment.char_indices() {
            if (' '..='~').contains(&ch) {
                continue;
            }
            writer.write_all(&bytes[start..i])?;
            let mut units = [0u16; 2];
            for unit in ch.encode_utf16(&mut units) {
                write_u_escape(writer, *unit)?;
            }
            start = i + ch.len_utf8();
        }
        writer.write_all(&bytes[start..])
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
    fn numbers_are_written_as_given() {
        let value: serde_json::Value =
            serde_json::from_str(r#"[123456789012345678901234567890, 1.50, -0, 1e+400]"#).unwrap();
        assert_eq!(
            dumps(&value),
            "[123456789012345678901234567890, 1.50, -0, 1e+400]"
        );
    }
}
