//! Rows key creation writes into the extension's own tables (the key and
//! its `created` event), inserted without SPI. Through SPI every statement
//! builds an executor and, for every row, parses the table's CHECK
//! constraints from their stored text again: most of the cost of creating a
//! key (bench/README.md). Here a table's CHECK and default expressions are
//! prepared once per backend and kept until the table's relation cache
//! entry is invalidated; each row is then checked (NOT NULL, CHECK), stored
//! and indexed (unique indexes enforced) by the executor's own functions,
//! as an `INSERT` statement would.
//!
//! Only a table this can write exactly as an `INSERT` would is written
//! here: an ordinary table without row security, generated columns,
//! deferrable indexes, or triggers that fire on INSERT other than the
//! checks of foreign keys whose columns the row leaves NULL (which pass).
//! For any other, and when the current user lacks INSERT on the table,
//! [`insert`] answers `None` and the caller runs its statement instead
//! (which then raises whatever error the statement raises). The raw values
//! of the rows stay in this module: callers give typed values by column
//! name and read typed copies back.

use std::cell::{Cell, RefCell};
use std::ffi::CStr;

use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::error::{Error, Result};
use crate::runtime::compat;

/// A table's insert, prepared: what stays the same from row to row.
struct Prepared {
    relid: pg_sys::Oid,
    /// The columns the rows give, in the order given.
    names: Vec<&'static CStr>,
    /// [`GENERATION`] when this was prepared.
    generation: u64,
    /// Holds the expression states below (a child of `CacheMemoryContext`).
    context: pg_sys::MemoryContext,
    /// False: rows of this table go through the caller's statement.
    direct: bool,
    /// Attribute index (from 0) of each given column.
    given: Vec<usize>,
    /// The CHECK constraints, in the relation cache's order, as
    /// `ExecConstraints` would prepare them for each statement.
    checks: *mut *mut pg_sys::ExprState,
    /// (attribute index, expression) of each column the rows do not give
    /// and that has a default.
    defaults: Vec<(usize, *mut pg_sys::ExprState)>,
}

thread_local! {
    static PREPARED: RefCell<Vec<Prepared>> = const { RefCell::new(Vec::new()) };
    /// Bumped when the relation cache entry of a prepared table (or every
    /// entry) is invalidated: what was prepared before is stale.
    static GENERATION: Cell<u64> = const { Cell::new(0) };
    static CALLBACK_REGISTERED: Cell<bool> = const { Cell::new(false) };
    /// Inserts in progress (a CHECK could call back into here): a stale
    /// preparation's memory is freed only when none is.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn forget(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    let ours = PREPARED.with(|p| {
        p.try_borrow()
            .map(|p| p.iter().any(|t| t.relid == relid))
            .unwrap_or(true)
    });
    if relid == pg_sys::InvalidOid || ours {
        GENERATION.with(|g| g.set(g.get() + 1));
    }
}

/// A row just inserted: its values (given, defaulted or NULL), readable
/// while [`insert`]'s callback runs.
pub struct Inserted {
    slot: *mut pg_sys::TupleTableSlot,
}

impl Inserted {
    /// A copy of column `name`'s value; None for NULL or no such column.
    pub fn get<T: FromDatum>(&self, name: &CStr) -> Option<T> {
        // SAFETY: the slot holds the inserted row, every attribute filled
        // in; its descriptor is the table's.
        unsafe {
            let desc = (*self.slot).tts_tupleDescriptor;
            let i = (0..(*desc).natts as usize).find(|&i| {
                let att = compat::tuple_desc_attr(desc, i);
                !(*att).attisdropped && CStr::from_ptr((*att).attname.data.as_ptr()) == name
            })?;
            if *(*self.slot).tts_isnull.add(i) {
                return None;
            }
            T::from_polymorphic_datum(
                *(*self.slot).tts_values.add(i),
                false,
                (*compat::tuple_desc_attr(desc, i)).atttypid,
            )
        }
    }
}

/// Insert one row into table `relid` with `values` (typed) for the columns
/// `names` (every other column gets its default or NULL), as an `INSERT`
/// statement would, then hand the row to `returning`. None: this table, or
/// this user, needs the statement (nothing was written).
pub fn insert<R>(
    relid: pg_sys::Oid,
    names: &[&'static CStr],
    values: &[DatumWithOid<'_>],
    returning: impl FnOnce(&Inserted) -> R,
) -> Result<Option<R>> {
    assert_eq!(names.len(), values.len(), "a value for each column");
    let lock = pg_sys::RowExclusiveLock as pg_sys::LOCKMODE;
    // SAFETY: a table of the extension's, found by OID; opened (which also
    // takes in pending invalidations) before its preparation is checked,
    // and closed on every path out. The lock is kept to the end of the
    // transaction, as the executor keeps it.
    let rel = unsafe { pg_sys::table_open(relid, lock) };
    DEPTH.with(|d| d.set(d.get() + 1));
    let result = prepared(rel, names).and_then(|direct| match direct {
        // SAFETY: `insert_prepared` is given the open table and the
        // preparation made for it and these columns.
        Some(index) => unsafe { insert_prepared(rel, index, names, values, returning) },
        None => Ok(None),
    });
    DEPTH.with(|d| d.set(d.get() - 1));
    // SAFETY: opened above.
    unsafe { pg_sys::table_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE) };
    result
}

/// The index in [`PREPARED`] of the current preparation for `rel` and
/// these columns (made if needed); None when rows must go through the
/// statement.
fn prepared(rel: pg_sys::Relation, names: &[&'static CStr]) -> Result<Option<usize>> {
    if !CALLBACK_REGISTERED.with(|r| r.replace(true)) {
        // SAFETY: registers a callback that only bumps a counter; done once
        // per backend.
        unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(forget), pg_sys::Datum::from(0)) };
    }
    // SAFETY: `rel` is open.
    let relid = unsafe { (*rel).rd_id };
    let generation = GENERATION.with(Cell::get);
    let same_columns = |p: &Prepared| p.names == names;
    let found = PREPARED.with(|p| {
        p.borrow()
            .iter()
            .position(|t| t.relid == relid && same_columns(t))
    });
    if let Some(i) = found {
        let (current, direct) = PREPARED.with(|p| {
            let p = &p.borrow()[i];
            (p.generation == generation, p.direct)
        });
        if current {
            return Ok(direct.then_some(i));
        }
        let stale = PREPARED.with(|p| p.borrow_mut().swap_remove(i));
        if DEPTH.with(Cell::get) <= 1 {
            // SAFETY: no insert is using it (only this one is in progress,
            // and it has not looked at it).
            unsafe { pg_sys::MemoryContextDelete(stale.context) };
        }
    }
    // SAFETY: `rel` is open; everything made here lives in the new context.
    let fresh = unsafe { prepare(rel, names, generation)? };
    let direct = fresh.direct;
    let i = PREPARED.with(|p| {
        let mut p = p.borrow_mut();
        p.push(fresh);
        p.len() - 1
    });
    Ok(direct.then_some(i))
}

/// Prepare the insert of rows giving the columns `names` into the open
/// table `rel`.
///
/// # Safety
/// `rel` is open.
unsafe fn prepare(
    rel: pg_sys::Relation,
    names: &[&'static CStr],
    generation: u64,
) -> Result<Prepared> {
    // SAFETY (for the function): reads of the open relation's cache entry;
    // every allocation is made in `context`, which the preparation owns.
    unsafe {
        let context = pg_sys::AllocSetContextCreateInternal(
            pg_sys::CacheMemoryContext,
            c"api_keys direct inserts".as_ptr(),
            0,
            8 * 1024,
            8 * 1024 * 1024,
        );
        let mut prepared = Prepared {
            relid: (*rel).rd_id,
            names: names.to_vec(),
            generation,
            context,
            direct: false,
            given: Vec::with_capacity(names.len()),
            checks: std::ptr::null_mut(),
            defaults: Vec::new(),
        };
        let desc = (*rel).rd_att;
        let natts = (*desc).natts as usize;
        let att = |i: usize| &*compat::tuple_desc_attr(desc, i);
        for name in names {
            let i = (0..natts)
                .find(|&i| {
                    !att(i).attisdropped && CStr::from_ptr(att(i).attname.data.as_ptr()) == *name
                })
                .ok_or_else(|| {
                    Error::Internal(format!("column {name:?} of an api_keys table is missing"))
                })?;
            prepared.given.push(i);
        }
        let form = &*(*rel).rd_rel;
        let constr = (*desc).constr;
        let plain = form.relkind == pg_sys::RELKIND_RELATION as std::ffi::c_char
            && !form.relispartition
            && !form.relrowsecurity
            && (constr.is_null() || !(*constr).has_generated_stored)
            && (0..natts).all(|i| att(i).attgenerated == 0);
        if !plain || !compat::DIRECT_INSERTS {
            return Ok(prepared);
        }
        let old = pg_sys::MemoryContextSwitchTo(context);
        for i in (0..natts).filter(|i| !att(*i).attisdropped && !prepared.given.contains(i)) {
            let default = pg_sys::build_column_default(rel, (i + 1) as i32);
            if !default.is_null() {
                let planned = pg_sys::expression_planner(default as *mut pg_sys::Expr);
                prepared
                    .defaults
                    .push((i, pg_sys::ExecInitExpr(planned, std::ptr::null_mut())));
            }
        }
        let ncheck = if constr.is_null() {
            0
        } else {
            (*constr).num_check as usize
        };
        if ncheck > 0 {
            // What ExecRelCheck does for each statement's first row.
            prepared.checks =
                pg_sys::palloc(ncheck * std::mem::size_of::<*mut pg_sys::ExprState>()) as *mut _;
            for c in 0..ncheck {
                let check = &*(*constr).check.add(c);
                let expr = pg_sys::stringToNode(check.ccbin) as *mut pg_sys::Expr;
                *prepared.checks.add(c) =
                    pg_sys::ExecInitExpr(pg_sys::expression_planner(expr), std::ptr::null_mut());
            }
        }
        pg_sys::MemoryContextSwitchTo(old);
        prepared.direct = triggers_pass(rel, &prepared);
        Ok(prepared)
    }
}

/// Whether every trigger that fires on INSERT is a foreign key's check
/// that passes for these rows: the key's columns are neither given nor
/// defaulted, so they are NULL.
///
/// # Safety
/// `rel` is open.
unsafe fn triggers_pass(rel: pg_sys::Relation, prepared: &Prepared) -> bool {
    // SAFETY: reads of the open relation's cache entry and of the foreign
    // key list it keeps.
    unsafe {
        let trigdesc = (*rel).trigdesc;
        if trigdesc.is_null() {
            return true;
        }
        let triggers =
            std::slice::from_raw_parts((*trigdesc).triggers, (*trigdesc).numtriggers as usize);
        let on_insert = triggers
            .iter()
            .filter(|t| t.tgtype as u32 & pg_sys::TRIGGER_TYPE_INSERT != 0);
        let mut any = false;
        for t in on_insert {
            if !t.tgisinternal || t.tgfoid != pg_sys::Oid::from(pg_sys::F_RI_FKEY_CHECK_INS) {
                return false;
            }
            any = true;
        }
        if !any {
            return true;
        }
        let set = |i: usize| {
            prepared.given.contains(&i) || prepared.defaults.iter().any(|(d, _)| *d == i)
        };
        let keys = pg_sys::RelationGetFKeyList(rel);
        if keys.is_null() {
            return true;
        }
        (0..(*keys).length as usize).all(|k| {
            let fk = (*(*keys).elements.add(k)).ptr_value as *const pg_sys::ForeignKeyCacheInfo;
            (0..(*fk).nkeys as usize).all(|c| !set((*fk).conkey[c] as usize - 1))
        })
    }
}

/// Insert one row with the preparation `index`.
///
/// # Safety
/// `rel` is open, and `index` is its preparation for the columns `names`.
unsafe fn insert_prepared<R>(
    rel: pg_sys::Relation,
    index: usize,
    names: &[&'static CStr],
    values: &[DatumWithOid<'_>],
    returning: impl FnOnce(&Inserted) -> R,
) -> Result<Option<R>> {
    let (given, checks, defaults) = PREPARED.with(|p| {
        let p = &p.borrow()[index];
        (p.given.clone(), p.checks, p.defaults.clone())
    });
    // SAFETY (for the function): the executor's own steps of an INSERT of
    // one row (InitResultRelInfo, ExecOpenIndices, ExecConstraints,
    // table_tuple_insert, ExecInsertIndexTuples) on the open table, with an
    // executor state and a slot of our own, released before returning; the
    // CHECK expressions are the ones ExecRelCheck would have prepared.
    // An ERROR raised inside (a violated constraint, a duplicate key)
    // aborts the transaction, and its resource owner and memory contexts
    // release what is open here.
    unsafe {
        let relid = (*rel).rd_id;
        if pg_sys::pg_class_aclcheck(
            relid,
            pg_sys::GetUserId(),
            pg_sys::ACL_INSERT as pg_sys::AclMode,
        ) != pg_sys::AclResult::ACLCHECK_OK
        {
            return Ok(None);
        }
        let estate = pg_sys::CreateExecutorState();
        let rri = pg_sys::palloc0(std::mem::size_of::<pg_sys::ResultRelInfo>())
            as *mut pg_sys::ResultRelInfo;
        // Range table index 0: no range table, so a violated constraint's
        // message shows the columns the user may read.
        pg_sys::InitResultRelInfo(rri, rel, 0, std::ptr::null_mut(), 0);
        compat::set_check_exprs(rri, checks);
        pg_sys::ExecOpenIndices(rri, false);
        let deferrable = (0..(*rri).ri_NumIndices as usize)
            .any(|i| !(*(*(*(*rri).ri_IndexRelationDescs.add(i))).rd_index).indimmediate);
        let slot = pg_sys::table_slot_create(rel, std::ptr::null_mut());
        let finish = || {
            pg_sys::ExecCloseIndices(rri);
            pg_sys::ExecDropSingleTupleTableSlot(slot);
            pg_sys::FreeExecutorState(estate);
        };
        if deferrable {
            finish();
            return Ok(None);
        }
        let desc = (*rel).rd_att;
        let natts = (*desc).natts as usize;
        let row = std::slice::from_raw_parts_mut((*slot).tts_values, natts);
        let nulls = std::slice::from_raw_parts_mut((*slot).tts_isnull, natts);
        nulls.fill(true);
        for ((&i, name), value) in given.iter().zip(names).zip(values) {
            let expected = (*compat::tuple_desc_attr(desc, i)).atttypid;
            if value.oid() != expected {
                finish();
                return Err(Error::Internal(format!(
                    "column {name:?} of an api_keys table has type {expected:?}, not {:?}",
                    value.oid()
                )));
            }
            if let Some(d) = value.datum() {
                row[i] = d.sans_lifetime();
                nulls[i] = false;
            }
        }
        let econtext = if (*estate).es_per_tuple_exprcontext.is_null() {
            pg_sys::MakePerTupleExprContext(estate)
        } else {
            (*estate).es_per_tuple_exprcontext
        };
        for (i, state) in defaults {
            row[i] = pg_sys::ExecEvalExprSwitchContext(state, econtext, &mut nulls[i]);
        }
        pg_sys::ExecStoreVirtualTuple(slot);
        if !(*desc).constr.is_null() {
            pg_sys::ExecConstraints(rri, slot, estate);
        }
        pg_sys::simple_table_tuple_insert(rel, slot);
        compat::exec_insert_index_tuples(rri, slot, estate);
        let answer = returning(&Inserted { slot });
        finish();
        // What the end of a statement does: later reads see the row.
        pg_sys::CommandCounterIncrement();
        Ok(Some(answer))
    }
}
