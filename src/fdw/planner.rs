//! Planning a scan: the row estimate, the one path, and the plan. Only simple equality quals on
//! an entity's pushable text columns are pushed down (`col = value`, `col = ANY(values)`), and
//! every qual is still checked locally except the exact ones the wrapper applies itself. `LIMIT`
//! is never used to truncate results.
//!
//! A plan carries only copyable nodes ([`PlanData`] as `Integer`s in `fdw_private`, the pushed
//! value expressions in `fdw_exprs`), so a cached plan can run any number of times: each
//! execution builds its own state in `BeginForeignScan` (see `executor`).

use super::entities::Entity;
use super::error::FdwError;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgList;
use std::ffi::CStr;

/// Where pushable quals' values come from: (index into the entity's `pushable()`, is `= ANY(array)`).
pub type QualShape = (usize, bool);

/// Installs our planner callbacks into the routine the framework built.
pub fn install(routine: &mut pg_sys::FdwRoutine) {
    routine.GetForeignRelSize = Some(get_foreign_rel_size);
    routine.GetForeignPaths = Some(get_foreign_paths);
    routine.GetForeignPlan = Some(get_foreign_plan);
    // Aggregates are computed locally: pushing them down needs an API that can count.
    routine.GetForeignUpperPaths = None;
}

unsafe fn table_entity(ftable_oid: pg_sys::Oid) -> Entity {
    // SAFETY: callers pass the OID the planner gave their GetForeignRelSize/GetForeignPlan
    // callback for the foreign table being planned, so it names an existing foreign table, as
    // table_entity requires. The catalog lookup runs on the backend thread inside that
    // #[pg_guard] callback, so an ERROR from it unwinds safely.
    unsafe { super::server::table_entity(ftable_oid) }.unwrap_or_else(|e| e.report())
}

/// `text = text` (pg_operator OID 98, TextEqualOperator).
const TEXT_EQUAL_OPERATOR: u32 = 98;
const TEXT_LIKE: [pg_sys::Oid; 3] = [pg_sys::TEXTOID, pg_sys::VARCHAROID, pg_sys::BPCHAROID];
const TEXT_ARRAYS: [pg_sys::Oid; 3] = [
    pg_sys::TEXTARRAYOID,
    pg_sys::VARCHARARRAYOID,
    pg_sys::BPCHARARRAYOID,
];

/// `node` without the RelabelType casts around it (varchar to text and the like).
///
/// # Safety
/// `node` must be NULL or a node of an expression tree that stays alive for the call.
pub unsafe fn strip_relabel(mut node: *mut pg_sys::Node) -> *mut pg_sys::Node {
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
            let pushable = entity.spec().pushable();
            let Some(index) = pushable.iter().position(|(name, _)| *name == col) else {
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
                let exact =
                    pushable[index].1.is_empty() && opno == pg_sys::Oid::from(TEXT_EQUAL_OPERATOR);
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
        (*baserel).rows = entity.spec().estimated_rows(quals.len());
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
        let path = crate::pg_compat::create_foreignscan_path(
            root,
            baserel,
            rows,
            startup_cost,
            total_cost,
        );
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
pub struct PlanData {
    pub entity: Entity,
    pub needed: Option<Vec<i32>>,
    pub quals: Vec<QualShape>,
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

    /// The plan data of a ForeignScan of this wrapper.
    ///
    /// # Safety
    /// `raw` must be the `fdw_private` of a ForeignScan our get_foreign_plan made.
    pub unsafe fn decode(raw: *mut pg_sys::List) -> PlanData {
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
