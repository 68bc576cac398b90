//! What keeps older releases working with this library between installing
//! it and `ALTER EXTENSION api_keys UPDATE`: a database still has the older
//! release's SQL objects, whose functions name C symbols of that release.
//!
//! - Symbols of older releases that no longer exist are kept here and
//!   refuse cleanly (55000, "run ALTER EXTENSION api_keys UPDATE").
//! - A symbol that an older release used with fewer arguments than today's
//!   function takes (0.1.0's `apikey_create` and `apikey_update`) is today's
//!   function; its first argument, [`Arity`], refuses such a call before any
//!   argument is read.
//!
//! Verification, the request context and the accessors keep their symbols
//! and signatures from release to release, so they keep working throughout.
//! `tests/scenarios/upgrade.py` installs each released script under this
//! library and checks both.

use pgrx::callconv::{Arg, ArgAbi};
use pgrx::pg_sys;
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin,
};
use pgrx::prelude::*;

use crate::error::Error;

/// A virtual argument (not part of the SQL signature) that refuses a call
/// with other than `N` SQL arguments: the call of an older release's SQL
/// definition of the same symbol.
pub struct Arity<const N: usize>;

// SAFETY: a virtual argument; it reads only the call's argument count.
unsafe impl<'fcx, const N: usize> ArgAbi<'fcx> for Arity<N> {
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        // SAFETY: the call's FunctionCallInfo, valid for the whole call.
        let nargs = unsafe {
            let fcinfo = <pg_sys::FunctionCallInfo as ArgAbi>::unbox_arg_unchecked(arg);
            (*fcinfo).nargs
        };
        if usize::try_from(nargs) != Ok(N) {
            Error::SchemaOutdated.raise();
        }
        Arity
    }

    fn is_virtual_arg() -> bool {
        true
    }
}

// SAFETY: a virtual argument has no SQL type.
unsafe impl<const N: usize> SqlTranslatable for Arity<N> {
    const TYPE_IDENT: &'static str = pgrx::pgrx_resolved_type!(Arity);
    const TYPE_ORIGIN: TypeOrigin = TypeOrigin::External;
    const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> = Ok(SqlMappingRef::Skip);
    const RETURN_SQL: Result<ReturnsRef, ReturnsError> = Ok(ReturnsRef::One(SqlMappingRef::Skip));
}

/// 0.2.0's `apikey_create`, `apikey_update` and `apikey_list` (today's take
/// more arguments or return more columns).
mod release_0_2_0 {
    use super::*;

    #[pg_extern(sql = false)]
    fn apikey_create_v2() -> Option<i32> {
        Error::SchemaOutdated.raise()
    }

    #[pg_extern(sql = false)]
    fn apikey_update_v2() -> Option<i32> {
        Error::SchemaOutdated.raise()
    }

    #[pg_extern(sql = false)]
    fn apikey_list_v2() -> Option<i32> {
        Error::SchemaOutdated.raise()
    }
}
