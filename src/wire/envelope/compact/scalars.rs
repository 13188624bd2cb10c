//! Numbers and the literals `true`, `false` and `null`: copied once their form is JSON's.

use super::{NotCompact, Writer};

impl Writer<'_, '_> {
    /// Copies `word` (`true`, `false` or `null`) when the text holds it here.
    pub(super) fn literal(&mut self, word: &[u8]) -> Result<(), NotCompact> {
        if !self.raw[self.at..].starts_with(word) {
            return Err(NotCompact);
        }
        self.at += word.len();
        self.out.extend_from_slice(word);
        Ok(())
    }

    /// Copies a number once its form is JSON's, its exponent written as `serde_json` keeps it
    /// (`e`, then a sign: `1E2` is `1e+2`).
    pub(super) fn number(&mut self) -> Result<(), NotCompact> {
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
}
