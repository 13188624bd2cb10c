//! Bytes found eight at a time: a little-endian `u64` word of text tested for quotes,
//! backslashes and control characters in a few instructions, where a byte loop (or
//! `memchr`, which costs more to start than it saves on short strings) would test each.
//!
//! Each test gives a mask with the high bit of a found byte set; [`first`] says which byte
//! of the word is the lowest found. Bits of bytes above the lowest found one may be wrong (a
//! borrow can carry into them), never those below it, so only the lowest is to be used.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The word read from eight bytes of text, its first byte lowest.
#[inline(always)]
pub(crate) fn word(bytes: [u8; 8]) -> u64 {
    u64::from_le_bytes(bytes)
}

/// The high bit of each zero byte of `x` (exact for the lowest).
#[inline(always)]
fn zero(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & HIGH
}

/// Quotes and backslashes: where a JSON string's plain bytes stop.
#[inline(always)]
pub(crate) fn quote_or_backslash(w: u64) -> u64 {
    zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\')))
}

/// Control characters (below 0x20), which JSON refuses raw in a string: the zero test with
/// 0x20 in the place of 1.
#[inline(always)]
pub(crate) fn control(w: u64) -> u64 {
    w.wrapping_sub(ONES * 0x20) & !w & HIGH
}

/// Bytes that are not printable ASCII (below 0x20, 0x7f, or 0x80 and above): what Python's
/// `ensure_ascii` writes otherwise than as they are.
#[inline(always)]
pub(crate) fn not_printable(w: u64) -> u64 {
    control(w) | zero(w ^ (ONES * 0x7f)) | (w & HIGH)
}

/// Which byte of the word is the lowest found in `found`, if any.
#[inline(always)]
pub(crate) fn first(found: u64) -> Option<usize> {
    (found != 0).then(|| (found.trailing_zeros() / 8) as usize)
}

/// Sixteen bytes tested at once, with SSE2 (which every x86_64 processor has): the mask of
/// quotes, backslashes and control characters, and the mask of 0x7f, 0x80 and above. Bit `i`
/// of a mask is set when byte `i` is one of them.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
fn classes16(bytes: &[u8; 16]) -> (u32, u32) {
    // SAFETY: the one condition of calling it is that the processor has SSE2, and this is
    // compiled only where the target itself has it (`target_feature = "sse2"`, part of
    // x86_64's baseline): every processor this code runs on has it.
    unsafe { classes16_sse2(bytes) }
}

/// [`classes16`] itself. Safe to call on any processor with SSE2; it reads nothing but
/// `bytes`.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
#[inline]
unsafe fn classes16_sse2(bytes: &[u8; 16]) -> (u32, u32) {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        _mm_set_epi64x,
    };
    let half = |at: usize| {
        let mut eight = [0; 8];
        eight.copy_from_slice(&bytes[at..at + 8]);
        i64::from_le_bytes(eight)
    };
    // One unaligned load, once the compiler has put the halves together.
    let v = _mm_set_epi64x(half(8), half(0));
    let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
    let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
    // Below 0x20 as unsigned bytes: the larger of the byte and 0x1f is 0x1f.
    let low = _mm_set1_epi8(0x1f);
    let control = _mm_cmpeq_epi8(_mm_max_epu8(v, low), low);
    let found = _mm_or_si128(_mm_or_si128(quote, backslash), control);
    // 0x80 and above have their high bit set already; 0x7f is found by comparing.
    let other = _mm_or_si128(v, _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f)));
    // Each mask has 16 bits, one a byte: a non-negative i32.
    (
        _mm_movemask_epi8(found) as u32,
        _mm_movemask_epi8(other) as u32,
    )
}

/// Which bytes end a run of a string's bytes that are copied as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Quotes, backslashes and control characters: what JSON escapes.
    Special,
    /// Those and every other byte that is not printable ASCII (0x7f, 0x80 and above): what
    /// Python's `ensure_ascii` writes otherwise than as it is.
    Unprintable,
}

impl Stop {
    /// The mask of the stops among sixteen bytes.
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[inline(always)]
    fn in16(self, bytes: &[u8; 16]) -> u32 {
        let (special, other) = classes16(bytes);
        match self {
            Stop::Special => special,
            Stop::Unprintable => special | other,
        }
    }

    /// The mask of the stops in a word (exact for the lowest).
    #[inline(always)]
    fn in_word(self, w: u64) -> u64 {
        quote_or_backslash(w)
            | match self {
                Stop::Special => control(w),
                Stop::Unprintable => not_printable(w),
            }
    }

    /// Whether `b` is one.
    fn is(self, b: u8) -> bool {
        b == b'"' || b == b'\\' || b < 0x20 || (self == Stop::Unprintable && b >= 0x7f)
    }
}

/// Copies the bytes of `text` from `at` up to its next `stop` onto `out`, and says where
/// that byte is; `None` when there is none. Sixteen bytes at a time with SSE2 on x86_64,
/// eight (as a word) elsewhere and for the last few: each part is copied whole (one store,
/// not a call), tested, and what was copied past the stop is taken back.
#[inline(always)]
pub(crate) fn copy_until(
    stop: Stop,
    text: &[u8],
    mut at: usize,
    out: &mut Vec<u8>,
) -> Option<usize> {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    while let Some(chunk) = text.get(at..).and_then(|rest| rest.first_chunk::<16>()) {
        out.extend_from_slice(chunk);
        let found = stop.in16(chunk);
        if found != 0 {
            let i = found.trailing_zeros() as usize;
            out.truncate(out.len() - 16 + i);
            return Some(at + i);
        }
        at += 16;
    }
    while let Some(&chunk) = text.get(at..).and_then(|rest| rest.first_chunk::<8>()) {
        out.extend_from_slice(&chunk);
        if let Some(i) = first(stop.in_word(word(chunk))) {
            out.truncate(out.len() - 8 + i);
            return Some(at + i);
        }
        at += 8;
    }
    let rest = text.get(at..)?;
    let run = rest.iter().position(|&b| stop.is(b))?;
    out.extend_from_slice(&rest[..run]);
    Some(at + run)
}

/// Where the first quote or backslash of `bytes` is, eight bytes at a time: where a JSON
/// string's plain bytes stop.
#[inline]
pub(crate) fn find_quote_or_backslash(bytes: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(&chunk) = bytes.get(at..).and_then(|rest| rest.first_chunk::<8>()) {
        if let Some(i) = first(quote_or_backslash(word(chunk))) {
            return Some(at + i);
        }
        at += 8;
    }
    let rest = bytes[at..].iter().position(|&b| b == b'"' || b == b'\\')?;
    Some(at + rest)
}

/// Appends `text` to `out` with a backslash before each quote and backslash, eight bytes at
/// a time: JSON text that is ASCII with its control characters escaped (as `json.dumps`
/// writes it) made the inside of a JSON string, as oslo's envelope holds its message.
pub(crate) fn escape_quotes_into(text: &[u8], out: &mut Vec<u8>) {
    out.reserve(text.len() + text.len() / 8);
    let mut at = 0;
    while let Some(&chunk) = text.get(at..).and_then(|rest| rest.first_chunk::<8>()) {
        // The word copied whole (a store, not a call), what follows a quote taken back.
        out.extend_from_slice(&chunk);
        match first(quote_or_backslash(word(chunk))) {
            None => at += 8,
            Some(i) => {
                out.truncate(out.len() - 8 + i);
                out.extend_from_slice(&[b'\\', chunk[i]]);
                at += i + 1;
            }
        }
    }
    for &b in &text[at..] {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
}

/// One of 64 bits for an object's key, from its length and its first and last bytes: two
/// keys with different bits are different, so a key whose bit no key before it in its object
/// has set is new, without a comparison.
#[inline]
pub(crate) fn key_bit(key: &[u8]) -> u64 {
    let (first, last) = (key.first().copied(), key.last().copied());
    let mix = key.len() * 7 + usize::from(first.unwrap_or(0)) * 3 + usize::from(last.unwrap_or(0));
    1 << (mix % 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_byte_found_is_the_first_of_its_kind_for_every_byte_and_place() {
        let fill = [b'a', 0x00, 0x1f, 0x20, b'"', b'\\', 0x7f, 0x80, 0xff];
        for place in 0..8 {
            for b in 0..=255u8 {
                for &other in &fill {
                    // `b` at `place`, `other` above it (where a borrow could mislead).
                    let mut bytes = [b'x'; 8];
                    bytes[place] = b;
                    bytes[place + 1..].fill(other);
                    let w = word(bytes);
                    let slow = |is: &dyn Fn(u8) -> bool| bytes.iter().position(|&c| is(c));
                    assert_eq!(
                        first(quote_or_backslash(w)),
                        slow(&|c| c == b'"' || c == b'\\'),
                        "{bytes:?}"
                    );
                    assert_eq!(first(control(w)), slow(&|c| c < 0x20), "{bytes:?}");
                }
            }
        }
    }

    /// The sixteen-byte test marks exactly the quotes, backslashes and control characters,
    /// and the bytes that are 0x7f or above: every byte in every place, among bytes of every
    /// kind.
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[test]
    fn sixteen_bytes_are_tested_each_for_itself() {
        let fill = [b'a', 0x00, 0x1f, 0x20, b'"', b'\\', 0x7f, 0x80, 0xff];
        for place in 0..16 {
            for b in 0..=255u8 {
                for &other in &fill {
                    let mut bytes = [other; 16];
                    bytes[place] = b;
                    let slow = |is: &dyn Fn(u8) -> bool| {
                        bytes
                            .iter()
                            .enumerate()
                            .filter(|&(_, &c)| is(c))
                            .fold(0u32, |mask, (i, _)| mask | 1 << i)
                    };
                    let special = slow(&|c| c == b'"' || c == b'\\' || c < 0x20);
                    assert_eq!(
                        classes16(&bytes),
                        (special, slow(&|c| c >= 0x7f)),
                        "{bytes:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn printable_bytes_are_copied_up_to_the_first_that_is_not() {
        let fill = [b'a', b' ', b'~', 0x00, 0x1f, b'"', b'\\', 0x7f, 0x80, 0xff];
        let stops = |c: u8| c == b'"' || c == b'\\' || !(b' '..=b'~').contains(&c);
        for len in [1, 7, 8, 9, 15, 16, 17, 24, 33] {
            for place in 0..len {
                for b in 0..=255u8 {
                    for &other in &fill {
                        let mut bytes = vec![b'x'; len];
                        bytes[place] = b;
                        bytes[place + 1..].fill(other);
                        for at in [0, place.min(3)] {
                            let mut out = b"before".to_vec();
                            let found = copy_until(Stop::Unprintable, &bytes, at, &mut out);
                            let want = bytes[at..].iter().position(|&c| stops(c));
                            assert_eq!(found, want.map(|i| at + i), "{bytes:?} from {at}");
                            if let Some(end) = found {
                                assert_eq!(out[6..], bytes[at..end], "{bytes:?} from {at}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn quotes_and_backslashes_are_escaped_wherever_they_are() {
        let slow = |text: &[u8]| {
            let mut out = Vec::new();
            for &b in text {
                if b == b'"' || b == b'\\' {
                    out.push(b'\\');
                }
                out.push(b);
            }
            out
        };
        let texts = [
            &b""[..],
            b"plain",
            b"{\"k\": \"v\\\\n\"}",
            b"\"\"\"\"\"\"\"\"\"\"",
            b"0123456\"89abcdef\\",
            b"\\0123456789abcdef0123456789abcdef\"",
        ];
        for text in texts {
            for start in 0..text.len().min(9) {
                let mut out = b"before".to_vec();
                escape_quotes_into(&text[start..], &mut out);
                assert_eq!(out[6..], slow(&text[start..]), "{text:?} from {start}");
            }
        }
    }

    #[test]
    fn a_quote_or_backslash_is_found_in_any_place_of_any_length() {
        for len in 0..40 {
            for place in 0..=len {
                for found in [b'"', b'\\'] {
                    let mut bytes = vec![b'a'; len];
                    if place < len {
                        bytes[place] = found;
                        // What comes after does not matter.
                        bytes[place + 1..].fill(b'"');
                    }
                    let expected = (place < len).then_some(place);
                    assert_eq!(find_quote_or_backslash(&bytes), expected, "{bytes:?}");
                }
            }
        }
    }
}
