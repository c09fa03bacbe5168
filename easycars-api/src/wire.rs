//! Serde types for every EasyCars request and response body, in the form EasyCars documents
//! (Stock and Lead services, enums, result codes).
//!
//! Keys are PascalCase with EasyCars' exact spellings (`ClientID`, `ExternalID`,
//! `VehicleSourcePageURL`, `ImageURLs`, ...). Every response carries the envelope
//! `Code` / `ErrorMessage`. Stock items are kept as untyped JSON objects ([`StockItem`]) so that
//! consumers can keep an item exactly as received; [`crate::stock_fields`] describes their keys.
//!
//! Enumerated values are carried as plain `i32` on the wire (an unknown code must not make a
//! whole response unparseable); the typed enums below ([`VehicleType`], [`LeadStatus`], ...)
//! convert with `from_code` / `code` / `label`.
//!
//! Request bodies use `Option` fields with `skip_serializing_if = "Option::is_none"`, so an
//! `UpdateLead` sends only the fields that changed. These types hold no simulator or client logic.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// One stock item exactly as received: an object with (normally) the 72 keys of
/// [`crate::stock_fields::STOCK_FIELDS`].
pub type StockItem = Map<String, Value>;

/// Deserialize `null` (or a missing key, with `#[serde(default)]`) as `T::default()`.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

// ---------------------------------------------------------------------------------------------
// Envelope and result codes
// ---------------------------------------------------------------------------------------------

/// The envelope every response carries. Error responses (`"Invalid token."`) consist of it alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Envelope {
    /// Result code; see [`ResultCode`].
    pub code: i32,
    /// Error text, `null` on success.
    #[serde(default)]
    pub error_message: Option<String>,
}

/// The documented result codes of the `Code` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResultCode {
    /// 0: Success.
    Success,
    /// 1: AuthenticationFail (bad or expired token, bad credentials).
    AuthenticationFail,
    /// 5: Warning.
    Warning,
    /// 7: Failed (validation error, lead not found, ...).
    Failed,
    /// 9: SystemError.
    SystemError,
}

impl ResultCode {
    /// All documented codes.
    pub const ALL: [ResultCode; 5] = [
        ResultCode::Success,
        ResultCode::AuthenticationFail,
        ResultCode::Warning,
        ResultCode::Failed,
        ResultCode::SystemError,
    ];

    /// The code for a wire value, `None` if undocumented.
    pub fn from_code(code: i32) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }

    /// The wire value.
    pub fn code(self) -> i32 {
        match self {
            ResultCode::Success => 0,
            ResultCode::AuthenticationFail => 1,
            ResultCode::Warning => 5,
            ResultCode::Failed => 7,
            ResultCode::SystemError => 9,
        }
    }

    /// The documented name.
    pub fn label(self) -> &'static str {
        match self {
            ResultCode::Success => "Success",
            ResultCode::AuthenticationFail => "AuthenticationFail",
            ResultCode::Warning => "Warning",
            ResultCode::Failed => "Failed",
            ResultCode::SystemError => "SystemError",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Lead API enums
// ---------------------------------------------------------------------------------------------

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $code:literal => $label:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $variant),+
        }

        impl $name {
            /// Every value, in code order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value for a wire code, `None` if out of range.
            pub fn from_code(code: i32) -> Option<Self> {
                match code {
                    $($code => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The wire code.
            pub fn code(self) -> i32 {
                match self {
                    $($name::$variant => $code,)+
                }
            }

            /// The documented label.
            pub fn label(self) -> &'static str {
                match self {
                    $($name::$variant => $label,)+
                }
            }
        }
    };
}

wire_enum! {
    /// `VehicleType` of a lead, quotation or trade-in.
    VehicleType {
        /// 1
        Car = 1 => "Car",
        /// 2
        MotorBike = 2 => "MotorBike",
        /// 3
        Boat = 3 => "Boat",
        /// 4
        Caravan = 4 => "Caravan",
        /// 5
        TruckOrBus = 5 => "TruckOrBus",
        /// 6
        Trailer = 6 => "Trailer",
    }
}

wire_enum! {
    /// `VehicleInterest` of a lead.
    VehicleInterest {
        /// 1
        Buy = 1 => "Buy",
        /// 2
        Lease = 2 => "Lease",
        /// 3
        Sell = 3 => "Sell",
        /// 4
        TestDrive = 4 => "TestDrive",
        /// 5
        Service = 5 => "Service",
    }
}

wire_enum! {
    /// `FinanceStatus` of a lead.
    FinanceStatus {
        /// 1
        Yes = 1 => "Yes",
        /// 2
        No = 2 => "No",
        /// 3
        Maybe = 3 => "Maybe",
    }
}

wire_enum! {
    /// `Rating` of a lead (1 is cold, 3 is hot).
    Rating {
        /// 1
        Cold = 1 => "Cold",
        /// 2
        Warm = 2 => "Warm",
        /// 3
        Hot = 3 => "Hot",
    }
}

wire_enum! {
    /// `LeadStatus` (UpdateLead only). A deleted lead cannot be reactivated.
    LeadStatus {
        /// 10
        New = 10 => "New",
        /// 30
        InProgress = 30 => "In Progress",
        /// 50
        Won = 50 => "Won",
        /// 60
        Lost = 60 => "Lost",
        /// 90
        Deleted = 90 => "Deleted",
    }
}

wire_enum! {
    /// `PaymentMethod` of a quotation receipt.
    PaymentMethod {
        /// 1
        Cash = 1 => "Cash",
        /// 2
        CreditCard = 2 => "CreditCard",
        /// 3
        Cheque = 3 => "Cheque",
        /// 4
        BankTransfer = 4 => "BankTransfer",
        /// 5
        Bpay = 5 => "BPAY",
        /// 6
        Eftpos = 6 => "EFTPOS",
        /// 9
        Other = 9 => "Other",
    }
}

wire_enum! {
    /// `ExtraType` of a quotation extra.
    ExtraType {
        /// 1
        Extra = 1 => "Extra",
        /// 4
        Registration = 4 => "Registration",
        /// 5
        Ctp = 5 => "CTP",
        /// 6
        StampDuty = 6 => "StampDuty",
        /// 7
        Lct = 7 => "LCT",
        /// 8
        DealerDelivery = 8 => "DealerDelivery",
        /// 9
        ExtendedWarranty = 9 => "ExtendedWarranty",
    }
}

// ---------------------------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------------------------

/// `RequestToken` response (the request is query parameters `ClientID` / `ClientSecret` only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TokenResponse {
    /// The HS256 JWT, `null` on failure.
    #[serde(default)]
    pub token: Option<String>,
    /// Result code.
    pub code: i32,
    /// Error text.
    #[serde(default)]
    pub error_message: Option<String>,
}

/// The JWT payload EasyCars issues (`exp - iat = 600`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    /// The integrator's ClientID.
    #[serde(rename = "ClientID")]
    pub client_id: String,
    /// Not before (unix seconds).
    pub nbf: i64,
    /// Expiry (unix seconds).
    pub exp: i64,
    /// Issued at (unix seconds).
    pub iat: i64,
}

// ---------------------------------------------------------------------------------------------
// Stock API
// ---------------------------------------------------------------------------------------------

/// `GetAdvertisementStocks` request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StockRequest {
    /// Dealer account (`EC` + 6 digits).
    pub account_number: String,
    /// Dealer account secret (lowercase GUID).
    pub account_secret: String,
    /// Only this yard's stock; absent means all yards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yard_code: Option<String>,
}

/// `GetAdvertisementStocks` response. A missing or `null` `StockList` (error responses) reads
/// as an empty list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StockResponse {
    /// The items, exactly as received.
    #[serde(default, deserialize_with = "null_as_default")]
    pub stock_list: Vec<StockItem>,
    /// Result code.
    pub code: i32,
    /// Error text.
    #[serde(default)]
    pub error_message: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Lead API
// ---------------------------------------------------------------------------------------------

/// `CustomerModel`: either `CustomerNo` or `Name` + `Email` is required.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomerModel {
    /// Existing customer number (≤20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_no: Option<String>,
    /// Full name (≤100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Email (≤100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Address (≤200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// City (≤50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// State, e.g. "NSW".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Post code (≤10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_code: Option<String>,
    /// Fax (≤20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fax: Option<String>,
    /// Phone (≤20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Mobile (≤20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
}

/// `CreateLead` request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateLeadRequest {
    /// Dealer account (≤20).
    pub account_number: String,
    /// Dealer account secret (≤50).
    pub account_secret: String,
    /// Stock number (≤20); links the lead to that stock if it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_number: Option<String>,
    /// Required (≤100).
    pub vehicle_make: String,
    /// Required (≤50).
    pub vehicle_model: String,
    /// Price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vehicle_price: Option<f64>,
    /// Required; [`VehicleType`].
    pub vehicle_type: i32,
    /// Required.
    pub vehicle_year: i32,
    /// Required.
    pub is_vehicle_new: bool,
    /// Required; [`VehicleInterest`].
    pub vehicle_interest: i32,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Source page (≤400).
    #[serde(
        rename = "VehicleSourcePageURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub vehicle_source_page_url: Option<String>,
    /// [`FinanceStatus`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finance_status: Option<i32>,
    /// [`Rating`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<i32>,
    /// The caller's own transaction id (≤50).
    #[serde(
        rename = "ExternalID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub external_id: Option<String>,
    /// Required customer.
    pub lead_customer: CustomerModel,
}

/// `UpdateLead` request body: only present fields change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateLeadRequest {
    /// Dealer account.
    pub account_number: String,
    /// Dealer account secret.
    pub account_secret: String,
    /// The lead to update (≤20).
    pub lead_number: String,
    /// New price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vehicle_price: Option<f64>,
    /// New [`VehicleInterest`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vehicle_interest: Option<i32>,
    /// New notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// New source page.
    #[serde(
        rename = "VehicleSourcePageURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub vehicle_source_page_url: Option<String>,
    /// New [`FinanceStatus`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finance_status: Option<i32>,
    /// New [`Rating`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<i32>,
    /// New [`LeadStatus`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_status: Option<i32>,
    /// New customer (CustomerNo or Name+Email rule applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_customer: Option<CustomerModel>,
}

/// `CreateLead` and `UpdateLead` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LeadResponse {
    /// Zero-padded 6-digit lead number.
    #[serde(default)]
    pub lead_number: Option<String>,
    /// Zero-padded 5-digit customer number.
    #[serde(default)]
    pub customer_no: Option<String>,
    /// Result code.
    pub code: i32,
    /// Error text.
    #[serde(default)]
    pub error_message: Option<String>,
}

/// `GetLeadDetail` request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LeadDetailRequest {
    /// Dealer account.
    pub account_number: String,
    /// Dealer account secret.
    pub account_secret: String,
    /// The lead (≤20).
    pub lead_number: String,
}

/// `GetLeadDetail` response. The documented response has no `LeadStatus`; `lead_status` is only
/// filled by servers that add it (the simulator's `--include-lead-status`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LeadDetailResponse {
    /// Lead number.
    #[serde(default)]
    pub lead_number: Option<String>,
    /// Stock number, `null` if the lead is not linked to stock.
    #[serde(default)]
    pub stock_number: Option<String>,
    /// Make.
    #[serde(default)]
    pub vehicle_make: Option<String>,
    /// Model.
    #[serde(default)]
    pub vehicle_model: Option<String>,
    /// Price (sent with four decimals, e.g. `25000.0000`).
    #[serde(default)]
    pub vehicle_price: Option<f64>,
    /// [`VehicleType`].
    #[serde(default)]
    pub vehicle_type: Option<i32>,
    /// Year.
    #[serde(default)]
    pub vehicle_year: Option<i32>,
    /// New vehicle.
    #[serde(default)]
    pub is_vehicle_new: Option<bool>,
    /// [`VehicleInterest`].
    #[serde(default)]
    pub vehicle_interest: Option<i32>,
    /// Notes.
    #[serde(default)]
    pub notes: Option<String>,
    /// Source page.
    #[serde(rename = "VehicleSourcePageURL", default)]
    pub vehicle_source_page_url: Option<String>,
    /// [`FinanceStatus`].
    #[serde(default)]
    pub finance_status: Option<i32>,
    /// [`Rating`].
    #[serde(default)]
    pub rating: Option<i32>,
    /// The caller's transaction id.
    #[serde(rename = "ExternalID", default)]
    pub external_id: Option<String>,
    /// `dd/MM/yyyy HH:mm:ss`, Sydney local time.
    #[serde(default)]
    pub created_date_time: Option<String>,
    /// Customer number.
    #[serde(default)]
    pub customer_no: Option<String>,
    /// Customer name.
    #[serde(default)]
    pub customer_name: Option<String>,
    /// Customer email.
    #[serde(default)]
    pub customer_email: Option<String>,
    /// Customer address.
    #[serde(default)]
    pub customer_address: Option<String>,
    /// Customer city.
    #[serde(default)]
    pub customer_city: Option<String>,
    /// Customer state.
    #[serde(default)]
    pub customer_state: Option<String>,
    /// Customer post code.
    #[serde(default)]
    pub customer_post_code: Option<String>,
    /// Customer fax.
    #[serde(default)]
    pub customer_fax: Option<String>,
    /// Customer phone.
    #[serde(default)]
    pub customer_phone: Option<String>,
    /// Customer mobile.
    #[serde(default)]
    pub customer_mobile: Option<String>,
    /// Non-standard: [`LeadStatus`], only from servers that add it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_status: Option<i32>,
    /// Result code.
    pub code: i32,
    /// Error text.
    #[serde(default)]
    pub error_message: Option<String>,
}

/// `SearchContacts` request body: at least one of `Name` (substring), `Email` (exact),
/// `Phone` (exact, phone or mobile).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SearchContactsRequest {
    /// Dealer account.
    pub account_number: String,
    /// Dealer account secret.
    pub account_secret: String,
    /// Name substring (≤100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Exact email (≤100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Exact phone or mobile (≤20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// One contact of a `SearchContacts` response.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Contact {
    /// Customer number.
    #[serde(default)]
    pub customer_no: Option<String>,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Email.
    #[serde(default)]
    pub email: Option<String>,
    /// Phone.
    #[serde(default)]
    pub phone: Option<String>,
    /// Mobile.
    #[serde(default)]
    pub mobile: Option<String>,
    /// Address.
    #[serde(default)]
    pub address: Option<String>,
    /// City.
    #[serde(default)]
    pub city: Option<String>,
    /// State.
    #[serde(default)]
    pub state: Option<String>,
    /// Post code.
    #[serde(default)]
    pub post_code: Option<String>,
    /// Country.
    #[serde(default)]
    pub country: Option<String>,
    /// ABN.
    #[serde(rename = "ABN", default)]
    pub abn: Option<String>,
}

/// `SearchContacts` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SearchContactsResponse {
    /// Matching contacts (missing or `null` reads as empty).
    #[serde(default, deserialize_with = "null_as_default")]
    pub contacts: Vec<Contact>,
    /// Result code.
    pub code: i32,
    /// Error text.
    #[serde(default)]
    pub error_message: Option<String>,
}

/// `FinanceCompany` of a quotation: `Name` and `ABN` are required if sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FinanceCompany {
    /// Name (≤100), required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// ABN (≤20), required.
    #[serde(rename = "ABN", default, skip_serializing_if = "Option::is_none")]
    pub abn: Option<String>,
    /// Email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// State.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Post code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_code: Option<String>,
    /// Fax.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fax: Option<String>,
    /// Phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Mobile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<String>,
}

/// One `QuotationReceipts[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QuotationReceipt {
    /// Required.
    pub amount: f64,
    /// Required, `dd/MM/yyyy`.
    pub receive_date: String,
    /// Required; [`PaymentMethod`].
    pub payment_method: i32,
    /// Required (≤30).
    pub reference: String,
    /// Optional (≤200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One `QuotationTradeins[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QuotationTradein {
    /// Required.
    pub allowance: f64,
    /// Required (≤100).
    pub make: String,
    /// Required (≤50).
    pub model: String,
    /// Required; [`VehicleType`].
    pub vehicle_type: i32,
    /// Required.
    pub vehicle_year: i32,
    /// Badge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge: Option<String>,
    /// Secondary badge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge_secondary: Option<String>,
    /// Body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// `MM/yy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_date: Option<String>,
    /// Engine number (≤22).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_number: Option<String>,
    /// Finance payout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finance_payout: Option<f64>,
    /// Gear type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gear_type: Option<String>,
    /// Odometer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub odometer: Option<i64>,
    /// Plate (≤10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rego_num: Option<String>,
    /// State (≤3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rego_state: Option<String>,
    /// Series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
    /// Series model year.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series_model_year: Option<String>,
    /// VIN (≤20).
    #[serde(rename = "VIN", default, skip_serializing_if = "Option::is_none")]
    pub vin: Option<String>,
    /// Commercial vehicle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_commercial: Option<bool>,
}

/// One `QuotationExtras[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QuotationExtra {
    /// Required; [`ExtraType`].
    pub extra_type: i32,
    /// Required.
    pub amount: f64,
    /// Tax rate (0.1 = 10%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_rate: Option<f64>,
    /// Description (≤200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Dutiable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dutiable: Option<bool>,
    /// LCT applies.
    #[serde(rename = "LCTApply", default, skip_serializing_if = "Option::is_none")]
    pub lct_apply: Option<bool>,
    /// Included in the price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_included: Option<bool>,
    /// Cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
}

/// `CreateQuotation` request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateQuotationRequest {
    /// Dealer account.
    pub account_number: String,
    /// Dealer account secret.
    pub account_secret: String,
    /// Required yard.
    pub yard_code: String,
    /// Links the quotation to a lead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_number: Option<String>,
    /// Stock number (≤20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_number: Option<String>,
    /// Required (≤100).
    pub vehicle_make: String,
    /// Required (≤50).
    pub vehicle_model: String,
    /// Required; [`VehicleType`].
    pub vehicle_type: i32,
    /// Required.
    pub is_vehicle_new: bool,
    /// Required.
    pub vehicle_year: i32,
    /// Series (≤30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
    /// Series model year (≤30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series_model_year: Option<String>,
    /// Badge (≤65).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge: Option<String>,
    /// Secondary badge (≤50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge_secondary: Option<String>,
    /// Body (≤50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Colour (≤50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colour: Option<String>,
    /// Gear type (≤50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gear_type: Option<String>,
    /// Interior colour (≤50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interior_colour: Option<String>,
    /// Required, `dd/MM/yyyy`.
    pub quote_date: String,
    /// Required.
    pub base_price: f64,
    /// Required.
    pub selling_price: f64,
    /// Discount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<f64>,
    /// Required (≤3).
    pub rego_state: String,
    /// Special conditions (≤1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub special_conditions: Option<String>,
    /// Calculate government charges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_calc_gov_charges: Option<bool>,
    /// IGC price.
    #[serde(
        rename = "IsIGCPrice",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub is_igc_price: Option<bool>,
    /// Commercial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_commercial: Option<bool>,
    /// Tax rate (0.1 = 10%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax_rate: Option<f64>,
    /// Finance note (≤1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finance_note: Option<String>,
    /// Required first customer.
    pub quotation_customer1: CustomerModel,
    /// Optional second customer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quotation_customer2: Option<CustomerModel>,
    /// Finance company.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finance_company: Option<FinanceCompany>,
    /// Receipts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quotation_receipts: Vec<QuotationReceipt>,
    /// Trade-ins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quotation_tradeins: Vec<QuotationTradein>,
    /// Extras.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quotation_extras: Vec<QuotationExtra>,
}

/// `CreateQuotation` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct QuotationResponse {
    /// Zero-padded 6-digit quote number.
    #[serde(default)]
    pub quote_number: Option<String>,
    /// Customer number of `QuotationCustomer1`.
    #[serde(default)]
    pub customer_no1: Option<String>,
    /// Customer number of `QuotationCustomer2`, if sent.
    #[serde(default)]
    pub customer_no2: Option<String>,
    /// Result code.
    pub code: i32,
    /// Error text.
    #[serde(default)]
    pub error_message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn result_codes_round_trip() {
        for c in ResultCode::ALL {
            assert_eq!(ResultCode::from_code(c.code()), Some(c));
        }
        assert_eq!(ResultCode::from_code(2), None);
        assert_eq!(ResultCode::Failed.label(), "Failed");
    }

    #[test]
    fn lead_enums_match_the_doc() {
        let codes = |all: &[i32]| all.to_vec();
        assert_eq!(
            codes(
                &VehicleType::ALL
                    .iter()
                    .map(|v| v.code())
                    .collect::<Vec<_>>()
            ),
            vec![1, 2, 3, 4, 5, 6]
        );
        assert_eq!(VehicleInterest::ALL.len(), 5);
        assert_eq!(
            VehicleInterest::from_code(4),
            Some(VehicleInterest::TestDrive)
        );
        assert_eq!(
            FinanceStatus::from_code(3).map(|f| f.label()),
            Some("Maybe")
        );
        assert_eq!(Rating::from_code(1), Some(Rating::Cold));
        assert_eq!(Rating::from_code(3), Some(Rating::Hot));
        assert_eq!(
            LeadStatus::ALL.iter().map(|v| v.code()).collect::<Vec<_>>(),
            vec![10, 30, 50, 60, 90]
        );
        assert_eq!(LeadStatus::InProgress.label(), "In Progress");
        assert_eq!(LeadStatus::from_code(20), None);
        assert_eq!(PaymentMethod::from_code(9), Some(PaymentMethod::Other));
        assert_eq!(PaymentMethod::from_code(7), None);
        assert_eq!(ExtraType::from_code(2), None);
        assert_eq!(ExtraType::from_code(9), Some(ExtraType::ExtendedWarranty));
    }

    #[test]
    fn key_spellings() {
        let req = CreateLeadRequest {
            account_number: "EC900001".into(),
            account_secret: "s".into(),
            stock_number: None,
            vehicle_make: "Toyota".into(),
            vehicle_model: "HiLux".into(),
            vehicle_price: Some(48990.0),
            vehicle_type: 1,
            vehicle_year: 2021,
            is_vehicle_new: false,
            vehicle_interest: 1,
            notes: None,
            vehicle_source_page_url: Some("u".into()),
            finance_status: None,
            rating: None,
            external_id: Some("web-1".into()),
            lead_customer: CustomerModel {
                name: Some("Jo".into()),
                email: Some("jo@example.com".into()),
                post_code: Some("2150".into()),
                ..Default::default()
            },
        };
        let v = serde_json::to_value(&req).unwrap();
        assert_eq!(v["VehicleSourcePageURL"], "u");
        assert_eq!(v["ExternalID"], "web-1");
        assert_eq!(v["LeadCustomer"]["PostCode"], "2150");
        assert!(v.get("StockNumber").is_none());
        assert!(v["LeadCustomer"].get("Fax").is_none());

        let upd = UpdateLeadRequest {
            account_number: "EC900001".into(),
            account_secret: "s".into(),
            lead_number: "000123".into(),
            lead_status: Some(30),
            rating: Some(3),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&upd).unwrap(),
            json!({"AccountNumber":"EC900001","AccountSecret":"s","LeadNumber":"000123","Rating":3,"LeadStatus":30})
        );

        let claims: TokenClaims =
            serde_json::from_value(json!({"ClientID":"X","nbf":1,"exp":601,"iat":1})).unwrap();
        assert_eq!(claims.exp - claims.iat, 600);

        let q = serde_json::to_value(QuotationExtra {
            lct_apply: Some(true),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(q["LCTApply"], true);
    }

    #[test]
    fn error_envelopes_parse() {
        let r: StockResponse =
            serde_json::from_str(r#"{"Code":1,"ErrorMessage":"Invalid token."}"#).unwrap();
        assert!(r.stock_list.is_empty());
        assert_eq!(r.code, 1);
        let r: StockResponse =
            serde_json::from_str(r#"{"StockList":null,"Code":9,"ErrorMessage":"x"}"#).unwrap();
        assert!(r.stock_list.is_empty());
        let r: LeadResponse = serde_json::from_str(
            r#"{"LeadNumber":null,"CustomerNo":null,"Code":7,"ErrorMessage":"VehicleMake is required."}"#,
        )
        .unwrap();
        assert_eq!(r.code, 7);
        let d: LeadDetailResponse = serde_json::from_str(
            r#"{"LeadNumber":"000123","StockNumber":null,"VehiclePrice":48990.0000,"VehicleSourcePageURL":"u","ExternalID":"e","Code":0,"ErrorMessage":null}"#,
        )
        .unwrap();
        assert_eq!(d.vehicle_price, Some(48990.0));
        assert_eq!(d.external_id.as_deref(), Some("e"));
        let t: TokenResponse =
            serde_json::from_str(r#"{"Token":null,"Code":1,"ErrorMessage":"bad"}"#).unwrap();
        assert!(t.token.is_none());
    }
}
