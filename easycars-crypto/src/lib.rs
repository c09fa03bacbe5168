//! AES-256-GCM envelopes for EasyCars credentials.
//!
//! Every encrypted value is self-describing: `ecv1:<key_id>:<nonce>:<ciphertext+tag>` (base64),
//! with its own random 96-bit nonce, so no nonce is ever shared between values. The associated
//! data binds the value to its format version, key id, dealership and column: a ciphertext copied
//! to another row or column, or relabelled with another key id, fails to decrypt.
//!
//! Keys come from a key file (one `key_id:base64-of-32-bytes` per line; the first line encrypts,
//! every line decrypts), never from the database. This crate has no Postgres dependency so it
//! can be tested on its own; the extension reads the file and calls it.

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use zeroize::{Zeroize, Zeroizing};

/// The envelope format version written by this crate.
pub const VERSION: &str = "ecv1";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;
const MAX_KEY_ID_LEN: usize = 32;

/// What can go wrong. Messages never contain key material or plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("the key file has no keys")]
    NoKeys,
    #[error("key file line {line}: {reason}")]
    BadKeyLine { line: usize, reason: &'static str },
    #[error("key id \"{0}\" appears twice in the key file")]
    DuplicateKeyId(String),
    #[error("no key with id \"{0}\" is in the key file")]
    UnknownKey(String),
    #[error("the encrypted value is not an {VERSION} envelope")]
    Malformed,
    #[error("the encrypted value failed authentication (tampered, or moved from another dealership or column)")]
    Tampered,
    #[error("the decrypted value is not valid UTF-8")]
    NotUtf8,
}

/// One named 256-bit key; zeroed when dropped.
#[derive(Zeroize, zeroize::ZeroizeOnDrop)]
struct NamedKey {
    #[zeroize(skip)]
    id: String,
    key: [u8; KEY_LEN],
}

/// The keys of a key file: the first encrypts, all decrypt.
pub struct Keyring {
    keys: Vec<NamedKey>,
}

impl std::fmt::Debug for Keyring {
    // SECURITY: never print key bytes, only which ids are loaded.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("key_ids", &self.key_ids())
            .finish()
    }
}

/// Whether a string can be a key id: 1-32 of `[A-Za-z0-9_-]`.
pub fn is_valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEY_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Keyring {
    /// Parses key file text: `key_id:base64-of-32-bytes` per line; blank lines and `#` comments are ignored.
    pub fn parse(text: &str) -> Result<Keyring, CryptoError> {
        let mut keys: Vec<NamedKey> = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let entry = raw.trim();
            if entry.is_empty() || entry.starts_with('#') {
                continue;
            }
            let Some((id, material)) = entry.split_once(':') else {
                return Err(CryptoError::BadKeyLine {
                    line,
                    reason: "expected key_id:base64-key",
                });
            };
            let id = id.trim();
            if !is_valid_key_id(id) {
                return Err(CryptoError::BadKeyLine {
                    line,
                    reason: "a key id is 1-32 of A-Z a-z 0-9 _ -",
                });
            }
            let mut bytes = Zeroizing::new(B64.decode(material.trim()).map_err(|_| {
                CryptoError::BadKeyLine {
                    line,
                    reason: "the key is not valid base64",
                }
            })?);
            if bytes.len() != KEY_LEN {
                return Err(CryptoError::BadKeyLine {
                    line,
                    reason: "the key must be 32 bytes (base64 of 32 random bytes)",
                });
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(CryptoError::DuplicateKeyId(id.to_owned()));
            }
            let mut key = [0u8; KEY_LEN];
            key.copy_from_slice(&bytes);
            bytes.zeroize();
            keys.push(NamedKey {
                id: id.to_owned(),
                key,
            });
        }
        if keys.is_empty() {
            return Err(CryptoError::NoKeys);
        }
        Ok(Keyring { keys })
    }

    /// The id of the key new values are encrypted with.
    pub fn current_key_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Every loaded key id, current first.
    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    fn key(&self, id: &str) -> Result<&NamedKey, CryptoError> {
        self.keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| CryptoError::UnknownKey(id.to_owned()))
    }

    /// Encrypts `plaintext` for `column` of `dealership_id` under the current key, with a fresh random nonce.
    pub fn encrypt(&self, dealership_id: i32, column: &str, plaintext: &str) -> Envelope {
        let named = &self.keys[0];
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&named.key));
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = associated_data(&named.id, dealership_id, column);
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            // AES-GCM encryption fails only past 64 GiB of plaintext; credentials are tiny.
            .unwrap_or_default();
        Envelope {
            text: format!(
                "{VERSION}:{}:{}:{}",
                named.id,
                B64.encode(nonce),
                B64.encode(ciphertext)
            ),
            nonce: B64.encode(nonce),
        }
    }

    /// Decrypts an envelope written for `column` of `dealership_id`.
    pub fn decrypt(
        &self,
        dealership_id: i32,
        column: &str,
        envelope: &str,
    ) -> Result<Zeroizing<String>, CryptoError> {
        let parsed = ParsedEnvelope::parse(envelope)?;
        let named = self.key(parsed.key_id)?;
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&named.key));
        let aad = associated_data(parsed.key_id, dealership_id, column);
        let plain = cipher
            .decrypt(
                Nonce::from_slice(&parsed.nonce),
                Payload {
                    msg: &parsed.ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Tampered)?;
        String::from_utf8(plain).map(Zeroizing::new).map_err(|e| {
            let mut bytes = e.into_bytes();
            bytes.zeroize();
            CryptoError::NotUtf8
        })
    }
}

/// An encrypted value and, for the audit column, the nonce it used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub text: String,
    pub nonce: String,
}

/// The key id an envelope names, without decrypting it.
pub fn envelope_key_id(envelope: &str) -> Result<&str, CryptoError> {
    ParsedEnvelope::parse(envelope).map(|p| p.key_id)
}

struct ParsedEnvelope<'a> {
    key_id: &'a str,
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
}

impl<'a> ParsedEnvelope<'a> {
    fn parse(envelope: &'a str) -> Result<Self, CryptoError> {
        let mut parts = envelope.split(':');
        let (Some(version), Some(key_id), Some(nonce), Some(ciphertext), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(CryptoError::Malformed);
        };
        if version != VERSION || !is_valid_key_id(key_id) {
            return Err(CryptoError::Malformed);
        }
        let nonce = B64.decode(nonce).map_err(|_| CryptoError::Malformed)?;
        let ciphertext = B64.decode(ciphertext).map_err(|_| CryptoError::Malformed)?;
        if nonce.len() != NONCE_LEN || ciphertext.len() < TAG_LEN {
            return Err(CryptoError::Malformed);
        }
        Ok(ParsedEnvelope {
            key_id,
            nonce,
            ciphertext,
        })
    }
}

// SECURITY: binds version, key id, tenant and column into the authentication tag.
fn associated_data(key_id: &str, dealership_id: i32, column: &str) -> String {
    format!("{VERSION}|{key_id}|{dealership_id}|{column}")
}

/// Generates a new key file line `key_id:base64` from the operating system's random source.
pub fn generate_key_line(key_id: &str) -> Result<String, CryptoError> {
    if !is_valid_key_id(key_id) {
        return Err(CryptoError::BadKeyLine {
            line: 0,
            reason: "a key id is 1-32 of A-Z a-z 0-9 _ -",
        });
    }
    let mut key = Aes256Gcm::generate_key(&mut OsRng);
    let line = format!("{key_id}:{}", B64.encode(key.as_slice()));
    key.as_mut_slice().zeroize();
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn ring(text: &str) -> Keyring {
        Keyring::parse(text).expect("valid key file")
    }

    fn two_keys() -> (String, String) {
        (
            generate_key_line("k2").unwrap(),
            generate_key_line("k1").unwrap(),
        )
    }

    #[test]
    fn round_trip() {
        let keys = ring(&generate_key_line("k1").unwrap());
        let env = keys.encrypt(7, "client_secret", "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE");
        assert!(env.text.starts_with("ecv1:k1:"));
        assert!(!env.text.contains("AAAAAAAA-BBBB"));
        assert_eq!(
            keys.decrypt(7, "client_secret", &env.text)
                .unwrap()
                .as_str(),
            "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE"
        );
        let empty = keys.encrypt(7, "x", "");
        assert_eq!(keys.decrypt(7, "x", &empty.text).unwrap().as_str(), "");
        let unicode = keys.encrypt(7, "x", "Škoda 🚗");
        assert_eq!(
            keys.decrypt(7, "x", &unicode.text).unwrap().as_str(),
            "Škoda 🚗"
        );
    }

    #[test]
    fn hundred_thousand_encryptions_never_repeat_a_nonce() {
        let keys = ring(&generate_key_line("k1").unwrap());
        let mut nonces = HashSet::with_capacity(100_000);
        let mut texts = HashSet::with_capacity(100_000);
        for _ in 0..100_000 {
            let env = keys.encrypt(1, "account_secret", "same plaintext every time");
            assert!(env.text.contains(&env.nonce));
            nonces.insert(env.nonce);
            texts.insert(env.text);
        }
        assert_eq!(nonces.len(), 100_000);
        assert_eq!(texts.len(), 100_000);
    }

    #[test]
    fn any_flipped_bit_is_rejected() {
        let keys = ring(&generate_key_line("k1").unwrap());
        let env = keys.encrypt(3, "client_id", "11111111-2222-3333-4444-555555555555");
        let (prefix, rest) = env.text.split_at("ecv1:k1:".len());
        let (nonce_b64, ct_b64) = rest.split_once(':').unwrap();
        let nonce = B64.decode(nonce_b64).unwrap();
        let ct = B64.decode(ct_b64).unwrap();
        for i in 0..nonce.len() * 8 {
            let mut n = nonce.clone();
            n[i / 8] ^= 1 << (i % 8);
            let forged = format!("{prefix}{}:{ct_b64}", B64.encode(&n));
            assert_eq!(
                keys.decrypt(3, "client_id", &forged).unwrap_err(),
                CryptoError::Tampered,
                "nonce bit {i}"
            );
        }
        for i in 0..ct.len() * 8 {
            let mut c = ct.clone();
            c[i / 8] ^= 1 << (i % 8);
            let forged = format!("{prefix}{nonce_b64}:{}", B64.encode(&c));
            assert_eq!(
                keys.decrypt(3, "client_id", &forged).unwrap_err(),
                CryptoError::Tampered,
                "ciphertext bit {i}"
            );
        }
        // Truncated or extended values are rejected too.
        let short = format!("{prefix}{nonce_b64}:{}", B64.encode(&ct[..ct.len() - 1]));
        assert_eq!(
            keys.decrypt(3, "client_id", &short).unwrap_err(),
            CryptoError::Tampered
        );
        let mut long_ct = ct.clone();
        long_ct.push(0);
        let long = format!("{prefix}{nonce_b64}:{}", B64.encode(&long_ct));
        assert_eq!(
            keys.decrypt(3, "client_id", &long).unwrap_err(),
            CryptoError::Tampered
        );
    }

    #[test]
    fn a_value_moved_to_another_dealership_or_column_is_rejected() {
        let keys = ring(&generate_key_line("k1").unwrap());
        let env = keys.encrypt(
            101,
            "account_secret",
            "0f0e0d0c-1111-2222-3333-444455556666",
        );
        assert_eq!(
            keys.decrypt(102, "account_secret", &env.text).unwrap_err(),
            CryptoError::Tampered
        );
        assert_eq!(
            keys.decrypt(101, "client_secret", &env.text).unwrap_err(),
            CryptoError::Tampered
        );
        assert!(keys.decrypt(101, "account_secret", &env.text).is_ok());
    }

    #[test]
    fn relabelling_the_key_id_is_rejected() {
        let (k2, k1) = two_keys();
        let keys = ring(&format!("{k2}\n{k1}\n"));
        let env = keys.encrypt(1, "c", "secret");
        let relabelled = env.text.replacen("ecv1:k2:", "ecv1:k1:", 1);
        assert_eq!(
            keys.decrypt(1, "c", &relabelled).unwrap_err(),
            CryptoError::Tampered
        );
    }

    #[test]
    fn rotation_keeps_old_keys_decrypting_until_removed() {
        let (k2, k1) = two_keys();
        let old = ring(&k1);
        let old_value = old.encrypt(5, "c", "secret");
        let rotated = ring(&format!("# newest first\n{k2}\n\n{k1}\n"));
        assert_eq!(rotated.current_key_id(), "k2");
        assert_eq!(
            rotated.decrypt(5, "c", &old_value.text).unwrap().as_str(),
            "secret"
        );
        let new_value = rotated.encrypt(5, "c", "secret");
        assert_eq!(envelope_key_id(&new_value.text).unwrap(), "k2");
        let only_new = ring(&k2);
        assert_eq!(
            only_new.decrypt(5, "c", &old_value.text).unwrap_err(),
            CryptoError::UnknownKey("k1".into())
        );
        assert_eq!(
            only_new.decrypt(5, "c", &new_value.text).unwrap().as_str(),
            "secret"
        );
    }

    #[test]
    fn key_file_errors_are_clear_and_never_echo_key_material() {
        assert_eq!(Keyring::parse("").unwrap_err(), CryptoError::NoKeys);
        assert_eq!(
            Keyring::parse("# only a comment\n").unwrap_err(),
            CryptoError::NoKeys
        );
        let err = Keyring::parse("k1 c2VjcmV0LWtleS1tYXRlcmlhbA==").unwrap_err();
        assert!(matches!(err, CryptoError::BadKeyLine { line: 1, .. }));
        let err = Keyring::parse("k1:c2VjcmV0LWtleS1tYXRlcmlhbA==").unwrap_err();
        assert!(!err.to_string().contains("c2VjcmV0"));
        assert!(matches!(err, CryptoError::BadKeyLine { line: 1, .. }));
        let err = Keyring::parse("bad id!:AAAA").unwrap_err();
        assert!(matches!(err, CryptoError::BadKeyLine { line: 1, .. }));
        let line = generate_key_line("k1").unwrap();
        assert_eq!(
            Keyring::parse(&format!("{line}\n{line}")).unwrap_err(),
            CryptoError::DuplicateKeyId("k1".into())
        );
        let keys = ring(&line);
        assert!(!format!("{keys:?}").contains(line.split_once(':').unwrap().1));
    }

    #[test]
    fn malformed_envelopes_are_refused_without_panicking() {
        let keys = ring(&generate_key_line("k1").unwrap());
        for bad in [
            "",
            "plaintext",
            "ecv1:k1:AAAA",
            "ecv2:k1:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAAAA",
            "ecv1:k1:AAAAAAAAAAAAAAAA:AAAA",
            "ecv1:k1:!!!!:AAAAAAAAAAAAAAAAAAAAAAAA",
            "ecv1:k1:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAAAA:extra",
            "ecv1::AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            assert_eq!(
                keys.decrypt(1, "c", bad).unwrap_err(),
                CryptoError::Malformed,
                "{bad:?}"
            );
        }
        assert_eq!(
            keys.decrypt(1, "c", "ecv1:zz:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAAAA")
                .unwrap_err(),
            CryptoError::UnknownKey("zz".into())
        );
    }
}
