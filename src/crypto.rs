//! The key ring of the running server: reads `easycars.key_file`, checks its permissions and
//! caches the parsed keys per backend until the file changes.

use crate::error::EasycarsError;
use crate::gucs;
use easycars_crypto::Keyring;
use std::cell::RefCell;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::rc::Rc;

const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// The file identity a cached key ring was read from; a change of any field re-reads the file.
#[derive(PartialEq, Eq, Clone)]
struct FileStamp {
    path: String,
    inode: u64,
    modified_ns: i128,
    len: u64,
}

thread_local! {
    static CACHE: RefCell<Option<(FileStamp, Rc<Keyring>)>> = const { RefCell::new(None) };
}

/// The current key ring, read from `easycars.key_file` (cached while the file is unchanged).
pub fn keyring() -> Result<Rc<Keyring>, EasycarsError> {
    let path = gucs::KEY_FILE
        .get()
        .and_then(|p| p.into_string().ok())
        .filter(|p| !p.trim().is_empty())
        .ok_or(EasycarsError::KeyFileNotSet)?;
    if !path.starts_with('/') {
        return Err(EasycarsError::KeyFile {
            reason: "the path must be absolute".into(),
        });
    }
    // SECURITY: the file is opened once, without following a symlink, and every check is made
    // on the open descriptor, so what is checked is what is read (no swap between stat and read).
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&path)
        .map_err(|e| EasycarsError::KeyFile {
            reason: if e.raw_os_error() == Some(libc::ELOOP) {
                "it is a symbolic link; name the file itself".into()
            } else {
                format!("cannot read it: {}", e.kind())
            },
        })?;
    let meta = file.metadata().map_err(|e| EasycarsError::KeyFile {
        reason: format!("cannot read it: {}", e.kind()),
    })?;
    if !meta.is_file() {
        return Err(EasycarsError::KeyFile {
            reason: "it is not a regular file".into(),
        });
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if meta.uid() != unsafe { libc::geteuid() } {
        return Err(EasycarsError::KeyFile {
            reason: "it is not owned by the server's operating-system user".into(),
        });
    }
    // SECURITY: like PostgreSQL's own ssl_key_file, refuse keys that other OS users can read.
    if meta.mode() & 0o077 != 0 {
        return Err(EasycarsError::KeyFileMode);
    }
    if meta.len() > MAX_KEY_FILE_BYTES {
        return Err(EasycarsError::KeyFile {
            reason: "it is larger than 64 kB".into(),
        });
    }
    let stamp = FileStamp {
        path: path.clone(),
        inode: meta.ino(),
        modified_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        len: meta.len(),
    };
    if let Some(ring) = CACHE.with_borrow(|c| {
        c.as_ref()
            .filter(|(s, _)| *s == stamp)
            .map(|(_, r)| r.clone())
    }) {
        return Ok(ring);
    }
    // Sized up front, so the key text is never copied by a reallocation that would not be zeroed.
    let mut text = zeroize::Zeroizing::new(String::with_capacity(meta.len() as usize + 1));
    (&mut file)
        .take(MAX_KEY_FILE_BYTES)
        .read_to_string(&mut text)
        .map_err(|e| EasycarsError::KeyFile {
            reason: format!("cannot read it: {}", e.kind()),
        })?;
    let ring = Rc::new(Keyring::parse(&text).map_err(EasycarsError::from)?);
    CACHE.with_borrow_mut(|c| *c = Some((stamp, ring.clone())));
    Ok(ring)
}
