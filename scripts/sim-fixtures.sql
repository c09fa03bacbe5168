-- Test fixtures for the end-to-end pgTAP files: the simulator's dealers, and a way to drive the
-- simulator's control API from SQL (superuser only: COPY FROM PROGRAM runs curl as the server).
-- Needs the database setting easycars_test.sim_url.
CREATE SCHEMA easycars_test;
-- A string as one POSIX shell word: 'it'\''s'.
CREATE FUNCTION easycars_test.sh_quote(s text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT E'\'' || replace(s, E'\'', E'\'\\\'\'') || E'\''
$$;

-- easycars_test.sim('GET', '/_sim/stats') or sim('POST', '/_sim/faults', '{...}') -> jsonb answer.
CREATE FUNCTION easycars_test.sim(method text, path text, body jsonb DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    cmd text := format('curl -s -X %s %s', method, easycars_test.sh_quote(current_setting('easycars_test.sim_url') || path));
    answer text;
BEGIN
    IF body IS NOT NULL THEN
        cmd := cmd || ' -H ' || easycars_test.sh_quote('Content-Type: application/json') || ' --data-binary ' || easycars_test.sh_quote(body::text);
    END IF;
    IF to_regclass('pg_temp._sim_answer') IS NULL THEN
        CREATE TEMP TABLE _sim_answer (line text);
    END IF;
    TRUNCATE _sim_answer;
    EXECUTE format('COPY _sim_answer FROM PROGRAM %L WITH (FORMAT csv, QUOTE E''\x01'', DELIMITER E''\x02'')', cmd);
    SELECT string_agg(line, E'\n') INTO answer FROM _sim_answer;
    RETURN CASE WHEN answer IS NULL OR answer = '' THEN NULL ELSE answer::jsonb END;
END $$;

-- A DBA's round trip: pg_dump -Fc of database src, createdb dst, pg_restore --exit-on-error into
-- it. Returns the tools' output and "exit=<status>" (just "exit=0" when all went well).
CREATE FUNCTION easycars_test.dump_restore(src text, dst text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    bin text := (SELECT setting FROM pg_config WHERE name = 'BINDIR');
    conn text := format('-h 127.0.0.1 -p %s -U postgres', current_setting('port'));
    file text := current_setting('data_directory') || '/easycars_test_' || src || '.dump';
    output text;
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS _dump_restore_out (line text);
    TRUNCATE _dump_restore_out;
    EXECUTE format('COPY _dump_restore_out FROM PROGRAM %L',
        format('%s/pg_dump %s -Fc -f %s %s && %s/createdb %s %s && %s/pg_restore %s --exit-on-error -d %s %s 2>&1; echo "exit=$?"; rm -f %s',
               bin, conn, easycars_test.sh_quote(file), easycars_test.sh_quote(src), bin, conn, easycars_test.sh_quote(dst),
               bin, conn, easycars_test.sh_quote(dst), easycars_test.sh_quote(file), easycars_test.sh_quote(file)));
    SELECT string_agg(line, E'\n') INTO output FROM _dump_restore_out;
    RETURN output;
END $$;

-- Read through the function, so the secrets never appear in any statement text
-- (pg_stat_statements keeps utility statements such as CREATE TABLE AS verbatim).
CREATE TABLE easycars_test.sim_dealer AS
SELECT row_number() OVER ()::int AS n, d->>'DealerName' AS name, d->>'ClientID' AS client_id,
       d->>'ClientSecret' AS client_secret, d->>'AccountNumber' AS account_number,
       d->>'AccountSecret' AS account_secret, (d->>'VehicleCount')::int AS vehicle_count, d->'Yards' AS yards
FROM jsonb_array_elements(easycars_test.sim('GET', '/_sim/manifest') -> 'dealers') AS d;

