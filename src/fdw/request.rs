//! A written row as an EasyCars request: its non-NULL cells as JSON keyed by EasyCars names, the
//! account fields added, and a refused request explained in the table's own column names. The
//! entities (`entities/leads.rs`, `entities/quotations.rs`) shape the body per route.

use super::entities::Column;
use super::error::FdwError;
use super::fetch::Session;
use serde_json::{Map, Value};
use supabase_wrappers::prelude::{Cell, Row};

/// A row's non-NULL cells as request JSON keyed by EasyCars names (`""` for `details`).
pub fn row_json(
    table: &'static str,
    columns: &'static [Column],
    row: &Row,
    insert: bool,
) -> Result<Map<String, Value>, FdwError> {
    let mut out = Map::new();
    for (name, cell) in row.cols.iter().zip(&row.cells) {
        let Some(cell) = cell else { continue };
        let column =
            columns
                .iter()
                .find(|c| c.name == name)
                .ok_or_else(|| FdwError::UnknownColumn {
                    table,
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

/// Adds the dealership's AccountNumber and AccountSecret to a request body.
pub fn with_account(session: &Session, body: &mut Map<String, Value>) {
    body.insert(
        "AccountNumber".into(),
        Value::String(session.creds.account_number.to_string()),
    );
    body.insert(
        "AccountSecret".into(),
        Value::String(session.creds.account_secret.to_string()),
    );
}

/// Turns request JSON into the typed request, naming a missing or wrong column the way the user wrote it.
pub fn from_json<T: serde::de::DeserializeOwned>(
    columns: &'static [Column],
    body: Map<String, Value>,
) -> Result<T, FdwError> {
    serde_json::from_value(Value::Object(body)).map_err(|e| {
        let text = e.to_string();
        let named = columns
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
