//! JSON stock item → typed column values, following [`FieldKind`] (no Postgres types).
//!
//! The FDW turns each [`Typed`] into a Postgres datum of the column type that the catalogue
//! ([`crate::stock_fields::STOCK_FIELDS`]) gives the field. Mapping is lenient where the
//! intent is unambiguous (numeric strings, `"yes"`/`"no"`, a float with zero fraction for an
//! integer) and strict elsewhere: a value that cannot be coerced becomes a [`MappingError`] that
//! names the key, the expected kind and a *short description* of what was found — never the
//! value itself, which may be huge or sensitive.
//!
//! Nothing here panics on any input: every function is total over arbitrary JSON (property and
//! fuzz tests below check this).

use crate::stock_fields::{FieldKind, StockField, STOCK_FIELDS};
use serde_json::{Map, Value};

/// Exponents (powers of ten) beyond this magnitude are refused for `Number` fields: no real
/// stock value needs them and Postgres `numeric` text of that size is a denial-of-service risk.
pub const MAX_DECIMAL_EXPONENT: i64 = 30;

/// A typed column value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Typed {
    /// SQL NULL (`null`, a missing key, or `""` for non-text kinds).
    Null,
    /// Text exactly as received (trailing spaces kept).
    Text(String),
    /// A 64-bit integer.
    Int(i64),
    /// Canonical decimal text: no exponent, no leading `+`, no superfluous zeros
    /// (`"48990"`, `"201.15"`, `"-0.5"`).
    Number(String),
    /// A boolean.
    Bool(bool),
    /// A validated calendar date.
    Date {
        /// Year (1-9999).
        year: i32,
        /// Month (1-12).
        month: u8,
        /// Day (1-31, valid for the month).
        day: u8,
    },
    /// A comma-separated list, trimmed, empties dropped.
    TextList(Vec<String>),
}

/// A value that could not be coerced to its field's kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stock field {key}: expected {expected}, found {found}")]
pub struct MappingError {
    /// The JSON key.
    pub key: &'static str,
    /// What the field's kind accepts.
    pub expected: &'static str,
    /// A short description of the value's type (never the value itself).
    pub found: String,
}

/// One stock item mapped to [`STOCK_FIELDS`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedItem {
    /// One value per [`STOCK_FIELDS`] entry, in that order; a bad field is [`Typed::Null`].
    pub values: Vec<Typed>,
    /// One error per field that could not be mapped.
    pub errors: Vec<MappingError>,
}

/// The `expected` text for a kind.
fn expected(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Text => "text",
        FieldKind::Integer => "an integer",
        FieldKind::Number => "a decimal number",
        FieldKind::Boolean | FieldKind::NullableBoolean => "a boolean",
        FieldKind::DateDdMmYyyy => "a dd/mm/yyyy date",
        FieldKind::CommaList => "a comma-separated string",
    }
}

/// A short description of a JSON value's type, never its content.
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(_) => "boolean".into(),
        Value::Number(n) if n.is_f64() => "non-integral number".into(),
        Value::Number(_) => "integer".into(),
        Value::String(s) => format!("string of {} bytes", s.len()),
        Value::Array(a) => format!("array of {} elements", a.len()),
        Value::Object(o) => format!("object with {} keys", o.len()),
    }
}

/// Map one field's value (`None` = key missing).
pub fn map_field(field: &StockField, value: Option<&Value>) -> Result<Typed, MappingError> {
    let err = |v: &Value| MappingError {
        key: field.json_key,
        expected: expected(field.kind),
        found: describe(v),
    };
    let value = match value {
        None | Some(Value::Null) => return Ok(Typed::Null),
        Some(v) => v,
    };
    match field.kind {
        FieldKind::Text => match value {
            Value::String(s) => Ok(Typed::Text(s.clone())),
            Value::Number(n) => Ok(Typed::Text(n.to_string())),
            Value::Bool(b) => Ok(Typed::Text(b.to_string())),
            Value::Null | Value::Array(_) | Value::Object(_) => Err(err(value)),
        },
        FieldKind::Integer => match value {
            Value::String(s) if s.trim().is_empty() => Ok(Typed::Null),
            Value::String(s) => parse_integer(s).map(Typed::Int).ok_or_else(|| err(value)),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Ok(Typed::Int(i))
                } else if let Some(f) = n.as_f64().filter(|_| !n.is_u64()) {
                    // A float with zero fraction within i64 range (u64 beyond i64 is refused).
                    if f.is_finite() && f.fract() == 0.0 && (-9.2e18..=9.2e18).contains(&f) {
                        Ok(Typed::Int(f as i64))
                    } else {
                        Err(err(value))
                    }
                } else {
                    Err(err(value))
                }
            }
            Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_) => Err(err(value)),
        },
        FieldKind::Number => match value {
            Value::String(s) if s.trim().is_empty() => Ok(Typed::Null),
            Value::String(s) => canonical_decimal(s.trim())
                .map(Typed::Number)
                .ok_or_else(|| err(value)),
            Value::Number(n) => {
                if n.is_i64() || n.is_u64() {
                    Ok(Typed::Number(n.to_string()))
                } else {
                    match n.as_f64() {
                        // `Display` for f64 is the shortest round-trip form and never uses an
                        // exponent; canonicalise it (and enforce the exponent bound).
                        Some(f) if f.is_finite() => canonical_decimal(&f.to_string())
                            .map(Typed::Number)
                            .ok_or_else(|| err(value)),
                        _ => Err(err(value)),
                    }
                }
            }
            Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_) => Err(err(value)),
        },
        FieldKind::Boolean | FieldKind::NullableBoolean => match value {
            Value::Bool(b) => Ok(Typed::Bool(*b)),
            Value::String(s) if s.trim().is_empty() => Ok(Typed::Null),
            Value::String(s) => parse_bool(s).map(Typed::Bool).ok_or_else(|| err(value)),
            Value::Number(n) => match n.as_u64() {
                Some(0) => Ok(Typed::Bool(false)),
                Some(1) => Ok(Typed::Bool(true)),
                _ => Err(err(value)),
            },
            Value::Null | Value::Array(_) | Value::Object(_) => Err(err(value)),
        },
        FieldKind::DateDdMmYyyy => match value {
            Value::String(s) if s.trim().is_empty() => Ok(Typed::Null),
            Value::String(s) => parse_dd_mm_yyyy(s.trim())
                .map(|(year, month, day)| Typed::Date { year, month, day })
                .ok_or_else(|| err(value)),
            Value::Null
            | Value::Bool(_)
            | Value::Number(_)
            | Value::Array(_)
            | Value::Object(_) => Err(err(value)),
        },
        FieldKind::CommaList => match value {
            Value::String(s) => Ok(Typed::TextList(split_comma_list(s))),
            Value::Array(a) => {
                let mut out = Vec::with_capacity(a.len());
                for v in a {
                    match v {
                        Value::String(s) => {
                            let t = s.trim();
                            if !t.is_empty() {
                                out.push(t.to_string());
                            }
                        }
                        Value::Null
                        | Value::Bool(_)
                        | Value::Number(_)
                        | Value::Array(_)
                        | Value::Object(_) => return Err(err(value)),
                    }
                }
                Ok(Typed::TextList(out))
            }
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::Object(_) => Err(err(value)),
        },
    }
}

/// Map a whole item in [`STOCK_FIELDS`] order. Unknown keys are ignored (the raw item keeps
/// them); a field that fails becomes [`Typed::Null`] and adds an error.
pub fn map_item(item: &Map<String, Value>) -> MappedItem {
    let mut values = Vec::with_capacity(STOCK_FIELDS.len());
    let mut errors = Vec::new();
    for field in STOCK_FIELDS.iter() {
        match map_field(field, item.get(field.json_key)) {
            Ok(v) => values.push(v),
            Err(e) => {
                values.push(Typed::Null);
                errors.push(e);
            }
        }
    }
    MappedItem { values, errors }
}

/// `StandardFeatures` then `OptionalFeatures`, split on commas, trimmed, empties dropped and
/// duplicates removed (first occurrence wins). Non-string values contribute nothing.
pub fn features(item: &Map<String, Value>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for key in ["StandardFeatures", "OptionalFeatures"] {
        if let Some(Value::String(s)) = item.get(key) {
            for f in split_comma_list(s) {
                if !out.contains(&f) {
                    out.push(f);
                }
            }
        }
    }
    out
}

/// `ImageURLs` split on commas, trimmed, empties dropped, in feed order. Duplicates are kept
/// (positions matter and `ImageCount` counts them); a non-string value gives an empty list.
pub fn image_urls(item: &Map<String, Value>) -> Vec<String> {
    match item.get("ImageURLs") {
        Some(Value::String(s)) => split_comma_list(s),
        _ => Vec::new(),
    }
}

/// Split on `,`, trim each part, drop empty parts.
pub fn split_comma_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// `[+-]?digits` with surrounding whitespace, within i64.
fn parse_integer(s: &str) -> Option<i64> {
    let t = s.trim();
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.strip_prefix('+').unwrap_or(t).parse().ok()
}

/// `true/false/1/0/yes/no/y/n`, case-insensitive, surrounding whitespace ignored.
fn parse_bool(s: &str) -> Option<bool> {
    let t = s.trim();
    if t.len() > 5 {
        return None;
    }
    match t.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" => Some(true),
        "false" | "0" | "no" | "n" => Some(false),
        _ => None,
    }
}

/// `dd/mm/yyyy` validated as a real calendar date (leap years included).
fn parse_dd_mm_yyyy(s: &str) -> Option<(i32, u8, u8)> {
    if !crate::stock_fields::is_dd_mm_yyyy(s) {
        return None;
    }
    let day: u8 = s.get(0..2)?.parse().ok()?;
    let month: u8 = s.get(3..5)?.parse().ok()?;
    let year: i32 = s.get(6..10)?.parse().ok()?;
    if year < 1 || day < 1 || day > days_in_month(year, month)? {
        return None;
    }
    Some((year, month, day))
}

/// Days in a month of the proleptic Gregorian calendar.
fn days_in_month(year: i32, month: u8) -> Option<u8> {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    Some(match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    })
}

/// Canonical decimal text of `[+-]?digits[.digits][(e|E)[+-]digits]` (at least one digit in
/// the mantissa), or `None`. Exact: works on the digits, never through a float. The result has
/// no exponent, no `+`, no leading zeros before the point (except a single `0`), no trailing
/// zeros after it and no `-0`. Exponents whose magnitude exceeds [`MAX_DECIMAL_EXPONENT`]
/// (after normalisation) are refused, as are NaN and infinities (they do not match the grammar).
pub fn canonical_decimal(s: &str) -> Option<String> {
    let (negative, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(i) => {
            let e = &rest[i + 1..];
            let ed = e.strip_prefix(['+', '-']).unwrap_or(e);
            if ed.is_empty() || ed.len() > 6 || !ed.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let v: i64 = ed.parse().ok()?;
            (&rest[..i], if e.starts_with('-') { -v } else { v })
        }
        None => (rest, 0),
    };
    let (int_part, frac_part) = match mantissa.find('.') {
        Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
        None => (mantissa, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // All significant digits, and the power of ten of the last one.
    let mut digits: String = format!("{int_part}{frac_part}");
    let mut scale: i64 = exp - frac_part.len() as i64; // value = digits × 10^scale
    let trimmed = digits.trim_start_matches('0');
    if trimmed.is_empty() {
        return Some("0".into());
    }
    digits = trimmed.to_string();
    while digits.ends_with('0') {
        digits.pop();
        scale += 1;
    }
    // Decimal exponent of the leading digit (scientific notation d.ddd × 10^lead).
    let lead = scale + digits.len() as i64 - 1;
    if !(-MAX_DECIMAL_EXPONENT..=MAX_DECIMAL_EXPONENT).contains(&lead) {
        return None;
    }
    let mut out = String::with_capacity(digits.len() + 40);
    if negative {
        out.push('-');
    }
    if scale >= 0 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', scale as usize));
    } else {
        let frac_len = (-scale) as usize;
        if digits.len() > frac_len {
            let (i, f) = digits.split_at(digits.len() - frac_len);
            out.push_str(i);
            out.push('.');
            out.push_str(f);
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', frac_len - digits.len()));
            out.push_str(&digits);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stock_fields::{field_by_key, field_index};
    use proptest::prelude::*;
    use serde_json::json;

    fn doc_item() -> Map<String, Value> {
        let text = include_str!("../../easycars-sim/tests/doc_stock_example.json");
        let v: Value = serde_json::from_str(text).unwrap();
        v["StockList"][0].as_object().unwrap().clone()
    }

    fn field(key: &str) -> &'static StockField {
        field_by_key(key).unwrap()
    }

    fn value_of(m: &MappedItem, key: &str) -> Typed {
        m.values[field_index(key).unwrap()].clone()
    }

    #[test]
    fn doc_item_maps_every_field() {
        let item = doc_item();
        assert_eq!(item.len(), 72);
        let m = map_item(&item);
        assert_eq!(m.values.len(), 72);
        assert!(m.errors.is_empty(), "{:?}", m.errors);
        assert_eq!(value_of(&m, "Price"), Typed::Number("48990".into()));
        assert_eq!(value_of(&m, "Badge"), Typed::Text("SR5 (4x4) ".into()));
        assert_eq!(value_of(&m, "Series"), Typed::Text("GUN126R ".into()));
        assert_eq!(value_of(&m, "YearGroup"), Typed::Int(2021));
        assert_eq!(value_of(&m, "Odometer"), Typed::Int(61250));
        assert_eq!(
            value_of(&m, "RegoExpiry"),
            Typed::Date {
                year: 2026,
                month: 3,
                day: 14
            }
        );
        assert_eq!(value_of(&m, "Powerhp"), Typed::Number("201.15".into()));
        assert_eq!(value_of(&m, "AdvSpecialPrice"), Typed::Null);
        assert_eq!(value_of(&m, "Length"), Typed::Null);
        assert_eq!(value_of(&m, "SleepingCapacity"), Typed::Null);
        assert_eq!(value_of(&m, "IsSpecial"), Typed::Bool(true));
        assert_eq!(value_of(&m, "IsDriveAway"), Typed::Bool(false));
        assert_eq!(value_of(&m, "AirConditioning"), Typed::Text("".into()));
        assert_eq!(value_of(&m, "Wheelsize"), Typed::Text("17".into()));
        assert_eq!(value_of(&m, "StockType"), Typed::Text("A".into()));
        assert_eq!(value_of(&m, "ImageCount"), Typed::Int(2));
        assert_eq!(value_of(&m, "OptionalFeatures"), Typed::TextList(vec![]));
        assert_eq!(
            value_of(&m, "StandardFeatures"),
            Typed::TextList(vec![
                "Reversing Camera".into(),
                "Bluetooth Connectivity".into(),
                "Cruise Control".into(),
                "Tow Bar".into()
            ])
        );
        assert_eq!(
            features(&item),
            vec![
                "Reversing Camera",
                "Bluetooth Connectivity",
                "Cruise Control",
                "Tow Bar"
            ]
        );
        let urls = image_urls(&item);
        assert_eq!(urls.len(), 2);
        assert!(urls.iter().all(|u| u.starts_with("https://")));
        assert_eq!(value_of(&m, "ImageURLs"), Typed::TextList(urls));
    }

    #[test]
    fn features_deduplicate_in_order() {
        let item = json!({"StandardFeatures":"A,B, C ,,A","OptionalFeatures":"C,D,B,E"});
        assert_eq!(
            features(item.as_object().unwrap()),
            vec!["A", "B", "C", "D", "E"]
        );
        assert!(features(json!({"StandardFeatures": 3}).as_object().unwrap()).is_empty());
    }

    #[test]
    fn integers() {
        let f = field("Odometer");
        let ok = |v: Value| map_field(f, Some(&v)).unwrap();
        assert_eq!(ok(json!(5)), Typed::Int(5));
        assert_eq!(ok(json!(-5)), Typed::Int(-5));
        assert_eq!(ok(json!(5.0)), Typed::Int(5));
        assert_eq!(ok(json!(" +42 ")), Typed::Int(42));
        assert_eq!(ok(json!("-7")), Typed::Int(-7));
        assert_eq!(ok(json!("")), Typed::Null);
        assert_eq!(ok(Value::Null), Typed::Null);
        assert_eq!(map_field(f, None).unwrap(), Typed::Null);
        for bad in [
            json!(5.5),
            json!("5.5"),
            json!("abc"),
            json!("+"),
            json!("99999999999999999999"),
            json!(u64::MAX),
            json!(1e300),
            json!(true),
            json!([1]),
            json!({}),
        ] {
            let e = map_field(f, Some(&bad)).unwrap_err();
            assert_eq!(e.key, "Odometer");
        }
    }

    #[test]
    fn numbers() {
        let f = field("Price");
        let ok = |v: Value| map_field(f, Some(&v)).unwrap();
        let n = |s: &str| Typed::Number(s.into());
        assert_eq!(ok(json!(48990)), n("48990"));
        assert_eq!(ok(json!(48990.0)), n("48990"));
        assert_eq!(ok(json!(201.15)), n("201.15"));
        assert_eq!(ok(json!(-0.5)), n("-0.5"));
        assert_eq!(ok(json!("48990.0000")), n("48990"));
        assert_eq!(ok(json!(" 0012.50 ")), n("12.5"));
        assert_eq!(ok(json!("1e3")), n("1000"));
        assert_eq!(ok(json!("1.5E-2")), n("0.015"));
        assert_eq!(ok(json!("-0")), n("0"));
        assert_eq!(ok(json!(".5")), n("0.5"));
        assert_eq!(ok(json!("5.")), n("5"));
        assert_eq!(ok(json!(1e30)), n("1000000000000000000000000000000"));
        assert_eq!(ok(json!("")), Typed::Null);
        assert_eq!(ok(Value::Null), Typed::Null);
        for bad in [
            json!("NaN"),
            json!("inf"),
            json!("-Infinity"),
            json!("1e31"),
            json!("1e-31"),
            json!(1e31),
            json!(1e-40),
            json!("1e999999999"),
            json!("1.2.3"),
            json!("."),
            json!("-"),
            json!("0x10"),
            json!("1,000"),
            json!(false),
            json!([]),
        ] {
            assert!(map_field(f, Some(&bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn booleans_dates_text_lists() {
        let b = field("IsDemo");
        for (v, want) in [
            (json!(true), Typed::Bool(true)),
            (json!("YES"), Typed::Bool(true)),
            (json!(" n "), Typed::Bool(false)),
            (json!("0"), Typed::Bool(false)),
            (json!("True"), Typed::Bool(true)),
            (json!(1), Typed::Bool(true)),
            (Value::Null, Typed::Null),
        ] {
            assert_eq!(map_field(b, Some(&v)).unwrap(), want, "{v}");
        }
        assert!(map_field(b, Some(&json!("maybe"))).is_err());
        assert!(map_field(b, Some(&json!(2))).is_err());
        assert!(map_field(field("IsDriveAway"), Some(&Value::Null)).is_ok());

        let d = field("RegoExpiry");
        assert_eq!(
            map_field(d, Some(&json!("29/02/2024"))).unwrap(),
            Typed::Date {
                year: 2024,
                month: 2,
                day: 29
            }
        );
        assert_eq!(map_field(d, Some(&json!(""))).unwrap(), Typed::Null);
        for bad in [
            "29/02/2023",
            "31/04/2025",
            "00/01/2025",
            "01/13/2025",
            "1/1/2025",
            "2025-01-01",
            "01/01/0000",
        ] {
            let e = map_field(d, Some(&json!(bad))).unwrap_err();
            assert_eq!(e.found, format!("string of {} bytes", bad.len()));
        }

        let t = field("Badge");
        assert_eq!(
            map_field(t, Some(&json!(""))).unwrap(),
            Typed::Text("".into())
        );
        assert_eq!(
            map_field(t, Some(&json!(100))).unwrap(),
            Typed::Text("100".into())
        );
        assert!(map_field(t, Some(&json!({"a": 1}))).is_err());

        let l = field("ImageURLs");
        assert_eq!(
            map_field(l, Some(&json!(""))).unwrap(),
            Typed::TextList(vec![])
        );
        assert_eq!(
            map_field(l, Some(&json!(" a ,b,,"))).unwrap(),
            Typed::TextList(vec!["a".into(), "b".into()])
        );
        assert!(map_field(l, Some(&json!(5))).is_err());
    }

    #[test]
    fn errors_never_carry_the_value() {
        let secret = "S3CRET-VALUE-".repeat(10);
        let e = map_field(field("Price"), Some(&json!(secret))).unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("S3CRET"), "{shown}");
        assert!(shown.contains("Price"));
    }

    #[test]
    fn bad_field_becomes_null_with_error() {
        let mut item = doc_item();
        item.insert("Price".into(), json!("cheap"));
        item.insert("YearGroup".into(), json!([2021]));
        item.remove("Make");
        item.insert("Unknown".into(), json!(1));
        let m = map_item(&item);
        assert_eq!(m.values.len(), 72);
        assert_eq!(value_of(&m, "Price"), Typed::Null);
        assert_eq!(value_of(&m, "Make"), Typed::Null);
        let keys: Vec<_> = m.errors.iter().map(|e| e.key).collect();
        assert_eq!(keys, vec!["Price", "YearGroup"]);
    }

    /// Tiny deterministic PRNG (xorshift64*) for the fuzz test.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn random_value(r: &mut Rng, depth: u32) -> Value {
        const STRS: &[&str] = &[
            "",
            " ",
            "48990",
            "-1",
            "1e308",
            "1e-400",
            "NaN",
            "Infinity",
            "ŠKODA – ‘N Line’ 🚗",
            "\u{0}\u{1}\u{7f}\r\n\t",
            "31/02/2024",
            "14/03/2026",
            "99/99/9999",
            ",,,",
            "a,b,,c ",
            "yes",
            "N",
            "\u{feff}12",
            "١٢٣",
            "9223372036854775808",
            "-9223372036854775809",
            "0.000000000000000000000000000001",
        ];
        match r.below(if depth > 2 { 7 } else { 9 }) {
            0 => Value::Null,
            1 => Value::Bool(r.below(2) == 0),
            2 => json!(r.next() as i64),
            3 => json!(r.next()),
            4 => json!(f64::from_bits(r.next())).clone(), // NaN/inf become null
            5 => json!(STRS[r.below(STRS.len() as u64) as usize]),
            6 => {
                let len = r.below(64) as usize;
                let s: String = (0..len)
                    .map(|_| char::from_u32(r.below(0x11_0000) as u32).unwrap_or('\u{fffd}'))
                    .collect();
                json!(s)
            }
            7 => Value::Array(
                (0..r.below(4))
                    .map(|_| random_value(r, depth + 1))
                    .collect(),
            ),
            _ => {
                let mut m = Map::new();
                for i in 0..r.below(4) {
                    m.insert(format!("k{i}"), random_value(r, depth + 1));
                }
                Value::Object(m)
            }
        }
    }

    /// A fixed budget in the test run; longer on demand:
    /// `EASYCARS_FUZZ_ITERATIONS=1000000 EASYCARS_FUZZ_SEED=7 cargo test -p easycars-api fuzz --release`.
    #[test]
    fn fuzz_mutations_never_panic() {
        let iterations: u32 = std::env::var("EASYCARS_FUZZ_ITERATIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000);
        let seed: u64 = std::env::var("EASYCARS_FUZZ_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0x9E37_79B9_7F4A_7C15);
        let base = doc_item();
        let huge = json!("x".repeat(1 << 20));
        let huge_digits = json!("7".repeat(1 << 20));
        let huge_list = json!("feature,".repeat(1 << 17));
        let mut r = Rng(seed);
        let mut errors = 0usize;
        for i in 0..iterations {
            let mut item = base.clone();
            for _ in 0..1 + r.below(6) {
                let key = STOCK_FIELDS[r.below(72) as usize].json_key.to_string();
                match r.below(10) {
                    0 => {
                        item.remove(&key);
                    }
                    1 => {
                        item.insert(format!("Extra{}", r.below(1000)), random_value(&mut r, 0));
                    }
                    2 if i % 50 == 0 => {
                        let v = [&huge, &huge_digits, &huge_list][r.below(3) as usize].clone();
                        item.insert(key, v);
                    }
                    _ => {
                        item.insert(key, random_value(&mut r, 0));
                    }
                }
            }
            let m = map_item(&item);
            assert_eq!(m.values.len(), 72);
            for e in &m.errors {
                assert!(e.found.len() < 64, "{}", e.found);
            }
            errors += m.errors.len();
            let _ = features(&item);
            let _ = image_urls(&item);
        }
        assert!(errors > 0);
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| json!(i)),
            any::<u64>().prop_map(|i| json!(i)),
            any::<f64>().prop_map(|f| json!(f)),
            ".*".prop_map(Value::String),
            "[-+ 0-9.eE/,]{0,24}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[A-Za-z]{1,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn map_field_never_panics(idx in 0usize..72, v in arb_json()) {
            let f = &STOCK_FIELDS[idx];
            if let Err(e) = map_field(f, Some(&v)) {
                prop_assert_eq!(e.key, f.json_key);
                prop_assert!(e.found.len() < 64);
            }
        }

        #[test]
        fn integer_round_trip(i in any::<i64>(), pad_l in " {0,3}", pad_r in " {0,3}") {
            let f = field("Odometer");
            prop_assert_eq!(map_field(f, Some(&json!(i))).unwrap(), Typed::Int(i));
            let s = format!("{pad_l}{i}{pad_r}");
            prop_assert_eq!(map_field(f, Some(&json!(s))).unwrap(), Typed::Int(i));
        }

        #[test]
        fn decimal_string_round_trip(int in 0u64..10_000_000_000, frac in "[0-9]{0,8}", neg in any::<bool>()) {
            let frac_t = frac.trim_end_matches('0');
            let mut want = if frac_t.is_empty() { int.to_string() } else { format!("{int}.{frac_t}") };
            if neg && want != "0" {
                want.insert(0, '-');
            }
            let text = format!("{}{int}{}{frac}", if neg { "-" } else { "" }, if frac.is_empty() { "" } else { "." });
            let got = map_field(field("Price"), Some(&json!(text))).unwrap();
            prop_assert_eq!(got, Typed::Number(want.clone()));
            // Canonical text is a fixed point.
            prop_assert_eq!(canonical_decimal(&want), Some(want));
        }

        #[test]
        fn json_decimal_round_trip(cents in -100_000_000_000i64..100_000_000_000) {
            let v: Value = serde_json::from_str(&format!("{}", cents as f64 / 100.0)).unwrap();
            let want = canonical_decimal(&format!(
                "{}{}.{:02}",
                if cents < 0 { "-" } else { "" },
                cents.unsigned_abs() / 100,
                cents.unsigned_abs() % 100
            )).unwrap();
            prop_assert_eq!(map_field(field("Price"), Some(&v)).unwrap(), Typed::Number(want));
        }

        #[test]
        fn comma_list_round_trip(items in prop::collection::vec("[^,]{0,12}", 0..8)) {
            let joined = items.join(",");
            let want: Vec<String> = items.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
            prop_assert_eq!(
                map_field(field("StandardFeatures"), Some(&json!(joined))).unwrap(),
                Typed::TextList(want.clone())
            );
            // Re-joining the mapped list maps to the same list.
            prop_assert_eq!(split_comma_list(&want.join(",")), want);
        }
    }
}
