//! The `easycars_fdw` foreign data wrapper: EasyCars stock, leads, contacts and quotations as
//! foreign tables.
//!
//! supabase-wrappers provides the handler, the validator entry point and `IMPORT FOREIGN SCHEMA`;
//! `fdw_routine_hook` then installs our own callbacks for everything else, by phase:
//!
//! | file | what |
//! |---|---|
//! | `entities/` | one file per entity: columns, pushdown, estimates, EXPLAIN route, fetch, writes |
//! | `planner.rs` | rel size, paths, plan, qual pushdown, the plan's private data |
//! | `executor.rs` | begin / iterate / rescan / end of a scan, and its state |
//! | `progress.rs` | live counts of a sync's scan, published as application_name |
//! | `prefetch.rs` | stock fetches a sync worker starts ahead of its next syncs |
//! | `convert.rs` | JSON values to datums of the columns' types |
//! | `explain.rs` | the `EasyCars Route` and `EasyCars Pushdown` lines |
//! | `write.rs` | INSERT / UPDATE callbacks with `RETURNING` |
//! | `fetch.rs` | session (credentials, client), pushed values, stock answers per execution |
//! | `request.rs`, `results.rs` | rows as EasyCars requests; what INSERTs created |
//! | `import.rs` | `IMPORT FOREIGN SCHEMA` and the foreign table DDL |
//! | `server.rs`, `options.rs` | server settings, the tenant rule, option specs, the validator |
//! | `error.rs` | errors, with SQLSTATE and hint |
//! | `runtime.rs`, `jsonb.rs` | interruptible waits; `jsonb` datums |
//!
//! Executor state (a scan's, a write's, the stock answers) lives in the query's executor memory
//! context and is dropped by that context's reset callback, so an ERROR or a cancel frees it too.

pub mod convert;
pub mod entities;
pub mod error;
pub mod executor;
pub mod explain;
pub mod fetch;
pub mod import;
pub mod integrator_cap;
pub mod jsonb;
pub mod options;
pub mod planner;
pub mod prefetch;
pub mod progress;
pub mod request;
pub mod results;
pub mod runtime;
pub mod server;
pub mod write;

pub use error::FdwError;
pub use server::ServerConfig;

use pgrx::pg_sys;
use pgrx::prelude::*;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use supabase_wrappers::prelude::*;

/// The wrapper instance the framework creates per server, for `IMPORT FOREIGN SCHEMA`.
#[wrappers_fdw(
    version = "0.3.0",
    author = "easycars",
    website = "https://github.com/easycars/easycars",
    error_type = "FdwError"
)]
pub struct EasycarsFdw {}

impl ForeignDataWrapper<FdwError> for EasycarsFdw {
    fn new(server: ForeignServer) -> Result<Self, FdwError> {
        // The server's options are checked here too (IMPORT FOREIGN SCHEMA); scans and writes
        // read them again themselves, so a cached plan always sees the current ones.
        ServerConfig::for_server(server.server_oid)?;
        Ok(EasycarsFdw {})
    }

    // Scans never reach these: `fdw_routine_hook` replaces every scan callback with ours.
    fn begin_scan(
        &mut self,
        _: &[Qual],
        _: &[Column],
        _: &[Sort],
        _: &Option<Limit>,
        _: &HashMap<String, String>,
    ) -> Result<(), FdwError> {
        Err(FdwError::Internal("framework scan path called"))
    }

    fn iter_scan(&mut self, _row: &mut Row) -> Result<Option<()>, FdwError> {
        Err(FdwError::Internal("framework scan path called"))
    }

    fn end_scan(&mut self) -> Result<(), FdwError> {
        Ok(())
    }

    // Writes never reach these either: `fdw_routine_hook` installs our own write callbacks
    // (see `write`), which can return what EasyCars created and free everything on ERROR.
    fn begin_modify(&mut self, _options: &HashMap<String, String>) -> Result<(), FdwError> {
        Err(FdwError::Internal("framework write path called"))
    }

    fn insert(&mut self, _row: &Row) -> Result<(), FdwError> {
        Err(FdwError::Internal("framework write path called"))
    }

    fn update(&mut self, _rowid: &Cell, _new_row: &Row) -> Result<(), FdwError> {
        Err(FdwError::Internal("framework write path called"))
    }

    fn delete(&mut self, _rowid: &Cell) -> Result<(), FdwError> {
        Err(FdwError::Internal("framework write path called"))
    }

    fn end_modify(&mut self) -> Result<(), FdwError> {
        Ok(())
    }

    fn import_foreign_schema(
        &mut self,
        stmt: ImportForeignSchemaStmt,
    ) -> Result<Vec<String>, FdwError> {
        import::import_foreign_schema(&stmt)
    }

    fn validator(
        options: Vec<Option<String>>,
        catalog: Option<pg_sys::Oid>,
    ) -> Result<(), FdwError> {
        options::validate(options, catalog)
    }

    fn fdw_routine_hook(routine: &mut pgrx::PgBox<pg_sys::FdwRoutine, pgrx::AllocatedByRust>) {
        planner::install(routine);
        executor::install(routine);
        explain::install(routine);
        write::install(routine);
    }
}

/// How many scan and write states this backend holds now; both are 0 between statements, also
/// after a statement an ERROR or a cancel stopped (for the tests, and for diagnostics).
#[pg_extern(volatile, parallel_safe)]
fn _fdw_live_states() -> TableIterator<'static, (name!(scans, i64), name!(writes, i64))> {
    TableIterator::once((
        executor::LIVE_SCANS.load(Ordering::Relaxed) as i64,
        write::LIVE_WRITES.load(Ordering::Relaxed) as i64,
    ))
}
