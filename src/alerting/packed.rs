//! A journal row's points as stored, packed.
//!
//! An `auto` threshold journals every point it learns (see
//! [`super::threshold`]): one row per series per call, 1,000 rows in a
//! `check_metrics` call over 1,000 metrics. Stored as the base64 of each
//! point's two 8-byte words, the rows were a third of the pages such a call
//! wrote to the WAL (then copied again by the checkpoint, and deleted again
//! by the prune). Metrics are sampled at a steady interval and carry few
//! decimal digits, so a point packs to about three bytes:
//!
//! - byte 0: `k` when every value is an integer `m` over `10^k` exactly
//!   (`m / 10^k` gives back the same bits), `RAW` (0xff) otherwise;
//! - then per point: the timestamp's change of step (the first point's:
//!   the timestamp itself) as a zigzag LEB128 varint; the value as the zigzag
//!   varint of `m` minus the previous point's `m`, or its 8 bytes
//!   little-endian under `RAW`.
//!
//! The row's text is [`PREFIX`] and the base64 of those bytes. `:` is not in
//! base64's alphabet, so rows stored before (base64 of the raw words) still
//! read, through [`decode`] as well.

use base64::Engine as _;

/// Prefix of packed points in a journal row's text.
pub const PREFIX: &str = "p:";

/// Byte 0 of a row whose values are stored as their 8 bytes.
const RAW: u8 = 0xff;

/// Largest `k`: 10^k stays exact in an `f64`, and metrics rarely carry more
/// decimal digits than this.
const MAX_SCALE: usize = 9;

const POW10: [f64; MAX_SCALE + 1] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// Integers up to this magnitude are exact in an `f64`.
const EXACT: f64 = 9_007_199_254_740_992.0;

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD_NO_PAD
}

/// `v` as `m` over `10^k`, if that gives back `v`'s bits.
fn scaled(v: f64, k: usize) -> Option<i64> {
    let s = v * POW10[k];
    // NaN and infinities too.
    if !s.is_finite() || s.abs() >= EXACT {
        return None;
    }
    let m = s.round() as i64;
    ((m as f64 / POW10[k]).to_bits() == v.to_bits()).then_some(m)
}

/// The smallest `k` at which every value is exact, if any.
fn scale_of(points: &[(i64, f64)]) -> Option<usize> {
    let mut k = 0;
    for &(_, v) in points {
        while scaled(v, k).is_none() {
            k += 1;
            if k > MAX_SCALE {
                return None;
            }
        }
    }
    Some(k)
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    (z >> 1) as i64 ^ -((z & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut z: u64) {
    while z >= 0x80 {
        out.push(z as u8 | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn take_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut z = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first()?;
        *bytes = rest;
        z |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            // The tenth byte holds one bit: more is damage, not a number.
            return (shift < 63 || b <= 1).then_some(z);
        }
    }
    None
}

/// `points` (Unix second, value) as a journal row's text.
pub fn encode(points: &[(i64, f64)]) -> String {
    let mut text = String::new();
    encode_into(&mut text, points);
    text
}

/// [`encode`], appended to `text` (a row is written once, without the
/// copies of formatting it piece by piece).
pub fn encode_into(text: &mut String, points: &[(i64, f64)]) {
    let scale = scale_of(points);
    let mut out = Vec::with_capacity(1 + points.len() * 4);
    out.push(scale.map_or(RAW, |k| k as u8));
    let (mut t_prev, mut step_prev, mut m_prev) = (None::<i64>, 0i64, 0i64);
    for &(t, v) in points {
        match t_prev {
            None => put_varint(&mut out, zigzag(t)),
            Some(before) => {
                let step = t.wrapping_sub(before);
                put_varint(&mut out, zigzag(step.wrapping_sub(step_prev)));
                step_prev = step;
            }
        }
        t_prev = Some(t);
        match scale.and_then(|k| scaled(v, k)) {
            Some(m) => {
                put_varint(&mut out, zigzag(m.wrapping_sub(m_prev)));
                m_prev = m;
            }
            None => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
    text.push_str(PREFIX);
    b64().encode_string(out, text);
}

/// The points of a journal row's text, packed or as stored before packing
/// (the base64 of `[timestamp, value bits]` words); `None` if damaged.
pub fn decode(text: &str) -> Option<Vec<(i64, f64)>> {
    let Some(packed) = text.strip_prefix(PREFIX) else {
        return legacy(text);
    };
    let bytes = b64().decode(packed).ok()?;
    let (&head, mut rest) = bytes.split_first()?;
    let scale = match head {
        RAW => None,
        k if usize::from(k) <= MAX_SCALE => Some(POW10[usize::from(k)]),
        _ => return None,
    };
    let mut points = Vec::with_capacity(rest.len() / 3);
    let (mut t, mut step, mut m) = (0i64, 0i64, 0i64);
    while !rest.is_empty() {
        let z = unzigzag(take_varint(&mut rest)?);
        if points.is_empty() {
            t = z;
        } else {
            step = step.wrapping_add(z);
            t = t.wrapping_add(step);
        }
        let v = match scale {
            Some(p) => {
                m = m.wrapping_add(unzigzag(take_varint(&mut rest)?));
                m as f64 / p
            }
            None => {
                let (word, tail) = rest.split_first_chunk::<8>()?;
                rest = tail;
                f64::from_le_bytes(*word)
            }
        };
        points.push((t, v));
    }
    Some(points)
}

/// A row stored before packing: the base64 of 16 bytes per point.
fn legacy(text: &str) -> Option<Vec<(i64, f64)>> {
    let bytes = b64().decode(text).ok()?;
    if !bytes.len().is_multiple_of(16) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(16)
            .map(|c| {
                let (t, v) = c.split_at(8);
                (
                    i64::from_le_bytes(t.try_into().unwrap_or([0; 8])),
                    f64::from_le_bytes(v.try_into().unwrap_or([0; 8])),
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: &[(i64, f64)], b: &[(i64, f64)]) -> bool {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|(x, y)| x.0 == y.0 && x.1.to_bits() == y.1.to_bits())
    }

    fn round_trips(points: &[(i64, f64)]) -> String {
        let text = encode(points);
        let back = decode(&text).expect("decodes");
        assert!(same(points, &back), "{points:?} came back as {back:?}");
        text
    }

    #[test]
    fn every_value_and_timestamp_comes_back_bit_for_bit() {
        // Steady and irregular steps, negative and huge timestamps.
        round_trips(&[]);
        round_trips(&[(1_700_000_000, 12.5)]);
        round_trips(&[
            (0, 1.0),
            (-5, 2.0),
            (i64::MAX, 3.0),
            (i64::MIN, 4.0),
            (7, 5.0),
        ]);
        // Decimals of several widths in one row, negatives, large integers.
        round_trips(&[
            (300, 0.134),
            (600, 45.3),
            (900, -7.25),
            (1200, 1e15),
            (1500, 0.0),
        ]);
        // Values no scale makes exact: the row falls back to raw words.
        let awkward = [
            (1, std::f64::consts::PI),
            (2, -0.0),
            (3, f64::NAN),
            (4, f64::INFINITY),
            (5, 1e300),
            (6, f64::MIN_POSITIVE),
            (7, 0.1 + 0.2),
        ];
        let text = round_trips(&awkward);
        let bytes = b64().decode(text.strip_prefix(PREFIX).unwrap()).unwrap();
        assert_eq!(bytes[0], RAW);
    }

    #[test]
    fn a_typical_row_packs_to_a_fraction_of_the_words() {
        // Ten points of a CPU metric every 5 minutes, one decimal digit.
        let points: Vec<(i64, f64)> = (0..10)
            .map(|i| {
                (
                    1_700_000_000 + 300 * i,
                    [41.5, 42.0, 39.8, 44.1, 40.0][i as usize % 5],
                )
            })
            .collect();
        let packed = round_trips(&points);
        let words = b64().encode(
            points
                .iter()
                .flat_map(|&(t, v)| [t.to_le_bytes(), v.to_le_bytes()])
                .flatten()
                .collect::<Vec<u8>>(),
        );
        assert!(
            packed.len() * 4 <= words.len(),
            "{} vs {}",
            packed.len(),
            words.len()
        );
    }

    #[test]
    fn rows_stored_before_packing_still_read() {
        let points: [(i64, f64); 2] = [(1_700_000_000, 3.25), (1_700_000_060, -1.0)];
        let words: Vec<u8> = points
            .iter()
            .flat_map(|&(t, v)| [t.to_le_bytes(), v.to_le_bytes()])
            .flatten()
            .collect();
        let back = decode(&b64().encode(words)).expect("legacy row decodes");
        assert!(same(&points, &back));
    }

    #[test]
    fn damaged_rows_read_as_none() {
        let good = encode(&[(1, 1.0), (2, 2.0)]);
        for bad in [
            "p:",                                 // no scale byte
            "p:!!!",                              // not base64
            &format!("{PREFIX}Cg"),               // scale 10: out of range
            &good[..good.len() - 1],              // cut inside a point
            &format!("{PREFIX}/wAB"),             // raw row cut inside a value
            "AAAA",                               // legacy text of 3 bytes, not 16
            &format!("{PREFIX}AP////////////8B"), // varint of 11 bytes
            &format!("{PREFIX}AP///////////wI"),  // varint past 64 bits
        ] {
            assert_eq!(decode(bad), None, "{bad:?} should not decode");
        }
    }
}
