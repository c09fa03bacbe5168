//! easycars: EasyCars dealer-management data in PostgreSQL.
//!
//! The schema lives in `sql/` and is loaded in a fixed order by `extension_sql_file!`; the Rust
//! modules add what SQL cannot do well: encryption, the EasyCars API client and the foreign data
//! wrapper.

// SQL-callable functions return `Result<_, ErrorReport>` so each error keeps its own SQLSTATE;
// ErrorReport is pgrx's type and is large by design.
#![allow(clippy::result_large_err)]

use pgrx::prelude::*;

pub mod credentials;
pub mod crypto;
pub mod destination;
pub mod error;
pub mod fdw;
pub mod gucs;
pub mod lead_enums;
pub mod pg_compat;
pub mod schedule;
pub mod security;
pub mod tenant;

::pgrx::pg_module_magic!();

/// Runs when the library loads (at server start when preloaded, else on first use).
#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    gucs::init();
}

extension_sql_file!("../sql/00_bootstrap.sql", name = "bootstrap", bootstrap);
extension_sql_file!(
    "../sql/01_dealership.sql",
    name = "dealership",
    requires = ["bootstrap"]
);
extension_sql_file!(
    "../sql/02_credentials.sql",
    name = "credentials",
    requires = ["dealership"]
);
extension_sql_file!(
    "../sql/03_sync_log.sql",
    name = "sync_log",
    requires = ["credentials"]
);
extension_sql_file!(
    "../sql/04_vehicle.sql",
    name = "vehicle",
    requires = ["sync_log"]
);
extension_sql_file!("../sql/05_lead.sql", name = "lead", requires = ["vehicle"]);
extension_sql_file!(
    "../sql/06_activity_log.sql",
    name = "activity_log",
    requires = ["lead"]
);
extension_sql_file!(
    "../sql/07_sync_progress.sql",
    name = "sync_progress",
    requires = ["activity_log"]
);
extension_sql_file!(
    "../sql/08_preview_cache.sql",
    name = "preview_cache",
    requires = ["sync_progress"]
);
extension_sql_file!(
    "../sql/09_sync_state.sql",
    name = "sync_state",
    requires = ["preview_cache"]
);
extension_sql_file!(
    "../sql/10_maintenance.sql",
    name = "maintenance",
    requires = ["sync_state"]
);
extension_sql_file!(
    "../sql/11_credentials_safe.sql",
    name = "credentials_safe",
    requires = [
        "maintenance",
        current_dealership_id_sql,
        may_act_for_sql,
        is_admin_sql,
        _credentials_input_store,
        set_credentials,
        rotate_encryption_key,
        verify_credentials
    ]
);
extension_sql_file!(
    "../sql/12_fdw.sql",
    name = "fdw",
    requires = [
        "credentials_safe",
        easycars_fdw_handler,
        easycars_fdw_validator,
        easycars_fdw_meta,
        fdw_insert_results,
        clear_fdw_insert_results,
        _fdw_live_states,
        _foreign_table_ddl,
        _jsonb_encoder_check
    ]
);
extension_sql_file!(
    "../sql/13_sync_runs.sql",
    name = "sync_runs",
    requires = ["fdw", _foreign_table_ddl]
);
extension_sql_file!(
    "../sql/14_sync_stock.sql",
    name = "sync_stock",
    requires = ["sync_runs"]
);
extension_sql_file!(
    "../sql/15_sync_leads.sql",
    name = "sync_leads",
    requires = ["sync_stock", _enum_code, _lead_status_code, _enum_labels]
);
extension_sql_file!(
    "../sql/16_scheduling.sql",
    name = "scheduling",
    requires = [
        "sync_leads",
        _claim_due,
        _settle_due,
        _ensure_schedule,
        _prefetch_stock,
        _prefetch_next,
        _prefetch_forget
    ]
);
extension_sql_file!(
    "../sql/17_monitoring.sql",
    name = "monitoring",
    requires = ["scheduling"]
);
extension_sql_file!(
    "../sql/18_audit.sql",
    name = "audit",
    requires = ["monitoring"]
);
extension_sql_file!(
    "../sql/19_lead_scoring.sql",
    name = "lead_scoring",
    requires = ["audit"]
);
extension_sql_file!(
    "../sql/20_lead_search.sql",
    name = "lead_search",
    requires = ["lead_scoring"]
);
extension_sql_file!("../sql/99_security.sql", name = "security", finalize);

#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
