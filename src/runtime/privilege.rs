//! Running code with more privilege than the caller, safely: as a given
//! role, inside a security-restricted operation, with `search_path` pinned
//! to `pg_catalog, pg_temp` so that no object the caller (or a schema's
//! owner) made can capture a name or an operator.

use pgrx::pg_sys;

/// Run `f` as `role` with `search_path = pg_catalog, pg_temp`, then back to
/// the previous user and setting. An error in `f` unwinds to the
/// (sub)transaction's abort, which restores both as well.
pub fn run_as<R>(role: pg_sys::Oid, f: impl FnOnce() -> R) -> R {
    let (mut user, mut context) = (pg_sys::InvalidOid, 0);
    // SAFETY: what PostgreSQL does around a function's SET clause and
    // around code its maintenance commands run for a table's owner: a new
    // GUC nesting level with the setting saved in it, then the user switch.
    let nest_level = unsafe {
        let nest_level = pg_sys::NewGUCNestLevel();
        pg_sys::set_config_option(
            c"search_path".as_ptr(),
            c"pg_catalog, pg_temp".as_ptr(),
            pg_sys::GucContext::PGC_USERSET,
            pg_sys::GucSource::PGC_S_SESSION,
            pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            pg_sys::PGERROR as i32,
            false,
        );
        pg_sys::GetUserIdAndSecContext(&mut user, &mut context);
        pg_sys::SetUserIdAndSecContext(
            role,
            context
                | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32
                | pg_sys::SECURITY_RESTRICTED_OPERATION as i32,
        );
        nest_level
    };
    let r = f();
    // SAFETY: undoes exactly what was done above, in reverse order.
    unsafe {
        pg_sys::SetUserIdAndSecContext(user, context);
        pg_sys::AtEOXact_GUC(true, nest_level);
    }
    r
}
