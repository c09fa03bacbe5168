-- What an admin UI or analyst may see of credentials, and the documentation of the credential functions.

-- A definer-rights view so roles without access to easycars.credentials can read it; it applies
-- the tenant rule itself and exposes no encrypted column. security_barrier: a cheap function of
-- the reader's in an outer WHERE runs only on rows this view already let through.
CREATE VIEW easycars.credentials_safe WITH (security_barrier = true) AS
SELECT c.id AS credential_id, c.dealership_id, c.environment, c.is_active, c.yard_code, c.account_number_masked,
       c.base_url, c.created_at, c.updated_at, c.last_synced_at
FROM easycars.credentials c
WHERE c.dealership_id OPERATOR(pg_catalog.=) (SELECT easycars.current_dealership_id())
   OR (SELECT easycars._is_admin());
COMMENT ON VIEW easycars.credentials_safe IS
    'Credentials without secrets (account number masked, e.g. EC****75), for the dealership in app.current_dealership_id; easycars_admin sees all.';

COMMENT ON FUNCTION easycars.set_credentials(integer, text, text, text, text, text, text, text) IS
    'Stores or replaces a dealership''s EasyCars credentials, encrypted with the first key of easycars.key_file (AES-256-GCM, a fresh nonce per value, bound to dealership and column). Validates GUID shapes, EC account numbers and the environment (Test or Production); errors never echo a secret. base_url overrides the environment''s API root (a proxy or the simulator). easycars_admin only.';
COMMENT ON FUNCTION easycars.rotate_encryption_key() IS
    'Re-encrypts every stored credential that is not yet under the first key of easycars.key_file; returns how many dealerships changed. Safe to re-run. Keep the old key in the file until this has run. easycars_admin only.';
COMMENT ON FUNCTION easycars.verify_credentials(integer) IS
    'Checks that stored credentials (all, or one dealership''s) decrypt with the current key file: key ids used, true/false, and the problem if any. Never returns a secret. easycars_admin only.';

-- The tenant helpers (written in Rust, src/tenant.rs).
COMMENT ON FUNCTION easycars.current_dealership_id() IS
    'The dealership this session acts for: app.current_dealership_id (a positive integer written plainly: no sign, spaces or leading zeros) when the current role may act for it, else NULL. Every row-level security policy of easycars compares against it.';
COMMENT ON FUNCTION easycars.may_act_for(integer) IS
    'Whether the current role may act for a dealership: superusers and easycars_admin members always; other roles where easycars.grant_dealership() or grant_all_dealerships() allowed it (directly or through a role they inherit).';
COMMENT ON FUNCTION easycars._is_admin() IS
    'Internal: true when the current role is a superuser or has the privileges of easycars_admin.';

-- Credentials by COPY: the way to set them that no statement log, auto_explain, pg_stat_statements
-- or pg_stat_activity can see. COPY's data lines reach none of them; the trigger (the owner's
-- rights, like set_credentials) stores each row encrypted and keeps nothing in this table.
CREATE TABLE easycars.credentials_input (
    dealership_id  integer,
    client_id      text,
    client_secret  text,
    account_number text,
    account_secret text,
    environment    text DEFAULT 'Production',
    yard_code      text,
    base_url       text
);
COMMENT ON TABLE easycars.credentials_input IS
    'Write-only input for credentials, meant for COPY: \copy easycars.credentials_input (dealership_id, client_id, client_secret, account_number, account_secret, environment) FROM ''secrets.csv'' WITH (FORMAT csv). Each row is validated and stored encrypted exactly as easycars.set_credentials() would; no row is ever kept here. easycars_admin only.';
COMMENT ON COLUMN easycars.credentials_input.dealership_id IS 'The dealership, as for set_credentials.';
COMMENT ON COLUMN easycars.credentials_input.client_id IS 'Integrator ClientID (GUID).';
COMMENT ON COLUMN easycars.credentials_input.client_secret IS 'Integrator ClientSecret (GUID).';
COMMENT ON COLUMN easycars.credentials_input.account_number IS 'Dealer AccountNumber (EC + digits).';
COMMENT ON COLUMN easycars.credentials_input.account_secret IS 'Dealer AccountSecret (GUID).';
COMMENT ON COLUMN easycars.credentials_input.environment IS 'Test or Production (the default).';
COMMENT ON COLUMN easycars.credentials_input.yard_code IS 'Optional YardCode.';
COMMENT ON COLUMN easycars.credentials_input.base_url IS 'Optional API root, on a host in easycars.allowed_hosts.';
ALTER FUNCTION easycars._credentials_input_store() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION easycars._credentials_input_store() IS
    'Internal trigger of credentials_input: stores each row''s credentials encrypted (as set_credentials, with the owner''s rights) and keeps no row; its errors never quote the row.';
CREATE TRIGGER credentials_input_store BEFORE INSERT ON easycars.credentials_input
    FOR EACH ROW EXECUTE FUNCTION easycars._credentials_input_store();
