//! The 72 official `StockItem` fields of `GetAdvertisementStocks`, in the order of the EasyCars
//! Stock API Technical Specification V1.01 (its StockItem field list).
//!
//! One static table drives everything that needs to know the stock item's shape: the Postgres
//! foreign table's columns (`column`), type mapping (`kind`, `nullable`) and comments (`doc`),
//! and the simulator's generator. Keep it in the PDF's order.

use serde_json::Value;

/// How a stock field is typed on the wire, per the specification and its single example item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// A JSON string; unset values arrive as `""`, never `null`.
    Text,
    /// A JSON integer (nullable unless [`StockField::nullable`] is false).
    Integer,
    /// A JSON number; whole numbers arrive without decimals (`"GVM": 2440`).
    Number,
    /// A JSON boolean, never null.
    Boolean,
    /// A JSON boolean or `null` (`IsDriveAway`).
    NullableBoolean,
    /// A `dd/mm/yyyy` date string or `null` (`RegoExpiry` only).
    DateDdMmYyyy,
    /// One comma-separated string (no space after commas); `""` when empty
    /// (`StandardFeatures`, `OptionalFeatures`, `ImageURLs`).
    CommaList,
}

/// One official stock item field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockField {
    /// The JSON key exactly as EasyCars spells it (`PowerkW`, `Powerhp`, `ImageURLs`, ...).
    pub json_key: &'static str,
    /// The snake_case Postgres column name used by the foreign table.
    pub column: &'static str,
    /// The wire type.
    pub kind: FieldKind,
    /// Whether the value may be JSON `null` (numbers other than `YearGroup`/`ImageCount`,
    /// `IsDriveAway`, `RegoExpiry`).
    pub nullable: bool,
    /// One-line description (used for column comments).
    pub doc: &'static str,
}

const fn f(
    json_key: &'static str,
    column: &'static str,
    kind: FieldKind,
    nullable: bool,
    doc: &'static str,
) -> StockField {
    StockField {
        json_key,
        column,
        kind,
        nullable,
        doc,
    }
}

/// The 72 official `StockItem` fields in the specification's order.
pub static STOCK_FIELDS: [StockField; 72] = [
    f(
        "YardCode",
        "yard_code",
        FieldKind::Text,
        false,
        "yard id (example \"100\")",
    ),
    f("YardName", "yard_name", FieldKind::Text, false, "yard name"),
    f(
        "StockNumber",
        "stock_number",
        FieldKind::Text,
        false,
        "dealer stock number (example \"12\")",
    ),
    f(
        "Make",
        "make",
        FieldKind::Text,
        false,
        "make; the example is upper-case (VOLVO)",
    ),
    f("Model", "model", FieldKind::Text, false, "model"),
    f(
        "Badge",
        "badge",
        FieldKind::Text,
        false,
        "badge; may have a trailing space",
    ),
    f(
        "RegoNum",
        "rego_num",
        FieldKind::Text,
        false,
        "registration plate; \"\" if none",
    ),
    f("VIN", "vin", FieldKind::Text, false, "VIN; \"\" if none"),
    f("Price", "price", FieldKind::Number, true, "price"),
    f(
        "YearGroup",
        "year_group",
        FieldKind::Integer,
        false,
        "model year (never null)",
    ),
    f(
        "Odometer",
        "odometer",
        FieldKind::Integer,
        true,
        "odometer reading (km, or miles when IsMiles)",
    ),
    f(
        "Body",
        "body",
        FieldKind::Text,
        false,
        "body, e.g. \"4D WAGON\"",
    ),
    f(
        "Colour",
        "colour",
        FieldKind::Text,
        false,
        "exterior colour",
    ),
    f(
        "EngineCapacity",
        "engine_capacity",
        FieldKind::Text,
        false,
        "engine capacity, e.g. \"2.0L\"",
    ),
    f(
        "GearType",
        "gear_type",
        FieldKind::Text,
        false,
        "transmission, e.g. \"8 SP AUTOMATIC\"",
    ),
    f("FuelType", "fuel_type", FieldKind::Text, false, "fuel type"),
    f(
        "AdvDescription",
        "adv_description",
        FieldKind::Text,
        false,
        "advert text",
    ),
    f(
        "Series",
        "series",
        FieldKind::Text,
        false,
        "series; may have a trailing space",
    ),
    f(
        "AdvSpecialPrice",
        "adv_special_price",
        FieldKind::Number,
        true,
        "advertised special price",
    ),
    f(
        "IsDemo",
        "is_demo",
        FieldKind::Boolean,
        false,
        "demonstrator vehicle",
    ),
    f(
        "IsSpecial",
        "is_special",
        FieldKind::Boolean,
        false,
        "on special",
    ),
    f(
        "IsPrestiged",
        "is_prestiged",
        FieldKind::Boolean,
        false,
        "prestige vehicle",
    ),
    f(
        "StockType",
        "stock_type",
        FieldKind::Text,
        false,
        "A=Car, B=Boat, C=Caravan/Camper, H=Heavy truck/bus, M=Motorbike, T=Trailer",
    ),
    f(
        "IsUsed",
        "is_used",
        FieldKind::Boolean,
        false,
        "false = new",
    ),
    f(
        "RegoExpiry",
        "rego_expiry",
        FieldKind::DateDdMmYyyy,
        true,
        "registration expiry, dd/mm/yyyy or null",
    ),
    f(
        "VideoLink",
        "video_link",
        FieldKind::Text,
        false,
        "video link",
    ),
    f(
        "DriveTrain",
        "drive_train",
        FieldKind::Text,
        false,
        "AWD/FWD/RWD/4X4...",
    ),
    f(
        "DoorNum",
        "door_num",
        FieldKind::Integer,
        true,
        "number of doors",
    ),
    f(
        "Cylinder",
        "cylinder",
        FieldKind::Text,
        false,
        "cylinders as text, e.g. \"TT4\", \"V6\"",
    ),
    f(
        "ShortDescription",
        "short_description",
        FieldKind::Text,
        false,
        "short description",
    ),
    f(
        "EngineTypeDescription",
        "engine_type_description",
        FieldKind::Text,
        false,
        "engine type description",
    ),
    f(
        "EngineSize",
        "engine_size",
        FieldKind::Number,
        true,
        "engine size in cc (e.g. 1969)",
    ),
    f(
        "StockStatus",
        "stock_status",
        FieldKind::Text,
        false,
        "e.g. \"On Offer\", \"In Stock\", \"Sold\"",
    ),
    f(
        "GCM",
        "gcm",
        FieldKind::Number,
        true,
        "gross combination mass",
    ),
    f("GVM", "gvm", FieldKind::Number, true, "gross vehicle mass"),
    f("Tare", "tare", FieldKind::Number, true, "tare mass"),
    f(
        "SleepingCapacity",
        "sleeping_capacity",
        FieldKind::Integer,
        true,
        "sleeping capacity (caravans)",
    ),
    f("Toilet", "toilet", FieldKind::Text, false, "toilet (text)"),
    f("Shower", "shower", FieldKind::Text, false, "shower (text)"),
    f(
        "AirConditioning",
        "air_conditioning",
        FieldKind::Text,
        false,
        "air conditioning; a string, not a boolean (example \"\")",
    ),
    f("Fridge", "fridge", FieldKind::Text, false, "fridge (text)"),
    f("Stereo", "stereo", FieldKind::Text, false, "stereo (text)"),
    f(
        "SeatCapacity",
        "seat_capacity",
        FieldKind::Integer,
        true,
        "number of seats",
    ),
    f(
        "RegoState",
        "rego_state",
        FieldKind::Text,
        false,
        "registration state: NSW, VIC, QLD...",
    ),
    f(
        "AdditionalDescription",
        "additional_description",
        FieldKind::Text,
        false,
        "additional description",
    ),
    f(
        "IsDriveAway",
        "is_drive_away",
        FieldKind::NullableBoolean,
        true,
        "drive-away price (nullable)",
    ),
    f(
        "InteriorColor",
        "interior_color",
        FieldKind::Text,
        false,
        "interior colour (US spelling in the key)",
    ),
    f(
        "BuiltDate",
        "built_date",
        FieldKind::Text,
        false,
        "build date; format unspecified (example \"\")",
    ),
    f(
        "ComplianceDate",
        "compliance_date",
        FieldKind::Text,
        false,
        "compliance date; format unspecified",
    ),
    f(
        "EngineNumber",
        "engine_number",
        FieldKind::Text,
        false,
        "engine number",
    ),
    f("GPS", "gps", FieldKind::Text, false, "GPS (text)"),
    f(
        "Wheelsize",
        "wheel_size",
        FieldKind::Text,
        false,
        "wheel size as text (example \"0\")",
    ),
    f(
        "TowBallWeight",
        "tow_ball_weight",
        FieldKind::Text,
        false,
        "tow ball weight as text",
    ),
    f(
        "Warranty",
        "warranty",
        FieldKind::Text,
        false,
        "warranty text",
    ),
    f("Wheels", "wheels", FieldKind::Text, false, "wheels text"),
    f(
        "AxleConfiguration",
        "axle_configuration",
        FieldKind::Text,
        false,
        "axle configuration",
    ),
    f(
        "Location",
        "location",
        FieldKind::Text,
        false,
        "location text",
    ),
    f(
        "StandardFeatures",
        "standard_features",
        FieldKind::CommaList,
        false,
        "standard features, one comma-separated string without spaces after commas",
    ),
    f(
        "OptionalFeatures",
        "optional_features",
        FieldKind::CommaList,
        false,
        "optional features, same format as StandardFeatures",
    ),
    f(
        "RedbookCode",
        "redbook_code",
        FieldKind::Text,
        false,
        "Redbook code",
    ),
    f("NVIC", "nvic", FieldKind::Text, false, "NVIC code"),
    f(
        "IsMiles",
        "is_miles",
        FieldKind::Boolean,
        false,
        "odometer is in miles",
    ),
    f(
        "GearCount",
        "gear_count",
        FieldKind::Integer,
        true,
        "number of gears",
    ),
    f(
        "EnginePower",
        "engine_power",
        FieldKind::Number,
        true,
        "engine power",
    ),
    f(
        "PowerkW",
        "power_kw",
        FieldKind::Number,
        true,
        "power in kW",
    ),
    f(
        "Powerhp",
        "power_hp",
        FieldKind::Number,
        true,
        "power in hp (e.g. 231.82)",
    ),
    f(
        "EngineMake",
        "engine_make",
        FieldKind::Text,
        false,
        "engine make",
    ),
    f(
        "SerialNumber",
        "serial_number",
        FieldKind::Text,
        false,
        "serial number",
    ),
    f(
        "Length",
        "length",
        FieldKind::Number,
        true,
        "length in metres",
    ),
    f(
        "IsDepositTaken",
        "is_deposit_taken",
        FieldKind::Boolean,
        false,
        "a deposit has been taken",
    ),
    f(
        "ImageCount",
        "image_count",
        FieldKind::Integer,
        false,
        "number of image URLs (never null)",
    ),
    f(
        "ImageURLs",
        "image_urls",
        FieldKind::CommaList,
        false,
        "one comma-separated string of absolute image URLs; \"\" when there are none",
    ),
];

/// Look a field up by its exact JSON key.
pub fn field_by_key(json_key: &str) -> Option<&'static StockField> {
    STOCK_FIELDS.iter().find(|f| f.json_key == json_key)
}

/// Look a field up by its Postgres column name.
pub fn field_by_column(column: &str) -> Option<&'static StockField> {
    STOCK_FIELDS.iter().find(|f| f.column == column)
}

/// Position of a field in [`STOCK_FIELDS`] by JSON key.
pub fn field_index(json_key: &str) -> Option<usize> {
    STOCK_FIELDS.iter().position(|f| f.json_key == json_key)
}

/// True if `s` is a `dd/mm/yyyy` date (digits only; day 1-31, month 1-12).
pub fn is_dd_mm_yyyy(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[2] != b'/' || b[5] != b'/' {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if !(digits(0..2) && digits(3..5) && digits(6..10)) {
        return false;
    }
    let day: u32 = s[0..2].parse().unwrap_or(0);
    let month: u32 = s[3..5].parse().unwrap_or(0);
    (1..=31).contains(&day) && (1..=12).contains(&month)
}

impl StockField {
    /// Whether `value` has the JSON type this field's kind promises (nullability included).
    /// `DateDdMmYyyy` also accepts `""`, which is how an unset date string may arrive.
    pub fn value_matches(&self, value: &Value) -> bool {
        if value.is_null() {
            return self.nullable;
        }
        match self.kind {
            FieldKind::Text | FieldKind::CommaList => value.is_string(),
            FieldKind::Integer => value.is_i64() || value.is_u64(),
            FieldKind::Number => value.is_number(),
            FieldKind::Boolean | FieldKind::NullableBoolean => value.is_boolean(),
            FieldKind::DateDdMmYyyy => value
                .as_str()
                .is_some_and(|s| s.is_empty() || is_dd_mm_yyyy(s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// The key list exactly as the specification's table has it.
    const DOC_KEYS: &str = "YardCode YardName StockNumber Make Model Badge RegoNum VIN Price YearGroup Odometer Body Colour EngineCapacity GearType FuelType AdvDescription Series AdvSpecialPrice IsDemo IsSpecial IsPrestiged StockType IsUsed RegoExpiry VideoLink DriveTrain DoorNum Cylinder ShortDescription EngineTypeDescription EngineSize StockStatus GCM GVM Tare SleepingCapacity Toilet Shower AirConditioning Fridge Stereo SeatCapacity RegoState AdditionalDescription IsDriveAway InteriorColor BuiltDate ComplianceDate EngineNumber GPS Wheelsize TowBallWeight Warranty Wheels AxleConfiguration Location StandardFeatures OptionalFeatures RedbookCode NVIC IsMiles GearCount EnginePower PowerkW Powerhp EngineMake SerialNumber Length IsDepositTaken ImageCount ImageURLs";

    #[test]
    fn seventy_two_unique_fields_in_doc_order() {
        assert_eq!(STOCK_FIELDS.len(), 72);
        let keys: Vec<&str> = STOCK_FIELDS.iter().map(|f| f.json_key).collect();
        let doc: Vec<&str> = DOC_KEYS.split(' ').collect();
        assert_eq!(keys, doc);
        let uk: HashSet<_> = keys.iter().collect();
        assert_eq!(uk.len(), 72);
        let cols: HashSet<_> = STOCK_FIELDS.iter().map(|f| f.column).collect();
        assert_eq!(cols.len(), 72);
        for f in &STOCK_FIELDS {
            assert!(
                f.column
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                "{}",
                f.column
            );
            assert!(!f.doc.is_empty());
        }
    }

    #[test]
    fn kinds_and_nullability() {
        let k = |key: &str| field_by_key(key).unwrap();
        assert_eq!(k("YearGroup").kind, FieldKind::Integer);
        assert!(!k("YearGroup").nullable);
        assert!(!k("ImageCount").nullable);
        assert!(k("Odometer").nullable);
        assert_eq!(k("RegoExpiry").kind, FieldKind::DateDdMmYyyy);
        assert_eq!(k("ImageURLs").kind, FieldKind::CommaList);
        assert_eq!(k("StandardFeatures").kind, FieldKind::CommaList);
        assert_eq!(k("OptionalFeatures").kind, FieldKind::CommaList);
        assert_eq!(k("AirConditioning").kind, FieldKind::Text);
        assert_eq!(k("IsDriveAway").kind, FieldKind::NullableBoolean);
        assert_eq!(k("Powerhp").column, "power_hp");
        assert_eq!(field_by_column("power_kw").unwrap().json_key, "PowerkW");
        assert_eq!(field_index("ImageURLs"), Some(71));
        let dates = STOCK_FIELDS
            .iter()
            .filter(|f| f.kind == FieldKind::DateDdMmYyyy)
            .count();
        assert_eq!(dates, 1);
        for f in &STOCK_FIELDS {
            let nullable_kind = matches!(
                f.kind,
                FieldKind::Integer
                    | FieldKind::Number
                    | FieldKind::NullableBoolean
                    | FieldKind::DateDdMmYyyy
            );
            if !nullable_kind {
                assert!(!f.nullable, "{}", f.json_key);
            }
        }
    }

    #[test]
    fn value_matching() {
        let k = |key: &str| field_by_key(key).unwrap();
        use serde_json::json;
        assert!(k("Price").value_matches(&json!(48990)));
        assert!(k("Price").value_matches(&json!(null)));
        assert!(!k("Price").value_matches(&json!("48990")));
        assert!(k("YearGroup").value_matches(&json!(2021)));
        assert!(!k("YearGroup").value_matches(&json!(null)));
        assert!(!k("Odometer").value_matches(&json!(1.5)));
        assert!(k("RegoExpiry").value_matches(&json!("14/03/2026")));
        assert!(!k("RegoExpiry").value_matches(&json!("2026-03-14")));
        assert!(k("Make").value_matches(&json!("")));
        assert!(!k("Make").value_matches(&json!(null)));
        assert!(k("IsDriveAway").value_matches(&json!(null)));
        assert!(!k("IsDemo").value_matches(&json!(null)));
        assert!(is_dd_mm_yyyy("01/12/2025"));
        assert!(!is_dd_mm_yyyy("32/12/2025"));
        assert!(!is_dd_mm_yyyy("1/12/2025"));
    }
}
