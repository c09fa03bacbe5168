-- The easycars_fdw foreign data wrapper; servers and foreign tables are made by users or syncs.

CREATE FOREIGN DATA WRAPPER easycars_fdw
    HANDLER easycars.easycars_fdw_handler
    VALIDATOR easycars.easycars_fdw_validator;
COMMENT ON FOREIGN DATA WRAPPER easycars_fdw IS
    'EasyCars as foreign tables: CREATE SERVER s FOREIGN DATA WRAPPER easycars_fdw OPTIONS (dealership_id ''1''); IMPORT FOREIGN SCHEMA easycars FROM SERVER s INTO some_schema; Server options: dealership_id (required), base_url, timeout_ms, max_retries, concurrency. Credentials come encrypted from easycars.credentials, never from options.';
COMMENT ON FUNCTION easycars.easycars_fdw_handler() IS 'Internal: the handler of the easycars_fdw foreign data wrapper.';
COMMENT ON FUNCTION easycars.easycars_fdw_validator(text[], oid) IS
    'Internal: validates easycars_fdw options; refuses unknown options, bad values and any user mapping option.';
COMMENT ON FUNCTION easycars.easycars_fdw_meta() IS 'The easycars_fdw name, version, author and website.';
COMMENT ON FUNCTION easycars.fdw_insert_results() IS
    'What this session''s INSERTs into easycars foreign tables created in EasyCars, oldest first: the new LeadNumber and CustomerNo (leads) or QuoteNumber (quotations), with the ExternalID sent. Kept for compatibility: INSERT ... RETURNING lead_number, customer_no (or quote_number) returns the same at once. Kept until easycars.clear_fdw_insert_results() or the end of the session.';
COMMENT ON FUNCTION easycars._fdw_live_states() IS
    'Internal, for tests and diagnostics: how many foreign-table scan and write states this backend holds now (0 and 0 between statements, also after an ERROR or a cancel).';
COMMENT ON FUNCTION easycars.clear_fdw_insert_results() IS 'Forgets this session''s easycars.fdw_insert_results(); returns how many were dropped.';
COMMENT ON FUNCTION easycars._foreign_table_ddl(text, text, text, text) IS
    'Internal: the CREATE FOREIGN TABLE statement IMPORT FOREIGN SCHEMA would issue for an entity, under a given schema, table name and server.';
COMMENT ON FUNCTION easycars._jsonb_encoder_check(text) IS
    'Internal, for tests and diagnostics: whether the jsonb the stock scans build in Rust for this JSON text is byte for byte what jsonb_in builds (same, fallback when the encoder leaves it to jsonb_in, or where they differ).';
