//! Our own scan callbacks, installed over the ones supabase-wrappers 0.1.28 builds.
//!
//! The framework keeps a raw pointer to its Rust scan state in `ForeignScan.fdw_private` and
//! frees it at scan end, so a cached plan's second execution reads freed memory and the backend
//! dies. Here a plan carries only copyable nodes (`Integer`s and the pushed-down value
//! expressions in `fdw_exprs`), and each execution builds its state in `BeginForeignScan`.
//! The state is registered so a transaction or subtransaction abort (which skips
//! `EndForeignScan`) frees it. `LIMIT` is never used to truncate results; only simple equality
//! quals on documented columns are pushed down, and every qual is still checked locally.

use super::catalog::{Column, Entity, Kind};
use super::fetch::{fetch, Item, Pushed, SlotIndex};
use super::FdwError;
use crate::pg_compat;
use easycars_api::mapping::{map_field, Typed};
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgList;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{CStr, CString};

/// Where pushable quals' values come from: (index into `Entity::pushable()`, is `= ANY(array)`).
type QualShape = (usize, bool);

/// Installs our scan callbacks into the routine the framework built.
pub fn install(routine: &mut pg_sys::FdwRoutine) {
    routine.GetForeignRelSize = Some(get_foreign_rel_size);
    routine.GetForeignPaths = Some(get_foreign_paths);
    routine.GetForeignPlan = Some(get_foreign_plan);
    routine.BeginForeignScan = Some(begin_foreign_scan);
    routine.IterateForeignScan = Some(iterate_foreign_scan);
    routine.ReScanForeignScan = Some(rescan_foreign_scan);
    routine.EndForeignScan = Some(end_foreign_scan);
    routine.ExplainForeignScan = Some(explain_foreign_scan);
    // Aggregates are computed locally: pushing them down needs an API that can count.
    routine.GetForeignUpperPaths = None;
}

unsafe fn table_entity(ftable_oid: pg_sys::Oid) -> Entity {
    // SAFETY: callers pass the OID the planner gave their GetForeignRelSize/GetForeignPlan
    // callback for the foreign table being planned, so it names an existing foreign table, as
    // table_options requires. The catalog lookup runs on the backend thread inside that
    // #[pg_guard] callback, so an ERROR from it unwinds safely.
    let opts = unsafe { super::table_options(ftable_oid) };
    match opts.get("entity").and_then(|e| Entity::from_name(e)) {
        Some(e) => e,
        None => FdwError::MissingEntity.report(),
    }
}

/// `text = text` (pg_operator OID 98, TextEqualOperator).
const TEXT_EQUAL_OPERATOR: u32 = 98;
const TEXT_LIKE: [pg_sys::Oid; 3] = [pg_sys::TEXTOID, pg_sys::VARCHAROID, pg_sys::BPCHAROID];
const TEXT_ARRAYS: [pg_sys::Oid; 3] = [
    pg_sys::TEXTARRAYOID,
    pg_sys::VARCHARARRAYOID,
    pg_sys::BPCHARARRAYOID,
];

unsafe fn strip_relabel(mut node: *mut pg_sys::Node) -> *mut pg_sys::Node {
    // SAFETY: `node` is NULL or a node of an expression tree the planner or the plan owns (a
    // qual's argument, an fdw_exprs entry), alive for the call. is_a checks for NULL before it
    // reads the tag, and the node is read as a RelabelType only when the tag says it is one; its
    // `arg` is again such a node (or NULL, which ends the loop).
    unsafe {
        while !node.is_null() && pgrx::is_a(node, pg_sys::NodeTag::T_RelabelType) {
            node = (*(node as *mut pg_sys::RelabelType)).arg as *mut pg_sys::Node;
        }
    }
    node
}

/// The column name of `node` if it is a plain column of the scanned relation.
unsafe fn own_column(
    node: *mut pg_sys::Node,
    relid: pg_sys::Index,
    ftable_oid: pg_sys::Oid,
) -> Option<String> {
    // SAFETY: `node` is NULL or an argument of a qual in the planner's `baserestrictinfo` (from
    // pushable_quals), alive during planning; strip_relabel accepts exactly that. The Var's fields
    // are read only after is_a confirmed the tag. get_attname with missing_ok = true returns NULL
    // (checked) or a palloc'd NUL-terminated copy of the name, copied into a String at once. It
    // runs on the backend thread inside the planner callback's #[pg_guard], so an ERROR unwinds
    // safely.
    unsafe {
        let node = strip_relabel(node);
        if node.is_null() || !pgrx::is_a(node, pg_sys::NodeTag::T_Var) {
            return None;
        }
        let var = node as *mut pg_sys::Var;
        if (*var).varno as pg_sys::Index != relid || (*var).varlevelsup != 0 || (*var).varattno <= 0
        {
            return None;
        }
        let name = pg_sys::get_attname(ftable_oid, (*var).varattno, true);
        (!name.is_null()).then(|| CStr::from_ptr(name).to_string_lossy().into_owned())
    }
}

/// A value expression we can evaluate at execution: no column references, nothing volatile.
unsafe fn is_value(node: *mut pg_sys::Node) -> bool {
    // SAFETY: `node` is checked for NULL first and is otherwise a qual argument from the planner's
    // `baserestrictinfo` (from pushable_quals), alive during planning. Both walkers only read the
    // tree; they run on the backend thread inside the planner callback's #[pg_guard].
    unsafe {
        !node.is_null()
            && !pg_sys::contain_var_clause(node)
            && !pg_sys::contain_volatile_functions(node)
    }
}

unsafe fn opname_is_eq(opno: pg_sys::Oid) -> bool {
    // SAFETY: get_opname takes any OID (here the operator of a planner qual) and returns NULL
    // (checked) or a palloc'd NUL-terminated copy of the name, read at once. It runs on the backend
    // thread inside the planner callback's #[pg_guard], so an ERROR unwinds safely.
    unsafe {
        let name = pg_sys::get_opname(opno);
        !name.is_null() && CStr::from_ptr(name).to_bytes() == b"="
    }
}

/// The quals of `baserel` that can be sent to EasyCars: `col = value` and `col = ANY(values)`
/// on the entity's pushable text columns.
unsafe fn pushable_quals(
    baserel: *mut pg_sys::RelOptInfo,
    ftable_oid: pg_sys::Oid,
    entity: Entity,
) -> Vec<(
    QualShape,
    *mut pg_sys::Expr,
    Option<*mut pg_sys::RestrictInfo>,
)> {
    let mut out = Vec::new();
    // SAFETY: `baserel` is the RelOptInfo the planner passed to GetForeignRelSize or GetForeignPlan
    // for this foreign table, alive for the whole planning of the query. Its `baserestrictinfo`
    // is a List of RestrictInfo whose clauses are expression nodes; a clause is read as an OpExpr
    // or ScalarArrayOpExpr only after is_a confirmed the tag, and their `args` are Lists of nodes.
    // The helpers get these same planner nodes, as they require. The returned pointers point into
    // the planner's trees and are used by the calling callback only. Every Postgres call runs on
    // the backend thread inside the caller's #[pg_guard], so an ERROR unwinds safely.
    unsafe {
        let relid = (*baserel).relid;
        let rinfos = PgList::<pg_sys::RestrictInfo>::from_pg((*baserel).baserestrictinfo);
        for rinfo in rinfos.iter_ptr() {
            let clause = (*rinfo).clause as *mut pg_sys::Node;
            let (args, is_array, opno) = if pgrx::is_a(clause, pg_sys::NodeTag::T_OpExpr) {
                let op = clause as *mut pg_sys::OpExpr;
                ((*op).args, false, (*op).opno)
            } else if pgrx::is_a(clause, pg_sys::NodeTag::T_ScalarArrayOpExpr) {
                let op = clause as *mut pg_sys::ScalarArrayOpExpr;
                if !(*op).useOr {
                    continue;
                }
                ((*op).args, true, (*op).opno)
            } else {
                continue;
            };
            let args = PgList::<pg_sys::Node>::from_pg(args);
            if args.len() != 2 || !opname_is_eq(opno) {
                continue;
            }
            let (a, b) = (
                args.get_ptr(0).unwrap_or(std::ptr::null_mut()),
                args.get_ptr(1).unwrap_or(std::ptr::null_mut()),
            );
            // `value = col` is as good as `col = value`, but `ANY` keeps the array on the right.
            let (col, value) = match own_column(a, relid, ftable_oid) {
                Some(c) => (c, b),
                None if !is_array => match own_column(b, relid, ftable_oid) {
                    Some(c) => (c, a),
                    None => continue,
                },
                None => continue,
            };
            let Some(index) = entity.pushable().iter().position(|(name, _)| *name == col) else {
                continue;
            };
            let vtype = pg_sys::exprType(value);
            let type_ok = if is_array {
                TEXT_ARRAYS.contains(&vtype)
            } else {
                TEXT_LIKE.contains(&vtype)
            };
            if type_ok && is_value(value) {
                // A text equality on a column the wrapper filters itself (no EasyCars field) is
                // exact, so it need not be checked again row by row: with 100,000 values that
                // recheck alone would be quadratic.
                let exact = entity.pushable()[index].1.is_empty()
                    && opno == pg_sys::Oid::from(TEXT_EQUAL_OPERATOR);
                out.push((
                    (index, is_array),
                    value as *mut pg_sys::Expr,
                    exact.then_some(rinfo),
                ));
            }
        }
    }
    out
}

#[pg_guard]
unsafe extern "C-unwind" fn get_foreign_rel_size(
    _root: *mut pg_sys::PlannerInfo,
    baserel: *mut pg_sys::RelOptInfo,
    ftable_oid: pg_sys::Oid,
) {
    // SAFETY: `baserel` and `ftable_oid` come from the planner for this foreign table and are
    // valid for the call; GetForeignRelSize is where an FDW sets `baserel->rows`. This is the
    // backend thread inside #[pg_guard], so an ERROR from a catalog lookup unwinds safely.
    unsafe {
        let entity = table_entity(ftable_oid);
        let quals = pushable_quals(baserel, ftable_oid, entity);
        // Rough sizes: a dealer's stock is hundreds to thousands; a lead lookup is one row a number.
        let rows = match entity {
            Entity::Stock => 1000.0,
            Entity::Leads => {
                if quals.is_empty() {
                    1000.0
                } else {
                    10.0
                }
            }
            Entity::Contacts => 10.0,
            Entity::Quotations => 1.0,
        };
        (*baserel).rows = rows;
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn get_foreign_paths(
    root: *mut pg_sys::PlannerInfo,
    baserel: *mut pg_sys::RelOptInfo,
    _ftable_oid: pg_sys::Oid,
) {
    // SAFETY: `root` and `baserel` come from the planner for this foreign table and are valid for
    // the call. create_foreignscan_path accepts NULL for the target (the rel's is used), pathkeys,
    // required_outer, fdw_outerpath and fdw_private, and allocates the path in the planner's memory
    // context; add_path takes it over. Backend thread, inside #[pg_guard].
    unsafe {
        let rows = (*baserel).rows;
        // One HTTP round trip before the first row; then rows are cheap.
        let startup_cost = 1000.0;
        let total_cost = startup_cost + rows * 0.1;
        let path =
            pg_compat::create_foreignscan_path(root, baserel, rows, startup_cost, total_cost);
        pg_sys::add_path(baserel, path as *mut pg_sys::Path);
    }
}

/// The attribute numbers the query reads, or `None` for all (a whole-row reference).
unsafe fn needed_attnums(baserel: *mut pg_sys::RelOptInfo) -> Option<Vec<i32>> {
    // SAFETY: `baserel` is the planner's RelOptInfo for this foreign table (from
    // get_foreign_plan), so `reltarget` is set and `baserestrictinfo` is a List of RestrictInfo.
    // pull_varattnos only reads the expressions and grows `attrs`, a Bitmapset in the planner's
    // memory context (NULL is the empty set, which bms_next_member accepts). Backend thread,
    // inside the caller's #[pg_guard].
    unsafe {
        let relid = (*baserel).relid;
        let mut attrs: *mut pg_sys::Bitmapset = std::ptr::null_mut();
        pg_sys::pull_varattnos(
            (*(*baserel).reltarget).exprs as *mut pg_sys::Node,
            relid,
            &mut attrs,
        );
        let rinfos = PgList::<pg_sys::RestrictInfo>::from_pg((*baserel).baserestrictinfo);
        for rinfo in rinfos.iter_ptr() {
            pg_sys::pull_varattnos((*rinfo).clause as *mut pg_sys::Node, relid, &mut attrs);
        }
        let offset = pg_sys::FirstLowInvalidHeapAttributeNumber;
        let mut out = Vec::new();
        let mut member = -1;
        loop {
            member = pg_sys::bms_next_member(attrs, member);
            if member < 0 {
                break;
            }
            let attno = member + offset;
            if attno == 0 {
                return None;
            }
            if attno > 0 {
                out.push(attno);
            }
        }
        Some(out)
    }
}

unsafe fn int_node(v: i32) -> *mut std::ffi::c_void {
    // SAFETY: makeInteger only pallocs an Integer node in the current (planner's) memory context;
    // it runs on the backend thread inside GetForeignPlan's #[pg_guard], so an out-of-memory
    // ERROR unwinds safely.
    unsafe { pg_sys::makeInteger(v) as *mut std::ffi::c_void }
}

unsafe fn int_at(list: &PgList<pg_sys::Node>, i: usize) -> i32 {
    match list.get_ptr(i) {
        // SAFETY: `list` wraps a plan's fdw_private, built by PlanData::encode (copied intact with
        // a cached plan), so each entry is a node in plan memory that outlives the scan. is_a
        // checks NULL and the tag, and the node is read as an Integer only when it is one.
        Some(n) if unsafe { pgrx::is_a(n, pg_sys::NodeTag::T_Integer) } => unsafe {
            (*(n as *mut pg_sys::Integer)).ival
        },
        _ => FdwError::Internal("malformed plan data").report(),
    }
}

/// The plan's private data, decoded. Layout of `fdw_private` (all `Integer` nodes, so plans can
/// be copied and cached): entity, the count of needed attributes (-1 for all) and that many
/// attribute numbers, then per pushed qual its pushable-column index and 1 for `= ANY`. The qual
/// values are `fdw_exprs`, in the same order.
struct PlanData {
    entity: Entity,
    needed: Option<Vec<i32>>,
    quals: Vec<QualShape>,
}

impl PlanData {
    unsafe fn encode(&self) -> *mut pg_sys::List {
        // SAFETY: only int_node (makeInteger) is unsafe here. encode is called from
        // get_foreign_plan, on the backend thread inside its #[pg_guard], so the nodes and the
        // List are allocated in the planner's memory context, with the plan they become part of.
        unsafe {
            let mut list = PgList::<std::ffi::c_void>::new();
            list.push(int_node(self.entity.code()));
            match &self.needed {
                None => list.push(int_node(-1)),
                Some(v) => {
                    list.push(int_node(v.len() as i32));
                    for a in v {
                        list.push(int_node(*a));
                    }
                }
            }
            for (index, is_array) in &self.quals {
                list.push(int_node(*index as i32));
                list.push(int_node(i32::from(*is_array)));
            }
            list.into_pg()
        }
    }

    unsafe fn decode(raw: *mut pg_sys::List) -> PlanData {
        // SAFETY: callers pass the fdw_private of a ForeignScan of this FDW. Every such plan node is
        // made by our get_foreign_plan, whose fdw_private is encode's List of Integer nodes (copied
        // intact with a cached plan), in plan memory that outlives the execution. int_at checks
        // each node's tag and reports a malformed list as an ERROR; callers are #[pg_guard]
        // callbacks on the backend thread, so that ERROR unwinds safely.
        unsafe {
            let list = PgList::<pg_sys::Node>::from_pg(raw);
            let entity = Entity::from_code(int_at(&list, 0))
                .unwrap_or_else(|| FdwError::Internal("unknown entity in plan").report());
            let n = int_at(&list, 1);
            let mut pos = 2;
            let needed = if n < 0 {
                None
            } else {
                let v = (0..n as usize).map(|i| int_at(&list, 2 + i)).collect();
                pos += n as usize;
                Some(v)
            };
            let mut quals = Vec::new();
            while pos + 1 < list.len() {
                quals.push((int_at(&list, pos) as usize, int_at(&list, pos + 1) != 0));
                pos += 2;
            }
            PlanData {
                entity,
                needed,
                quals,
            }
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn get_foreign_plan(
    _root: *mut pg_sys::PlannerInfo,
    baserel: *mut pg_sys::RelOptInfo,
    ftable_oid: pg_sys::Oid,
    _best_path: *mut pg_sys::ForeignPath,
    tlist: *mut pg_sys::List,
    scan_clauses: *mut pg_sys::List,
    outer_plan: *mut pg_sys::Plan,
) -> *mut pg_sys::ForeignScan {
    // SAFETY: every pointer (`baserel`, `tlist`, `scan_clauses`, `outer_plan`) comes from the
    // planner for this foreign table and is valid for the call; pushable_quals and needed_attnums
    // get the planner's `baserel`, as they require. copyObjectImpl deep-copies each pushed value
    // expression into the planner's memory context, so the plan owns its fdw_exprs.
    // `scan_clauses` is a List of RestrictInfo (our paths are never parameterized), as
    // extract_actual_clauses expects, and make_foreignscan takes over the lists. Backend thread,
    // inside #[pg_guard], so an ERROR unwinds safely.
    unsafe {
        let entity = table_entity(ftable_oid);
        let quals = pushable_quals(baserel, ftable_oid, entity);
        let mut exprs = PgList::<std::ffi::c_void>::new();
        for (_, expr, _) in &quals {
            exprs.push(pg_sys::copyObjectImpl(*expr as *const std::ffi::c_void));
        }
        let data = PlanData {
            entity,
            needed: needed_attnums(baserel),
            quals: quals.iter().map(|(s, _, _)| *s).collect(),
        };
        // Every qual stays a local filter too (pushdown narrows the request, never the answer),
        // except the exact ones the wrapper itself applies.
        let exact: Vec<*mut pg_sys::RestrictInfo> =
            quals.iter().filter_map(|(_, _, r)| *r).collect();
        let mut kept = PgList::<pg_sys::RestrictInfo>::new();
        for rinfo in PgList::<pg_sys::RestrictInfo>::from_pg(scan_clauses).iter_ptr() {
            if !exact.contains(&rinfo) {
                kept.push(rinfo);
            }
        }
        let local = pg_sys::extract_actual_clauses(kept.into_pg(), false);
        pg_sys::make_foreignscan(
            tlist,
            local,
            (*baserel).relid,
            exprs.into_pg(),
            data.encode(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            outer_plan,
        )
    }
}

/// How to produce one attribute of the scan tuple.
struct AttrPlan {
    index: usize,
    column: &'static Column,
    /// Where a stock row's value for this column's key is (see `fetch::SlotIndex`).
    slot: Option<usize>,
    typid: pg_sys::Oid,
    input: Option<(pg_sys::FmgrInfo, pg_sys::Oid, i32)>,
}

/// One execution of a foreign scan.
struct ScanState {
    entity: Entity,
    server: super::ServerConfig,
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
    subxact: pg_sys::SubTransactionId,
}

thread_local! {
    /// Scan states not yet ended, so an abort can free them (Postgres skips EndForeignScan then).
    static LIVE: RefCell<HashMap<usize, Box<ScanState>>> = RefCell::new(HashMap::new());
}

/// How many scan states this backend holds now (none between statements).
pub fn live_count() -> usize {
    LIVE.with_borrow(HashMap::len)
}

/// Frees the scan states of an aborted (sub)transaction; called from the xact callbacks.
pub fn release_on_abort(subxact: Option<pg_sys::SubTransactionId>) {
    LIVE.with_borrow_mut(|live| match subxact {
        None => live.clear(),
        Some(id) => live.retain(|_, s| s.subxact < id),
    });
}

fn expected_type(kind: Kind) -> pg_sys::Oid {
    use easycars_api::stock_fields::FieldKind as F;
    match kind {
        Kind::Field(F::Text) | Kind::Field(F::CommaList) | Kind::Label(_) => pg_sys::TEXTOID,
        Kind::Field(F::Integer) => pg_sys::INT4OID,
        Kind::Field(F::Number) => pg_sys::NUMERICOID,
        Kind::Field(F::Boolean) | Kind::Field(F::NullableBoolean) => pg_sys::BOOLOID,
        Kind::Field(F::DateDdMmYyyy) => pg_sys::DATEOID,
        Kind::List => pg_sys::TEXTARRAYOID,
        Kind::SydneyTimestamp => pg_sys::TIMESTAMPTZOID,
        Kind::Json => pg_sys::JSONBOID,
        Kind::RawMd5 => pg_sys::TEXTOID,
    }
}

unsafe fn attr_plans(
    rel: pg_sys::Relation,
    entity: Entity,
    needed: &Option<Vec<i32>>,
) -> (Vec<AttrPlan>, usize) {
    // SAFETY: `rel` is the scan's relation (ss_currentRelation), opened and locked by the executor
    // for the whole execution; its tuple descriptor holds `natts` attributes (tuple_desc_attrs).
    // getTypeInputInfo takes a column's type OID from that descriptor. All-zero bytes are a valid
    // FmgrInfo, and fmgr_info fills every field, recording the current memory context (the
    // query's, during BeginForeignScan), which outlives the scan. Backend thread, inside
    // begin_foreign_scan's #[pg_guard], so an ERROR unwinds safely.
    unsafe {
        let desc = (*rel).rd_att;
        let attrs = pg_compat::tuple_desc_attrs(desc);
        let natts = attrs.len();
        let mut plans = Vec::new();
        for (i, att) in attrs.iter().enumerate() {
            if att.attisdropped {
                continue;
            }
            let name = pgrx::name_data_to_str(&att.attname);
            let Some(column) = entity.column(name) else {
                FdwError::UnknownColumn {
                    table: entity.name(),
                    column: name.to_owned(),
                }
                .report()
            };
            let wanted = needed.as_ref().is_none_or(|v| v.contains(&(i as i32 + 1)));
            if !wanted {
                continue;
            }
            let expected = expected_type(column.kind);
            let typid = att.atttypid;
            // Our native type, or varchar for text; anything else goes through the column
            // type's input function from the value's text form.
            let native =
                typid == expected || (expected == pg_sys::TEXTOID && typid == pg_sys::VARCHAROID);
            let input = if native {
                None
            } else {
                let mut func = pg_sys::InvalidOid;
                let mut ioparam = pg_sys::InvalidOid;
                pg_sys::getTypeInputInfo(typid, &mut func, &mut ioparam);
                let mut finfo: pg_sys::FmgrInfo = std::mem::zeroed();
                pg_sys::fmgr_info(func, &mut finfo);
                Some((finfo, ioparam, att.atttypmod))
            };
            plans.push(AttrPlan {
                index: i,
                column,
                slot: None,
                typid,
                input,
            });
        }
        (plans, natts)
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn begin_foreign_scan(
    node: *mut pg_sys::ForeignScanState,
    eflags: std::ffi::c_int,
) {
    // SAFETY: `node` is the executor's ForeignScanState for this ForeignScan, valid until
    // EndForeignScan. Its plan was made by our get_foreign_plan (as decode requires), and
    // ExecInitForeignScan opened `ss_currentRelation` (scanrelid is always our base relation)
    // before calling us. fdw_exprs is initialised against this node, in the query's memory
    // context, for evaluate_quals. `fdw_state` gets only a LIVE key, an integer never dereferenced.
    // Backend thread, inside #[pg_guard], so an ERROR (the tenant check's too) unwinds safely,
    // dropping what was built so far.
    unsafe {
        let plan = (*node).ss.ps.plan as *mut pg_sys::ForeignScan;
        let data = PlanData::decode((*plan).fdw_private);
        let rel = (*node).ss.ss_currentRelation;
        let ftable_oid = (*rel).rd_id;
        let server = super::ServerConfig::for_table(ftable_oid).unwrap_or_else(|e| e.report());
        if data.entity == Entity::Quotations {
            FdwError::InsertOnly.report();
        }
        let (mut attrs, natts) = attr_plans(rel, data.entity, &data.needed);
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
        let explain_only = eflags & pg_sys::EXEC_FLAG_EXPLAIN_ONLY as std::ffi::c_int != 0;
        if !explain_only {
            // SECURITY: the tenant check runs for every execution, cached plan or not.
            server.check_tenant().unwrap_or_else(|e| e.report());
        }
        let state = Box::new(ScanState {
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
            subxact: pg_sys::GetCurrentSubTransactionId(),
        });
        let key = &*state as *const ScanState as usize;
        LIVE.with_borrow_mut(|live| live.insert(key, state));
        (*node).fdw_state = key as *mut std::ffi::c_void;
    }
}

unsafe fn with_state<R>(
    node: *mut pg_sys::ForeignScanState,
    f: impl FnOnce(&mut ScanState) -> R,
) -> R {
    // SAFETY: callers pass the executor's ForeignScanState of a scan begin_foreign_scan set up,
    // valid for the call; `fdw_state` is read as a plain field and used only as a LIVE key, never
    // dereferenced.
    let key = unsafe { (*node).fdw_state } as usize;
    // Take the state out while working so a nested scan (or an error) never aliases it.
    let state = LIVE.with_borrow_mut(|live| live.remove(&key));
    let Some(mut state) = state else {
        FdwError::Internal("scan state is gone (was the transaction aborted?)").report()
    };
    let out = f(&mut state);
    LIVE.with_borrow_mut(|live| live.insert(key, state));
    out
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
        let mut out: Vec<Pushed> = Vec::new();
        for ((index, is_array), es) in state.quals.iter().zip(&state.qual_exprs) {
            let mut isnull = false;
            let datum = match (**es).evalfunc {
                // SAFETY: the expression was initialised for this node's ExprContext in
                // BeginForeignScan. It may raise an ERROR (a missing setting, a failing cast):
                // the FFI guard turns that longjmp into a Rust unwind, so every Rust frame between
                // here and the callback's own guard is dropped (the scan state with it) before the
                // ERROR continues, instead of being jumped over.
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
            let (column, key) = state.entity.pushable()[*index];
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
    // SAFETY: `node` is the executor's ForeignScanState, set up by begin_foreign_scan. Its scan
    // slot (made for the relation's descriptor, as the plan has no fdw_scan_tlist) and `ps.state`
    // (the EState, whose es_query_cxt lasts the execution) are valid for the call. Clearing the
    // slot through its own ops, filling its values (fill_slot) and storing a virtual tuple is the
    // slot protocol. Backend thread, inside #[pg_guard], so an ERROR unwinds safely; a state that
    // with_state took out of LIVE is then dropped with the unwind.
    unsafe {
        let slot = (*node).ss.ss_ScanTupleSlot;
        if let Some(clear) = (*(*slot).tts_ops).clear {
            clear(slot);
        }
        let item = with_state(node, |state| {
            if state.items.is_none() {
                let pushed = evaluate_quals(node, state);
                let execution = (*(*node).ss.ps.state).es_query_cxt;
                let items = fetch(state.entity, &state.server, &pushed, execution)
                    .unwrap_or_else(|e| e.report());
                state.items = Some(items.into_iter());
            }
            state.items.as_mut().and_then(Iterator::next)
        });
        let Some(item) = item else {
            with_state(node, warn_mapping_errors);
            return slot;
        };
        // A stock item is parsed only now, for its own row, and dropped with it; a scan that
        // reads only keys and the text takes the keys from the answer's key pass, parsing nothing.
        let (skip_parse, no_keys) = with_state(node, |state| (state.skip_parse, state.no_keys));
        let row = match &item {
            Item::Parsed(map) => Row {
                item: Fields::Map(map),
                text: None,
                md5: None,
            },
            Item::Stock(answer, i) if skip_parse => {
                // count(*) or raw alone needs no key at all.
                let key = (!no_keys).then(|| &answer.keys()[*i]);
                let slots = with_state(node, |state| {
                    let mut slots = vec![None; state.slots.len()];
                    if let (Some(&at), Some(sn)) = (
                        state.slots.get(STOCK_NUMBER_KEY),
                        key.and_then(|k| k.stock_number.as_ref()),
                    ) {
                        slots[at] = Some(sn.clone());
                    }
                    slots
                });
                Row {
                    item: Fields::Slots(slots),
                    text: Some(answer.text(*i)),
                    md5: key.map(|k| k.md5),
                }
            }
            Item::Stock(answer, i) => {
                // Only the values of the scan's columns are built.
                let slots = with_state(node, |state| {
                    answer.fields(*i, &state.slots).unwrap_or_else(|| {
                        // JSON but not an object serde can read (a lone surrogate escape): a row
                        // of NULLs but its raw text and digest, counted, not fatal.
                        state.mapping_errors += 1;
                        state.first_mapping_error.get_or_insert_with(|| {
                            "a stock item could not be read as an object".into()
                        });
                        vec![None; state.slots.len()]
                    })
                });
                Row {
                    item: Fields::Slots(slots),
                    text: Some(answer.text(*i)),
                    md5: answer.known_md5(*i),
                }
            }
        };
        with_state(node, |state| fill_slot(state, slot, &row));
        pg_sys::ExecStoreVirtualTuple(slot);
        slot
    }
}

/// One row's source: the item's values, its text as received (stock) and its digest if known.
struct Row<'a> {
    item: Fields<'a>,
    text: Option<&'a str>,
    md5: Option<[u8; 16]>,
}

/// An item's values: a parsed object (leads, contacts), or a stock item's values for the scan's
/// columns only, by slot.
enum Fields<'a> {
    Map(&'a Map<String, Value>),
    Slots(Vec<Option<Value>>),
}

impl Fields<'_> {
    fn get(&self, attr: &AttrPlan) -> Option<&Value> {
        match self {
            Fields::Map(map) => map.get(attr.column.key),
            Fields::Slots(slots) => attr.slot.and_then(|i| slots.get(i)?.as_ref()),
        }
    }

    /// The object as JSON text, for items that arrived without their text (leads, contacts).
    fn to_json(&self) -> Result<String, String> {
        match self {
            Fields::Map(map) => serde_json::to_string(map).map_err(|e| e.to_string()),
            Fields::Slots(_) => Err("a stock item without its text".into()),
        }
    }
}

/// The EasyCars key of a stock item.
const STOCK_NUMBER_KEY: &str = "StockNumber";

fn warn_mapping_errors(state: &mut ScanState) {
    if state.mapping_errors > 0 {
        pgrx::warning!(
            "easycars: {} value(s) of {} could not be read and were returned as NULL; first: {}",
            state.mapping_errors,
            state.entity.name(),
            state.first_mapping_error.take().unwrap_or_default()
        );
        state.mapping_errors = 0;
    }
}

unsafe fn fill_slot(state: &mut ScanState, slot: *mut pg_sys::TupleTableSlot, row: &Row) {
    // SAFETY: `slot` is this node's scan slot (from iterate_foreign_scan), made for the relation's
    // tuple descriptor, so tts_values and tts_isnull each hold `state.natts` entries (the
    // relation's natts, from attr_plans). They are distinct arrays, nothing else touches them
    // while we write, and every `attr.index` is below natts. value_datum gets this scan's
    // AttrPlans, as it requires.
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

/// The datum of one column for one item, allocated in the per-tuple context the executor resets.
unsafe fn value_datum(attr: &mut AttrPlan, row: &Row) -> Result<Option<pg_sys::Datum>, String> {
    let col = attr.column;
    let raw_text = row.text;
    let value = row.item.get(attr);
    let typed = match col.kind {
        Kind::RawMd5 => {
            use md5::Digest;
            let digest: [u8; 16] = match (row.md5, raw_text) {
                (Some(known), _) => known,
                (None, Some(t)) => md5::Md5::digest(t.as_bytes()).into(),
                (None, None) => md5::Md5::digest(row.item.to_json()?.as_bytes()).into(),
            };
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let hex: String = digest
                .iter()
                .flat_map(|b| {
                    [
                        HEX[(b >> 4) as usize] as char,
                        HEX[(b & 15) as usize] as char,
                    ]
                })
                .collect();
            Typed::Text(hex)
        }
        Kind::Json => {
            let text: std::borrow::Cow<str> = match (col.key.is_empty(), raw_text) {
                // The item exactly as received when we have its text; re-serialised otherwise.
                (true, Some(t)) => t.into(),
                (true, None) => row.item.to_json()?.into(),
                (false, _) => match value {
                    None | Some(Value::Null) => return Ok(None),
                    Some(v) => serde_json::to_string(v).map_err(|e| e.to_string())?.into(),
                },
            };
            if attr.input.is_none() {
                // jsonb, built without a second parse (and never failing on \u0000).
                return Ok(Some(super::jsonb::to_datum(&text)));
            }
            // SAFETY: `attr` is this scan's AttrPlan, as input_text requires; we are on the
            // backend thread inside iterate_foreign_scan's #[pg_guard].
            return Ok(Some(unsafe { input_text(attr, &text) }));
        }
        Kind::Label(label) => match value
            .and_then(Value::as_i64)
            .and_then(|c| i32::try_from(c).ok())
            .and_then(label)
        {
            Some(l) => Typed::Text(l.to_owned()),
            None => Typed::Null,
        },
        Kind::SydneyTimestamp => match value.and_then(Value::as_str).and_then(sydney_to_iso) {
            // SAFETY: `attr` is this scan's AttrPlan, as input_text requires; we are on the
            // backend thread inside iterate_foreign_scan's #[pg_guard].
            Some(iso) => return Ok(Some(unsafe { input_text(attr, &iso) })),
            None => Typed::Null,
        },
        _ => map_field(&col.as_field(), value).map_err(|e| e.to_string())?,
    };
    // SAFETY: `attr` is this scan's AttrPlan (callers pass one), as typed_datum requires; we are
    // on the backend thread inside iterate_foreign_scan's #[pg_guard].
    unsafe { typed_datum(attr, typed) }
}

unsafe fn typed_datum(attr: &mut AttrPlan, typed: Typed) -> Result<Option<pg_sys::Datum>, String> {
    let native = attr.input.is_none();
    Ok(match typed {
        Typed::Null => None,
        // Postgres text cannot hold NUL; EasyCars data that carries one keeps a visible marker.
        Typed::Text(s) if native && s.contains('\0') => s.replace('\0', "\u{FFFD}").into_datum(),
        Typed::Text(s) if native => s.into_datum(),
        Typed::Int(i) if native => Some(
            i32::try_from(i)
                .map_err(|_| format!("{} = {i} is out of range for integer", attr.column.name))?
                .into(),
        ),
        Typed::Bool(b) if native => b.into_datum(),
        Typed::TextList(v) if native && attr.typid == pg_sys::TEXTARRAYOID => v.into_datum(),
        // SAFETY: `attr` is this scan's AttrPlan (callers pass one), as input_text requires; we are
        // on the backend thread inside iterate_foreign_scan's #[pg_guard].
        Typed::Text(s) | Typed::Number(s) => Some(unsafe { input_text(attr, &s) }),
        // SAFETY: `attr` is this scan's AttrPlan (callers pass one), as input_text requires; we are
        // on the backend thread inside iterate_foreign_scan's #[pg_guard].
        Typed::Int(i) => Some(unsafe { input_text(attr, &i.to_string()) }),
        // SAFETY: `attr` is this scan's AttrPlan (callers pass one), as input_text requires; we are
        // on the backend thread inside iterate_foreign_scan's #[pg_guard].
        Typed::Bool(b) => Some(unsafe { input_text(attr, if b { "true" } else { "false" }) }),
        Typed::Date { year, month, day } => {
            // SAFETY: `attr` is this scan's AttrPlan (callers pass one), as input_text requires;
            // we are on the backend thread inside iterate_foreign_scan's #[pg_guard].
            Some(unsafe { input_text(attr, &format!("{year:04}-{month:02}-{day:02}")) })
        }
        Typed::TextList(v) => {
            let json = serde_json::to_string(&v).unwrap_or_default();
            let literal = format!("{{{}}}", &json[1..json.len().saturating_sub(1)]);
            // SAFETY: `attr` is this scan's AttrPlan (callers pass one), as input_text requires;
            // we are on the backend thread inside iterate_foreign_scan's #[pg_guard].
            Some(unsafe { input_text(attr, &literal) })
        }
    })
}

/// Converts text through the column type's input function (numeric, date, jsonb, ...).
unsafe fn input_text(attr: &mut AttrPlan, text: &str) -> pg_sys::Datum {
    // SAFETY: callers pass an AttrPlan of this scan, so `typid` is a column's type. For a column of
    // our native type the input function is looked up here on first use: fmgr_info fills every
    // field of the all-zero FmgrInfo and records the per-tuple memory context, which is fine as
    // those types (timestamptz, numeric, date, text) keep nothing in fn_extra. The C string has
    // no interior NUL and outlives the call; the input function only reads it and builds a new
    // datum in the current (per-tuple) context. Backend thread, inside iterate_foreign_scan's
    // #[pg_guard], so an input ERROR unwinds safely.
    unsafe {
        if attr.input.is_none() {
            let mut func = pg_sys::InvalidOid;
            let mut ioparam = pg_sys::InvalidOid;
            pg_sys::getTypeInputInfo(attr.typid, &mut func, &mut ioparam);
            let mut finfo: pg_sys::FmgrInfo = std::mem::zeroed();
            pg_sys::fmgr_info(func, &mut finfo);
            attr.input = Some((finfo, ioparam, -1));
        }
        let Some((finfo, ioparam, typmod)) = attr.input.as_mut() else {
            unreachable!()
        };
        let cstr = match CString::new(text) {
            Ok(c) => c,
            Err(_) => CString::new(text.replace('\0', "")).unwrap_or_default(),
        };
        pg_sys::InputFunctionCall(
            finfo,
            cstr.as_ptr() as *mut std::ffi::c_char,
            *ioparam,
            *typmod,
        )
    }
}

/// `05/10/2025 14:03:27` (Sydney local time) as `2025-10-05 14:03:27 Australia/Sydney`.
fn sydney_to_iso(s: &str) -> Option<String> {
    let (date, time) = s.trim().split_once(' ')?;
    let mut parts = date.split('/');
    let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
    let all_digits = |x: &str, n: usize| x.len() == n && x.bytes().all(|b| b.is_ascii_digit());
    if !(all_digits(d, 2) && all_digits(m, 2) && all_digits(y, 4)) || time.len() != 8 {
        return None;
    }
    Some(format!("{y}-{m}-{d} {time} Australia/Sydney"))
}

#[pg_guard]
unsafe extern "C-unwind" fn rescan_foreign_scan(node: *mut pg_sys::ForeignScanState) {
    // Parameters may have changed: fetch again on the next row.
    // SAFETY: `node` comes from the executor for this ForeignScan, set up by begin_foreign_scan,
    // as with_state requires; backend thread, inside #[pg_guard].
    unsafe { with_state(node, |state| state.items = None) }
}

#[pg_guard]
unsafe extern "C-unwind" fn end_foreign_scan(node: *mut pg_sys::ForeignScanState) {
    // SAFETY: `node` comes from the executor for this ForeignScan and is valid for the call.
    // `fdw_state` is NULL or the LIVE key begin_foreign_scan stored (an integer, never
    // dereferenced); it is cleared so a later call cannot remove a new state at a reused address.
    unsafe {
        let key = (*node).fdw_state as usize;
        if key != 0 {
            LIVE.with_borrow_mut(|live| live.remove(&key));
            (*node).fdw_state = std::ptr::null_mut();
        }
    }
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
        let route = match data.entity {
            Entity::Stock => "StockService/GetAdvertisementStocks",
            Entity::Leads => "LeadService/GetLeadDetail (one call per lead number, concurrently)",
            Entity::Contacts => "LeadService/SearchContacts",
            Entity::Quotations => "LeadService/CreateQuotation (insert only)",
        };
        explain_text(es, "EasyCars Route", route);
        let exprs = PgList::<pg_sys::Node>::from_pg((*plan).fdw_exprs);
        let pushed: Vec<String> = data
            .quals
            .iter()
            .enumerate()
            .map(|(i, (index, is_array))| {
                let (column, key) = data.entity.pushable()[*index];
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
