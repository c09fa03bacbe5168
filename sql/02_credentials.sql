-- EasyCars credentials per dealership; secrets are stored only as AES-256-GCM envelopes.

CREATE TABLE easycars.credentials (
    id                       integer GENERATED ALWAYS AS IDENTITY,
    dealership_id            integer      NOT NULL,
    client_id_encrypted      text         NOT NULL,
    client_secret_encrypted  text         NOT NULL,
    account_number_encrypted text         NOT NULL,
    account_secret_encrypted text         NOT NULL,
    encryption_iv            text         NOT NULL,
    account_number_masked    varchar(20)  NOT NULL,
    environment              varchar(20)  NOT NULL DEFAULT 'Production',
    is_active                boolean      NOT NULL DEFAULT true,
    yard_code                varchar(50),
    base_url                 text,
    created_at               timestamptz  NOT NULL DEFAULT now(),
    updated_at               timestamptz  NOT NULL DEFAULT now(),
    last_synced_at           timestamptz,
    CONSTRAINT credentials_pkey PRIMARY KEY (dealership_id, id),
    CONSTRAINT credentials_dealership_key UNIQUE (dealership_id),
    CONSTRAINT credentials_dealership_fkey FOREIGN KEY (dealership_id)
        REFERENCES easycars.dealership (id) ON DELETE CASCADE,
    CONSTRAINT credentials_environment_chk CHECK (environment IN ('Test', 'Production')),
    -- SECURITY: only self-describing ciphertext envelopes (version:key_id:nonce:ciphertext) fit,
    -- so a plaintext secret can never be stored here by mistake.
    CONSTRAINT credentials_ciphertext_chk CHECK (
        client_id_encrypted      ~ '^ecv1:[A-Za-z0-9_-]{1,32}:[A-Za-z0-9+/]{16}:[A-Za-z0-9+/]{22,}={0,2}$' AND
        client_secret_encrypted  ~ '^ecv1:[A-Za-z0-9_-]{1,32}:[A-Za-z0-9+/]{16}:[A-Za-z0-9+/]{22,}={0,2}$' AND
        account_number_encrypted ~ '^ecv1:[A-Za-z0-9_-]{1,32}:[A-Za-z0-9+/]{16}:[A-Za-z0-9+/]{22,}={0,2}$' AND
        account_secret_encrypted ~ '^ecv1:[A-Za-z0-9_-]{1,32}:[A-Za-z0-9+/]{16}:[A-Za-z0-9+/]{22,}={0,2}$'
    ),
    CONSTRAINT credentials_masked_chk CHECK (account_number_masked ~ '^EC\*+[0-9]{0,2}$'),
    CONSTRAINT credentials_yard_code_chk CHECK (yard_code IS NULL OR btrim(yard_code) <> ''),
    CONSTRAINT credentials_base_url_chk CHECK (base_url IS NULL OR base_url ~ '^https?://[^\s/?#]+[^\s?#]*$')
);
COMMENT ON TABLE easycars.credentials IS
    'EasyCars API credentials, one row per dealership. The four secrets are AES-256-GCM envelopes written by easycars.set_credentials(); only the extension''s own code decrypts them. Read easycars.credentials_safe instead.';
COMMENT ON COLUMN easycars.credentials.client_id_encrypted IS 'Integrator ClientID (used only for RequestToken), encrypted.';
COMMENT ON COLUMN easycars.credentials.client_secret_encrypted IS 'Integrator ClientSecret, encrypted.';
COMMENT ON COLUMN easycars.credentials.account_number_encrypted IS 'Dealer AccountNumber (EC + digits), sent in every data call body, encrypted.';
COMMENT ON COLUMN easycars.credentials.account_secret_encrypted IS 'Dealer AccountSecret, encrypted.';
COMMENT ON COLUMN easycars.credentials.encryption_iv IS
    'The four per-value AES-GCM nonces (base64, comma-separated), kept for audit. Each encrypted value also carries its own nonce and key id; no two values share a nonce.';
COMMENT ON COLUMN easycars.credentials.account_number_masked IS 'Account number with all but the last two digits hidden (e.g. EC****75), safe to show.';
COMMENT ON COLUMN easycars.credentials.environment IS 'EasyCars environment: Test (testmy.easycars.com.au) or Production (my.easycars.net.au).';
COMMENT ON COLUMN easycars.credentials.yard_code IS 'Optional YardCode: limits stock to one yard of a multi-yard dealer.';
COMMENT ON COLUMN easycars.credentials.base_url IS 'Optional API root overriding the environment''s (a proxy or the bundled simulator); /StockService/... and /LeadService/... are appended. Not a secret.';
COMMENT ON COLUMN easycars.credentials.last_synced_at IS 'End of the last successful sync that used these credentials.';

CREATE INDEX credentials_active_idx ON easycars.credentials (dealership_id) WHERE is_active;

CREATE TRIGGER credentials_touch_updated_at BEFORE UPDATE ON easycars.credentials
    FOR EACH ROW EXECUTE FUNCTION easycars._touch_updated_at();
