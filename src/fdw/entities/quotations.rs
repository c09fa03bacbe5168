//! `quotations`: EasyCars quotations, INSERT only (LeadService/CreateQuotation); EasyCars has no
//! route that reads them, and a quotation cannot be changed once created.

use super::column::{col, Column, Kind, B, I, N, T};
use super::{EntitySpec, Inserted, Pushable};
use crate::fdw::error::FdwError;
use crate::fdw::fetch::{Item, Pushed, Session};
use crate::fdw::request::{from_json, row_json, with_account};
use crate::fdw::results::{remember, Created};
use crate::fdw::runtime::block_on_interruptible;
use crate::fdw::server::ServerConfig;
use easycars_api::route::Route;
use easycars_api::stock_fields::FieldKind;
use easycars_api::wire::CreateQuotationRequest;
use pgrx::pg_sys;
use serde_json::Value;
use supabase_wrappers::prelude::{Cell, Row};

pub struct Quotations;

impl EntitySpec for Quotations {
    fn name(&self) -> &'static str {
        "quotations"
    }

    fn comment(&self) -> &'static str {
        "EasyCars quotations: INSERT only (CreateQuotation); see easycars.fdw_insert_results() for the quote numbers."
    }

    fn rowid_column(&self) -> Option<&'static str> {
        Some("quote_number")
    }

    fn pushable(&self) -> &'static [Pushable] {
        &[]
    }

    fn columns(&self) -> &'static [Column] {
        QUOTATION_COLUMNS
    }

    fn estimated_rows(&self, _pushed_quals: usize) -> f64 {
        1.0
    }

    fn explain_route(&self) -> String {
        format!("{} (insert only)", Route::CreateQuotation.path())
    }

    fn check_readable(&self) -> Result<(), FdwError> {
        Err(FdwError::InsertOnly)
    }

    fn fetch(
        &self,
        _server: &ServerConfig,
        _pushed: &[Pushed],
        _execution: pg_sys::MemoryContext,
    ) -> Result<Vec<Item>, FdwError> {
        Err(FdwError::InsertOnly)
    }

    fn check_writable(&self) -> Result<(), FdwError> {
        Ok(())
    }

    fn insert(&self, session: &Session, row: &Row) -> Result<Inserted, FdwError> {
        let mut body = row_json(self.name(), QUOTATION_COLUMNS, row, true)?;
        // `details` carries everything without a column (receipts, trade-ins, extras, series, ...).
        if let Some(Value::Object(details)) = body.remove("") {
            for (k, v) in details {
                body.entry(k).or_insert(v);
            }
        }
        with_account(session, &mut body);
        let request: CreateQuotationRequest = from_json(QUOTATION_COLUMNS, body)?;
        let answer =
            block_on_interruptible(session.client.create_quotation(&session.creds, &request))?;
        let inserted = Inserted {
            assigned: vec![
                ("quote_number", answer.quote_number.clone()),
                ("customer_no", answer.customer_no1.clone()),
            ],
        };
        remember(Created {
            entity: "quotations",
            external_id: None,
            lead_number: request.lead_number.clone(),
            customer_no: answer.customer_no1,
            quote_number: answer.quote_number,
        });
        Ok(inserted)
    }

    fn update(&self, _session: &Session, _rowid: &Cell, _row: &Row) -> Result<(), FdwError> {
        Err(FdwError::NeedsFilter {
            message: "EasyCars quotations cannot be changed once created",
            hint: "Insert a new quotation instead.",
        })
    }
}

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
