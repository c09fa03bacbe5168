//! `contacts`: EasyCars customers (LeadService/SearchContacts). Read-only, and needs a filter on
//! `name`, `email` or `phone`; `name` matches as a substring in EasyCars, then exactly here.

use super::column::{col, Column, Kind, T};
use super::{read_only, EntitySpec, Inserted, Pushable};
use crate::fdw::error::FdwError;
use crate::fdw::fetch::{check_limit, session, values_for, Item, Pushed, Session};
use crate::fdw::runtime::block_on_interruptible;
use crate::fdw::server::ServerConfig;
use easycars_api::route::Route;
use easycars_api::wire::SearchContactsRequest;
use pgrx::pg_sys;
use serde_json::Value;
use supabase_wrappers::prelude::{Cell, Row};

/// Most values one contacts scan may search for (each is a SearchContacts call).
const MAX_CONTACT_SEARCHES: usize = 1_000;

pub struct Contacts;

impl EntitySpec for Contacts {
    fn name(&self) -> &'static str {
        "contacts"
    }

    fn comment(&self) -> &'static str {
        "EasyCars contacts (SearchContacts): needs WHERE name = ..., email = ... or phone = ... (name matches as a substring in EasyCars, then exactly here)."
    }

    fn rowid_column(&self) -> Option<&'static str> {
        None
    }

    fn pushable(&self) -> &'static [Pushable] {
        &[("name", "Name"), ("email", "Email"), ("phone", "Phone")]
    }

    fn columns(&self) -> &'static [Column] {
        CONTACT_COLUMNS
    }

    fn estimated_rows(&self, _pushed_quals: usize) -> f64 {
        10.0
    }

    fn explain_route(&self) -> String {
        Route::SearchContacts.path().to_owned()
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
        for column in ["email", "phone", "name"] {
            check_limit(pushed, column, MAX_CONTACT_SEARCHES)?;
        }
        // The column with the fewest values drives the calls; every qual is rechecked locally.
        let best = ["email", "phone", "name"]
            .iter()
            .filter_map(|c| values_for(pushed, c).map(|v| (*c, v)))
            .min_by_key(|(_, v)| v.len());
        let Some((column, values)) = best else {
            return Err(FdwError::NeedsFilter {
                message: "a query on EasyCars contacts must filter on email, phone or name",
                hint: "EasyCars SearchContacts needs one of them: add WHERE email = '...', phone = '...' or name = '...'.",
            });
        };
        let s = session(server)?;
        let mut seen = std::collections::HashSet::new();
        let mut rows = Vec::new();
        for value in values.iter().filter(|v| !v.is_empty()) {
            let mut request = SearchContactsRequest {
                account_number: String::new(),
                account_secret: String::new(),
                name: None,
                email: None,
                phone: None,
            };
            match column {
                "email" => request.email = Some(value.clone()),
                "phone" => request.phone = Some(value.clone()),
                _ => request.name = Some(value.clone()),
            }
            let answer = block_on_interruptible(s.client.search_contacts(&s.creds, &request))?;
            for contact in answer.contacts {
                let Ok(Value::Object(map)) = serde_json::to_value(&contact) else {
                    continue;
                };
                let id = map
                    .get("CustomerNo")
                    .map(Value::to_string)
                    .unwrap_or_default();
                if seen.insert(id) {
                    rows.push(Item::Parsed(map));
                }
            }
        }
        Ok(rows)
    }

    fn check_writable(&self) -> Result<(), FdwError> {
        Err(read_only())
    }

    fn insert(&self, _session: &Session, _row: &Row) -> Result<Inserted, FdwError> {
        Err(read_only())
    }

    fn update(&self, _session: &Session, _rowid: &Cell, _row: &Row) -> Result<(), FdwError> {
        Err(read_only())
    }
}

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
