//! The few calls whose signature differs between the PostgreSQL versions
//! the extension is built for (15 to 18), in one place.

use pgrx::pg_sys;

/// `index_beginscan` for `nkeys` scan keys and no ORDER BY keys.
///
/// # Safety
/// As the C function: open relations and a registered snapshot.
pub unsafe fn index_beginscan(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    snapshot: pg_sys::Snapshot,
    nkeys: i32,
) -> pg_sys::IndexScanDesc {
    // SAFETY: forwarded unchanged; the caller upholds the C contract.
    unsafe {
        // PostgreSQL 18 takes an instrumentation struct (none here).
        #[cfg(feature = "pg18")]
        let scan = pg_sys::index_beginscan(heap, index, snapshot, std::ptr::null_mut(), nkeys, 0);
        #[cfg(not(feature = "pg18"))]
        let scan = pg_sys::index_beginscan(heap, index, snapshot, nkeys, 0);
        scan
    }
}

/// Whether [`crate::runtime::direct_insert`] writes rows itself: on
/// PostgreSQL 15 to 17, whose `ExecRelCheck` it follows. PostgreSQL 18
/// prepares CHECK constraints differently (NOT ENFORCED ones, virtual
/// generated columns), so there rows go through SPI.
pub const DIRECT_INSERTS: bool = cfg!(not(feature = "pg18"));

/// Give a result relation the CHECK expressions prepared for it.
///
/// # Safety
/// `rri` is initialized for its table and `checks` holds one expression
/// state per CHECK constraint of the table's relation cache entry.
pub unsafe fn set_check_exprs(
    rri: *mut pg_sys::ResultRelInfo,
    checks: *mut *mut pg_sys::ExprState,
) {
    // SAFETY: a plain store into the caller's struct.
    unsafe {
        #[cfg(feature = "pg18")]
        {
            (*rri).ri_CheckConstraintExprs = checks;
        }
        #[cfg(not(feature = "pg18"))]
        {
            (*rri).ri_ConstraintExprs = checks;
        }
    }
}

/// `ExecInsertIndexTuples` for a new row (not an update, no ON CONFLICT).
///
/// # Safety
/// As the C function: an open result relation with its indexes, the row
/// just stored in `slot`.
pub unsafe fn exec_insert_index_tuples(
    rri: *mut pg_sys::ResultRelInfo,
    slot: *mut pg_sys::TupleTableSlot,
    estate: *mut pg_sys::EState,
) {
    let (no_conflict, no_arbiters) = (std::ptr::null_mut(), std::ptr::null_mut());
    // SAFETY: forwarded; PostgreSQL 16 added `onlySummarizing`.
    unsafe {
        #[cfg(feature = "pg15")]
        pg_sys::ExecInsertIndexTuples(rri, slot, estate, false, false, no_conflict, no_arbiters);
        #[cfg(not(feature = "pg15"))]
        pg_sys::ExecInsertIndexTuples(
            rri,
            slot,
            estate,
            false,
            false,
            no_conflict,
            no_arbiters,
            false,
        );
    }
}

/// The `i`-th (from 0) attribute of a tuple descriptor, `TupleDescAttr`:
/// PostgreSQL 18 keeps the full attributes after an array of compact ones.
///
/// # Safety
/// `desc` is a valid tuple descriptor and `i < natts`.
pub unsafe fn tuple_desc_attr(
    desc: pg_sys::TupleDesc,
    i: usize,
) -> *const pg_sys::FormData_pg_attribute {
    // SAFETY: as the function; the layouts are those of the version built for.
    unsafe {
        #[cfg(not(feature = "pg18"))]
        {
            (*desc).attrs.as_ptr().add(i)
        }
        #[cfg(feature = "pg18")]
        {
            (*desc)
                .compact_attrs
                .as_ptr()
                .add((*desc).natts as usize)
                .cast::<pg_sys::FormData_pg_attribute>()
                .add(i)
        }
    }
}
