-- What an admin UI or analyst may see of credentials, and the documentation of the credential functions.

-- A plain (definer-rights) view so roles without access to easycars.credentials can read it; it
-- applies the tenant rule itself and exposes no encrypted column.
CREATE VIEW easycars.credentials_safe AS
SELECT c.dealership_id, c.environment, c.is_active, c.yard_code, c.account_number_masked,
       c.base_url, c.created_at, c.updated_at, c.last_synced_at
FROM easycars.credentials c
WHERE c.dealership_id = easycars.current_dealership_id() OR easycars._is_admin();
COMMENT ON VIEW easycars.credentials_safe IS
    'Credentials without secrets (account number masked, e.g. EC****75), for the dealership in app.current_dealership_id; easycars_admin sees all.';

COMMENT ON FUNCTION easycars.set_credentials(integer, text, text, text, text, text, text, text) IS
    'Stores or replaces a dealership''s EasyCars credentials, encrypted with the first key of easycars.key_file (AES-256-GCM, a fresh nonce per value, bound to dealership and column). Validates GUID shapes, EC account numbers and the environment (Test or Production); errors never echo a secret. base_url overrides the environment''s API root (a proxy or the simulator). easycars_admin only.';
COMMENT ON FUNCTION easycars.rotate_encryption_key() IS
    'Re-encrypts every stored credential that is not yet under the first key of easycars.key_file; returns how many dealerships changed. Safe to re-run. Keep the old key in the file until this has run. easycars_admin only.';
COMMENT ON FUNCTION easycars.verify_credentials(integer) IS
    'Checks that stored credentials (all, or one dealership''s) decrypt with the current key file: key ids used, true/false, and the problem if any. Never returns a secret. easycars_admin only.';
