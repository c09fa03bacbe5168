//! Fast, order-preserving JSON writing for stock items (serde_json's `Map` sorts keys unless
//! `preserve_order` is enabled workspace-wide, and building 100,000 maps would be slow).

use serde_json::Value;
use std::borrow::Cow;

/// A generated field value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// JSON string.
    S(Cow<'static, str>),
    /// JSON integer.
    I(i64),
    /// JSON number (whole numbers are written without decimals).
    N(f64),
    /// JSON boolean.
    B(bool),
    /// JSON null.
    Null,
}

impl Val {
    /// Convert into a `serde_json::Value`.
    pub fn to_value(&self) -> Value {
        match self {
            Val::S(s) => Value::String(s.to_string()),
            Val::I(i) => Value::from(*i),
            Val::N(n) => num_value(*n),
            Val::B(b) => Value::Bool(*b),
            Val::Null => Value::Null,
        }
    }
}

/// A number as JSON: integral values become integers (`"GVM": 2440`, not `2440.0`).
pub fn num_value(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

/// Append `s` as a JSON string literal.
pub fn write_str(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        buf.extend_from_slice(&bytes[start..i]);
        match esc {
            Some(e) => buf.extend_from_slice(e),
            None => buf.extend_from_slice(format!("\\u{:04x}", b).as_bytes()),
        }
        start = i + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
    buf.push(b'"');
}

/// Append an integer.
pub fn write_int(buf: &mut Vec<u8>, mut v: i64) {
    if v == 0 {
        buf.push(b'0');
        return;
    }
    if v < 0 {
        buf.push(b'-');
        if v == i64::MIN {
            buf.extend_from_slice(b"9223372036854775808");
            return;
        }
        v = -v;
    }
    let mut tmp = [0u8; 20];
    let mut n = 0;
    while v > 0 {
        tmp[n] = b'0' + (v % 10) as u8;
        v /= 10;
        n += 1;
    }
    buf.extend(tmp[..n].iter().rev());
}

/// Append a generated value.
pub fn write_val(buf: &mut Vec<u8>, v: &Val) {
    match v {
        Val::S(s) => write_str(buf, s),
        Val::I(i) => write_int(buf, *i),
        Val::N(n) => {
            if n.fract() == 0.0 && n.abs() < 1e15 {
                write_int(buf, *n as i64)
            } else {
                write_value(buf, &num_value(*n))
            }
        }
        Val::B(true) => buf.extend_from_slice(b"true"),
        Val::B(false) => buf.extend_from_slice(b"false"),
        Val::Null => buf.extend_from_slice(b"null"),
    }
}

/// Append any JSON value.
pub fn write_value(buf: &mut Vec<u8>, v: &Value) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *buf, v);
}

/// Append an object from ordered pairs.
pub fn write_pairs(buf: &mut Vec<u8>, pairs: &[(String, Value)]) {
    buf.push(b'{');
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        write_str(buf, k);
        buf.push(b':');
        write_value(buf, v);
    }
    buf.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_numbers_round_trip() {
        for s in [
            "",
            "plain",
            "a\"b\\c\r\nd\te\u{1}",
            "Hyundai i30 – ‘N Line’ 🚗",
            "Škoda ",
        ] {
            let mut b = Vec::new();
            write_str(&mut b, s);
            let back: String = serde_json::from_slice(&b).unwrap();
            assert_eq!(back, s);
        }
        for (v, want) in [
            (Val::N(2440.0), "2440"),
            (Val::N(231.82), "231.82"),
            (Val::I(-12), "-12"),
            (Val::I(0), "0"),
            (Val::Null, "null"),
        ] {
            let mut b = Vec::new();
            write_val(&mut b, &v);
            assert_eq!(String::from_utf8(b).unwrap(), want);
        }
    }
}
