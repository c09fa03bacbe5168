//! `stock`: the dealer's advertised vehicles (StockService/GetAdvertisementStocks). Read-only;
//! `yard_code` is sent as YardCode, and a `stock_number` filter is applied by the wrapper before
//! any row is built (the sync fetches only new and changed vehicles that way).

use super::column::{Column, Kind};
use super::{read_only, EntitySpec, Inserted, Pushable};
use crate::fdw::error::FdwError;
use crate::fdw::fetch::{check_limit, stock_answer, values_for, Item, Pushed, Session};
use crate::fdw::server::ServerConfig;
use easycars_api::route::Route;
use easycars_api::stock_fields::{FieldKind, STOCK_FIELDS};
use pgrx::pg_sys;
use std::sync::OnceLock;
use supabase_wrappers::prelude::{Cell, Row};

/// Most yard codes one stock scan may ask for (each is a whole stock answer).
const MAX_YARDS: usize = 100;

pub struct Stock;

impl EntitySpec for Stock {
    fn name(&self) -> &'static str {
        "stock"
    }

    fn comment(&self) -> &'static str {
        "EasyCars stock (GetAdvertisementStocks): all 72 fields typed, list columns split, and the raw item. WHERE yard_code = ... is sent as YardCode."
    }

    fn rowid_column(&self) -> Option<&'static str> {
        None
    }

    fn pushable(&self) -> &'static [Pushable] {
        // stock_number has no EasyCars request field: the wrapper filters on it before it
        // builds any row (the sync fetches only new and changed vehicles that way).
        &[("yard_code", "YardCode"), ("stock_number", "")]
    }

    fn columns(&self) -> &'static [Column] {
        static STOCK: OnceLock<Vec<Column>> = OnceLock::new();
        STOCK.get_or_init(stock_columns)
    }

    fn estimated_rows(&self, _pushed_quals: usize) -> f64 {
        // A dealer's stock is hundreds to thousands of vehicles.
        1000.0
    }

    fn explain_route(&self) -> String {
        Route::GetAdvertisementStocks.path().to_owned()
    }

    fn check_readable(&self) -> Result<(), FdwError> {
        Ok(())
    }

    fn fetch(
        &self,
        server: &ServerConfig,
        pushed: &[Pushed],
        execution: pg_sys::MemoryContext,
    ) -> Result<Vec<Item>, FdwError> {
        check_limit(pushed, "yard_code", MAX_YARDS)?;
        // Opened on first use: an answer fetched ahead or earlier in the statement needs none.
        let mut s = None;
        let answers = match values_for(pushed, "yard_code") {
            None => vec![stock_answer(&mut s, server, None, execution)?],
            Some(yards) => yards
                .iter()
                .filter(|y| !y.is_empty())
                .map(|y| stock_answer(&mut s, server, Some(y), execution))
                .collect::<Result<Vec<_>, _>>()?,
        };
        drop(s);
        // One answer is capped by the client; several yards together by the same bound.
        let held: u64 = answers.iter().map(|a| a.text_len() as u64).sum();
        if held > server.max_response_bytes {
            return Err(FdwError::AnswersTooLarge {
                limit: server.max_response_bytes,
            });
        }
        // A stock_number filter is applied here, before any row is built.
        let wanted: Option<std::collections::HashSet<String>> =
            values_for(pushed, "stock_number").map(|v| v.into_iter().collect());
        let mut rows = Vec::new();
        for answer in answers {
            match &wanted {
                None => rows.extend((0..answer.len()).map(|i| Item::Stock(answer.clone(), i))),
                Some(wanted) => {
                    let keep: Vec<usize> = (0..answer.len())
                        .filter(|&i| {
                            answer
                                .stock_number_text(i)
                                .is_some_and(|sn| wanted.contains(sn.as_ref()))
                        })
                        .collect();
                    rows.extend(keep.into_iter().map(|i| Item::Stock(answer.clone(), i)));
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

/// The 72 catalogue fields, a `text[]` twin of every comma list, then `raw_md5` and `raw`.
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
