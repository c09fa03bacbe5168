//! `leads`: EasyCars leads. Read by number (LeadService/GetLeadDetail, one call per number,
//! concurrently), inserted with CreateLead and updated with UpdateLead (only the changed
//! columns, and only those UpdateLead can change).

use super::column::{col, Column, Kind, B, I, N, T};
use super::{EntitySpec, Inserted, Pushable};
use crate::fdw::error::FdwError;
use crate::fdw::fetch::{check_limit, session_for_calls, values_for, Item, Pushed, Session};
use crate::fdw::request::{from_json, row_json, with_account};
use crate::fdw::results::{remember, Created};
use crate::fdw::runtime::block_on_interruptible;
use crate::fdw::server::ServerConfig;
use easycars_api::client::ApiError;
use easycars_api::route::Route;
use easycars_api::wire::{
    CreateLeadRequest, FinanceStatus, Rating, UpdateLeadRequest, VehicleInterest, VehicleType,
};
use pgrx::pg_sys;
use serde_json::{Map, Value};
use supabase_wrappers::prelude::{Cell, Row};

/// Most lead numbers one leads scan may look up (each is a GetLeadDetail call).
const MAX_LEAD_NUMBERS: usize = 200_000;

pub struct Leads;

impl EntitySpec for Leads {
    fn name(&self) -> &'static str {
        "leads"
    }

    fn comment(&self) -> &'static str {
        "EasyCars leads (GetLeadDetail): needs WHERE lead_number = ... or lead_number = ANY(...). INSERT calls CreateLead, UPDATE calls UpdateLead with the changed fields; see easycars.fdw_insert_results()."
    }

    fn rowid_column(&self) -> Option<&'static str> {
        Some("lead_number")
    }

    fn pushable(&self) -> &'static [Pushable] {
        &[("lead_number", "LeadNumber")]
    }

    fn columns(&self) -> &'static [Column] {
        LEAD_COLUMNS
    }

    fn estimated_rows(&self, pushed_quals: usize) -> f64 {
        // A lead lookup is about one row a number; without one the scan fails anyway.
        if pushed_quals == 0 {
            1000.0
        } else {
            10.0
        }
    }

    fn explain_route(&self) -> String {
        format!(
            "{} (one call per lead number, concurrently)",
            Route::GetLeadDetail.path()
        )
    }

    fn check_readable(&self) -> Result<(), FdwError> {
        Ok(())
    }

    fn fetch(
        &self,
        server: &ServerConfig,
        pushed: &[Pushed],
        _execution: pg_sys::MemoryContext,
    ) -> Result<Vec<Item>, FdwError> {
        check_limit(pushed, "lead_number", MAX_LEAD_NUMBERS)?;
        let Some(numbers) = values_for(pushed, "lead_number") else {
            return Err(FdwError::NeedsFilter {
                message: "a query on EasyCars leads must filter on lead_number",
                hint: "EasyCars has no endpoint that lists leads; add WHERE lead_number = '000123' or lead_number = ANY(ARRAY['000123', '000124']).",
            });
        };
        let s = session_for_calls(server, server.concurrency.min(numbers.len()).max(1))?;
        let mut rows = Vec::new();
        for (_, result) in block_on_interruptible(s.client.get_lead_details(&s.creds, &numbers)) {
            match result {
                Ok(detail) => rows.push(Item::Parsed(detail.raw)),
                // An unknown or invisible lead number is simply not there.
                Err(ApiError::Validation { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(rows)
    }

    fn check_writable(&self) -> Result<(), FdwError> {
        Ok(())
    }

    fn insert(&self, session: &Session, row: &Row) -> Result<Inserted, FdwError> {
        let mut body = row_json(self.name(), LEAD_COLUMNS, row, true)?;
        if body.contains_key("LeadStatus") {
            return Err(FdwError::BadRow(
                "lead_status cannot be set by CreateLead; UPDATE it after the insert".into(),
            ));
        }
        nest_customer(&mut body, "LeadCustomer");
        let external_id = body
            .get("ExternalID")
            .and_then(Value::as_str)
            .map(str::to_owned);
        with_account(session, &mut body);
        let request: CreateLeadRequest = from_json(LEAD_COLUMNS, body)?;
        let answer = block_on_interruptible(session.client.create_lead(&session.creds, &request))?;
        let inserted = Inserted {
            assigned: vec![
                ("lead_number", answer.lead_number.clone()),
                ("customer_no", answer.customer_no.clone()),
            ],
        };
        remember(Created {
            entity: "leads",
            external_id,
            lead_number: answer.lead_number,
            customer_no: answer.customer_no,
            quote_number: None,
        });
        Ok(inserted)
    }

    fn update(&self, session: &Session, rowid: &Cell, row: &Row) -> Result<(), FdwError> {
        let Cell::String(lead_number) = rowid else {
            return Err(FdwError::BadRow("lead_number must be text".into()));
        };
        let mut body = row_json(self.name(), LEAD_COLUMNS, row, false)?;
        for key in body.keys() {
            if !UPDATABLE.contains(&key.as_str()) {
                let column = LEAD_COLUMNS
                    .iter()
                    .find(|c| c.key == key)
                    .map_or(key.as_str(), |c| c.name);
                return Err(FdwError::BadRow(format!(
                    "EasyCars UpdateLead cannot change {column}; it changes vehicle_price, vehicle_interest, notes, vehicle_source_page_url, finance_status, rating, lead_status and the customer_* columns"
                )));
            }
        }
        nest_customer(&mut body, "LeadCustomer");
        with_account(session, &mut body);
        body.insert("LeadNumber".into(), Value::String(lead_number.clone()));
        let request: UpdateLeadRequest = from_json(LEAD_COLUMNS, body)?;
        block_on_interruptible(session.client.update_lead(&session.creds, &request))?;
        Ok(())
    }
}

/// The request keys UpdateLead can change.
const UPDATABLE: [&str; 17] = [
    "VehiclePrice",
    "VehicleInterest",
    "Notes",
    "VehicleSourcePageURL",
    "FinanceStatus",
    "Rating",
    "LeadStatus",
    "CustomerNo",
    "CustomerName",
    "CustomerEmail",
    "CustomerAddress",
    "CustomerCity",
    "CustomerState",
    "CustomerPostCode",
    "CustomerFax",
    "CustomerPhone",
    "CustomerMobile",
];

/// Moves the `Customer*` keys of a lead row into the nested CustomerModel EasyCars expects.
fn nest_customer(body: &mut Map<String, Value>, nested: &str) {
    let mut customer = Map::new();
    for (flat, key) in [
        ("CustomerNo", "CustomerNo"),
        ("CustomerName", "Name"),
        ("CustomerEmail", "Email"),
        ("CustomerAddress", "Address"),
        ("CustomerCity", "City"),
        ("CustomerState", "State"),
        ("CustomerPostCode", "PostCode"),
        ("CustomerFax", "Fax"),
        ("CustomerPhone", "Phone"),
        ("CustomerMobile", "Mobile"),
    ] {
        if let Some(v) = body.remove(flat) {
            customer.insert(key.to_owned(), v);
        }
    }
    if !customer.is_empty() {
        body.insert(nested.to_owned(), Value::Object(customer));
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_columns_nest_as_easycars_expects() {
        let mut body = Map::new();
        body.insert("CustomerName".into(), Value::from("Jo"));
        body.insert("CustomerEmail".into(), Value::from("jo@example.com"));
        body.insert("Notes".into(), Value::from("hi"));
        nest_customer(&mut body, "LeadCustomer");
        assert_eq!(
            Value::Object(body),
            serde_json::json!({"Notes": "hi", "LeadCustomer": {"Name": "Jo", "Email": "jo@example.com"}})
        );
        let mut none = Map::new();
        nest_customer(&mut none, "LeadCustomer");
        assert!(none.is_empty(), "no customer columns, no nested object");
    }
}
