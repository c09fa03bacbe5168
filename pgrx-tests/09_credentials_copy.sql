-- Credentials by COPY into easycars.credentials_input: stored encrypted as set_credentials would,
-- nothing kept in the input table, and no secret in the server log, pg_stat_statements,
-- auto_explain or pg_stat_activity even with every statement logged (99_no_secrets.sql scans the
-- log and pg_stat_statements for these values at the end of the suite).
BEGIN;
SELECT plan(8);
\ir _fixtures.psql
INSERT INTO easycars.dealership (id, name) VALUES (109, 'Copy Motors');

-- Everything that could log a statement, its parameters or its nested statements, on.
SET LOCAL log_statement = 'all';
SET LOCAL log_min_duration_statement = 0;
SET LOCAL log_parameter_max_length = -1;
SET LOCAL log_parameter_max_length_on_error = -1;
SET LOCAL pg_stat_statements.track = 'all';
SET LOCAL pg_stat_statements.track_utility = on;
LOAD 'auto_explain';
SET LOCAL auto_explain.log_min_duration = 0;
SET LOCAL auto_explain.log_nested_statements = on;
SET LOCAL auto_explain.log_analyze = on;

-- As an administrator, the documented way: COPY (psql's \copy sends the same protocol messages).
CREATE ROLE ec_copy_admin IN ROLE easycars_admin;
SET LOCAL ROLE ec_copy_admin;
COPY easycars.credentials_input (dealership_id, client_id, client_secret, account_number, account_secret, environment) FROM STDIN WITH (FORMAT csv);
109,C1D0C1D0-7777-4777-8777-777777777777,C5EC5EC5-7777-4777-8777-777777777777,EC770077,a5ec7a5e-7777-4777-8777-777777777777,Test
\.
RESET ROLE;
-- A bad row fails the COPY with the argument named and nothing of the line quoted.
SAVEPOINT bad_copy;
SET LOCAL ROLE ec_copy_admin;
\set ON_ERROR_STOP 0
COPY easycars.credentials_input (dealership_id, client_id, client_secret, account_number, account_secret) FROM STDIN WITH (FORMAT csv);
109,C1D0C1D0-8888-4888-8888-888888888888,C5EC5EC5-8888-4888-8888-888888888888,EC880088,not-a-guid-but-secret-8888
\.
\set ON_ERROR_STOP 1
ROLLBACK TO SAVEPOINT bad_copy;
RESET ROLE;
-- The loggers go off again: the checks below name the secrets they look for.
SET LOCAL log_statement = 'none';
SET LOCAL log_min_duration_statement = -1;
SET LOCAL auto_explain.log_min_duration = -1;
SET LOCAL pg_stat_statements.track = 'none';
SELECT is((SELECT count(*)::int FROM easycars.credentials_input), 0, 'the input table keeps no row');
SELECT is((SELECT account_number_masked || ' ' || environment || ' ' || is_active FROM easycars.credentials_safe WHERE dealership_id = 109),
          'EC****77 Test true', 'the credentials are stored, masked in credentials_safe');
SELECT is((SELECT decryptable FROM easycars.verify_credentials(109)), true, 'encrypted with the key file and decryptable');
SELECT ok((SELECT client_secret_encrypted ~ '^ecv1:' AND strpos(c::text, 'C5EC5EC5-7777') = 0 FROM easycars.credentials c WHERE dealership_id = 109),
          'as envelopes only');

SELECT is((SELECT account_number_masked FROM easycars.credentials_safe WHERE dealership_id = 109), 'EC****77', 'a failed COPY changes nothing');
SELECT ok(strpos(pg_read_file(current_setting('easycars_test.server_log')), 'account_secret is not valid: expected a GUID') > 0,
          'the server log has the error, naming the argument');
SELECT is(strpos(pg_read_file(current_setting('easycars_test.server_log')), 'C5EC5EC5' || '-8888-4888'), 0, 'but not the line COPY was reading');
SELECT is((SELECT count(*)::int FROM pg_stat_activity WHERE strpos(query, 'C5EC5EC5' || '-7777') > 0 OR strpos(query, 'EC77' || '0077') > 0), 0,
          'and pg_stat_activity shows no secret');

SELECT * FROM finish();
ROLLBACK;
