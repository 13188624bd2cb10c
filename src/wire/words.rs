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

/// Which byte of the word is the lowest found in `found`, if any.
#[inline(always)]
pub(crate) fn first(found: u64) -> Option<usize> {
    (found != 0).then(|| (found.trailing_zeros() / 8) as usize)
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
}
