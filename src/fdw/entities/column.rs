//! How an entity describes its columns: name, JSON key and how the value is produced. The same
//! description drives the scans, the writes and `IMPORT FOREIGN SCHEMA`, so they never disagree.

use easycars_api::stock_fields::{FieldKind, StockField};

/// How a column's value is produced from the JSON item.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A field mapped by its catalogue kind (text, integer, numeric, boolean, date, comma list as text).
    Field(FieldKind),
    /// A comma-separated field split into `text[]`.
    List,
    /// `dd/MM/yyyy HH:mm:ss` in Sydney local time, as `timestamptz`.
    SydneyTimestamp,
    /// A JSON object or array kept as `jsonb` (the whole item for `raw`).
    Json,
    /// The label of an enum code (e.g. Rating 3 → Hot).
    Label(fn(i32) -> Option<&'static str>),
    /// MD5 (hex) of the item's JSON text as received: a cheap way to see that it changed.
    RawMd5,
}

impl Kind {
    pub fn sql_type(self) -> &'static str {
        match self {
            Kind::Field(FieldKind::Text)
            | Kind::Field(FieldKind::CommaList)
            | Kind::Label(_)
            | Kind::RawMd5 => "text",
            Kind::Field(FieldKind::Integer) => "integer",
            Kind::Field(FieldKind::Number) => "numeric",
            Kind::Field(FieldKind::Boolean) | Kind::Field(FieldKind::NullableBoolean) => "boolean",
            Kind::Field(FieldKind::DateDdMmYyyy) => "date",
            Kind::List => "text[]",
            Kind::SydneyTimestamp => "timestamptz",
            Kind::Json => "jsonb",
        }
    }
}

/// One column of a foreign table.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: &'static str,
    /// The JSON key it comes from (`""` for the whole item).
    pub key: &'static str,
    pub kind: Kind,
    /// Whether INSERT may set it (leads, quotations).
    pub writable: bool,
}

impl Column {
    /// A catalogue-shaped field description, so stock and lead values share one mapping.
    pub fn as_field(&self) -> StockField {
        let kind = match self.kind {
            // The comma-joined text column keeps the string exactly as received.
            Kind::Field(FieldKind::CommaList) => FieldKind::Text,
            Kind::Field(k) => k,
            Kind::List => FieldKind::CommaList,
            Kind::SydneyTimestamp | Kind::Json | Kind::Label(_) | Kind::RawMd5 => FieldKind::Text,
        };
        StockField {
            json_key: self.key,
            column: self.name,
            kind,
            nullable: true,
            doc: "",
        }
    }
}

/// `col!("name", "JsonKey", kind, writable)`: one [`Column`] of a static column list.
macro_rules! col {
    ($name:literal, $key:literal, $kind:expr, $writable:literal) => {
        $crate::fdw::entities::column::Column {
            name: $name,
            key: $key,
            kind: $kind,
            writable: $writable,
        }
    };
}
pub(crate) use col;

/// Shorthands for the column lists.
pub const T: Kind = Kind::Field(FieldKind::Text);
pub const I: Kind = Kind::Field(FieldKind::Integer);
pub const N: Kind = Kind::Field(FieldKind::Number);
pub const B: Kind = Kind::Field(FieldKind::NullableBoolean);
