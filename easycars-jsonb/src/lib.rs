//! JSON text to PostgreSQL `jsonb`, built in Rust (no Postgres needed to build or test it).
//!
//! A stock sync stores every item's text as `jsonb`; through `jsonb_in` that was a second full
//! parse of 170 MB at 100,000 vehicles, in Postgres's slower lexer. This builds the same bytes
//! directly: the on-disk layout of `src/backend/utils/adt/jsonb_util.c` (`convertToJsonb`) with
//! numbers as `numeric_in` makes them (`set_var_from_str`, `make_result`). Anything outside what
//! it reproduces exactly (a number too large for numeric, a document too deep or too large, a
//! database encoding other than UTF-8, which the caller checks) returns `None`, and the caller
//! falls back to `jsonb_in`.
//!
//! Two deliberate differences, both where `jsonb_in` would raise an error and fail the whole
//! scan: `\u0000` and an unpaired surrogate escape become U+FFFD.

use std::borrow::Cow;

// jsonb.h
const JENTRY_OFFLENMASK: u32 = 0x0FFF_FFFF;
const JENTRY_HAS_OFF: u32 = 0x8000_0000;
const JENTRY_TYPEMASK: u32 = 0x7000_0000;
const JENTRY_ISSTRING: u32 = 0x0000_0000;
const JENTRY_ISNUMERIC: u32 = 0x1000_0000;
const JENTRY_ISBOOL_FALSE: u32 = 0x2000_0000;
const JENTRY_ISBOOL_TRUE: u32 = 0x3000_0000;
const JENTRY_ISNULL: u32 = 0x4000_0000;
const JENTRY_ISCONTAINER: u32 = 0x5000_0000;
const JB_OFFSET_STRIDE: usize = 32;
const JB_FSCALAR: u32 = 0x1000_0000;
const JB_FOBJECT: u32 = 0x2000_0000;
const JB_FARRAY: u32 = 0x4000_0000;
const JB_CMASK: usize = 0x0FFF_FFFF;

// numeric.c
const DEC_DIGITS: i64 = 4;
const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_SHORT: u16 = 0x8000;
const NUMERIC_SHORT_SIGN_MASK: u16 = 0x2000;
const NUMERIC_SHORT_DSCALE_SHIFT: u16 = 7;
const NUMERIC_SHORT_DSCALE_MAX: i64 = 0x3F;
const NUMERIC_SHORT_WEIGHT_SIGN_MASK: u16 = 0x0040;
const NUMERIC_SHORT_WEIGHT_MASK: u16 = 0x003F;
const NUMERIC_SHORT_WEIGHT_MAX: i64 = 63;
const NUMERIC_SHORT_WEIGHT_MIN: i64 = -64;
const NUMERIC_DSCALE_MAX: i64 = 0x3FFF;

/// Nesting deeper than this is left to `jsonb_in` (and its stack-depth check).
const MAX_DEPTH: usize = 256;

/// The `jsonb` datum (4-byte varlena header included) that `jsonb_in` makes of `text`, or `None`
/// where this cannot promise the same bytes.
pub fn encode(text: &str) -> Option<Vec<u8>> {
    let mut parser = Parser {
        text,
        s: text.as_bytes(),
        i: 0,
    };
    let value = parser.value(0)?;
    parser.skip_ws();
    if parser.i != parser.s.len() {
        return None;
    }
    let mut buf = Vec::with_capacity(text.len() + text.len() / 4 + 64);
    buf.extend_from_slice(&[0; 4]);
    match value {
        // A top-level scalar is a one-element array flagged as a raw scalar.
        J::Arr(_) | J::Obj(_) => {
            convert(&mut buf, &value)?;
        }
        scalar @ (J::Null | J::Bool(_) | J::Num(_) | J::Str(_)) => {
            convert_array(&mut buf, std::slice::from_ref(&scalar), true)?;
        }
    }
    let len = u32::try_from(buf.len())
        .ok()
        .filter(|&l| l <= 0x3FFF_FFFF)?;
    buf[..4].copy_from_slice(&varsize_4b(len).to_ne_bytes());
    Some(buf)
}

/// `SET_VARSIZE` for a 4-byte varlena header.
fn varsize_4b(len: u32) -> u32 {
    if cfg!(target_endian = "little") {
        len << 2
    } else {
        len & 0x3FFF_FFFF
    }
}

/// A parsed JSON value; numbers keep their text, strings borrow when they have no escapes.
enum J<'a> {
    Null,
    Bool(bool),
    Num(&'a str),
    Str(Cow<'a, str>),
    Arr(Vec<J<'a>>),
    Obj(Vec<(Cow<'a, str>, J<'a>)>),
}

struct Parser<'a> {
    text: &'a str,
    s: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.s.get(self.i) == Some(&b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Some(())
        } else {
            None
        }
    }

    fn value(&mut self, depth: usize) -> Option<J<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.skip_ws();
        match *self.s.get(self.i)? {
            b'{' => {
                self.i += 1;
                let mut pairs = Vec::new();
                self.skip_ws();
                if !self.eat(b'}') {
                    loop {
                        self.skip_ws();
                        let key = self.string()?;
                        self.skip_ws();
                        if !self.eat(b':') {
                            return None;
                        }
                        let value = self.value(depth + 1)?;
                        pairs.push((key, value));
                        self.skip_ws();
                        if self.eat(b',') {
                            continue;
                        }
                        if self.eat(b'}') {
                            break;
                        }
                        return None;
                    }
                }
                Some(J::Obj(pairs))
            }
            b'[' => {
                self.i += 1;
                let mut elems = Vec::new();
                self.skip_ws();
                if !self.eat(b']') {
                    loop {
                        elems.push(self.value(depth + 1)?);
                        self.skip_ws();
                        if self.eat(b',') {
                            continue;
                        }
                        if self.eat(b']') {
                            break;
                        }
                        return None;
                    }
                }
                Some(J::Arr(elems))
            }
            b'"' => self.string().map(J::Str),
            b't' => self.literal(b"true").map(|_| J::Bool(true)),
            b'f' => self.literal(b"false").map(|_| J::Bool(false)),
            b'n' => self.literal(b"null").map(|_| J::Null),
            b'-' | b'0'..=b'9' => self.number().map(J::Num),
            _ => None,
        }
    }

    /// A number token, checked against the JSON grammar.
    fn number(&mut self) -> Option<&'a str> {
        let start = self.i;
        self.eat(b'-');
        let digits = |p: &mut Self| {
            let from = p.i;
            while p.s.get(p.i).is_some_and(u8::is_ascii_digit) {
                p.i += 1;
            }
            p.i - from
        };
        match self.s.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return None,
        }
        if self.eat(b'.') && digits(self) == 0 {
            return None;
        }
        if self.eat(b'e') || self.eat(b'E') {
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if digits(self) == 0 {
                return None;
            }
        }
        self.text.get(start..self.i)
    }

    /// A string token, unescaped; borrowed when it has no escapes.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.i;
        loop {
            match *self.s.get(self.i)? {
                b'"' => {
                    // Slices end at ASCII bytes, so they are always on char boundaries.
                    let s = self.text.get(start..self.i)?;
                    self.i += 1;
                    return Some(Cow::Borrowed(s));
                }
                b'\\' => break,
                0..=0x1F => return None,
                _ => self.i += 1,
            }
        }
        let mut out = String::from(self.text.get(start..self.i)?);
        loop {
            match *self.s.get(self.i)? {
                b'"' => {
                    self.i += 1;
                    return Some(Cow::Owned(out));
                }
                b'\\' => {
                    self.i += 1;
                    let c = match *self.s.get(self.i)? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            self.i += 1;
                            let hi = self.hex4()?;
                            let c = match hi {
                                0xD800..=0xDBFF => {
                                    // A high surrogate pairs with an immediately following low one.
                                    let save = self.i;
                                    let lo = if self.s[self.i..].starts_with(b"\\u") {
                                        self.i += 2;
                                        self.hex4()
                                    } else {
                                        None
                                    };
                                    match lo {
                                        Some(lo @ 0xDC00..=0xDFFF) => char::from_u32(
                                            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00),
                                        ),
                                        _ => {
                                            self.i = save;
                                            None
                                        }
                                    }
                                }
                                0 => None,
                                c => char::from_u32(c),
                            };
                            out.push(c.unwrap_or('\u{FFFD}'));
                            continue;
                        }
                        _ => return None,
                    };
                    out.push(c);
                    self.i += 1;
                }
                0..=0x1F => return None,
                _ => {
                    // Copy the run up to the next quote or escape as it is.
                    let from = self.i;
                    while !matches!(self.s.get(self.i), None | Some(b'"' | b'\\' | 0..=0x1F)) {
                        self.i += 1;
                    }
                    out.push_str(self.text.get(from..self.i)?);
                }
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        let h = std::str::from_utf8(h).ok()?;
        let v = u32::from_str_radix(h, 16).ok()?;
        if !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.i += 4;
        Some(v)
    }
}

/// `padBufferToInt`: pads to a 4-byte boundary of the whole datum; returns the padding.
fn pad_to_int(buf: &mut Vec<u8>) -> u32 {
    let pad = (4 - buf.len() % 4) % 4;
    buf.resize(buf.len() + pad, 0);
    pad as u32
}

/// `convertJsonbValue`: appends the value's data and returns its JEntry.
fn convert(buf: &mut Vec<u8>, v: &J) -> Option<u32> {
    Some(match v {
        J::Null => JENTRY_ISNULL,
        J::Bool(false) => JENTRY_ISBOOL_FALSE,
        J::Bool(true) => JENTRY_ISBOOL_TRUE,
        J::Str(s) => {
            let len = u32::try_from(s.len())
                .ok()
                .filter(|&l| l <= JENTRY_OFFLENMASK)?;
            buf.extend_from_slice(s.as_bytes());
            JENTRY_ISSTRING | len
        }
        J::Num(n) => {
            let pad = pad_to_int(buf);
            let numeric = numeric(n)?;
            buf.extend_from_slice(&numeric);
            JENTRY_ISNUMERIC | (pad + numeric.len() as u32)
        }
        J::Arr(elems) => convert_array(buf, elems, false)?,
        J::Obj(pairs) => convert_object(buf, pairs)?,
    })
}

/// `convertJsonbArray`.
fn convert_array(buf: &mut Vec<u8>, elems: &[J], raw_scalar: bool) -> Option<u32> {
    let mut head = JB_FARRAY;
    if raw_scalar {
        head |= JB_FSCALAR;
    }
    convert_container(buf, head, elems.len(), elems.len(), elems.iter())
}

/// `convertJsonbObject`, after `uniqueifyJsonbObject`: keys sorted by length then bytes, the
/// last of repeated keys kept; all keys first, then their values.
fn convert_object(buf: &mut Vec<u8>, pairs: &[(Cow<str>, J)]) -> Option<u32> {
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    order.sort_by(|&a, &b| {
        let (ka, kb) = (pairs[a].0.as_bytes(), pairs[b].0.as_bytes());
        ka.len().cmp(&kb.len()).then_with(|| ka.cmp(kb))
    });
    // The sort is stable, so of equal keys the last one in the input comes last in its run.
    let mut kept: Vec<usize> = Vec::with_capacity(order.len());
    for i in order {
        if let Some(&last) = kept.last() {
            if pairs[last].0 == pairs[i].0 {
                *kept.last_mut()? = i;
                continue;
            }
        }
        kept.push(i);
    }
    let keys: Vec<J> = kept
        .iter()
        .map(|&p| J::Str(Cow::Borrowed(&pairs[p].0)))
        .collect();
    let values = kept.iter().map(|&p| &pairs[p].1);
    let n = kept.len();
    convert_container(buf, JB_FOBJECT, n, 2 * n, keys.iter().chain(values))
}

/// A container: its header (`flags` | `count`), then a JEntry for each of the `entries` children
/// (every 32nd holding its end offset instead of its length), then the children's data; returns
/// its own JEntry.
fn convert_container<'v, 'a: 'v>(
    buf: &mut Vec<u8>,
    flags: u32,
    count: usize,
    entries: usize,
    children: impl Iterator<Item = &'v J<'a>>,
) -> Option<u32> {
    if count > JB_CMASK {
        return None;
    }
    let base = buf.len();
    pad_to_int(buf);
    buf.extend_from_slice(&(count as u32 | flags).to_ne_bytes());
    let mut slot = buf.len();
    buf.resize(buf.len() + 4 * entries, 0);
    let mut total: u32 = 0;
    for (i, child) in children.enumerate() {
        let meta = convert(buf, child)?;
        total = total.checked_add(meta & JENTRY_OFFLENMASK)?;
        if total > JENTRY_OFFLENMASK {
            return None;
        }
        let meta = if i.is_multiple_of(JB_OFFSET_STRIDE) {
            (meta & JENTRY_TYPEMASK) | total | JENTRY_HAS_OFF
        } else {
            meta
        };
        buf[slot..slot + 4].copy_from_slice(&meta.to_ne_bytes());
        slot += 4;
    }
    let total = u32::try_from(buf.len() - base)
        .ok()
        .filter(|&t| t <= JENTRY_OFFLENMASK)?;
    Some(JENTRY_ISCONTAINER | total)
}

/// The numeric datum (4-byte varlena header included) `numeric_in` makes of a JSON number.
fn numeric(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let (negative, rest) = match bytes.first() {
        Some(b'-') => (true, &bytes[1..]),
        _ => (false, bytes),
    };
    // set_var_from_str: decimal digits, their weight and the display scale.
    let mut dec: Vec<i64> = vec![0; DEC_DIGITS as usize];
    let mut dweight: i64 = -1;
    let mut dscale: i64 = 0;
    let mut have_dp = false;
    let mut i = 0;
    while i < rest.len() {
        match rest[i] {
            d @ b'0'..=b'9' => {
                dec.push(i64::from(d - b'0'));
                if have_dp {
                    dscale += 1;
                } else {
                    dweight += 1;
                }
            }
            b'.' => have_dp = true,
            _ => break,
        }
        i += 1;
    }
    let ddigits = dec.len() as i64 - DEC_DIGITS;
    dec.extend_from_slice(&[0; DEC_DIGITS as usize - 1]);
    if i < rest.len() {
        // The exponent (the grammar was checked by the parser).
        let exponent: i64 = std::str::from_utf8(&rest[i + 1..]).ok()?.parse().ok()?;
        if exponent >= i64::from(i32::MAX / 2) || exponent <= -i64::from(i32::MAX / 2) {
            return None;
        }
        dweight += exponent;
        dscale = (dscale - exponent).max(0);
    }
    let mut weight = if dweight >= 0 {
        (dweight + 1 + DEC_DIGITS - 1) / DEC_DIGITS - 1
    } else {
        -((-dweight - 1) / DEC_DIGITS + 1)
    };
    let offset = (weight + 1) * DEC_DIGITS - (dweight + 1);
    let ndigits = (ddigits + offset + DEC_DIGITS - 1) / DEC_DIGITS;
    let mut digits: Vec<i16> = Vec::with_capacity(ndigits.max(0) as usize);
    let mut at = (DEC_DIGITS - offset) as usize;
    for _ in 0..ndigits {
        let d = ((dec[at] * 10 + dec[at + 1]) * 10 + dec[at + 2]) * 10 + dec[at + 3];
        digits.push(d as i16);
        at += DEC_DIGITS as usize;
    }
    // strip_var / make_result: no leading or trailing zero digits; zero is positive, weight 0.
    let lead = digits.iter().take_while(|&&d| d == 0).count();
    weight -= lead as i64;
    let digits = &digits[lead..];
    let digits = &digits[..digits.len() - digits.iter().rev().take_while(|&&d| d == 0).count()];
    let negative = negative && !digits.is_empty();
    if digits.is_empty() {
        weight = 0;
    }
    if dscale > NUMERIC_DSCALE_MAX || weight > i64::from(i16::MAX) || weight < i64::from(i16::MIN) {
        return None;
    }
    let mut out = Vec::with_capacity(8 + 2 * digits.len());
    out.extend_from_slice(&[0; 4]);
    if dscale <= NUMERIC_SHORT_DSCALE_MAX
        && (NUMERIC_SHORT_WEIGHT_MIN..=NUMERIC_SHORT_WEIGHT_MAX).contains(&weight)
    {
        let mut head = NUMERIC_SHORT | ((dscale as u16) << NUMERIC_SHORT_DSCALE_SHIFT);
        if negative {
            head |= NUMERIC_SHORT_SIGN_MASK;
        }
        if weight < 0 {
            head |= NUMERIC_SHORT_WEIGHT_SIGN_MASK;
        }
        head |= (weight as u16) & NUMERIC_SHORT_WEIGHT_MASK;
        out.extend_from_slice(&head.to_ne_bytes());
    } else {
        let sign = if negative { NUMERIC_NEG } else { 0 };
        out.extend_from_slice(&(sign | dscale as u16).to_ne_bytes());
        out.extend_from_slice(&(weight as i16).to_ne_bytes());
    }
    for d in digits {
        out.extend_from_slice(&d.to_ne_bytes());
    }
    let len = out.len() as u32;
    out[..4].copy_from_slice(&varsize_4b(len).to_ne_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(b: &[u8]) -> Vec<u32> {
        b.chunks(4)
            .map(|c| {
                let mut w = [0u8; 4];
                w[..c.len()].copy_from_slice(c);
                u32::from_le_bytes(w)
            })
            .collect()
    }

    #[test]
    fn numbers_match_numeric_in() {
        // (text, header word after the varlena length, digits): from numeric.c's rules.
        let short = |t: &str| numeric(t).unwrap();
        // 48990.0000: weight 1 (4|8990), dscale 4, positive, short form.
        let n = short("48990.0000");
        assert_eq!(u32::from_le_bytes(n[..4].try_into().unwrap()) >> 2, 10);
        assert_eq!(
            u16::from_le_bytes([n[4], n[5]]),
            0x8000 | (4 << 7) | 1,
            "short header"
        );
        assert_eq!(&n[6..], &[4, 0, 0x1e, 0x23]); // 4, 8990
                                                  // -0.5: weight -1, digit 5000, dscale 1, negative.
        let n = short("-0.5");
        assert_eq!(
            u16::from_le_bytes([n[4], n[5]]),
            0x8000 | 0x2000 | (1 << 7) | 0x40 | (0x3F & (-1i16 as u16))
        );
        assert_eq!(&n[6..], &5000i16.to_le_bytes());
        // Zero of any sign and scale is positive with no digits.
        for z in ["0", "-0", "0.000", "-0e5", "0E-3"] {
            let n = short(z);
            assert_eq!(n.len(), 6, "{z}");
            assert_eq!(
                u16::from_le_bytes([n[4], n[5]]) & 0x2000,
                0,
                "{z} is positive"
            );
        }
        // 1e3 = 1000, dscale 0; 1.5e-3 = 0.0015, dscale 4.
        assert_eq!(&short("1e3")[6..], &1000i16.to_le_bytes());
        let n = short("1.5E-3");
        assert_eq!((u16::from_le_bytes([n[4], n[5]]) >> 7) & 0x3F, 4);
        assert_eq!(&n[6..], &15i16.to_le_bytes());
        // Beyond the short form: weight 64 needs the long header.
        let n = short("1e256");
        assert_eq!(n.len(), 10);
        assert_eq!(i16::from_le_bytes([n[6], n[7]]), 64);
        assert!(numeric("1e2000000000").is_none());
        assert!(numeric("1e-100000").is_none(), "dscale beyond 16383");
    }

    #[test]
    fn objects_sort_keys_by_length_then_bytes_and_keep_the_last_repeat() {
        let b = encode(r#"{"bb": 1, "a": true, "ab": null, "a": false}"#).unwrap();
        let w = words(&b);
        assert_eq!(w[0] >> 2, b.len() as u32, "varlena length");
        assert_eq!(w[1], 3 | JB_FOBJECT, "three unique keys");
        // Keys a, ab, bb then their values: the first key's JEntry carries its end offset.
        assert_eq!(w[2], JENTRY_HAS_OFF | 1);
        assert_eq!(w[3], 2);
        assert_eq!(w[4], 2);
        assert_eq!(w[5], JENTRY_ISBOOL_FALSE, "the last a wins");
        assert_eq!(w[6], JENTRY_ISNULL);
        assert_eq!(w[7] & JENTRY_TYPEMASK, JENTRY_ISNUMERIC);
        assert_eq!(&b[32..37], b"aabbb");
    }

    #[test]
    fn scalars_at_the_top_are_raw_scalar_arrays() {
        let b = encode("\"x\"").unwrap();
        let w = words(&b);
        assert_eq!(w[1], 1 | JB_FARRAY | JB_FSCALAR);
        assert_eq!(w[2], JENTRY_HAS_OFF | 1);
    }

    #[test]
    fn strings_unescape_and_never_fail_on_nul_or_lone_surrogates() {
        let b = encode(r#"["a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude97", "\u0000", "\ud800x"]"#).unwrap();
        // The three strings' bytes follow each other after the array's entries.
        let want = "a\"\\/\u{8}\u{c}\n\r\té🚗\u{FFFD}\u{FFFD}x".as_bytes();
        assert_eq!(&b[4 + 4 + 12..], want);
    }

    #[test]
    fn refuses_what_it_cannot_promise() {
        for bad in [
            "",
            "{",
            "[1,]",
            "01",
            "1.",
            "-",
            "\"\u{1}\"",
            "tru",
            "{} x",
            "[1 2]",
        ] {
            assert!(encode(bad).is_none(), "{bad:?}");
        }
        let deep = "[".repeat(300) + &"]".repeat(300);
        assert!(encode(&deep).is_none());
    }

    #[test]
    fn every_32nd_entry_stores_an_offset() {
        let doc = format!(
            "[{}]",
            (0..70)
                .map(|i| format!("\"{i}\""))
                .collect::<Vec<_>>()
                .join(",")
        );
        let w = words(&encode(&doc).unwrap());
        let entries = &w[2..72];
        for (i, e) in entries.iter().enumerate() {
            assert_eq!(e & JENTRY_HAS_OFF != 0, i % 32 == 0, "entry {i}");
        }
        // Offsets are cumulative: "0".."9" are 1 byte, "10".. are 2; entry 32 ends at 10 + 23*2 = 56.
        assert_eq!(entries[32] & JENTRY_OFFLENMASK, 10 + 23 * 2);
    }
}
