-- Runs last: after the whole suite, no test secret is in the server log, pg_stat_statements,
-- the catalogs that every role can read, or any sync_log row.
BEGIN;
SELECT plan(7);

CREATE TEMP TABLE secrets (value text);
INSERT INTO secrets VALUES
    ('C1D0C1D0-1111-4111-8111-111111111111'), ('C5EC5EC5-2222-4222-8222-222222222222'), ('EC771234'), ('a5ec7a5e-3333-4333-8333-333333333333'),
    ('C1D0C1D0-4444-4444-8444-444444444444'), ('C5EC5EC5-5555-4555-8555-555555555555'), ('EC889956'), ('a5ec7a5e-6666-4666-8666-666666666666'),
    -- COPY into credentials_input, with every statement, parameter and nested plan logged (09).
    ('C1D0C1D0-7777-4777-8777-777777777777'), ('C5EC5EC5-7777-4777-8777-777777777777'), ('EC770077'), ('a5ec7a5e-7777-4777-8777-777777777777'),
    ('C1D0C1D0-8888-4888-8888-888888888888'), ('C5EC5EC5-8888-4888-8888-888888888888'), ('EC880088'), ('not-a-guid-but-secret-8888');
-- The simulator's generated secrets of the end-to-end tests count too.
INSERT INTO secrets SELECT unnest(ARRAY[client_secret, account_number, account_secret]) FROM easycars_test.sim_dealer;

-- The scan reads the real log: a probe written now must be found in it.
DO $$ BEGIN RAISE WARNING 'easycars-log-probe-%', pg_backend_pid(); END $$;
SELECT ok(strpos(pg_read_file(current_setting('easycars_test.server_log')), 'easycars-log-probe-' || pg_backend_pid()) > 0,
          'the scanned server log is the live one');
SELECT is((SELECT array_agg(s.value) FROM secrets s WHERE strpos(pg_read_file(current_setting('easycars_test.server_log')), s.value) > 0),
          NULL, 'the server log holds no test secret');
SELECT is((SELECT array_agg(DISTINCT s.value) FROM secrets s, pg_stat_statements p WHERE strpos(p.query, s.value) > 0),
          NULL, 'pg_stat_statements holds no test secret');
SELECT is((SELECT array_agg(DISTINCT s.value) FROM secrets s, pg_foreign_server f WHERE strpos(coalesce(f.srvoptions::text, ''), s.value) > 0),
          NULL, 'no foreign server option holds a secret');
SELECT is((SELECT array_agg(DISTINCT s.value) FROM secrets s, pg_foreign_table f WHERE strpos(coalesce(f.ftoptions::text, ''), s.value) > 0),
          NULL, 'no foreign table option holds a secret');
SELECT is((SELECT array_agg(DISTINCT s.value) FROM secrets s, pg_db_role_setting r WHERE strpos(r.setconfig::text, s.value) > 0),
          NULL, 'no database or role setting holds a secret');
SELECT is((SELECT array_agg(DISTINCT s.value) FROM secrets s, easycars.sync_log l WHERE strpos(l::text, s.value) > 0),
          NULL, 'no sync_log row holds a secret');

SELECT * FROM finish();
ROLLBACK;
