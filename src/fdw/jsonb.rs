//! `jsonb` datums for scans: built by `easycars_jsonb` where it can promise `jsonb_in`'s bytes.

use pgrx::pg_sys;
use pgrx::prelude::*;

/// JSON text as a `jsonb` datum in the current memory context: built here when the database is
/// UTF-8 and the encoder takes the document, else through `jsonb_in`, whose errors it raises.
pub fn to_datum(text: &str) -> pg_sys::Datum {
    // SAFETY: GetDatabaseEncoding only reads the backend's database encoding. to_datum is called
    // on the backend thread (from the scan's IterateForeignScan), and pgrx's FFI guard checks that.
    let utf8 = unsafe { pg_sys::GetDatabaseEncoding() } == pg_sys::pg_enc::PG_UTF8 as i32;
    if let Some(bytes) = utf8.then(|| easycars_jsonb::encode(text)).flatten() {
        // SAFETY: palloc returns `bytes.len()` writable bytes in the current (per-tuple) memory
        // context, or raises an out-of-memory ERROR that pgrx's FFI guard turns into an unwind;
        // the fresh allocation cannot overlap `bytes`. The bytes are a whole jsonb varlena,
        // header included (jsonb_in's exact bytes), so the pointer is a valid jsonb Datum.
        unsafe {
            let p = pg_sys::palloc(bytes.len()) as *mut u8;
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
            return pg_sys::Datum::from(p);
        }
    }
    // jsonb_in refuses \u0000; the encoder's U+FFFD, done on the text.
    via_jsonb_in(&text.replace("\\u0000", "\\ufffd").replace('\0', ""))
}

/// JSON text through Postgres's own `jsonb_in` (which raises its errors).
pub fn via_jsonb_in(text: &str) -> pg_sys::Datum {
    let cstr = std::ffi::CString::new(text).unwrap_or_default();
    // SAFETY: jsonb_in takes one cstring argument: `cstr` is NUL-terminated and outlives the call,
    // and jsonb_in only reads it, returning a new palloc'd jsonb (never NULL; checked anyway). The
    // callers (to_datum in a scan, _jsonb_encoder_check) run on the backend thread, and a parse
    // ERROR is turned into an unwind by pgrx's guard on the call.
    unsafe {
        pgrx::direct_function_call_as_datum(pg_sys::jsonb_in, &[Some(cstr.as_ptr().into())])
            .unwrap_or_else(|| pgrx::error!("jsonb_in returned NULL"))
    }
}

/// Whether the FDW's `jsonb` encoder (`easycars-jsonb`) builds exactly `jsonb_in`'s bytes for a
/// document: `same`, `fallback` (the encoder leaves it to `jsonb_in`) or where they differ.
/// For tests and diagnostics; raises `jsonb_in`'s error for text that is not valid jsonb.
#[pg_extern(immutable, parallel_safe, strict)]
fn _jsonb_encoder_check(json: &str) -> String {
    let Some(ours) = easycars_jsonb::encode(json) else {
        return "fallback".into();
    };
    // SAFETY: via_jsonb_in returns jsonb_in's result: a fresh, untoasted jsonb varlena palloc'd in
    // the current memory context, which is not reset before this function returns. varsize_any
    // reads its header, and the slice covers exactly that allocation and is only read. Backend
    // thread, inside the #[pg_extern] function's guard.
    let theirs = unsafe {
        let p = via_jsonb_in(json).cast_mut_ptr::<pg_sys::varlena>();
        std::slice::from_raw_parts(p as *const u8, pgrx::varsize_any(p))
    };
    match ours.iter().zip(theirs).position(|(a, b)| a != b) {
        None if ours.len() == theirs.len() => "same".into(),
        at => format!(
            "differs at byte {} (ours {} bytes, jsonb_in {})",
            at.unwrap_or(ours.len().min(theirs.len())),
            ours.len(),
            theirs.len()
        ),
    }
}
