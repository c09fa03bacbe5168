//! The foreign tables easycars offers: one static description per entity drives both the scans
//! and `IMPORT FOREIGN SCHEMA`, so the two can never disagree.

use easycars_api::stock_fields::{FieldKind, StockField, STOCK_FIELDS};
use std::sync::OnceLock;

/// An EasyCars entity behind a foreign table (table option `entity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Stock,
    Leads,
    Contacts,
    Quotations,
}

impl Entity {
    pub const ALL: [Entity; 4] = [
        Entity::Stock,
        Entity::Leads,
        Entity::Contacts,
        Entity::Quotations,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Entity::Stock => "stock",
            Entity::Leads => "leads",
            Entity::Contacts => "contacts",
            Entity::Quotations => "quotations",
        }
    }

    pub fn from_name(name: &str) -> Option<Entity> {
        Entity::ALL.into_iter().find(|e| e.name() == name)
    }

    pub fn code(self) -> i32 {
        self as i32
    }

    pub fn from_code(code: i32) -> Option<Entity> {
        Entity::ALL.into_iter().find(|e| e.code() == code)
    }

    /// What the foreign table is for, for its COMMENT.
    pub fn comment(self) -> &'static str {
        match self {
            Entity::Stock => "EasyCars stock (GetAdvertisementStocks): all 72 fields typed, list columns split, and the raw item. WHERE yard_code = ... is sent as YardCode.",
            Entity::Leads => "EasyCars leads (GetLeadDetail): needs WHERE lead_number = ... or lead_number = ANY(...). INSERT calls CreateLead, UPDATE calls UpdateLead with the changed fields; see easycars.fdw_insert_results().",
            Entity::Contacts => "EasyCars contacts (SearchContacts): needs WHERE name = ..., email = ... or phone = ... (name matches as a substring in EasyCars, then exactly here).",
            Entity::Quotations => "EasyCars quotations: INSERT only (CreateQuotation); see easycars.fdw_insert_results() for the quote numbers.",
        }
    }

    /// The column the modify path identifies rows by (`rowid_column` table option).
    pub fn rowid_column(self) -> Option<&'static str> {
        match self {
            Entity::Leads => Some("lead_number"),
            Entity::Quotations => Some("quote_number"),
            Entity::Stock | Entity::Contacts => None,
        }
    }

    /// Columns that may be pushed down to EasyCars as request fields, with the request key.
    pub fn pushable(self) -> &'static [(&'static str, &'static str)] {
        match self {
            // stock_number has no EasyCars request field: the wrapper filters on it before it
            // builds any row (the sync fetches only new and changed vehicles that way).
            Entity::Stock => &[("yard_code", "YardCode"), ("stock_number", "")],
            Entity::Leads => &[("lead_number", "LeadNumber")],
            Entity::Contacts => &[("name", "Name"), ("email", "Email"), ("phone", "Phone")],
            Entity::Quotations => &[],
        }
    }

    pub fn columns(self) -> &'static [Column] {
        static STOCK: OnceLock<Vec<Column>> = OnceLock::new();
        match self {
            Entity::Stock => STOCK.get_or_init(stock_columns),
            Entity::Leads => LEAD_COLUMNS,
            Entity::Contacts => CONTACT_COLUMNS,
            Entity::Quotations => QUOTATION_COLUMNS,
        }
    }

    pub fn column(self, name: &str) -> Option<&'static Column> {
        self.columns().iter().find(|c| c.name == name)
    }

    /// `CREATE FOREIGN TABLE` for this entity, as `IMPORT FOREIGN SCHEMA` issues it.
    pub fn create_statement(self, schema: &str, server: &str) -> String {
        self.create_statement_named(schema, self.name(), server)
    }

    /// The same under another table name.
    pub fn create_statement_named(self, schema: &str, table: &str, server: &str) -> String {
        let cols = self
            .columns()
            .iter()
            .map(|c| format!("    {} {}", quote_ident(c.name), c.kind.sql_type()))
            .collect::<Vec<_>>()
            .join(",\n");
        let mut options = vec![format!("entity '{}'", self.name())];
        if let Some(rowid) = self.rowid_column() {
            options.push(format!("rowid_column '{rowid}'"));
        }
        format!(
            "CREATE FOREIGN TABLE {}.{} (\n{cols}\n) SERVER {} OPTIONS ({})",
            quote_ident(schema),
            quote_ident(table),
            quote_ident(server),
            options.join(", ")
        )
    }
}

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

fn stock_columns() -> Vec<Column> {
    let mut cols: Vec<Column> = STOCK_FIELDS
        .iter()
        .map(|f| Column {
            name: f.column,
            key: f.json_key,
            kind: Kind::Field(f.kind),
            writable: false,
        })
        .collect();
    for f in STOCK_FIELDS
        .iter()
        .filter(|f| f.kind == FieldKind::CommaList)
    {
        let name: &'static str = Box::leak(format!("{}_list", f.column).into_boxed_str());
        cols.push(Column {
            name,
            key: f.json_key,
            kind: Kind::List,
            writable: false,
        });
    }
    cols.push(Column {
        name: "raw_md5",
        key: "",
        kind: Kind::RawMd5,
        writable: false,
    });
    cols.push(Column {
        name: "raw",
        key: "",
        kind: Kind::Json,
        writable: false,
    });
    cols
}

macro_rules! col {
    ($name:literal, $key:literal, $kind:expr, $writable:literal) => {
        Column {
            name: $name,
            key: $key,
            kind: $kind,
            writable: $writable,
        }
    };
}

use easycars_api::wire::{FinanceStatus, Rating, VehicleInterest, VehicleType};

const T: Kind = Kind::Field(FieldKind::Text);
const I: Kind = Kind::Field(FieldKind::Integer);
const N: Kind = Kind::Field(FieldKind::Number);
const B: Kind = Kind::Field(FieldKind::NullableBoolean);

fn vehicle_type_label(c: i32) -> Option<&'static str> {
    VehicleType::from_code(c).map(|v| v.label())
}
fn vehicle_interest_label(c: i32) -> Option<&'static str> {
    VehicleInterest::from_code(c).map(|v| v.label())
}
fn finance_status_label(c: i32) -> Option<&'static str> {
    FinanceStatus::from_code(c).map(|v| v.label())
}
fn rating_label(c: i32) -> Option<&'static str> {
    Rating::from_code(c).map(|v| v.label())
}

static LEAD_COLUMNS: &[Column] = &[
    col!("lead_number", "LeadNumber", T, true),
    col!("stock_number", "StockNumber", T, true),
    col!("vehicle_make", "VehicleMake", T, true),
    col!("vehicle_model", "VehicleModel", T, true),
    col!("vehicle_price", "VehiclePrice", N, true),
    col!("vehicle_type", "VehicleType", I, true),
    col!(
        "vehicle_type_label",
        "VehicleType",
        Kind::Label(vehicle_type_label),
        false
    ),
    col!("vehicle_year", "VehicleYear", I, true),
    col!("is_vehicle_new", "IsVehicleNew", B, true),
    col!("vehicle_interest", "VehicleInterest", I, true),
    col!(
        "vehicle_interest_label",
        "VehicleInterest",
        Kind::Label(vehicle_interest_label),
        false
    ),
    col!("notes", "Notes", T, true),
    col!("vehicle_source_page_url", "VehicleSourcePageURL", T, true),
    col!("finance_status", "FinanceStatus", I, true),
    col!(
        "finance_status_label",
        "FinanceStatus",
        Kind::Label(finance_status_label),
        false
    ),
    col!("rating", "Rating", I, true),
    col!("rating_label", "Rating", Kind::Label(rating_label), false),
    col!("lead_status", "LeadStatus", I, true),
    col!("external_id", "ExternalID", T, true),
    col!(
        "created_at",
        "CreatedDateTime",
        Kind::SydneyTimestamp,
        false
    ),
    col!("customer_no", "CustomerNo", T, true),
    col!("customer_name", "CustomerName", T, true),
    col!("customer_email", "CustomerEmail", T, true),
    col!("customer_address", "CustomerAddress", T, true),
    col!("customer_city", "CustomerCity", T, true),
    col!("customer_state", "CustomerState", T, true),
    col!("customer_postcode", "CustomerPostCode", T, true),
    col!("customer_fax", "CustomerFax", T, true),
    col!("customer_phone", "CustomerPhone", T, true),
    col!("customer_mobile", "CustomerMobile", T, true),
    col!("raw", "", Kind::Json, false),
];

static CONTACT_COLUMNS: &[Column] = &[
    col!("customer_no", "CustomerNo", T, false),
    col!("name", "Name", T, false),
    col!("email", "Email", T, false),
    col!("phone", "Phone", T, false),
    col!("mobile", "Mobile", T, false),
    col!("address", "Address", T, false),
    col!("city", "City", T, false),
    col!("state", "State", T, false),
    col!("postcode", "PostCode", T, false),
    col!("country", "Country", T, false),
    col!("abn", "ABN", T, false),
    col!("raw", "", Kind::Json, false),
];

static QUOTATION_COLUMNS: &[Column] = &[
    col!("quote_number", "QuoteNumber", T, false),
    col!("lead_number", "LeadNumber", T, true),
    col!("yard_code", "YardCode", T, true),
    col!("stock_number", "StockNumber", T, true),
    col!("vehicle_make", "VehicleMake", T, true),
    col!("vehicle_model", "VehicleModel", T, true),
    col!("vehicle_type", "VehicleType", I, true),
    col!("is_vehicle_new", "IsVehicleNew", B, true),
    col!("vehicle_year", "VehicleYear", I, true),
    col!(
        "quote_date",
        "QuoteDate",
        Kind::Field(FieldKind::DateDdMmYyyy),
        true
    ),
    col!("base_price", "BasePrice", N, true),
    col!("selling_price", "SellingPrice", N, true),
    col!("rego_state", "RegoState", T, true),
    col!("customer", "QuotationCustomer1", Kind::Json, true),
    col!("details", "", Kind::Json, true),
    col!("customer_no", "CustomerNo1", T, false),
];

/// `quote_ident` for generated DDL: identifiers are quoted unless plain lower-case.
pub fn quote_ident(s: &str) -> String {
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        s.to_owned()
    } else {
        format!("\"{}\"", s.replace('"', "\"\""))
    }
}
