//! SQLite's errors as [`StoreError`]s, sorted into the ones worth a retry
//! and the rest.

use crate::store::StoreError;

/// Wraps any error of the store; SQLite's busy, locked, full and I/O
/// failures become [`StoreError::Transient`] so callers can answer "try
/// again" instead of a final refusal.
pub(super) fn backend<E: std::fmt::Display + std::any::Any>(e: E) -> StoreError {
    let transient = (&e as &dyn std::any::Any)
        .downcast_ref::<rusqlite::Error>()
        .and_then(rusqlite::Error::sqlite_error_code)
        .is_some_and(is_transient);
    if transient {
        StoreError::Transient(e.to_string())
    } else {
        StoreError::Backend(e.to_string())
    }
}

fn is_transient(code: rusqlite::ErrorCode) -> bool {
    use rusqlite::ErrorCode::*;
    matches!(
        code,
        DatabaseBusy | DatabaseLocked | DiskFull | SystemIoFailure | OutOfMemory
    )
}
