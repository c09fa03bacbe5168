//! Running a scan: BeginForeignScan builds the execution's state, IterateForeignScan fetches on
//! its first row (with the pushed-down values evaluated then) and builds one row at a time,
//! ReScanForeignScan fetches again, EndForeignScan drops the state.
//!
//! The state lives as long as the executor's query memory context (`es_query_cxt`), like a
//! write's state and the stock answers: that context's reset callback drops it, at the end of
//! the statement or when an ERROR or a cancel ends it early (Postgres skips EndForeignScan
//! then). EXPLAIN without ANALYZE builds none.

use super::convert::{attr_plans, value_datum, AttrPlan, Fields, Source};
use super::entities::{Entity, Kind};
use super::error::FdwError;
use super::fetch::{Item, Pushed, SlotIndex};
use super::planner::{PlanData, QualShape};
use super::progress::Progress;
use super::server::ServerConfig;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgList;
use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};

/// How many scan states exist in this backend (for the leak tests: 0 between statements).
pub static LIVE_SCANS: AtomicUsize = AtomicUsize::new(0);

/// Installs our executor callbacks into the routine the framework built.
pub fn install(routine: &mut pg_sys::FdwRoutine) {
    routine.BeginForeignScan = Some(begin_foreign_scan);
    routine.IterateForeignScan = Some(iterate_foreign_scan);
    routine.ReScanForeignScan = Some(rescan_foreign_scan);
    routine.EndForeignScan = Some(end_foreign_scan);
}

/// One execution of a foreign scan.
struct ScanState {
    entity: Entity,
    server: ServerConfig,
    attrs: Vec<AttrPlan>,
    natts: usize,
    quals: Vec<QualShape>,
    qual_exprs: Vec<*mut pg_sys::ExprState>,
    items: Option<std::vec::IntoIter<Item>>,
    /// The item keys the scan reads, by slot: stock items are read for these values only.
    slots: SlotIndex,
    /// Only stock_number, raw_md5 and raw (or nothing) are read: stock items are not parsed.
    skip_parse: bool,
    /// Neither stock_number nor raw_md5 is read (count(*), raw alone): the key pass is skipped.
    no_keys: bool,
    mapping_errors: usize,
    first_mapping_error: Option<String>,
    /// Items read of the total, published while the scan runs in a sync (see progress.rs).
    progress: Option<Progress>,
}

impl Drop for ScanState {
    fn drop(&mut self) {
        LIVE_SCANS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Owner of a scan's state, allocated once per BeginForeignScan and freed by the reset callback
/// of the executor's query memory context (normal end, ERROR or cancel alike).
struct Holder {
    state: Option<ScanState>,
}

#[pg_guard]
unsafe extern "C-unwind" fn free_holder(arg: *mut c_void) {
    // SAFETY: `arg` is the Box<Holder> leaked by begin_foreign_scan for this callback alone; the
    // context calls each callback once, when it is reset or deleted, after which nothing reads
    // fdw_state (the ForeignScanState lives in that context).
    drop(unsafe { Box::from_raw(arg as *mut Holder) });
}

/// The item key of a stock item's StockNumber.
const STOCK_NUMBER_KEY: &str = "StockNumber";

#[pg_guard]
unsafe extern "C-unwind" fn begin_foreign_scan(node: *mut pg_sys::ForeignScanState, eflags: c_int) {
    // SAFETY: `node` is the executor's ForeignScanState for this ForeignScan, valid until
    // EndForeignScan. Its plan was made by our get_foreign_plan (as decode requires), and
    // ExecInitForeignScan opened `ss_currentRelation` (scanrelid is always our base relation)
    // before calling us, in the query's memory context (as attr_plans requires). fdw_exprs is
    // initialised against this node, in that context, for evaluate_quals. The callback struct is
    // allocated in es_query_cxt, the context it watches, and `fdw_state` gets the Holder it frees.
    // Backend thread, inside #[pg_guard], so an ERROR (the tenant check's too) unwinds safely,
    // dropping what was built so far.
    unsafe {
        let plan = (*node).ss.ps.plan as *mut pg_sys::ForeignScan;
        let data = PlanData::decode((*plan).fdw_private);
        let rel = (*node).ss.ss_currentRelation;
        let ftable_oid = (*rel).rd_id;
        let server = ServerConfig::for_table(ftable_oid).unwrap_or_else(|e| e.report());
        let spec = data.entity.spec();
        spec.check_readable().unwrap_or_else(|e| e.report());
        let (mut attrs, natts) = attr_plans(rel, data.entity, &data.needed);
        // EXPLAIN without ANALYZE checks the table but builds nothing and calls nobody.
        if eflags & pg_sys::EXEC_FLAG_EXPLAIN_ONLY as c_int != 0 {
            return;
        }
        let mut slots = SlotIndex::default();
        for attr in attrs.iter_mut().filter(|a| !a.column.key.is_empty()) {
            let next = slots.len();
            attr.slot = Some(*slots.entry(attr.column.key).or_insert(next));
        }
        let skip_parse = attrs.iter().all(|a| {
            matches!(a.column.kind, Kind::RawMd5)
                || a.column.key == STOCK_NUMBER_KEY
                || (matches!(a.column.kind, Kind::Json) && a.column.key.is_empty())
        });
        let no_keys = !attrs
            .iter()
            .any(|a| matches!(a.column.kind, Kind::RawMd5) || a.column.key == STOCK_NUMBER_KEY);
        let exprs = pg_sys::ExecInitExprList((*plan).fdw_exprs, node as *mut pg_sys::PlanState);
        let qual_exprs = PgList::<pg_sys::ExprState>::from_pg(exprs)
            .iter_ptr()
            .collect();
        // SECURITY: the tenant check runs for every execution, cached plan or not.
        server.check_tenant().unwrap_or_else(|e| e.report());
        // The callback first: if allocating it fails, no state exists yet to leak.
        let context = (*(*node).ss.ps.state).es_query_cxt;
        let callback = pg_sys::MemoryContextAlloc(
            context,
            std::mem::size_of::<pg_sys::MemoryContextCallback>(),
        ) as *mut pg_sys::MemoryContextCallback;
        LIVE_SCANS.fetch_add(1, Ordering::Relaxed);
        let holder = Box::into_raw(Box::new(Holder {
            state: Some(ScanState {
                entity: data.entity,
                server,
                attrs,
                natts,
                quals: data.quals,
                qual_exprs,
                items: None,
                slots,
                skip_parse,
                no_keys,
                mapping_errors: 0,
                first_mapping_error: None,
                progress: None,
            }),
        }));
        (*callback).func = Some(free_holder);
        (*callback).arg = holder as *mut c_void;
        (*callback).next = std::ptr::null_mut();
        pg_sys::MemoryContextRegisterResetCallback(context, callback);
        (*node).fdw_state = holder as *mut c_void;
    }
}

/// The state of a scan begun by begin_foreign_scan.
///
/// # Safety
/// `node` must be the ForeignScanState given to begin_foreign_scan, within the same execution.
unsafe fn state_of<'a>(node: *mut pg_sys::ForeignScanState) -> &'a mut ScanState {
    // SAFETY: fdw_state is NULL or our Holder, alive until the executor's query context goes,
    // which is after every Iterate/ReScan/End callback of the execution. Each callback takes the
    // reference once, and no other code reaches this node's state meanwhile.
    let holder = unsafe { ((*node).fdw_state as *mut Holder).as_mut() };
    match holder.and_then(|h| h.state.as_mut()) {
        Some(state) => state,
        None => FdwError::Internal("scan state is gone (was the transaction aborted?)").report(),
    }
}

/// The pushed-down values, evaluated now (parameters and stable expressions included).
unsafe fn evaluate_quals(node: *mut pg_sys::ForeignScanState, state: &ScanState) -> Vec<Pushed> {
    // SAFETY: `node` is the executor's ForeignScanState (from iterate_foreign_scan), whose
    // ExprContext ExecInitForeignScan created; `state.qual_exprs` are the ExprStates
    // begin_foreign_scan built for this node with ExecInitExprList, alive in the query's memory
    // context until the execution ends. Each value's type was checked at planning to be text,
    // varchar or bpchar (or an array of those), all text varlenas, so reading a datum as a String
    // or a Vec<Option<String>> is sound. Backend thread, inside the caller's #[pg_guard].
    unsafe {
        let econtext = (*node).ss.ps.ps_ExprContext;
        let pushable = state.entity.spec().pushable();
        let mut out: Vec<Pushed> = Vec::new();
        for ((index, is_array), es) in state.quals.iter().zip(&state.qual_exprs) {
            let mut isnull = false;
            let datum = match (**es).evalfunc {
                // SAFETY: the expression was initialised for this node's ExprContext in
                // BeginForeignScan. It may raise an ERROR (a missing setting, a failing cast):
                // the FFI guard turns that longjmp into a Rust unwind, so every Rust frame between
                // here and the callback's own guard is dropped before the ERROR continues,
                // instead of being jumped over.
                Some(f) => pg_sys::ffi::pg_guard_ffi_boundary(|| f(*es, econtext, &mut isnull)),
                None => continue,
            };
            let values: Vec<String> = if *is_array {
                Vec::<Option<String>>::from_datum(datum, isnull)
                    .unwrap_or_default()
                    .into_iter()
                    .flatten()
                    .collect()
            } else {
                String::from_datum(datum, isnull).into_iter().collect()
            };
            let (column, key) = pushable[*index];
            // Several quals on one column intersect locally; sending the union is always correct.
            match out.iter_mut().find(|p| p.column == column) {
                Some(p) => p.values.extend(values),
                None => out.push(Pushed {
                    column,
                    key,
                    values,
                    constrained: true,
                }),
            }
        }
        out
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn iterate_foreign_scan(
    node: *mut pg_sys::ForeignScanState,
) -> *mut pg_sys::TupleTableSlot {
    // SAFETY: `node` is the executor's ForeignScanState, set up by begin_foreign_scan, as
    // state_of and evaluate_quals require. Its scan slot (made for the relation's descriptor, as
    // the plan has no fdw_scan_tlist) and `ps.state` (the EState, whose es_query_cxt lasts the
    // execution) are valid for the call. Clearing the slot through its own ops, filling its values
    // (fill_slot) and storing a virtual tuple is the slot protocol. Backend thread, inside
    // #[pg_guard], so an ERROR unwinds safely; the state stays with its Holder.
    unsafe {
        let slot = (*node).ss.ss_ScanTupleSlot;
        if let Some(clear) = (*(*slot).tts_ops).clear {
            clear(slot);
        }
        let state = state_of(node);
        if state.items.is_none() {
            let pushed = evaluate_quals(node, state);
            let execution = (*(*node).ss.ps.state).es_query_cxt;
            let items = state
                .entity
                .spec()
                .fetch(&state.server, &pushed, execution)
                .unwrap_or_else(|e| e.report());
            state.progress = Progress::start(items.len());
            state.items = Some(items.into_iter());
        }
        let Some(item) = state.items.as_mut().and_then(Iterator::next) else {
            warn_mapping_errors(state);
            if let Some(progress) = state.progress.take() {
                progress.finish();
            }
            return slot;
        };
        if let Some(progress) = state.progress.as_mut() {
            progress.step();
        }
        // A stock item is parsed only now, for its own row, and dropped with it; a scan that
        // reads only keys and the text takes the keys from the answer's key pass, parsing nothing.
        let row = match &item {
            Item::Parsed(map) => Source {
                item: Fields::Map(map),
                text: None,
                md5: None,
            },
            Item::Stock(answer, i) if state.skip_parse => {
                // count(*) or raw alone needs no key at all.
                let key = (!state.no_keys).then(|| &answer.keys()[*i]);
                let mut slots = vec![None; state.slots.len()];
                if let (Some(&at), Some(sn)) = (
                    state.slots.get(STOCK_NUMBER_KEY),
                    key.and_then(|k| k.stock_number.as_ref()),
                ) {
                    slots[at] = Some(sn.clone());
                }
                Source {
                    item: Fields::Slots(slots),
                    text: Some(answer.text(*i)),
                    md5: key.map(|k| k.md5),
                }
            }
            Item::Stock(answer, i) => {
                // Only the values of the scan's columns are built.
                let slots = match answer.fields(*i, &state.slots) {
                    Some(slots) => slots,
                    None => {
                        // JSON but not an object serde can read (a lone surrogate escape): a row
                        // of NULLs but its raw text and digest, counted, not fatal.
                        state.mapping_errors += 1;
                        state.first_mapping_error.get_or_insert_with(|| {
                            "a stock item could not be read as an object".into()
                        });
                        vec![None; state.slots.len()]
                    }
                };
                Source {
                    item: Fields::Slots(slots),
                    text: Some(answer.text(*i)),
                    md5: answer.known_md5(*i),
                }
            }
        };
        fill_slot(state, slot, &row);
        pg_sys::ExecStoreVirtualTuple(slot);
        slot
    }
}

fn warn_mapping_errors(state: &mut ScanState) {
    if state.mapping_errors > 0 {
        pgrx::warning!(
            "easycars: {} value(s) of {} could not be read and were returned as NULL; first: {}",
            state.mapping_errors,
            state.entity.spec().name(),
            state.first_mapping_error.take().unwrap_or_default()
        );
        state.mapping_errors = 0;
    }
}

unsafe fn fill_slot(state: &mut ScanState, slot: *mut pg_sys::TupleTableSlot, row: &Source) {
    // SAFETY: `slot` is this node's scan slot (from iterate_foreign_scan), made for the relation's
    // tuple descriptor, so tts_values and tts_isnull each hold `state.natts` entries (the
    // relation's natts, from attr_plans). They are distinct arrays, nothing else touches them
    // while we write, and every `attr.index` is below natts. value_datum gets this scan's
    // AttrPlans on the backend thread inside iterate_foreign_scan's #[pg_guard], as it requires.
    unsafe {
        let values = std::slice::from_raw_parts_mut((*slot).tts_values, state.natts);
        let nulls = std::slice::from_raw_parts_mut((*slot).tts_isnull, state.natts);
        nulls.fill(true);
        for attr in state.attrs.iter_mut() {
            match value_datum(attr, row) {
                Ok(Some(d)) => {
                    values[attr.index] = d;
                    nulls[attr.index] = false;
                }
                Ok(None) => {}
                Err(msg) => {
                    state.mapping_errors += 1;
                    state.first_mapping_error.get_or_insert(msg);
                }
            }
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn rescan_foreign_scan(node: *mut pg_sys::ForeignScanState) {
    // Parameters may have changed: fetch again on the next row.
    // SAFETY: `node` comes from the executor for this ForeignScan, set up by begin_foreign_scan,
    // as state_of requires; backend thread, inside #[pg_guard].
    unsafe { state_of(node).items = None }
}

#[pg_guard]
unsafe extern "C-unwind" fn end_foreign_scan(node: *mut pg_sys::ForeignScanState) {
    // SAFETY: `node` comes from the executor for this ForeignScan and is valid for the call;
    // fdw_state is NULL (EXPLAIN only) or our Holder, still alive (see free_holder). The state is
    // dropped now, the Holder itself when the query context goes.
    unsafe {
        if let Some(holder) = ((*node).fdw_state as *mut Holder).as_mut() {
            holder.state = None;
        }
    }
}
