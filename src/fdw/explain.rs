//! What `EXPLAIN` shows of a scan: the EasyCars route it calls and what it pushes down, read
//! from the plan alone (EXPLAIN without ANALYZE builds no scan state).

use super::planner::{strip_relabel, PlanData};
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgList;
use std::ffi::{CStr, CString};

/// Installs our EXPLAIN callback into the routine the framework built.
pub fn install(routine: &mut pg_sys::FdwRoutine) {
    routine.ExplainForeignScan = Some(explain_foreign_scan);
}

#[pg_guard]
unsafe extern "C-unwind" fn explain_foreign_scan(
    node: *mut pg_sys::ForeignScanState,
    es: *mut pg_sys::ExplainState,
) {
    // SAFETY: `node` and `es` come from the executor's EXPLAIN of this ForeignScan and are valid
    // for the call. The plan was made by our get_foreign_plan, so fdw_private is encode's List
    // (as decode requires) and fdw_exprs holds the pushed value expressions in the same order, in
    // plan memory. Backend thread, inside #[pg_guard], so an ERROR unwinds safely.
    unsafe {
        let plan = (*node).ss.ps.plan as *mut pg_sys::ForeignScan;
        let data = PlanData::decode((*plan).fdw_private);
        let spec = data.entity.spec();
        explain_text(es, "EasyCars Route", &spec.explain_route());
        let exprs = PgList::<pg_sys::Node>::from_pg((*plan).fdw_exprs);
        let pushed: Vec<String> = data
            .quals
            .iter()
            .enumerate()
            .map(|(i, (index, is_array))| {
                let (column, key) = spec.pushable()[*index];
                let value = exprs
                    .get_ptr(i)
                    .map(|e| describe_value(e))
                    .unwrap_or_default();
                // A column without an EasyCars field is filtered by the wrapper before rows are built.
                let name = if key.is_empty() {
                    format!("{column} (in the wrapper)")
                } else {
                    key.to_string()
                };
                if *is_array {
                    format!("{name} IN {value}")
                } else {
                    format!("{name} = {value}")
                }
            })
            .collect();
        explain_text(
            es,
            "EasyCars Pushdown",
            &if pushed.is_empty() {
                "none".to_owned()
            } else {
                pushed.join(", ")
            },
        );
    }
}

unsafe fn describe_value(node: *mut pg_sys::Node) -> String {
    // SAFETY: `node` is an fdw_exprs entry of our plan (a value expression in plan memory). Const
    // and Param fields are read only after is_a confirmed the tag; a non-NULL Const's value is of
    // `consttype`, whose output function returns a palloc'd NUL-terminated string, read at once.
    // Backend thread, inside explain_foreign_scan's #[pg_guard].
    unsafe {
        let node = strip_relabel(node);
        if pgrx::is_a(node, pg_sys::NodeTag::T_Const) {
            let c = node as *mut pg_sys::Const;
            if (*c).constisnull {
                return "NULL".into();
            }
            let mut out = pg_sys::InvalidOid;
            let mut varlena = false;
            pg_sys::getTypeOutputInfo((*c).consttype, &mut out, &mut varlena);
            let s = pg_sys::OidOutputFunctionCall(out, (*c).constvalue);
            return format!("'{}'", CStr::from_ptr(s).to_string_lossy());
        }
        if pgrx::is_a(node, pg_sys::NodeTag::T_Param) {
            return format!("${}", (*(node as *mut pg_sys::Param)).paramid);
        }
        "(expression evaluated at execution)".into()
    }
}

unsafe fn explain_text(es: *mut pg_sys::ExplainState, label: &str, value: &str) {
    let label = CString::new(label).unwrap_or_default();
    let value = CString::new(value).unwrap_or_default();
    // SAFETY: `es` is the ExplainState the executor passed to explain_foreign_scan; both strings
    // are NUL-terminated and alive across the call, which copies them into the output. Backend
    // thread, inside that callback's #[pg_guard].
    unsafe { pg_sys::ExplainPropertyText(label.as_ptr(), value.as_ptr(), es) };
}
