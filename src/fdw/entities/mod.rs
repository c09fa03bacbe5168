//! The EasyCars entities behind foreign tables (table option `entity`), one file each.
//!
//! Everything that differs between entities is a method of [`EntitySpec`]; the planner, the
//! executor, `EXPLAIN`, `IMPORT FOREIGN SCHEMA` and the write callbacks ask the entity's spec and
//! never match on the entity themselves. To add an entity: write `<name>.rs` with a unit struct
//! implementing [`EntitySpec`] (the trait has no default methods, so the compiler lists every
//! obligation), then add a variant to [`Entity`], to [`Entity::ALL`] and to [`Entity::spec`].

pub mod column;
pub mod contacts;
pub mod leads;
pub mod quotations;
pub mod stock;

pub use column::{Column, Kind};

use super::error::FdwError;
use super::fetch::{Item, Pushed, Session};
use super::server::ServerConfig;
use pgrx::pg_sys;
use supabase_wrappers::prelude::{Cell, Row};

/// A column that can be pushed down to EasyCars, and the request field it is sent as (`""` when
/// EasyCars has no such field and the wrapper filters on it itself, before building rows).
pub type Pushable = (&'static str, &'static str);

/// What EasyCars assigned to an inserted row, by column, for `RETURNING`.
pub struct Inserted {
    pub assigned: Vec<(&'static str, Option<String>)>,
}

/// Every fact about one entity.
pub trait EntitySpec: Sync {
    /// The `entity` option's value, and the table name `IMPORT FOREIGN SCHEMA` gives it.
    fn name(&self) -> &'static str;

    /// What the foreign table is for, for its COMMENT.
    fn comment(&self) -> &'static str;

    /// The column writes identify rows by (`rowid_column` table option); None if none is.
    fn rowid_column(&self) -> Option<&'static str>;

    /// Columns whose `= value` and `= ANY(values)` quals are pushed down to EasyCars.
    fn pushable(&self) -> &'static [Pushable];

    /// The columns, in table order.
    fn columns(&self) -> &'static [Column];

    /// The planner's row estimate, given how many quals are pushed down.
    fn estimated_rows(&self, pushed_quals: usize) -> f64;

    /// The `EasyCars Route` line of `EXPLAIN`: which route a scan calls, and how.
    fn explain_route(&self) -> String;

    /// Checked when a scan begins: an entity EasyCars cannot read says so here.
    fn check_readable(&self) -> Result<(), FdwError>;

    /// The rows of one scan, from the values pushed down; `execution` is the query's memory
    /// context (the scope within which an answer may be shared).
    fn fetch(
        &self,
        server: &ServerConfig,
        pushed: &[Pushed],
        execution: pg_sys::MemoryContext,
    ) -> Result<Vec<Item>, FdwError>;

    /// Checked when an INSERT or UPDATE begins, before the tenant check: a read-only entity
    /// says so here.
    fn check_writable(&self) -> Result<(), FdwError>;

    /// Creates the row in EasyCars; returns what EasyCars assigned to it.
    fn insert(&self, session: &Session, row: &Row) -> Result<Inserted, FdwError>;

    /// Sends the changed columns (`row`) of the record `rowid` to EasyCars.
    fn update(&self, session: &Session, rowid: &Cell, row: &Row) -> Result<(), FdwError>;
}

/// An EasyCars entity: the registry key. Plans store its [`Entity::code`], so it stays a plain
/// `Copy` value; [`Entity::spec`] is the one place a variant meets its description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    Stock,
    Leads,
    Contacts,
    Quotations,
}

impl Entity {
    /// Every entity, in declaration order (`IMPORT FOREIGN SCHEMA` creates them in this order).
    pub const ALL: [Entity; 4] = [
        Entity::Stock,
        Entity::Leads,
        Entity::Contacts,
        Entity::Quotations,
    ];

    /// The entity's description.
    pub fn spec(self) -> &'static dyn EntitySpec {
        match self {
            Entity::Stock => &stock::Stock,
            Entity::Leads => &leads::Leads,
            Entity::Contacts => &contacts::Contacts,
            Entity::Quotations => &quotations::Quotations,
        }
    }

    pub fn from_name(name: &str) -> Option<Entity> {
        Entity::ALL.into_iter().find(|e| e.spec().name() == name)
    }

    pub fn code(self) -> i32 {
        self as i32
    }

    pub fn from_code(code: i32) -> Option<Entity> {
        Entity::ALL.into_iter().find(|e| e.code() == code)
    }

    /// The column called `name`, if the entity has one.
    pub fn column(self, name: &str) -> Option<&'static Column> {
        self.spec().columns().iter().find(|c| c.name == name)
    }
}

/// The error of every write to an entity that cannot be written.
fn read_only() -> FdwError {
    FdwError::NeedsFilter {
        message: "this EasyCars table is read-only",
        hint: "Only leads (INSERT, UPDATE) and quotations (INSERT) can be written to EasyCars.",
    }
}

// The tests call the specs statically: going through `Entity::spec` would link every method of
// every spec into the test binary, and with them Postgres symbols it cannot resolve.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_declaration_order() {
        for (i, e) in Entity::ALL.into_iter().enumerate() {
            assert_eq!(e.code(), i as i32, "ALL is in declaration order");
            assert_eq!(Entity::from_code(e.code()), Some(e));
        }
        assert_eq!(Entity::from_code(Entity::ALL.len() as i32), None);
    }

    fn check<S: EntitySpec>(spec: &S, name: &str) {
        assert_eq!(spec.name(), name);
        let column = |c: &str| spec.columns().iter().any(|col| col.name == c);
        for (pushable, _) in spec.pushable() {
            assert!(column(pushable), "{name}.{pushable}");
        }
        if let Some(rowid) = spec.rowid_column() {
            assert!(column(rowid), "{name}.{rowid}");
        }
        let mut names: Vec<_> = spec.columns().iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), spec.columns().len(), "{name}: a column twice");
    }

    #[test]
    fn explain_routes_name_the_routes_called() {
        assert_eq!(
            stock::Stock.explain_route(),
            "StockService/GetAdvertisementStocks"
        );
        assert_eq!(
            leads::Leads.explain_route(),
            "LeadService/GetLeadDetail (one call per lead number, concurrently)"
        );
        assert_eq!(
            contacts::Contacts.explain_route(),
            "LeadService/SearchContacts"
        );
        assert_eq!(
            quotations::Quotations.explain_route(),
            "LeadService/CreateQuotation (insert only)"
        );
    }

    #[test]
    fn pushable_and_rowid_columns_exist() {
        check(&stock::Stock, "stock");
        check(&leads::Leads, "leads");
        check(&contacts::Contacts, "contacts");
        check(&quotations::Quotations, "quotations");
    }
}
