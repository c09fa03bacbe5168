//! The executor side of writes: our own INSERT / UPDATE callbacks, installed over the framework's
//! the way scans are (see `planner::install`), so that
//! - `INSERT ... RETURNING lead_number, customer_no, external_id` (leads) and `RETURNING
//!   quote_number` (quotations) return what EasyCars assigned, and `UPDATE ... RETURNING` returns
//!   the lead number with the values set;
//! - a write's state lives exactly as long as the statement's executor memory context: it is
//!   dropped by EndForeignModify, or by that context's reset callback when an ERROR (a cancel while
//!   EasyCars is slow, a refused row) ends the statement early. Nothing outlives the statement.
//!
//! What a row becomes in EasyCars is the entity's business (`EntitySpec::insert` / `update`).

use super::entities::{Entity, Inserted};
use super::error::FdwError;
use super::fetch::{session, Session};
use super::server::ServerConfig;
use crate::pg_compat;
use pgrx::pg_sys;
use pgrx::prelude::*;
use std::ffi::{c_int, c_void, CString};
use std::sync::atomic::{AtomicUsize, Ordering};
use supabase_wrappers::prelude::{Cell, Row};

/// How many write states exist in this backend (for the leak tests: 0 between statements).
pub static LIVE_WRITES: AtomicUsize = AtomicUsize::new(0);

/// Replaces the framework's write callbacks with ours.
pub fn install(routine: &mut pg_sys::FdwRoutine) {
    routine.AddForeignUpdateTargets = Some(add_foreign_update_targets);
    routine.PlanForeignModify = Some(plan_foreign_modify);
    routine.BeginForeignModify = Some(begin_foreign_modify);
    routine.ExecForeignInsert = Some(exec_foreign_insert);
    routine.ExecForeignUpdate = Some(exec_foreign_update);
    routine.ExecForeignDelete = Some(exec_foreign_delete);
    routine.EndForeignModify = Some(end_foreign_modify);
    // No COPY into, or partition routing to, EasyCars tables; no batching (one call per row).
    routine.BeginForeignInsert = None;
    routine.EndForeignInsert = None;
    routine.ExecForeignBatchInsert = None;
    routine.GetForeignModifyBatchSize = None;
}

/// One INSERT or UPDATE statement's write state.
struct WriteState {
    entity: Entity,
    session: Session,
    /// The row-identity junk column in the subplan's output, and its type (UPDATE only).
    rowid_junk: pg_sys::AttrNumber,
    rowid_type: pg_sys::Oid,
}

impl Drop for WriteState {
    fn drop(&mut self) {
        LIVE_WRITES.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Owner of a statement's write state, allocated once per BeginForeignModify and freed by the
/// reset callback of the executor's query memory context (normal end, ERROR or cancel alike).
struct Holder {
    state: Option<WriteState>,
}

#[pg_guard]
unsafe extern "C-unwind" fn free_holder(arg: *mut c_void) {
    // SAFETY: `arg` is the Box<Holder> leaked by begin_foreign_modify for this callback alone;
    // the context calls each callback once, when it is reset or deleted, after which nothing
    // reads ri_FdwState (the executor state lives in that context).
    drop(unsafe { Box::from_raw(arg as *mut Holder) });
}

/// The relation's attribute `name` (1-based number, type, typmod), if it has one.
///
/// # Safety
/// `rel` must be an open relation.
unsafe fn attribute(rel: pg_sys::Relation, name: &str) -> Option<(i16, pg_sys::Oid, i32)> {
    // SAFETY: an open relation's tuple descriptor is valid while the relation is open.
    unsafe {
        let desc = (*rel).rd_att;
        pg_compat::tuple_desc_attrs(desc)
            .iter()
            .find(|a| !a.attisdropped && pgrx::name_data_to_str(&a.attname) == name)
            .map(|a| (a.attnum, a.atttypid, a.atttypmod))
    }
}

/// The entity of the foreign table being written.
///
/// # Safety
/// `rel` must be an open foreign table.
unsafe fn entity_of(rel: pg_sys::Relation) -> Entity {
    // SAFETY: as required, the relation is an open foreign table.
    unsafe { super::server::table_entity((*rel).rd_id) }.unwrap_or_else(|e| e.report())
}

#[pg_guard]
unsafe extern "C-unwind" fn add_foreign_update_targets(
    root: *mut pg_sys::PlannerInfo,
    rtindex: pg_sys::Index,
    _target_rte: *mut pg_sys::RangeTblEntry,
    target_relation: pg_sys::Relation,
) {
    // SAFETY: the planner passes the target foreign table, open, and its range-table index; the
    // Var is made in the planner's memory context and handed to it, as postgres_fdw does.
    unsafe {
        let Some(rowid) = entity_of(target_relation).spec().rowid_column() else {
            return;
        };
        if let Some((attnum, typid, typmod)) = attribute(target_relation, rowid) {
            let var = pg_sys::makeVar(rtindex as _, attnum, typid, typmod, pg_sys::InvalidOid, 0);
            let name = CString::new(rowid).unwrap_or_default();
            pg_sys::add_row_identity_var(root, var, rtindex, pg_sys::pstrdup(name.as_ptr()));
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn plan_foreign_modify(
    _root: *mut pg_sys::PlannerInfo,
    _plan: *mut pg_sys::ModifyTable,
    _result_relation: pg_sys::Index,
    _subplan_index: c_int,
) -> *mut pg_sys::List {
    // Everything a write needs is read again when it begins, so a cached plan stays valid.
    std::ptr::null_mut()
}

#[pg_guard]
unsafe extern "C-unwind" fn begin_foreign_modify(
    mtstate: *mut pg_sys::ModifyTableState,
    rinfo: *mut pg_sys::ResultRelInfo,
    _fdw_private: *mut pg_sys::List,
    _subplan_index: c_int,
    eflags: c_int,
) {
    // EXPLAIN without ANALYZE builds nothing and calls nobody.
    if eflags & pg_sys::EXEC_FLAG_EXPLAIN_ONLY as c_int != 0 {
        return;
    }
    // SAFETY: the executor passes its ModifyTableState and the ResultRelInfo of our open foreign
    // table; the subplan is the outer plan of the ModifyTable node; the callback is allocated in
    // the executor's query context, which outlives every use of ri_FdwState.
    unsafe {
        let rel = (*rinfo).ri_RelationDesc;
        let ftable_oid = (*rel).rd_id;
        let operation = (*mtstate).operation;
        if operation == pg_sys::CmdType::CMD_DELETE {
            FdwError::NeedsFilter {
                message: "EasyCars records cannot be deleted",
                hint: "Mark a lead deleted with UPDATE ... SET lead_status = 90; a deleted lead cannot be reactivated.",
            }
            .report();
        }
        let server = ServerConfig::for_table(ftable_oid).unwrap_or_else(|e| e.report());
        let entity = entity_of(rel);
        entity
            .spec()
            .check_writable()
            .unwrap_or_else(|e| e.report());
        // SECURITY: writes obey the same tenant rule as reads.
        server.check_tenant().unwrap_or_else(|e| e.report());
        let session = session(&server).unwrap_or_else(|e| e.report());
        let (rowid_junk, rowid_type) = match (operation, entity.spec().rowid_column()) {
            (pg_sys::CmdType::CMD_UPDATE, Some(rowid)) => {
                let subplan = (*(*(*mtstate).ps.lefttree).plan).targetlist;
                let name = CString::new(rowid).unwrap_or_default();
                (
                    pg_sys::ExecFindJunkAttributeInTlist(subplan, name.as_ptr()),
                    attribute(rel, rowid).map_or(pg_sys::TEXTOID, |(_, typid, _)| typid),
                )
            }
            _ => (0, pg_sys::InvalidOid),
        };
        // The callback first: if allocating it fails, no state exists yet to leak.
        let context = (*(*mtstate).ps.state).es_query_cxt;
        let callback = pg_sys::MemoryContextAlloc(
            context,
            std::mem::size_of::<pg_sys::MemoryContextCallback>(),
        ) as *mut pg_sys::MemoryContextCallback;
        LIVE_WRITES.fetch_add(1, Ordering::Relaxed);
        let holder = Box::into_raw(Box::new(Holder {
            state: Some(WriteState {
                entity,
                session,
                rowid_junk,
                rowid_type,
            }),
        }));
        (*callback).func = Some(free_holder);
        (*callback).arg = holder as *mut c_void;
        (*callback).next = std::ptr::null_mut();
        pg_sys::MemoryContextRegisterResetCallback(context, callback);
        (*rinfo).ri_FdwState = holder as *mut c_void;
    }
}

/// The write state of a statement begun by begin_foreign_modify.
///
/// # Safety
/// `rinfo` must be the ResultRelInfo given to begin_foreign_modify, within the same statement.
unsafe fn state_of<'a>(rinfo: *mut pg_sys::ResultRelInfo) -> &'a mut WriteState {
    // SAFETY: ri_FdwState is our Holder, alive until the executor's query context goes, which is
    // after every Exec*/End callback of the statement.
    let holder = unsafe { ((*rinfo).ri_FdwState as *mut Holder).as_mut() };
    match holder.and_then(|h| h.state.as_mut()) {
        Some(state) => state,
        None => FdwError::Internal("write state is gone").report(),
    }
}

/// Makes every attribute of `slot` readable in tts_values / tts_isnull.
///
/// # Safety
/// `slot` must be a valid slot of the statement.
unsafe fn deform(slot: *mut pg_sys::TupleTableSlot) -> usize {
    // SAFETY: a slot's descriptor gives its attribute count; slot_getsomeattrs_int fills the
    // arrays up to it (it is what slot_getallattrs calls).
    unsafe {
        let natts = (*(*slot).tts_tupleDescriptor).natts;
        if ((*slot).tts_nvalid as c_int) < natts {
            pg_sys::slot_getsomeattrs_int(slot, natts);
        }
        natts as usize
    }
}

/// The slot's values as a framework Row, by column name; `keep` chooses the attribute numbers.
///
/// # Safety
/// `slot` must be a valid slot whose descriptor is the foreign table's.
unsafe fn slot_row(slot: *mut pg_sys::TupleTableSlot, keep: impl Fn(i16) -> bool) -> Row {
    let mut row = Row::new();
    // SAFETY: deform made natts values readable; each is read with its own attribute's type.
    unsafe {
        let natts = deform(slot);
        let attrs = pg_compat::tuple_desc_attrs((*slot).tts_tupleDescriptor);
        for (i, attr) in attrs.iter().enumerate().take(natts) {
            if attr.attisdropped || !keep(attr.attnum) {
                continue;
            }
            let cell = Cell::from_polymorphic_datum(
                *(*slot).tts_values.add(i),
                *(*slot).tts_isnull.add(i),
                attr.atttypid,
            );
            row.push(pgrx::name_data_to_str(&attr.attname), cell);
        }
    }
    row
}

/// Sets a column of a virtual slot to a text value, through the column type's input function.
///
/// # Safety
/// `slot` must be a virtual slot of the statement, deformed; `rel` its open relation.
unsafe fn set_text(
    slot: *mut pg_sys::TupleTableSlot,
    rel: pg_sys::Relation,
    column: &str,
    value: Option<&str>,
) {
    // SAFETY: the attribute number comes from the relation's own descriptor, so it indexes the
    // slot's arrays; the datum is made in the current (per-tuple) memory context, which lives
    // until RETURNING has been projected from the slot.
    unsafe {
        let (Some((attnum, typid, typmod)), Some(value)) = (attribute(rel, column), value) else {
            return;
        };
        let Ok(text) = CString::new(value) else {
            return;
        };
        let (mut input, mut ioparam) = (pg_sys::InvalidOid, pg_sys::InvalidOid);
        pg_sys::getTypeInputInfo(typid, &mut input, &mut ioparam);
        let datum = pg_sys::OidInputFunctionCall(input, text.as_ptr() as *mut _, ioparam, typmod);
        let i = (attnum - 1) as usize;
        *(*slot).tts_values.add(i) = datum;
        *(*slot).tts_isnull.add(i) = false;
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn exec_foreign_insert(
    _estate: *mut pg_sys::EState,
    rinfo: *mut pg_sys::ResultRelInfo,
    slot: *mut pg_sys::TupleTableSlot,
    _plan_slot: *mut pg_sys::TupleTableSlot,
) -> *mut pg_sys::TupleTableSlot {
    // SAFETY: the executor passes our ResultRelInfo and the slot holding the new row, a virtual
    // slot (foreign tables have no table access method) shaped like the foreign table.
    unsafe {
        let state = state_of(rinfo);
        let row = slot_row(slot, |_| true);
        let inserted: Inserted = state
            .entity
            .spec()
            .insert(&state.session, &row)
            .unwrap_or_else(|e| e.report());
        // What EasyCars assigned goes into the slot, so RETURNING (and AFTER triggers) see it.
        let rel = (*rinfo).ri_RelationDesc;
        for (column, value) in &inserted.assigned {
            set_text(slot, rel, column, value.as_deref());
        }
        slot
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn exec_foreign_update(
    estate: *mut pg_sys::EState,
    rinfo: *mut pg_sys::ResultRelInfo,
    slot: *mut pg_sys::TupleTableSlot,
    plan_slot: *mut pg_sys::TupleTableSlot,
) -> *mut pg_sys::TupleTableSlot {
    // SAFETY: as for inserts; the plan slot carries the row-identity junk column found in
    // begin_foreign_modify, and ExecGetUpdatedCols names the columns the statement sets.
    unsafe {
        let state = state_of(rinfo);
        let natts = deform(plan_slot);
        let junk = state.rowid_junk as usize;
        if junk == 0 || junk > natts || *(*plan_slot).tts_isnull.add(junk - 1) {
            FdwError::Internal("the updated row has no lead_number").report();
        }
        let rowid = Cell::from_polymorphic_datum(
            *(*plan_slot).tts_values.add(junk - 1),
            false,
            state.rowid_type,
        )
        .unwrap_or_else(|| FdwError::Internal("lead_number").report());
        let updated = pg_sys::ExecGetUpdatedCols(rinfo, estate);
        let row = slot_row(slot, |attnum| {
            pg_sys::bms_is_member(
                attnum as c_int - pg_sys::FirstLowInvalidHeapAttributeNumber,
                updated,
            )
        });
        state
            .entity
            .spec()
            .update(&state.session, &rowid, &row)
            .unwrap_or_else(|e| e.report());
        // RETURNING sees the lead number and the values set (UpdateLead answers nothing more).
        if let Cell::String(number) = &rowid {
            set_text(slot, (*rinfo).ri_RelationDesc, "lead_number", Some(number));
        }
        slot
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn exec_foreign_delete(
    _estate: *mut pg_sys::EState,
    _rinfo: *mut pg_sys::ResultRelInfo,
    _slot: *mut pg_sys::TupleTableSlot,
    _plan_slot: *mut pg_sys::TupleTableSlot,
) -> *mut pg_sys::TupleTableSlot {
    // begin_foreign_modify already refused the statement; this is never reached.
    FdwError::Internal("delete on an EasyCars table").report()
}

#[pg_guard]
unsafe extern "C-unwind" fn end_foreign_modify(
    _estate: *mut pg_sys::EState,
    rinfo: *mut pg_sys::ResultRelInfo,
) {
    // SAFETY: ri_FdwState is NULL (EXPLAIN only) or our Holder, still alive (see free_holder).
    unsafe {
        if let Some(holder) = ((*rinfo).ri_FdwState as *mut Holder).as_mut() {
            holder.state = None;
        }
    }
}
