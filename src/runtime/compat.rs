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
