//! Writing to EasyCars: INSERT into leads (CreateLead) and quotations (CreateQuotation), UPDATE of
//! leads (UpdateLead with only the changed columns). The executor callbacks that call this are in
//! `write.rs`; what EasyCars created comes back through `RETURNING`, and is also kept for
//! `easycars.fdw_insert_results()` (from the time writes could not return it).

use super::catalog::Entity;
use super::fetch::{session, Session};
use super::runtime::block_on_interruptible;
use super::{FdwError, ServerConfig};
use easycars_api::wire::{CreateLeadRequest, CreateQuotationRequest, UpdateLeadRequest};
use pgrx::prelude::*;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use supabase_wrappers::prelude::{Cell, Row};

/// One record EasyCars created for this session.
#[derive(Debug, Clone)]
pub struct Created {
    pub entity: &'static str,
    pub external_id: Option<String>,
    pub lead_number: Option<String>,
    pub customer_no: Option<String>,
    pub quote_number: Option<String>,
    at: TimestampWithTimeZone,
}

const MAX_RESULTS: usize = 100_000;

thread_local! {
    /// This session's created records, oldest first; the oldest go beyond MAX_RESULTS.
    static CREATED: RefCell<std::collections::VecDeque<Created>> =
        const { RefCell::new(std::collections::VecDeque::new()) };
}

fn remember(created: Created) {
    CREATED.with_borrow_mut(|all| {
        if all.len() >= MAX_RESULTS {
            all.pop_front();
        }
        all.push_back(created);
    });
}

/// The write side of one INSERT or UPDATE statement on an easycars foreign table.
pub struct ModifyState {
    entity: Entity,
    session: Session,
}

impl ModifyState {
    pub fn begin(
        server: &ServerConfig,
        options: &HashMap<String, String>,
    ) -> Result<ModifyState, FdwError> {
        let entity = options
            .get("entity")
            .and_then(|e| Entity::from_name(e))
            .ok_or(FdwError::MissingEntity)?;
        if !matches!(entity, Entity::Leads | Entity::Quotations) {
            return Err(FdwError::NeedsFilter {
                message: "this EasyCars table is read-only",
                hint: "Only leads (INSERT, UPDATE) and quotations (INSERT) can be written to EasyCars.",
            });
        }
        // SECURITY: writes obey the same tenant rule as reads.
        server.check_tenant()?;
        Ok(ModifyState {
            entity,
            session: session(server)?,
        })
    }

    /// The entity this statement writes.
    pub fn entity(&self) -> Entity {
        self.entity
    }

    /// Creates the row in EasyCars; returns what EasyCars assigned to it.
    pub fn insert(&mut self, row: &Row) -> Result<Created, FdwError> {
        let columns = row_json(self.entity, row, true)?;
        match self.entity {
            Entity::Leads => self.create_lead(columns),
            Entity::Stock | Entity::Contacts | Entity::Quotations => self.create_quotation(columns),
        }
    }

    /// Sends the changed columns of one lead with UpdateLead.
    pub fn update(&mut self, rowid: &Cell, row: &Row) -> Result<(), FdwError> {
        if self.entity != Entity::Leads {
            return Err(FdwError::NeedsFilter {
                message: "EasyCars quotations cannot be changed once created",
                hint: "Insert a new quotation instead.",
            });
        }
        let Cell::String(lead_number) = rowid else {
            return Err(FdwError::BadRow("lead_number must be text".into()));
        };
        let mut body = row_json(self.entity, row, false)?;
        for key in body.keys() {
            if !UPDATABLE.contains(&key.as_str()) {
                let column = Entity::Leads
                    .columns()
                    .iter()
                    .find(|c| c.key == key)
                    .map_or(key.as_str(), |c| c.name);
                return Err(FdwError::BadRow(format!(
                    "EasyCars UpdateLead cannot change {column}; it changes vehicle_price, vehicle_interest, notes, vehicle_source_page_url, finance_status, rating, lead_status and the customer_* columns"
                )));
            }
        }
        nest_customer(&mut body, "LeadCustomer");
        self.with_account(&mut body);
        body.insert("LeadNumber".into(), Value::String(lead_number.clone()));
        let request: UpdateLeadRequest = from_json(Entity::Leads, body)?;
        block_on_interruptible(
            self.session
                .client
                .update_lead(&self.session.creds, &request),
        )?;
        Ok(())
    }

    fn with_account(&self, body: &mut Map<String, Value>) {
        body.insert(
            "AccountNumber".into(),
            Value::String(self.session.creds.account_number.to_string()),
        );
        body.insert(
            "AccountSecret".into(),
            Value::String(self.session.creds.account_secret.to_string()),
        );
    }

    fn create_lead(&mut self, mut body: Map<String, Value>) -> Result<Created, FdwError> {
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
        self.with_account(&mut body);
        let request: CreateLeadRequest = from_json(Entity::Leads, body)?;
        let answer = block_on_interruptible(
            self.session
                .client
                .create_lead(&self.session.creds, &request),
        )?;
        let created = Created {
            entity: "leads",
            external_id,
            lead_number: answer.lead_number,
            customer_no: answer.customer_no,
            quote_number: None,
            at: now(),
        };
        remember(created.clone());
        Ok(created)
    }

    fn create_quotation(&mut self, mut body: Map<String, Value>) -> Result<Created, FdwError> {
        // `details` carries everything without a column (receipts, trade-ins, extras, series, ...).
        if let Some(Value::Object(details)) = body.remove("") {
            for (k, v) in details {
                body.entry(k).or_insert(v);
            }
        }
        self.with_account(&mut body);
        let request: CreateQuotationRequest = from_json(Entity::Quotations, body)?;
        let answer = block_on_interruptible(
            self.session
                .client
                .create_quotation(&self.session.creds, &request),
        )?;
        let created = Created {
            entity: "quotations",
            external_id: None,
            lead_number: request.lead_number.clone(),
            customer_no: answer.customer_no1,
            quote_number: answer.quote_number,
            at: now(),
        };
        remember(created.clone());
        Ok(created)
    }
}

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

fn now() -> TimestampWithTimeZone {
    // SAFETY: GetCurrentTimestamp has no preconditions and returns a TimestampTz (an i64 passed by
    // value), exactly the non-NULL Datum TimestampWithTimeZone::from_datum expects. It runs on the
    // backend thread, inside a write callback.
    unsafe {
        TimestampWithTimeZone::from_datum(
            pgrx::pg_sys::Datum::from(pgrx::pg_sys::GetCurrentTimestamp()),
            false,
        )
    }
    .unwrap_or_else(|| FdwError::Internal("clock").report())
}

/// A row's non-NULL cells as request JSON keyed by EasyCars names (`""` for `details`).
fn row_json(entity: Entity, row: &Row, insert: bool) -> Result<Map<String, Value>, FdwError> {
    let mut out = Map::new();
    for (name, cell) in row.cols.iter().zip(&row.cells) {
        let Some(cell) = cell else { continue };
        let column = entity.column(name).ok_or_else(|| FdwError::UnknownColumn {
            table: entity.name(),
            column: name.clone(),
        })?;
        if insert && !column.writable {
            return Err(FdwError::BadRow(format!(
                "{name} is set by EasyCars and cannot be inserted"
            )));
        }
        out.insert(column.key.to_owned(), cell_json(cell)?);
    }
    Ok(out)
}

fn cell_json(cell: &Cell) -> Result<Value, FdwError> {
    Ok(match cell {
        Cell::Bool(b) => Value::Bool(*b),
        Cell::I8(v) => Value::from(*v),
        Cell::I16(v) => Value::from(*v),
        Cell::I32(v) => Value::from(*v),
        Cell::I64(v) => Value::from(*v),
        Cell::F32(v) => Value::from(*v),
        Cell::F64(v) => Value::from(*v),
        Cell::Numeric(n) => {
            let text = n.to_string();
            text.parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| {
                    FdwError::BadRow(format!("{text} is not a number EasyCars accepts"))
                })?
        }
        Cell::String(s) => Value::String(s.clone()),
        // EasyCars dates are dd/MM/yyyy.
        Cell::Date(d) => Value::String(format!("{:02}/{:02}/{:04}", d.day(), d.month(), d.year())),
        Cell::Json(j) => j.0.clone(),
        other @ (Cell::Time(_)
        | Cell::Timestamp(_)
        | Cell::Timestamptz(_)
        | Cell::Interval(_)
        | Cell::Bytea(_)
        | Cell::Uuid(_)
        | Cell::BoolArray(_)
        | Cell::I16Array(_)
        | Cell::I32Array(_)
        | Cell::I64Array(_)
        | Cell::F32Array(_)
        | Cell::F64Array(_)
        | Cell::StringArray(_)) => {
            return Err(FdwError::BadRow(format!(
                "values like {other} cannot be sent to EasyCars"
            )))
        }
    })
}

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

/// Turns request JSON into the typed request, naming a missing or wrong column the way the user wrote it.
fn from_json<T: serde::de::DeserializeOwned>(
    entity: Entity,
    body: Map<String, Value>,
) -> Result<T, FdwError> {
    serde_json::from_value(Value::Object(body)).map_err(|e| {
        let text = e.to_string();
        let named = entity
            .columns()
            .iter()
            .find(|c| !c.key.is_empty() && text.contains(&format!("`{}`", c.key)))
            .map(|c| c.name);
        FdwError::BadRow(match named {
            Some(column) if text.starts_with("missing field") => {
                format!("EasyCars requires {column}")
            }
            Some(column) => format!("{column} has a value EasyCars cannot take"),
            None => format!(
                "the row does not make a valid EasyCars request ({})",
                text.split(" at line").next().unwrap_or("")
            ),
        })
    })
}

/// What this session's INSERTs created in EasyCars, oldest first.
#[pg_extern(volatile, parallel_unsafe)]
#[allow(clippy::type_complexity)]
fn fdw_insert_results() -> TableIterator<
    'static,
    (
        name!(entity, String),
        name!(external_id, Option<String>),
        name!(lead_number, Option<String>),
        name!(customer_no, Option<String>),
        name!(quote_number, Option<String>),
        name!(created_at, TimestampWithTimeZone),
    ),
> {
    let rows: Vec<_> = CREATED.with_borrow(|all| {
        all.iter()
            .map(|c| {
                (
                    c.entity.to_owned(),
                    c.external_id.clone(),
                    c.lead_number.clone(),
                    c.customer_no.clone(),
                    c.quote_number.clone(),
                    c.at,
                )
            })
            .collect()
    });
    TableIterator::new(rows)
}

/// Forgets this session's insert results; returns how many there were.
#[pg_extern(volatile, parallel_unsafe)]
fn clear_fdw_insert_results() -> i64 {
    CREATED.with_borrow_mut(|all| {
        let n = all.len() as i64;
        all.clear();
        n
    })
}

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
