//! From EasyCars JSON values to the datums of a scan's columns.
//!
//! A column of the entity's own type (text, integer, numeric, boolean, date, text[],
//! timestamptz, jsonb; varchar for text) gets its value built directly where that is exact, else
//! through the type's input function; a column declared with another type always goes through
//! its type's input function from the value's text form. Each column's input function is looked
//! up once per scan ([`InputFn`]) and is called with the column's typmod.

use super::entities::{Column, Entity, Kind};
use super::error::FdwError;
use easycars_api::mapping::{map_field, Typed};
use pgrx::pg_sys;
use pgrx::prelude::*;
use serde_json::{Map, Value};
use std::ffi::CString;

/// A column type's input function, with the column's typmod.
pub struct InputFn {
    finfo: pg_sys::FmgrInfo,
    ioparam: pg_sys::Oid,
    typmod: i32,
}

impl InputFn {
    /// Looks up the input function of `typid`.
    ///
    /// # Safety
    /// Backend thread, inside a `#[pg_guard]` callback (a catalog ERROR unwinds), with the current
    /// memory context living as long as the scan (BeginForeignScan runs in the query's): the
    /// FmgrInfo records it for the function's own caches (`fn_extra`).
    pub unsafe fn new(typid: pg_sys::Oid, typmod: i32) -> InputFn {
        // SAFETY: getTypeInputInfo takes any type OID (here a column's, from its relation's tuple
        // descriptor) and fills both out-parameters, or raises an ERROR. All-zero bytes are a
        // valid FmgrInfo, and fmgr_info fills every field, recording the current memory context,
        // which the caller promises outlives the scan.
        unsafe {
            let mut func = pg_sys::InvalidOid;
            let mut ioparam = pg_sys::InvalidOid;
            pg_sys::getTypeInputInfo(typid, &mut func, &mut ioparam);
            let mut finfo: pg_sys::FmgrInfo = std::mem::zeroed();
            pg_sys::fmgr_info(func, &mut finfo);
            InputFn {
                finfo,
                ioparam,
                typmod,
            }
        }
    }

    /// The datum for `text`, in the current (per-tuple) memory context. NULs are dropped, since
    /// Postgres text cannot hold them.
    ///
    /// # Safety
    /// Backend thread, inside a `#[pg_guard]` callback: the input function raises an ERROR for
    /// text its type does not accept.
    pub unsafe fn call(&mut self, text: &str) -> pg_sys::Datum {
        let cstr = match CString::new(text) {
            Ok(c) => c,
            Err(_) => CString::new(text.replace('\0', "")).unwrap_or_default(),
        };
        // SAFETY: `finfo` was filled by fmgr_info in InputFn::new and `ioparam` is the type's
        // I/O parameter from the same lookup. The C string has no interior NUL and outlives the
        // call; the input function only reads it and builds a new datum in the current context.
        // The caller is on the backend thread inside a #[pg_guard], so an input ERROR unwinds.
        unsafe {
            pg_sys::InputFunctionCall(
                &mut self.finfo,
                cstr.as_ptr() as *mut std::ffi::c_char,
                self.ioparam,
                self.typmod,
            )
        }
    }
}

/// How to produce one attribute of the scan tuple.
pub struct AttrPlan {
    /// The attribute's 0-based index in the tuple.
    pub index: usize,
    pub column: &'static Column,
    /// Where a stock row's value for this column's key is (see `fetch::SlotIndex`).
    pub slot: Option<usize>,
    typid: pg_sys::Oid,
    /// The column has the entity's own type (or varchar for text).
    native: bool,
    input: InputFn,
}

/// The Postgres type a column kind produces natively.
fn expected_type(kind: Kind) -> pg_sys::Oid {
    use easycars_api::stock_fields::FieldKind as F;
    match kind {
        Kind::Field(F::Text) | Kind::Field(F::CommaList) | Kind::Label(_) => pg_sys::TEXTOID,
        Kind::Field(F::Integer) => pg_sys::INT4OID,
        Kind::Field(F::Number) => pg_sys::NUMERICOID,
        Kind::Field(F::Boolean) | Kind::Field(F::NullableBoolean) => pg_sys::BOOLOID,
        Kind::Field(F::DateDdMmYyyy) => pg_sys::DATEOID,
        Kind::List => pg_sys::TEXTARRAYOID,
        Kind::SydneyTimestamp => pg_sys::TIMESTAMPTZOID,
        Kind::Json => pg_sys::JSONBOID,
        Kind::RawMd5 => pg_sys::TEXTOID,
    }
}

/// The plans of the attributes the scan reads (`needed`, or all), and the relation's attribute
/// count. Every column of the relation must be one of the entity's.
///
/// # Safety
/// `rel` must be the scan's open relation; called from BeginForeignScan (see [`InputFn::new`]).
pub unsafe fn attr_plans(
    rel: pg_sys::Relation,
    entity: Entity,
    needed: &Option<Vec<i32>>,
) -> (Vec<AttrPlan>, usize) {
    // SAFETY: `rel` is the scan's relation (ss_currentRelation), opened and locked by the executor
    // for the whole execution; its tuple descriptor holds `natts` attributes (tuple_desc_attrs).
    // InputFn::new gets a column's type OID from that descriptor, in BeginForeignScan, as it
    // requires. Backend thread, inside begin_foreign_scan's #[pg_guard], so an ERROR unwinds
    // safely.
    unsafe {
        let desc = (*rel).rd_att;
        let attrs = crate::pg_compat::tuple_desc_attrs(desc);
        let natts = attrs.len();
        let mut plans = Vec::new();
        for (i, att) in attrs.iter().enumerate() {
            if att.attisdropped {
                continue;
            }
            let name = pgrx::name_data_to_str(&att.attname);
            let Some(column) = entity.column(name) else {
                FdwError::UnknownColumn {
                    table: entity.spec().name(),
                    column: name.to_owned(),
                }
                .report()
            };
            let wanted = needed.as_ref().is_none_or(|v| v.contains(&(i as i32 + 1)));
            if !wanted {
                continue;
            }
            let expected = expected_type(column.kind);
            let typid = att.atttypid;
            // Our native type, or varchar for text; anything else goes through the column
            // type's input function from the value's text form.
            let native =
                typid == expected || (expected == pg_sys::TEXTOID && typid == pg_sys::VARCHAROID);
            plans.push(AttrPlan {
                index: i,
                column,
                slot: None,
                typid,
                native,
                input: InputFn::new(typid, att.atttypmod),
            });
        }
        (plans, natts)
    }
}

/// One row's source: the item's values, its text as received (stock) and its digest if known.
pub struct Source<'a> {
    pub item: Fields<'a>,
    pub text: Option<&'a str>,
    pub md5: Option<[u8; 16]>,
}

/// An item's values: a parsed object (leads, contacts), or a stock item's values for the scan's
/// columns only, by slot.
pub enum Fields<'a> {
    Map(&'a Map<String, Value>),
    Slots(Vec<Option<Value>>),
}

impl Fields<'_> {
    fn get(&self, attr: &AttrPlan) -> Option<&Value> {
        match self {
            Fields::Map(map) => map.get(attr.column.key),
            Fields::Slots(slots) => attr.slot.and_then(|i| slots.get(i)?.as_ref()),
        }
    }

    /// The object as JSON text, for items that arrived without their text (leads, contacts).
    fn to_json(&self) -> Result<String, String> {
        match self {
            Fields::Map(map) => serde_json::to_string(map).map_err(|e| e.to_string()),
            Fields::Slots(_) => Err("a stock item without its text".into()),
        }
    }
}

/// The datum of one column for one item, allocated in the per-tuple context the executor resets.
///
/// # Safety
/// `attr` is a plan of the running scan; backend thread, inside IterateForeignScan's
/// `#[pg_guard]` (input functions raise ERRORs).
pub unsafe fn value_datum(
    attr: &mut AttrPlan,
    row: &Source,
) -> Result<Option<pg_sys::Datum>, String> {
    let col = attr.column;
    let raw_text = row.text;
    let value = row.item.get(attr);
    let typed = match col.kind {
        Kind::RawMd5 => {
            use md5::Digest;
            let digest: [u8; 16] = match (row.md5, raw_text) {
                (Some(known), _) => known,
                (None, Some(t)) => md5::Md5::digest(t.as_bytes()).into(),
                (None, None) => md5::Md5::digest(row.item.to_json()?.as_bytes()).into(),
            };
            Typed::Text(hex(&digest))
        }
        Kind::Json => {
            let text: std::borrow::Cow<str> = match (col.key.is_empty(), raw_text) {
                // The item exactly as received when we have its text; re-serialised otherwise.
                (true, Some(t)) => t.into(),
                (true, None) => row.item.to_json()?.into(),
                (false, _) => match value {
                    None | Some(Value::Null) => return Ok(None),
                    Some(v) => serde_json::to_string(v).map_err(|e| e.to_string())?.into(),
                },
            };
            if attr.native {
                // jsonb, built without a second parse (and never failing on \u0000).
                return Ok(Some(super::jsonb::to_datum(&text)));
            }
            // SAFETY: the caller's contract is InputFn::call's.
            return Ok(Some(unsafe { attr.input.call(&text) }));
        }
        Kind::Label(label) => match value
            .and_then(Value::as_i64)
            .and_then(|c| i32::try_from(c).ok())
            .and_then(label)
        {
            Some(l) => Typed::Text(l.to_owned()),
            None => Typed::Null,
        },
        Kind::SydneyTimestamp => match value.and_then(Value::as_str).and_then(sydney_to_iso) {
            // SAFETY: the caller's contract is InputFn::call's.
            Some(iso) => return Ok(Some(unsafe { attr.input.call(&iso) })),
            None => Typed::Null,
        },
        Kind::Field(_) | Kind::List => {
            map_field(&col.as_field(), value).map_err(|e| e.to_string())?
        }
    };
    // SAFETY: the caller's contract is typed_datum's.
    unsafe { typed_datum(attr, typed) }
}

/// A typed value as the column's datum: built directly for the column's native type where that
/// is exact, through the input function otherwise.
///
/// # Safety
/// As [`value_datum`].
unsafe fn typed_datum(attr: &mut AttrPlan, typed: Typed) -> Result<Option<pg_sys::Datum>, String> {
    let native = attr.native;
    Ok(match typed {
        Typed::Null => None,
        // Postgres text cannot hold NUL; EasyCars data that carries one keeps a visible marker.
        Typed::Text(s) if native && s.contains('\0') => s.replace('\0', "\u{FFFD}").into_datum(),
        Typed::Text(s) if native => s.into_datum(),
        Typed::Int(i) if native => Some(
            i32::try_from(i)
                .map_err(|_| format!("{} = {i} is out of range for integer", attr.column.name))?
                .into(),
        ),
        Typed::Bool(b) if native => b.into_datum(),
        Typed::TextList(v) if native && attr.typid == pg_sys::TEXTARRAYOID => v.into_datum(),
        // SAFETY: the caller's contract is InputFn::call's.
        Typed::Text(s) | Typed::Number(s) => Some(unsafe { attr.input.call(&s) }),
        // SAFETY: the caller's contract is InputFn::call's.
        Typed::Int(i) => Some(unsafe { attr.input.call(&i.to_string()) }),
        // SAFETY: the caller's contract is InputFn::call's.
        Typed::Bool(b) => Some(unsafe { attr.input.call(if b { "true" } else { "false" }) }),
        Typed::Date { year, month, day } => {
            // SAFETY: the caller's contract is InputFn::call's.
            Some(unsafe { attr.input.call(&format!("{year:04}-{month:02}-{day:02}")) })
        }
        Typed::TextList(v) => {
            let json = serde_json::to_string(&v).unwrap_or_default();
            let literal = format!("{{{}}}", &json[1..json.len().saturating_sub(1)]);
            // SAFETY: the caller's contract is InputFn::call's.
            Some(unsafe { attr.input.call(&literal) })
        }
    })
}

/// Lower-case hex of a digest.
fn hex(digest: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    digest
        .iter()
        .flat_map(|b| {
            [
                HEX[(b >> 4) as usize] as char,
                HEX[(b & 15) as usize] as char,
            ]
        })
        .collect()
}

/// `05/10/2025 14:03:27` (Sydney local time) as `2025-10-05 14:03:27 Australia/Sydney`, which
/// `timestamptz`'s input function reads with the right offset for that date.
fn sydney_to_iso(s: &str) -> Option<String> {
    let (date, time) = s.trim().split_once(' ')?;
    let mut parts = date.split('/');
    let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
    let all_digits = |x: &str, n: usize| x.len() == n && x.bytes().all(|b| b.is_ascii_digit());
    if !(all_digits(d, 2) && all_digits(m, 2) && all_digits(y, 4)) || time.len() != 8 {
        return None;
    }
    Some(format!("{y}-{m}-{d} {time} Australia/Sydney"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sydney_times_become_zoned_timestamps() {
        assert_eq!(
            sydney_to_iso(" 05/10/2025 14:03:27 ").as_deref(),
            Some("2025-10-05 14:03:27 Australia/Sydney")
        );
        for bad in [
            "",
            "05/10/2025",
            "5/10/2025 14:03:27",
            "05/10/25 14:03:27",
            "05/10/2025 14:03",
        ] {
            assert_eq!(sydney_to_iso(bad), None, "{bad}");
        }
    }

    #[test]
    fn digests_are_lower_case_hex() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
    }
}
