//! Reading EasyCars for a scan: credentials, the HTTP client, and one function per entity.

use super::catalog::Entity;
use super::runtime::block_on_interruptible;
use super::{FdwError, ServerConfig};
use easycars_api::client::{environment_root, ApiError, Client, ClientConfig, Credentials};
use easycars_api::wire::SearchContactsRequest;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

/// One row from EasyCars: stock items stay the JSON text received until their row is built
/// (so a large answer is never held as a tree); lead and contact answers are small and parsed.
pub enum Item {
    Parsed(Map<String, Value>),
    Raw(Box<serde_json::value::RawValue>),
}

/// The values pushed down for one column (several for `= ANY(...)` or repeated quals).
#[derive(Debug, Clone)]
pub struct Pushed {
    pub column: &'static str,
    pub key: &'static str,
    pub values: Vec<String>,
    pub constrained: bool,
}

thread_local! {
    /// One HTTP client (connection pool) per API root and settings, for the life of the backend.
    static CLIENTS: RefCell<HashMap<String, Rc<Client>>> = RefCell::new(HashMap::new());
}

/// A dealership's decrypted credentials and the client for its API root.
pub struct Session {
    pub client: Rc<Client>,
    pub creds: Credentials,
}

/// Loads the server's dealership credentials and the client to use with them.
pub fn session(server: &ServerConfig) -> Result<Session, FdwError> {
    let stored = crate::credentials::load_as_owner(server.dealership_id)?;
    let base_url = server
        .base_url
        .clone()
        .or_else(|| stored.base_url.clone())
        .or_else(|| environment_root(&stored.environment).map(str::to_owned))
        .ok_or(FdwError::Internal(
            "credentials name an unknown environment",
        ))?;
    let config = ClientConfig {
        base_url,
        request_timeout: Duration::from_millis(server.timeout_ms),
        max_retries: server.max_retries,
        concurrency: server.concurrency,
        ..ClientConfig::default()
    };
    let key = format!(
        "{}|{}|{}|{}",
        config.base_url, server.timeout_ms, server.max_retries, server.concurrency
    );
    let client = CLIENTS.with_borrow_mut(|clients| -> Result<Rc<Client>, FdwError> {
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let c = Rc::new(Client::new(config)?);
        clients.insert(key, c.clone());
        Ok(c)
    })?;
    let creds = Credentials {
        client_id: stored.client_id,
        client_secret: stored.client_secret,
        account_number: stored.account_number,
        account_secret: stored.account_secret,
    };
    Ok(Session { client, creds })
}

fn distinct(values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in values {
        if !out.contains(v) {
            out.push(v.clone());
        }
    }
    out
}

/// Fetches the rows of one scan from EasyCars.
pub fn fetch(
    entity: Entity,
    server: &ServerConfig,
    pushed: &[Pushed],
) -> Result<Vec<Item>, FdwError> {
    let pushed_for = |column: &str| {
        pushed
            .iter()
            .find(|p| p.column == column)
            .map(|p| distinct(&p.values))
    };
    match entity {
        Entity::Stock => {
            let s = session(server)?;
            match pushed_for("yard_code") {
                None => Ok(
                    block_on_interruptible(s.client.get_stock_raw(&s.creds, None))?
                        .into_iter()
                        .map(Item::Raw)
                        .collect(),
                ),
                Some(yards) => {
                    let mut rows = Vec::new();
                    for yard in yards.iter().filter(|y| !y.is_empty()) {
                        rows.extend(
                            block_on_interruptible(s.client.get_stock_raw(&s.creds, Some(yard)))?
                                .into_iter()
                                .map(Item::Raw),
                        );
                    }
                    Ok(rows)
                }
            }
        }
        Entity::Leads => {
            let Some(numbers) = pushed_for("lead_number") else {
                return Err(FdwError::NeedsFilter {
                    message: "a query on EasyCars leads must filter on lead_number",
                    hint: "EasyCars has no endpoint that lists leads; add WHERE lead_number = '000123' or lead_number = ANY(ARRAY['000123', '000124']).",
                });
            };
            let s = session(server)?;
            let mut rows = Vec::new();
            for (_, result) in block_on_interruptible(s.client.get_lead_details(&s.creds, &numbers))
            {
                match result {
                    Ok(detail) => rows.push(Item::Parsed(detail.raw)),
                    // An unknown or invisible lead number is simply not there.
                    Err(ApiError::Validation { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(rows)
        }
        Entity::Contacts => {
            // The column with the fewest values drives the calls; every qual is rechecked locally.
            let best = ["email", "phone", "name"]
                .iter()
                .filter_map(|c| pushed_for(c).map(|v| (*c, v)))
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
        Entity::Quotations => Err(FdwError::InsertOnly),
    }
}
