//! Every setting of easycars, defined when the library loads.

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use std::ffi::CString;

/// `easycars.key_file`: absolute path of the key file holding the AES-256-GCM keys for
/// credentials (one `key_id:base64-of-32-bytes` per line; the first encrypts, all decrypt).
///
/// SECURITY: superuser-only to set (`SUSET`) and to show (`SUPERUSER_ONLY`); the keys themselves
/// never live in a setting, a table or SQL text.
pub static KEY_FILE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

/// Registers the settings and reserves the `easycars.` prefix so misspelt settings are refused.
pub fn init() {
    GucRegistry::define_string_guc(
        c"easycars.key_file",
        c"Path of the key file with the AES-256-GCM keys that encrypt EasyCars credentials.",
        c"One key_id:base64-of-32-bytes per line; the first line encrypts, every line decrypts. \
          The file must be readable only by the server's operating-system user.",
        &KEY_FILE,
        GucContext::Suset,
        GucFlags::SUPERUSER_ONLY,
    );
    unsafe { pgrx::pg_sys::MarkGUCPrefixReserved(c"easycars".as_ptr()) };
}
