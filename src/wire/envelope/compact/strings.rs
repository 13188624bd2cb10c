//! Strings: read through their escapes, and written as `serde_json` escapes them.

use super::{NotCompact, Writer};
use crate::wire::words;

impl Writer<'_, '_> {
    /// Reads a JSON string into `into`, its escapes decoded.
    pub(in crate::wire::envelope) fn string_into(
        &mut self,
        into: &mut String,
    ) -> Result<(), NotCompact> {
        let mut bytes = std::mem::take(into).into_bytes();
        self.unescape_into(&mut bytes)?;
        // Checked once: every run of plain bytes ends at a quote or a backslash, so a
        // character cannot span two runs, and an escape decodes to whole characters.
        *into = String::from_utf8(bytes).map_err(|_| NotCompact)?;
        Ok(())
    }

    /// Reads a JSON string's bytes into `into`, its escapes decoded, without checking that
    /// they are UTF-8: for a string that holds JSON text which is read (and checked) next.
    pub(in crate::wire::envelope) fn unescape_into(
        &mut self,
        into: &mut Vec<u8>,
    ) -> Result<(), NotCompact> {
        self.expect(b'"')?;
        loop {
            self.at = copy_plain(self.raw, self.at, into).ok_or(NotCompact)?;
            match self.peek().ok_or(NotCompact)? {
                b'"' => {
                    self.bump();
                    return Ok(());
                }
                b'\\' => {
                    self.bump();
                    let kind = self.peek().ok_or(NotCompact)?;
                    self.bump();
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
                // Only in a string's text: `\/` there is a plain slash.
                b'/' => {
                    self.bump();
                    into.push(b'/');
                }
                _ => return Err(NotCompact),
            }
        }
    }

    /// Writes a string as `serde_json` writes it.
    #[inline(always)]
    pub(super) fn string(&mut self) -> Result<(), NotCompact> {
        self.bump_quote();
        self.out.push(b'"');
        loop {
            self.at = copy_plain(self.raw, self.at, &mut self.out).ok_or(NotCompact)?;
            if self.at_quote() {
                self.bump_quote();
                self.out.push(b'"');
                return Ok(());
            }
            match self.peek().ok_or(NotCompact)? {
                b'\\' => self.escape()?,
                // Only in a string's text: `\/` there is a plain slash.
                b'/' => {
                    self.bump();
                    self.out.push(b'/');
                }
                _ => return Err(NotCompact),
            }
        }
    }

    /// Reads one escape and writes the character it stands for, escaped as `serde_json`
    /// escapes it.
    fn escape(&mut self) -> Result<(), NotCompact> {
        self.bump();
        let kind = self.peek().ok_or(NotCompact)?;
        self.bump();
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
                if self.peek() != Some(b'\\') {
                    return Err(NotCompact);
                }
                self.bump();
                if self.peek() != Some(b'u') {
                    return Err(NotCompact);
                }
                self.bump();
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

/// Copies the bytes of `raw` from `at` up to its next quote, backslash or control character
/// onto `out`, and says where that byte is; `None` when there is none.
#[inline(always)]
fn copy_plain(raw: &[u8], at: usize, out: &mut Vec<u8>) -> Option<usize> {
    words::copy_until(words::Stop::Special, raw, at, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_special_byte_is_found_wherever_it_is() {
        let slow = |bytes: &[u8]| {
            bytes
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        };
        // Where the copy from `from` stops; what it copied is checked to be the bytes before.
        let copied = |bytes: &[u8], from: usize| {
            let mut out = b"before".to_vec();
            let stop = copy_plain(bytes, from, &mut out)?;
            assert_eq!(out[6..], bytes[from..stop], "{bytes:?} from {from}");
            assert_eq!(&out[..6], b"before");
            Some(stop)
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
                    assert_eq!(copied(&bytes, 0), slow(&bytes), "{bytes:?}");
                    if len > 0 {
                        assert_eq!(copied(&bytes, 1), slow(&bytes[1..]).map(|i| i + 1));
                    }
                }
            }
        }
        // Every byte value, alone in a word of plain bytes.
        for b in 0..=255u8 {
            let bytes = [b'x', b'x', b, b'x', b'x', b'x', b'x', b'x', b'x'];
            assert_eq!(copied(&bytes, 0), slow(&bytes), "{b}");
        }
    }
}
