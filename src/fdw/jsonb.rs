//! `jsonb` datums for scans: built by `easycars_jsonb` where it can promise `jsonb_in`'s bytes.

use pgrx::pg_sys;

/// JSON text as a `jsonb` datum in the current memory context: built here when the database is
/// UTF-8 and the encoder takes the document, else through `jsonb_in`, whose errors it raises.
pub fn to_datum(text: &str) -> pg_sys::Datum {
    let utf8 = unsafe { pg_sys::GetDatabaseEncoding() } == pg_sys::pg_enc::PG_UTF8 as i32;
    if let Some(bytes) = utf8.then(|| easycars_jsonb::encode(text)).flatten() {
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
    unsafe {
        pgrx::direct_function_call_as_datum(pg_sys::jsonb_in, &[Some(cstr.as_ptr().into())])
            .unwrap_or_else(|| pgrx::error!("jsonb_in returned NULL"))
    }
}
